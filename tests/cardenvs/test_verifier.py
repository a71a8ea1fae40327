import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardenvs.rules import RULES, Rule
from cardenvs.solver import solution_table, solve
from cardenvs.verifier import (
    DEFAULT_REWARDS,
    Verifier,
    formula_in_sentence,
    looks_like_formula,
    resolve_rewards,
)

from .strategies import formula_trees

FACE10 = RULES.resolve("face-10")
V = Verifier(FACE10)


def judge(text: str, numbers: list[int], **kw):
    return V.judge(text, numbers, **kw)


def test_the_float_trap_is_exact() -> None:
    verdict = judge('{"formula": "8/(3-8/3)"}', [3, 3, 8, 8])
    assert verdict.category == "correct" and verdict.reward == 5.0


@pytest.mark.parametrize(
    ("text", "numbers", "category", "snippet"),
    [
        ('{"formula": "1+2+3+4"}', [1, 2, 3, 4], "wrong_value", "evaluates to 10, not 24"),
        ('{"formula": "3*8=25"}', [3, 8], "wrong_value", "claims = 25"),
        ('{"formula": "(1+2+3)*4 = 10"}', [1, 2, 3, 4], "wrong_value", "claims = 10"),
        ('{"formula": "12*2*1"}', [1, 2, 2, 3], "wrong_numbers", "12 is not one of your cards"),
        ('{"formula": "12+3*4"}', [1, 2, 3, 4], "wrong_numbers", "12 is 1 and 2 written together"),
        ('{"formula": "8*3*1*1"}', [1, 3, 8, 8], "wrong_numbers", "1 is used 2 times"),
        ('{"formula": "8*3"}', [1, 3, 8, 1], "wrong_numbers", "does not use 1, 1"),
        (
            '{"formula": "6*4"}',
            [1, 2, 3, 4],
            "wrong_numbers",
            "6 is not one of your cards 1, 2, 3, 4",
        ),
        ('{"formula": "8/(3-3)*8"}', [3, 3, 8, 8], "illegal_formula", "division by zero"),
        ('{"formula": "2**3*3"}', [2, 3, 3], "illegal_formula", "power"),
        ('{"formula": null}', [1, 2, 3, 4], "illegal_formula", "null"),
        ('{"formula": 24}', [1, 2, 3, 4], "illegal_formula", "must be a string"),
        ('{"formula": ["1+2"]}', [1, 2, 3, 4], "illegal_formula", "must be a string"),
        ("no idea", [1, 2, 3, 4], "illegal_formula", "No formula found"),
        ('{"formula": "-1+25"}', [1, 25], "illegal_formula", "unary"),
        (
            "{\"formula\": \"__import__('os').system('echo pwned')\"}",
            [1, 2, 3, 4],
            "illegal_formula",
            "names",
        ),
    ],
)
def test_categories_and_specific_messages(
    text: str, numbers: list[int], category: str, snippet: str
) -> None:
    verdict = judge(text, numbers)
    assert verdict.category == category, verdict
    assert verdict.reward == DEFAULT_REWARDS[category]
    assert snippet in verdict.message, verdict.message
    assert verdict.message.isascii()


def test_banned_operator_is_illegal() -> None:
    verifier = Verifier(Rule(operators="+-*"))
    verdict = verifier.judge('{"formula": "8/(3-8/3)"}', [3, 3, 8, 8])
    assert verdict.category == "illegal_formula" and "division" in verdict.message


def test_rewards_are_configurable_and_validated() -> None:
    verifier = Verifier(FACE10, {"correct": 1.0, "illegal_formula": -1.0})
    assert verifier.judge("3*8", [3, 8]).reward == 1.0
    assert verifier.judge("nothing", [3, 8]).reward == -1.0
    with pytest.raises(ValueError, match="unknown category 'bonus'"):
        resolve_rewards({"bonus": 1.0})
    with pytest.raises(ValueError, match="must be a number"):
        resolve_rewards({"correct": "high"})


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/pwned')",
        "{\"formula\": \"__import__('os').system('touch /tmp/pwned')\"}",
        "x" * 100_000,
        "1+" * 50_000 + "1",
        "(" * 5000 + "24" + ")" * 5000,
        '{"formula": "' + "(" * 5000 + "3*8" + ")" * 5000 + '"}',
        '{"formula": null}',
        '{"formula": ' + "[" * 5000 + "]" * 5000 + "}",
        "{'formula': '" + "9" * 5000 + "'}",
        '{"formula": "' + "*".join(["999999999"] * 100) + '"}',
        '{"formula": "' + "/".join(["7"] * 100) + '"}',
        '\x00\x01\x02 {"formula": "3*8\x00"}',
        "24",
        '{"formula": "24"}',
        '{"formula": "=24"}',
    ],
)
def test_hostile_input_is_judged_without_exceptions_and_never_rewarded(text: str) -> None:
    start = time.perf_counter()
    verdict = judge(text, [3, 3, 8, 8])
    assert time.perf_counter() - start < 2.0  # generous bound against blow-ups, not a speed target
    assert verdict.category != "correct" and verdict.reward < 0
    assert verdict.message and verdict.message.isascii()


