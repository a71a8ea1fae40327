import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oodgym.responses import (
    MAX_OBJECT_CHARS,
    MAX_RESPONSE_CHARS,
    MAX_SENTENCES,
    AnswerScope,
    boxed_content,
    extract_fields,
    locate_answer,
    normalize_key,
    reasoning_end,
)

KEYS = ["cards", "number", "formula"]


def looks_bare(line: str) -> bool:
    return (
        any(c.isdigit() for c in line)
        and any(c in "+-*/" for c in line)
        and set(line) <= set("0123456789+-*/()= ")
    )


def starred(sentence: str) -> str | None:
    """A toy sentence rule: the last word holding a '*'."""
    words = [w for w in sentence.split() if "*" in w]
    return words[-1] if words else None


def extract(text: str):
    return extract_fields(text, KEYS, bare_key="formula", is_bare=looks_bare)


def extract_all(text: str):
    return extract_fields(text, KEYS, bare_key="formula", is_bare=looks_bare, in_sentence=starred)


@pytest.mark.parametrize(
    ("text", "formula", "form"),
    [
        ('{"cards": ["3", "8"], "number": [3, 8], "formula": "3*8=24"}', "3*8=24", "json"),
        # the reference's SFT targets: single quotes and a trailing comma
        (
            "{'cards': ['5', '2', 'Q', '2'], 'number': [5, 2, 10, 2], 'formula': '10+(5+2)*2=24',}",
            "10+(5+2)*2=24",
            "json-ish",
        ),
        ('Let me think.\n```json\n{"formula": "(1+2+3)*4"}\n```\nDone.', "(1+2+3)*4", "json"),
        ("The answer is {formula: 3*8=24, cards: [3, 8]} I hope", "3*8=24", "json-ish"),
        ("Reasoning...\nFormula: (10 - 4) * 4\n", "(10 - 4) * 4", "fields"),
        ("I tried a few things.\n\n**8/(3-8/3) = 24**\n", "8/(3-8/3) = 24", "bare"),
        ("(1+2+3)*4", "(1+2+3)*4", "bare"),
        ('{"Formula": "1+2"}', "1+2", "json"),
        ("{'formula': 'it\\'s 3*8'}", "it's 3*8", "json-ish"),
        ('{"answer": {"formula": "5*5-1"}}', "5*5-1", "json"),
        ('{"formula": "1+1"} ... on second thought {"formula": "3*8"}', "3*8", "json"),
        ('{"formula": "3*8", "cards": ["unterminated}', "3*8", "fields"),
    ],
)
def test_answer_shapes(text: str, formula: str, form: str) -> None:
    result = extract(text)
    assert result.fields.get("formula") == formula
    assert result.form == form


def test_keeps_all_fields_of_the_object() -> None:
    result = extract("{'cards': ['Q', '10'], 'number': [10, 10], 'formula': '10+10',}")
    assert result.fields == {"cards": ["Q", "10"], "number": [10, 10], "formula": "10+10"}


def test_null_and_numbers_are_kept_as_data() -> None:
    assert extract('{"formula": null}').fields == {"formula": None}
    assert extract('{"formula": 24}').fields == {"formula": 24}


def test_nothing_found() -> None:
    result = extract("I do not know.")
    assert result.fields == {} and result.form == "none"


def test_non_str_raises_type_error() -> None:
    with pytest.raises(TypeError):
        extract_fields(b"{}", KEYS)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        extract_fields(None, KEYS)  # type: ignore[arg-type]


def test_too_long_is_not_scanned() -> None:
    result = extract("1+2 " * (MAX_RESPONSE_CHARS // 4 + 1))
    assert result.form == "too-long" and result.fields == {}


def test_normalize_key() -> None:
    assert normalize_key(" Current_Observation ") == "current observation"
    assert normalize_key("current-instruction") == "current instruction"


@pytest.mark.parametrize(
    "text",
    [
        "{" * 50_000,
        "[" * 30_000 + "]" * 30_000,
        '{"formula": ' + "[" * 5000 + "]" * 5000 + "}",
        "'formula': '" + "x" * 60_000,
        "{'formula': " * 5000,
        "formula: " * 7000,
        '"formula":"' * 5000,
        "\n".join(["1+"] * 20_000),
        "{" + "'a': {" * 3000,
        " " * 60_000 + "3*8",
        "3*8" + " " * 60_000 + "x",
        ("\t" * 5_000 + "```" + " " * 5_000 + "\n") * 5,
        "- " * 30_000,
    ],
)
def test_hostile_inputs_are_bounded(text: str) -> None:
    start = time.perf_counter()
    extract(text)
    # generous: guards against quadratic blow-ups, not a speed target
    assert time.perf_counter() - start < 2.0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_any_text(text: str) -> None:
    result = extract(text)
    assert set(result.fields) <= set(KEYS)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="{}[]'\",:formula \n\\0123456789+-*/()=", max_size=300),
)
def test_never_raises_on_structured_noise(text: str) -> None:
    extract(text)


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(lambda s: "\\" not in s))
def test_string_values_round_trip_through_json(value: str) -> None:
    import json

    text = json.dumps({"formula": value, "cards": []})
    assert extract("prefix " + text + " suffix").fields["formula"] == value


