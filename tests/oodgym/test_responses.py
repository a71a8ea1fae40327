import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oodgym.responses import MAX_RESPONSE_CHARS, extract_fields, normalize_key

KEYS = ["cards", "number", "formula"]


def looks_bare(line: str) -> bool:
    return any(c.isdigit() for c in line) and set(line) <= set("0123456789+-*/()= ")


def extract(text: str):
    return extract_fields(text, KEYS, bare_key="formula", is_bare=looks_bare)


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