def test_image_mode_recognition() -> None:
    ranks = ["Q", "10", "A", "3"]
    numbers = [10, 10, 1, 3]
    ok = judge(
        json.dumps({"cards": ["10", "Queen", "a", "3"], "formula": "10+10+1*3"}),
        numbers,
        ranks=ranks,
    )
    assert ok.category == "wrong_value"  # recognition passed; the formula is judged next
    wrong = judge(
        json.dumps({"cards": ["K", "10", "A", "3"], "formula": "1"}), numbers, ranks=ranks
    )
    assert wrong.category == "wrong_recognition" and wrong.reward == -1.5
    assert "K is not on the table" in wrong.message and "Q" not in wrong.message
    missing = judge(json.dumps({"formula": "1"}), numbers, ranks=ranks)
    assert missing.category == "wrong_recognition"
    garbage = judge("I cannot see well", numbers, ranks=ranks)
    assert garbage.category == "illegal_formula" and garbage.reward == -3.0
    ten_as_t = judge(
        json.dumps({"cards": ["T", "Q", "A", "3"], "formula": "(10+10)*1+3"}), numbers, ranks=ranks
    )
    assert ten_as_t.category == "wrong_value"


def test_looks_like_formula() -> None:
    assert looks_like_formula("(1+2) * 8")
    assert not looks_like_formula("24")
    assert not looks_like_formula("answer: 3*8")


HANDS = sorted(solution_table(FACE10))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(HANDS), st.randoms(use_true_random=False))
def test_every_solution_verifies_in_any_answer_shape(hand: tuple[int, ...], rnd) -> None:
    formula = rnd.choice(solve(hand, FACE10))
    shapes = [
        json.dumps({"cards": [], "number": list(hand), "formula": formula + "=24"}),
        f"{{'formula': '{formula}',}}",
        f"Let me think.\n```\n{formula} = 24\n```",
        f"formula: {formula}",
    ]
    for text in shapes:
        verdict = V.judge(text, list(hand))
        assert verdict.category == "correct", (text, verdict)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(HANDS),
    formula_trees(st.integers(0, 30), max_leaves=5),
)
def test_a_number_not_dealt_never_succeeds(hand: tuple[int, ...], formula: str) -> None:
    from cardenvs.expression import ExpressionError, parse

    try:
        used = parse(formula).numbers
    except ExpressionError:
        return
    verdict = V.judge(json.dumps({"formula": formula}), list(hand))
    if any(n not in hand for n in used):
        assert verdict.category in ("wrong_numbers", "illegal_formula")
        assert verdict.reward < 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_strings_never_raise_and_never_succeed(text: str) -> None:
    verdict = V.judge(text, [3, 3, 8, 8])
    assert verdict.category in DEFAULT_REWARDS
    assert verdict.category != "correct" or "8" in text


def test_non_str_action_raises_type_error() -> None:
    with pytest.raises(TypeError):
        V.judge(42, [1, 2, 3, 4])  # type: ignore[arg-type]


def test_a_sympy_disagreement_is_never_rewarded(monkeypatch: pytest.MonkeyPatch) -> None:
    import sympy

    import cardenvs.verifier as verifier_module

    monkeypatch.setattr(verifier_module, "sympy_value", lambda root: sympy.Integer(23))
    with pytest.warns(RuntimeWarning, match="sympy disagrees"):
        verdict = Verifier(FACE10).judge('{"formula": "8/(3-8/3)"}', [3, 3, 8, 8])
    assert verdict.category != "correct" and verdict.reward < 0