# --------------------------------------------------------------------------- reasoning models


@pytest.mark.parametrize(
    ("text", "formula", "form"),
    [
        # reasoning is never searched, whatever it holds
        ('<think>{"formula": "1+1"}</think>{"formula": "3*8"}', "3*8", "json"),
        ("<think>\nformula: 1+1\n</think>\n\n3*8", "3*8", "bare"),
        ("<thinking>1+1</thinking>3*8", "3*8", "bare"),
        ("<reasoning>1+1</reasoning>\n<answer>\n3*8\n</answer>", "3*8", "bare"),
        # the opening tag was in the prompt (DeepSeek-R1-style chat templates)
        ("so maybe 1+1\n</think>\n3*8", "3*8", "bare"),
        # several reasoning blocks: what follows the last one is the answer
        ("<think>a</think>1+1<think>b</think>3*8", "3*8", "bare"),
        # <answer> is preferred over anything around it
        ('{"formula": "1+1"}\n<answer>{"formula": "3*8"}</answer>\n2+2', "3*8", "json"),
        ("<think>x</think><answer>8/(3-8/3)</answer>", "8/(3-8/3)", "bare"),
        ("<answer>1+1</answer> then <answer>3*8</answer>", "3*8", "bare"),
        ("<answer>3*8", "3*8", "bare"),  # </answer> was the stop sequence
        ("3*8</answer>", "3*8", "bare"),  # <answer> was in the prompt
        # \boxed{}: its formula first, then bare lines with the box read as its content
        (r"Hence \boxed{3*8}.", "3*8", "boxed"),
        ("1+1 is wrong.\n$\\boxed{(1+2+3)*4}$", "(1+2+3)*4", "boxed"),
        ("$3*8 = \\boxed{24}$", "3*8 = 24", "bare"),
        (r"\boxed{\boxed{3*8}}", "3*8", "boxed"),
        # a wrapper's content is the answer even when it does not look like a formula
        (r"The result is \boxed{24}.", "24", "boxed"),
        ("<answer>24</answer>", "24", "answer"),
        ("<answer> **2 ^ 3** </answer>", "2 ^ 3", "answer"),
    ],
)
def test_reasoning_model_shapes(text: str, formula: str, form: str) -> None:
    result = extract(text)
    assert result.fields.get("formula") == formula, result
    assert result.form == form


@pytest.mark.parametrize(
    "text",
    [
        "<think>3*8</think>",
        "<think>3*8</think>\n\n",
        "<think>3*8</think>I am not sure.",
        "<answer>no idea</answer>",
        "<answer>\nthree\ntimes 8\n</answer>",
        r"\boxed{three times eight}",
        r"\boxed{3*8",  # cut off inside the box
        "<answer></answer>",
    ],
)
def test_wrappers_without_a_formula(text: str) -> None:
    result = extract(text)
    assert "formula" not in result.fields and result.form == "none", result


@pytest.mark.parametrize(
    "text",
    [
        "<think>the answer is 3*8",
        '{"formula": "3*8"} <think>let me check again',
        "<think>a</think>3*8<think>on second thought",
        "<answer>3*8</answer><thinking>hmm",
    ],
)
def test_an_unclosed_reasoning_tag_means_no_answer(text: str) -> None:
    result = extract(text)
    assert result.fields == {} and result.form == "cut-off" and result.answer == ""


def test_closing_sentences_rule() -> None:
    assert extract_all("I tried hard. The answer is 3*8. Hope this helps!").fields == {
        "formula": "3*8"
    }
    assert extract_all("The answer is 3*8.").form == "sentence"
    # only the last MAX_SENTENCES sentences count
    late = "The answer is 3*8." + " Fine." * MAX_SENTENCES
    assert extract_all(late).fields == {}
    # objects, boxes and bare lines come first
    assert extract_all('{"formula": "1+1"} The answer is 3*8.').fields == {"formula": "1+1"}
    assert extract_all("1+1\nThe answer is 3*8.").fields == {"formula": "1+1"}
    assert extract_all(r"\boxed{1+1}. The answer is 3*8.").fields == {"formula": "1+1"}
    # and the rule is off unless asked for
    assert extract("The answer is 3*8.").fields == {}