@pytest.mark.parametrize(
    ("formula", "shown"),
    [("1-8/3*1", "evaluates to -5/3,"), ("(1+2)/(3*8)", "evaluates to 1/8,")],
)
def test_wrong_values_are_shown_exactly(formula: str, shown: str) -> None:
    numbers = sorted(int(c) for c in formula if c.isdigit())
    assert shown in V.judge_formula(formula, numbers).message


# --------------------------------------------------------------------------- feedback="paper"

PAPER = Verifier(FACE10, feedback="paper")


@pytest.mark.parametrize(
    ("text", "numbers", "category", "message"),
    [
        (
            '{"formula": "1+2+3+4"}',
            [1, 2, 3, 4],
            "wrong_value",
            "The formula does not evaluate to 24.",
        ),
        (
            '{"formula": "(1+2+3)*4=10"}',
            [1, 2, 3, 4],
            "wrong_value",
            "The number after '=' must be 24.",
        ),
        (
            '{"formula": "12*2*1"}',
            [1, 2, 2, 3],
            "wrong_numbers",
            "The formula uses numbers that are not the cards' numbers: 12. "
            "The formula leaves out card numbers: 2, 3.",
        ),
        (
            '{"formula": "8*3*1*1"}',
            [1, 3, 8, 8],
            "wrong_numbers",
            "The formula uses numbers more often than the cards hold them: 1. "
            "The formula leaves out card numbers: 8.",
        ),
        (
            '{"formula": "8*3"}',
            [1, 3, 8, 1],
            "wrong_numbers",
            "The formula leaves out card numbers: 1.",
        ),
        (
            '{"formula": "(1+2"}',
            [1, 2],
            "illegal_formula",
            "The formula is illegal: its operators, numbers and parentheses are not in a "
            "valid order.",
        ),
        (
            '{"formula": "2**3"}',
            [2, 3],
            "illegal_formula",
            "The formula is illegal: powers are not allowed.",
        ),
        (
            '{"formula": "8/(3-3)*8"}',
            [3, 3, 8, 8],
            "illegal_formula",
            "The formula is illegal: it divides by zero.",
        ),
        ('{"formula": 24}', [3, 3, 8, 8], "illegal_formula", "The formula is not a string."),
        ("I give up", [3, 3, 8, 8], "illegal_formula", "No formula was found in the answer."),
        ('{"formula": "8/(3-8/3)"}', [3, 3, 8, 8], "correct", "Correct: the formula reaches 24."),
    ],
)
def test_paper_feedback_names_the_category_and_numbers_only(
    text: str, numbers: list[int], category: str, message: str
) -> None:
    verdict = PAPER.judge(text, numbers)
    assert (verdict.category, verdict.message) == (category, message)
    detailed = V.judge(text, numbers)
    assert (detailed.category, detailed.reward) == (verdict.category, verdict.reward)


def test_paper_feedback_caps_long_number_lists() -> None:
    formula = "+".join(str(n) for n in range(11, 31))
    verdict = PAPER.judge(json.dumps({"formula": formula}), [1, 2, 3, 4])
    assert "11, 12, 13, 14, 15, 16, 17, 18 and 12 more." in verdict.message


def test_paper_recognition_feedback_names_no_rank() -> None:
    answer = json.dumps({"cards": ["K", "10", "A", "3"], "formula": "10+10+1+3"})
    verdict = PAPER.judge(answer, [10, 10, 1, 3], ranks=["Q", "10", "A", "3"])
    assert verdict.category == "wrong_recognition" and verdict.reward == -1.5
    assert verdict.message == "The cards you reported are not the cards shown in the image."
    assert "K" not in verdict.message


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 13), min_size=4, max_size=4),
    formula_trees(st.integers(1, 13), max_leaves=4),
)
def test_paper_feedback_never_states_the_value_reached(hand: list[int], formula: str) -> None:
    rule = RULES.resolve("face-11-12-13")
    paper = Verifier(rule, feedback="paper").judge_formula(formula, hand)
    detailed = Verifier(rule).judge_formula(formula, hand)
    assert (paper.category, paper.reward) == (detailed.category, detailed.reward)
    assert "position" not in paper.message and "evaluates to" not in paper.message
    if paper.category == "wrong_value":
        assert paper.message == "The formula does not evaluate to 24."


def test_unknown_feedback_level_is_refused() -> None:
    with pytest.raises(ValueError, match=r"feedback must be one of \['paper', 'detailed'\]"):
        Verifier(FACE10, feedback="verbose")


def test_exhausted_defaults_to_the_papers_minus_one() -> None:
    assert DEFAULT_REWARDS["exhausted"] == -1.0


# --------------------------------------------------------------------------- reasoning models


def test_a_reasoning_models_answer_scores_five_in_the_text_environment() -> None:
    import gymnasium as gym

    import cardenvs  # noqa: F401

    env = gym.make("cardenvs/GeneralPoints-v0")
    env.reset(options={"cards": ["3S", "3C", "8S", "8C"]})
    answer = "<think>8*3 uses two cards only... 8/(3-8/3) works.</think><answer>8/(3-8/3)</answer>"
    _, reward, terminated, _, info = env.step(answer)
    assert (reward, terminated, info["verdict"]) == (5.0, True, "correct")


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("The answer is (8-4)*(9-3) = 24.", [8, 4, 9, 3]),
        ("Let me see. 8-4 is 4 and 9-3 is 6, so (8-4)*(9-3) = 24. Hope this helps!", [8, 4, 9, 3]),
        ("**Answer:** $(8-4) \\times (9-3) = 24$", [8, 4, 9, 3]),
        ("So $(8-4) \\times (9-3) = \\boxed{24}$.", [8, 4, 9, 3]),
        ("\\[\\boxed{(8-4)\\cdot(9-3)}\\]", [8, 4, 9, 3]),
        ("<answer>\n\\boxed{8 \\div (3 - 8 \\div 3)}\n</answer>", [3, 3, 8, 8]),
        ("<think>\n3*8*1*1 = 24?\n</think>\n\nFinal formula: 8/(3-8/3)", [3, 3, 8, 8]),
        ("okay\n</think>\n{'formula': '8/(3-8/3)',}", [3, 3, 8, 8]),
    ],
)
def test_reasoning_and_prose_answers_are_found(text: str, numbers: list[int]) -> None:
    verdict = judge(text, numbers)
    assert verdict.category == "correct" and verdict.reward == 5.0, verdict


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # reasoning is never searched: the formula there does not count
        ("<think>8/(3-8/3) = 24</think>", "illegal_formula"),
        ("<think>8/(3-8/3) = 24</think>I am not sure.", "illegal_formula"),
        ("<think>8/(3-8/3) = 24</think><answer>8+3+8+3</answer>", "wrong_value"),
        # the <answer> content wins over a correct formula outside it
        ('{"formula": "8/(3-8/3)"}\n<answer>8*3*3/8</answer>', "wrong_value"),
        # cut off while reasoning: no answer, whatever came before
        ("8/(3-8/3)\n<think>let me double-check", "illegal_formula"),
    ],
)
def test_only_the_answer_is_judged(text: str, category: str) -> None:
    verdict = judge(text, [3, 3, 8, 8])
    assert verdict.category == category, verdict


def test_a_cut_off_response_is_told_so() -> None:
    verdict = judge("<think>8/(3-8/3) might work, let me", [3, 3, 8, 8])
    assert verdict.category == "illegal_formula" and verdict.reward == -3.0
    assert "ends inside its reasoning" in verdict.message and verdict.message.isascii()
    paper = PAPER.judge("<think>8/(3-8/3) might work, let me", [3, 3, 8, 8])
    assert paper.message == "No formula was found in the answer."


def _wrappers(formula: str) -> list[str]:
    return [
        formula,
        f"formula: {formula}",
        f"{{'formula': '{formula}',}}",
        f"```\n{formula}\n```",
        f"<think>{formula} is wrong</think>\n{formula}",
        f"<think>1+1</think><answer>{formula}</answer>",
        f'<answer>{{"formula": "{formula}"}}</answer>',
        f"\\boxed{{{formula}}}",
        f"So the answer is $\\boxed{{{formula}}}$.",
        f"The answer is {formula}.",
        f"I checked it twice. The formula is {formula}. Hope this helps!",
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 13), min_size=4, max_size=4),
    formula_trees(st.integers(0, 14), max_leaves=5).filter(lambda f: "(" in f),
)
def test_the_same_formula_gets_the_same_verdict_whatever_carried_it(
    hand: list[int], formula: str
) -> None:
    for verifier in (V, PAPER):
        expected = verifier.judge(json.dumps({"formula": formula}), hand)
        for text in _wrappers(formula):
            verdict = verifier.judge(text, hand)
            assert (verdict.category, verdict.message) == (expected.category, expected.message), (
                text,
                verdict,
                expected,
            )