def test_extraction_reports_the_searched_answer() -> None:
    assert extract("<think>a</think>\n3*8").answer == "\n3*8"
    assert extract("x <answer>3*8</answer> y").answer == "3*8"
    assert extract("3*8").answer == "3*8"
    assert extract("1+2 " * (MAX_RESPONSE_CHARS // 4 + 1)).answer == ""


def test_locate_answer_and_boxed_content() -> None:
    assert locate_answer("plain") == AnswerScope("plain", "response")
    assert locate_answer("<think>a</think>b") == AnswerScope("b", "after-reasoning")
    assert locate_answer("<think>a</think><answer>b</answer>c") == AnswerScope("b", "answer-tag")
    assert locate_answer("a <think> b").scope == "cut-off"
    assert reasoning_end("<think>a</think>b</reasoning>c") == len("<think>a</think>b</reasoning>")
    assert reasoning_end("no tags") == 0
    assert boxed_content(r"\boxed{a{b}c} and \boxed{d}") == "d"
    assert boxed_content(r"\boxed{a{b}c}") == "a{b}c"
    assert boxed_content(r"\boxed{a{b") is None
    assert boxed_content("no box") is None
    assert boxed_content("\\boxed{" + "x" * MAX_OBJECT_CHARS + "}") is None  # window exceeded


@pytest.mark.parametrize(
    "text",
    [
        "<think>" + "x" * (MAX_RESPONSE_CHARS - 20) + "</think>3*8",
        "<think>" * 9000,
        "</think>" * 8000,
        "<think></think>" * 4000 + "3*8",
        "<answer>" * 8000,
        "</answer>" * 7000,
        "<answer><think>" * 4000,
        "<answer>" * 3000 + "3*8" + "</answer>" * 3000,
        "<think>" + "x" * 65_536,  # 64K of reasoning: too long, not scanned
        "<think>" + "<answer>3*8</answer>" * 3000,
        "\\boxed{" * 9000,
        "\\boxed{" + "{" * 60_000,
        "\\boxed{" * 3000 + "3*8" + "}" * 3000,
        "\\boxed{}" * 8000,
        "\\boxed{" + "}" * 60_000,
        "a. " * 21_000,
        "1*" * 32_000,
        "The answer is " + "(" * 30_000 + "3*8" + ")" * 30_000 + ".",
        "<answer>" + " " * 60_000 + "x",
    ],
)
def test_hostile_reasoning_inputs_are_bounded(text: str) -> None:
    start = time.perf_counter()
    extract_all(text)
    assert time.perf_counter() - start < 2.0


FRAGMENTS = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<thinking>",
        "</reasoning>",
        "<answer>",
        "</answer>",
        "\\boxed{",
        "{",
        "}",
        '"formula": ',
        "formula: ",
        "3*8",
        "(1+2)",
        ". ",
        "\n",
        "$",
        "**",
        "```",
    ]
)
TAG_SOUP = st.lists(FRAGMENTS | st.text(max_size=6), max_size=40).map("".join)
NO_TAGS = st.text(max_size=200).filter(lambda s: "<" not in s)


@settings(max_examples=300, deadline=None)
@given(TAG_SOUP)
def test_never_raises_on_tag_soup(text: str) -> None:
    result = extract_all(text)
    assert set(result.fields) <= set(KEYS)
    assert result.answer in text


@settings(max_examples=200, deadline=None)
@given(NO_TAGS, NO_TAGS)
def test_reasoning_is_never_searched(reasoning: str, answer: str) -> None:
    alone = extract_all(answer)
    for wrapped in (f"<think>{reasoning}</think>{answer}", f"{reasoning}</think>{answer}"):
        result = extract_all(wrapped)
        assert (result.fields, result.form, result.answer) == (
            alone.fields,
            alone.form,
            alone.answer,
        )


@settings(max_examples=200, deadline=None)
@given(NO_TAGS, NO_TAGS, NO_TAGS)
def test_answer_tag_content_is_preferred(before: str, content: str, after: str) -> None:
    alone = extract_all(f"<answer>{content}</answer>")
    result = extract_all(f"{before}<answer>{content}</answer>{after}")
    assert (result.fields, result.form) == (alone.fields, alone.form)


@settings(max_examples=200, deadline=None)
@given(TAG_SOUP, NO_TAGS)
def test_a_response_cut_off_while_reasoning_has_no_answer(before: str, rest: str) -> None:
    result = extract_all(f"{before}<think>{rest}")
    assert result.form == "cut-off" and result.fields == {}