@pytest.mark.parametrize(
    "formula",
    ["2^3*3", "2**3*3", "3 x 8", "3.5*2+17", "8*3*1*1", "(8*3", "12+12", "3 \\times 8", "08*3"],
)
def test_near_misses_get_the_json_message_when_bare(formula: str) -> None:
    expected = judge(json.dumps({"formula": formula}), [3, 8])
    for text in [formula, f"<answer>{formula}</answer>", f"\\boxed{{{formula}}}"]:
        verdict = judge(text, [3, 8])
        assert (verdict.category, verdict.message) == (expected.category, expected.message), text
    assert "No formula" not in expected.message


def test_a_lone_number_is_a_formula_only_inside_an_explicit_wrapper() -> None:
    assert judge("24", [3, 8]).message.startswith("No formula found")
    assert judge("The answer is 24.", [3, 8]).message.startswith("No formula found")
    for text in ["\\boxed{24}", "<answer>24</answer>", '{"formula": "24"}']:
        assert judge(text, [3, 8]).category == "wrong_numbers", text


def test_formula_in_sentence() -> None:
    assert formula_in_sentence("The answer is (8-4)*(9-3) = 24") == "(8-4)*(9-3) = 24"
    assert formula_in_sentence("(8-4)*(9-3), which equals 24") == "(8-4)*(9-3)"
    assert formula_in_sentence("(the formula 8*3)") == "8*3"
    assert formula_in_sentence("so 8*3 =") == "8*3"
    assert formula_in_sentence("I have 3, 3, 8 and 8") is None
    assert formula_in_sentence("a 2-step plan") is None
    assert formula_in_sentence("no numbers here - at all") is None
    assert formula_in_sentence("$3 \\times 8$") == "3 * 8"


@pytest.mark.parametrize(
    "text",
    [
        "<think>" + "8/(3-8/3) " * 6000 + "</think>",
        "<think>" + "8/(3-8/3) " * 6000,
        "<think>" * 9000 + "8/(3-8/3)",
        "<answer>" * 7000 + "3*8*3/8",
        "\\boxed{" * 9000 + "3*8*3/8",
        "\\boxed{" + "{" * 60_000 + "3*8*3/8",
        "The answer is " + "(" * 30_000 + "8/(3-8/3)",
        "The answer is " + "\\times" * 9000 + ".",
        "1. " * 20_000 + "8/(3-8/3",
        ("8-" * 200 + "8. ") * 100,
    ],
)
def test_hostile_reasoning_is_judged_quickly_and_never_rewarded(text: str) -> None:
    start = time.perf_counter()
    verdict = judge(text, [3, 3, 8, 8])
    assert time.perf_counter() - start < 2.0
    assert verdict.category != "correct" and verdict.message.isascii()


def test_sympy_loads_at_construction_not_at_the_first_success() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cardenvs.rules import RULES\n"
        "from cardenvs.verifier import Verifier\n"
        "assert 'sympy' not in sys.modules, 'imported with cardenvs'\n"
        "Verifier(RULES.resolve('face-10'))\n"
        "assert 'sympy' in sys.modules, 'not imported at construction'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


_NAMES = st.one_of(
    st.sampled_from(["A", "2", "5", "9", "10", "J", "Q", "K", "ace", " K", "kings", "T", "Ten"]),
    st.sampled_from(["1", "11", "joker", "", "Q♠"]),
    st.integers(0, 14),
    st.booleans(),
    st.none(),
    st.floats(0, 12),
)


@settings(max_examples=400, deadline=None)
@given(
    reported=st.one_of(st.lists(_NAMES, max_size=6), st.text(max_size=12), st.none()),
    ranks=st.lists(st.sampled_from(["A", "2", "5", "10", "J", "Q", "K"]), min_size=1, max_size=6),
)
def test_paper_recognition_fast_path_agrees_with_the_detailed_check(
    reported: object, ranks: list[str]
) -> None:
    fields = {"formula": "1+1"} if reported is None else {"cards": reported, "formula": "1+1"}
    answer = json.dumps(fields)
    rule = RULES.resolve("face-10")
    paper = Verifier(rule, feedback="paper").judge(answer, [1] * len(ranks), ranks=ranks)
    detailed = Verifier(rule, feedback="detailed").judge(answer, [1] * len(ranks), ranks=ranks)
    assert (paper.category == "wrong_recognition") == (detailed.category == "wrong_recognition")
    if paper.category == "wrong_recognition":
        assert paper.message == "The cards you reported are not the cards shown in the image."
        assert paper.reward == detailed.reward
