import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navenvs import geo
from navenvs.actions import (
    ABSOLUTE,
    FORWARD,
    RELATIVE,
    STOP,
    Action,
    ActionVocabulary,
    ParsedAction,
    looks_like_action,
    parse_action,
    vocabulary,
)
from oodgym.responses import MAX_RESPONSE_CHARS


def parsed(text: str, vocab: ActionVocabulary = ABSOLUTE) -> ParsedAction:
    result = parse_action(text, vocab)
    # exactly one of action / error, and errors are ASCII
    assert (result.action is None) != (result.error is None)
    assert result.error is None or result.error.isascii()
    return result


def action_text(text: str, vocab: ActionVocabulary = ABSOLUTE) -> str | None:
    result = parsed(text, vocab)
    return None if result.action is None else str(result.action)


# ---------------------------------------------------------------------------
# actions and vocabularies
# ---------------------------------------------------------------------------


def test_canonical_strings() -> None:
    assert str(FORWARD) == "forward()" and str(Action("forward")) == "forward()"
    assert str(STOP) == "stop()"
    assert str(Action("turn", "northeast")) == "turn_direction(northeast)"
    assert str(Action("turn", "slightly left")) == "turn_direction(slightly left)"
    assert Action("turn", "north") == Action("turn", "north")


@pytest.mark.parametrize(
    ("kind", "direction"),
    [("jump", None), ("turn", None), ("turn", ""), ("forward", "north"), ("stop", "left")],
)
def test_invalid_actions(kind: str, direction: str | None) -> None:
    with pytest.raises(ValueError):
        Action(kind, direction)  # type: ignore[arg-type]


def test_vocabularies() -> None:
    assert ABSOLUTE.name == "absolute" and ABSOLUTE.directions == tuple(geo.COMPASS_WORDS)
    assert RELATIVE.name == "relative" and RELATIVE.directions == tuple(geo.RELATIVE_WORDS)
    assert vocabulary("absolute") is ABSOLUTE
    assert vocabulary(" Relative ") is RELATIVE
    with pytest.raises(ValueError, match="'absolute', 'relative'"):
        vocabulary("compass")
    assert ABSOLUTE.actions[0] == FORWARD and ABSOLUTE.actions[-1] == STOP
    assert len(ABSOLUTE.actions) == 10 and len(RELATIVE.actions) == 6
    assert RELATIVE.canonical_direction("Slightly_Left") == "slightly left"
    assert RELATIVE.canonical_direction("slightlyright") == "slightly right"
    assert ABSOLUTE.canonical_direction("North-East") == "northeast"
    assert ABSOLUTE.canonical_direction("left") is None
    assert "north, northeast" in ABSOLUTE.describe()


@pytest.mark.parametrize("vocab", [ABSOLUTE, RELATIVE])
def test_every_canonical_action_parses_back(vocab: ActionVocabulary) -> None:
    for action in vocab.actions:
        text = str(action)
        assert parsed(text, vocab).action == action
        assert parsed(json.dumps({"action": text}), vocab).action == action
        assert parsed(f"{{'action': '{text}',}}", vocab).action == action
        assert parsed(f"```\n{text}\n```", vocab).action == action
        assert parsed(f"Action: {text}", vocab).action == action
        # Prose that mentions the action is not an answer (it was reward-hacked).
        assert parsed(f"I will now do {text} and wait.", vocab).action is None
        assert parsed(f"I should not do {text}", vocab).action is None


# ---------------------------------------------------------------------------
# accepted variants
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "vocab", "expected"),
    [
        ("forward()", ABSOLUTE, "forward()"),
        ("  Forward()  ", ABSOLUTE, "forward()"),
        ("FORWARD", ABSOLUTE, "forward()"),
        ("forward", ABSOLUTE, "forward()"),
        ("forward ( )", ABSOLUTE, "forward()"),
        ("Stop.", ABSOLUTE, "stop()"),
        ("stop", RELATIVE, "stop()"),
        ("TURN_DIRECTION(North)", ABSOLUTE, "turn_direction(north)"),
        ("turn_direction('north')", ABSOLUTE, "turn_direction(north)"),
        ('turn_direction( "south west" )', ABSOLUTE, "turn_direction(southwest)"),
        ("turn_direction(north-east)", ABSOLUTE, "turn_direction(northeast)"),
        ("Turn direction(east)", ABSOLUTE, "turn_direction(east)"),
        ("turndirection(west)", ABSOLUTE, "turn_direction(west)"),
        ('turn_direction("slightly left")', RELATIVE, "turn_direction(slightly left)"),
        ("turn_direction(slightly_left)", RELATIVE, "turn_direction(slightly left)"),
        ("turn_direction(Slightly Right)", RELATIVE, "turn_direction(slightly right)"),
        ("turn_direction(LEFT)", RELATIVE, "turn_direction(left)"),
        ("`turn_direction(right)`", RELATIVE, "turn_direction(right)"),
        ("**stop()**", ABSOLUTE, "stop()"),
        ("turn_direction(‘north’)", ABSOLUTE, "turn_direction(north)"),
    ],
)
def test_accepted_variants(text: str, vocab: ActionVocabulary, expected: str) -> None:
    assert action_text(text, vocab) == expected
    assert action_text(json.dumps({"action": text}), vocab) == expected


@pytest.mark.parametrize(
    ("text", "expected", "form"),
    [
        (
            '{"current observation": "Blue Door Bakery is on your left front; You observe an '
            'intersection", "current instruction": "Turn right to face east.", '
            '"action": "turn_direction(east)"}',
            "turn_direction(east)",
            "json",
        ),
        (
            "{'current observation': 'No landmarks nearby; ', 'current instruction': "
            "'Move forward.', 'action': 'forward()',}",
            "forward()",
            "json-ish",
        ),
        (
            'Let me think.\n```json\n{"current observation": "x", "action": "stop()"}\n```\n',
            "stop()",
            "json",
        ),
        (
            "Current observation: nothing\nAction: turn_direction(south)\n",
            "turn_direction(south)",
            "fields",
        ),
        ("**Action:** forward()", "forward()", "fields"),
        ("```\nforward()\n```", "forward()", "bare"),
        ("  ```text\n  Stop()  \n```  ", "stop()", "bare"),
        ("action: turn_direction(north)", "turn_direction(north)", "fields"),
        ("ACTION = 'forward()'", "forward()", "fields"),
        ("\"turn_direction('south')\"", "turn_direction(south)", "bare"),
    ],
)
def test_response_shapes(text: str, expected: str, form: str) -> None:
    result = parsed(text)
    assert str(result.action) == expected
    assert result.form == form


def test_observation_and_instruction_fields() -> None:
    result = parsed(
        '{"current observation": "Café \\"Le Coin\\" is on your left", '
        '"current instruction": "Turn left to face north.", "action": "stop()"}'
    )
    assert result.observation == 'Café "Le Coin" is on your left'
    assert result.instruction == "Turn left to face north."
    assert result.ok
    result = parsed('{"current observation": 3, "action": "stop()"}')
    assert result.observation == "3" and result.instruction is None


# ---------------------------------------------------------------------------
# rejected answers and their errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "vocab", "snippet"),
    [
        (
            "turn_direction(left)",
            ABSOLUTE,
            "'turn_direction(left)' is not in the absolute vocabulary; use one of north, "
            "northeast, east, southeast, south, southwest, west, northwest (left is a relative",
        ),
        (
            '{"action": "turn_direction(\'slightly left\')"}',
            ABSOLUTE,
            "'turn_direction(slightly left)' is not in the absolute vocabulary",
        ),
        (
            "turn_direction(North)",
            RELATIVE,
            "'turn_direction(north)' is not in the relative vocabulary; use one of left, right, "
            "slightly left, slightly right (north is a absolute direction)",
        ),
        ("turn_direction(up)", ABSOLUTE, "'turn_direction(up)' is not in the absolute vocabulary"),
        ("turn_direction(nörth)", ABSOLUTE, "'turn_direction(nU+00F6rth)' is not in the absolute"),
        ("turn_direction()", ABSOLUTE, "turn_direction() needs a direction"),
        ("I don't know where to go.", ABSOLUTE, "no action found; answer with forward(), "),
        (
            "",
            RELATIVE,
            "no action found; answer with forward(), turn_direction(x) with x one of left",
        ),
        ('{"action": "go north"}', ABSOLUTE, "'go north' is not an action; answer with"),
        ('{"action": ""}', ABSOLUTE, "the action field is empty"),
        ('{"action": null}', ABSOLUTE, "the action field is empty"),
        ('{"action": 3}', ABSOLUTE, "the action must be text such as forward(), got 3"),
        (
            '{"action": "forward() then turn_direction(east)"}',
            ABSOLUTE,
            "the action field must hold exactly one action",
        ),
        (
            '{"current observation": "x", "action": "I choose turn_direction(west) now"}',
            ABSOLUTE,
            "the action field must hold exactly one action",
        ),
        (
            "First forward(), then turn_direction(east), finally stop().",
            ABSOLUTE,
            "actions mentioned in prose are not an answer",
        ),
        ("I should not do forward()", ABSOLUTE, "actions mentioned in prose are not an answer"),
        ("So the right move is turn_direction(northwest), I think.", ABSOLUTE, "in prose"),
        ("I see the destination.\n\nstop()", ABSOLUTE, "in prose"),
        ("- turn_direction(north)", ABSOLUTE, "in prose"),
        ("forward()\nstop()", ABSOLUTE, "in prose"),
        ("Move forward until you reach the next intersection.", ABSOLUTE, "no action found"),
        ("Please stop here", ABSOLUTE, "no action found"),
        ("turn_direction north", ABSOLUTE, "no action found"),
        ("x" * (MAX_RESPONSE_CHARS + 1), ABSOLUTE, "the response is too long"),
    ],
)
def test_rejections(text: str, vocab: ActionVocabulary, snippet: str) -> None:
    result = parsed(text, vocab)
    assert result.action is None
    assert result.error is not None and snippet in result.error


@pytest.mark.parametrize(
    "text",
    [
        "{'current observation': 'x', 'action': 'turn_direction('north')',}",
        '{"action": "turn_direction("north")"}',
    ],
)
def test_nested_quotes_that_cut_the_value(text: str) -> None:
    assert action_text(text) == "turn_direction(north)"


def test_single_action_list_is_accepted() -> None:
    assert action_text('{"action": ["stop()"]}') == "stop()"


def test_non_str_raises_type_error() -> None:
    for value in [None, b"forward()", 3, ["forward()"]]:
        with pytest.raises(TypeError):
            parse_action(value, ABSOLUTE)  # type: ignore[arg-type]


def test_looks_like_action() -> None:
    assert looks_like_action("forward()") and looks_like_action("Stop")
    assert looks_like_action("turn_direction(anything)")
    assert not looks_like_action("forward() now")
    assert not looks_like_action("go forward")


def test_hostile_inputs_are_fast() -> None:
    hostile = [
        "turn_direction(" * 4000,
        "(" * 60_000,
        "forward " * 8000,
        "{" * 60_000,
        '"action": ' * 6000,
        "turn_direction(" + " " * 60_000,
        "\n".join(["forward()"] * 6000),
        "forward()" * 7000,
        "a" * 65_000 + "stop()",
        '{"action": "' + "turn_direction(north) " * 3000 + '"}',
    ]
    t0 = time.perf_counter()
    for text in hostile:
        parsed(text)
        parsed(text, RELATIVE)
    assert time.perf_counter() - t0 < 5.0


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

ACTION_LIKE = re.compile(r"forward|stop|turn", re.IGNORECASE | re.ASCII)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from([ABSOLUTE, RELATIVE]))
def test_random_text_never_raises(text: str, vocab: ActionVocabulary) -> None:
    parsed(text, vocab)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.sampled_from(list("{}[]()'\":,=_\n\t *`#-actionbsrvuACTIONxyz0123456789é"))
        | st.characters(),
        max_size=200,
    )
)
def test_text_without_action_words_yields_no_action(text: str) -> None:
    if ACTION_LIKE.search(text):
        return
    result = parsed(text)
    assert result.action is None


# Prose around an action: no parentheses, no action words, and no explicit answer wrapper
# (<answer>, </think>, \\boxed{}), which are tested on their own below.
PROSE = st.text(st.characters(blacklist_characters="()<\\"), max_size=40).filter(
    lambda s: not ACTION_LIKE.search(s)
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ABSOLUTE.actions), PROSE, PROSE)
def test_an_action_inside_prose_is_never_taken(action: Action, before: str, after: str) -> None:
    text = f"{before} {action} {after}"
    result = parsed(text)
    if any(c.isalnum() for c in before + after):
        assert result.action is None, (text, result)
        assert result.error is not None


@given(st.sampled_from(RELATIVE.actions), st.sampled_from(["json", "json-ish", "fields", "fence"]))
def test_relative_shapes(action: Action, shape: str) -> None:
    text = {
        "json": json.dumps({"current observation": "o", "action": str(action)}),
        "json-ish": f"{{'current observation': 'o', 'action': '{action}',}}",
        "fields": f"Current observation: o\nAction: {action}",
        "fence": f"```json\n{json.dumps({'action': str(action)})}\n```",
    }[shape]
    assert parsed(text, RELATIVE).action == action


# ---------------------------------------------------------------------------
# reasoning models
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "form"),
    [
        (
            "<think>Stop here? No: I go forward().</think>\nturn_direction(north)",
            "turn_direction(north)",
            "bare",
        ),
        ("<think>stop()</think><answer>forward()</answer>", "forward()", "bare"),
        (
            "I might stop() here.\n<answer>\nturn_direction(east)\n</answer>",
            "turn_direction(east)",
            "bare",
        ),
        (
            '<think>x</think>\n<answer>{"current observation": "o", "action": "stop()"}</answer>',
            "stop()",
            "json",
        ),
        ("<answer>```\nforward()\n```</answer>", "forward()", "bare"),
        ("<answer>forward()", "forward()", "bare"),  # </answer> was the stop sequence
        ("\\boxed{turn_direction(north)}", "turn_direction(north)", "boxed"),
        (
            "I reached the destination, so $\\boxed{stop()}$",
            "stop()",
            "boxed",
        ),
        ("<think>forward()</think><answer>\\boxed{Forward}</answer>", "forward()", "boxed"),
        ("so maybe forward()\n</think>\n\nstop()", "stop()", "bare"),
        ("<thinking>forward()</thinking>stop()", "stop()", "bare"),
        ("<reasoning>forward()</reasoning>stop()", "stop()", "bare"),
    ],
)
def test_reasoning_model_shapes(text: str, expected: str, form: str) -> None:
    result = parsed(text)
    assert str(result.action) == expected, result
    assert result.form == form


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        # reasoning is never searched
        ("<think>I will go forward()</think>", "no action found"),
        ("<think>forward()</think>\n\n", "no action found"),
        ("<think>I go forward()</think>I am not sure.", "no action found"),
        # cut off while reasoning: no answer, whatever came before
        ("<think>forward()", "ends inside its reasoning"),
        ("forward()\n<think>let me double-check", "ends inside its reasoning"),
        # explicit wrappers do not loosen the rule: exactly one action
        ("<answer>I should not do forward()</answer>", "actions mentioned in prose"),
        ("<answer>forward() then stop()</answer>", "actions mentioned in prose"),
        ("\\boxed{I should not do forward()}", "\\boxed{} must hold exactly one action"),
        ("Go \\boxed{north}", "\\boxed{} must hold exactly one action, not 'north'"),
        ("<answer></answer>", "no action found"),
        # no "final sentence" rule for actions: it would reopen the hack below
        ("I should not do forward().", "actions mentioned in prose"),
        ("The action is forward().", "actions mentioned in prose"),
        ("<think>hmm</think>\nI should not do forward()", "actions mentioned in prose"),
        # the <answer> content wins over a valid action outside it
        ("forward()\n<answer>I would not stop()</answer>", "actions mentioned in prose"),
    ],
)
def test_reasoning_model_rejections(text: str, snippet: str) -> None:
    result = parsed(text)
    assert result.action is None, result
    assert result.error is not None and snippet in result.error, result.error


def test_prose_and_reasoning_stay_invalid_in_the_environment() -> None:
    import gymnasium as gym

    import navenvs  # noqa: F401

    env = gym.make("navenvs/Navigation-v0")
    _, info = env.reset(seed=0)
    expert = info["expert_action"]
    for answer in [f"I should not do {expert}", f"<think>{expert}</think>", f"<think>{expert}"]:
        _, reward, terminated, _, step_info = env.step(answer)
        assert (reward, step_info["verdict"]) == (-1.0, "invalid_action"), answer
        assert not terminated
        env.reset(seed=0)
    _, reward, _, _, step_info = env.step(f"<think>not {expert}?</think><answer>{expert}</answer>")
    assert (reward, step_info["verdict"]) == (1.0, "correct")


def test_hostile_reasoning_inputs_are_fast() -> None:
    hostile = [
        "<think>" + "forward() " * 6000 + "</think>",
        "<think>" * 9000,
        "</think>" * 8000 + "forward()",
        "<answer>" * 8000,
        "</answer>" * 7000,
        "<answer><think>" * 4000,
        "\\boxed{" * 9000 + "forward()",
        "\\boxed{" + "{" * 60_000,
        "\\boxed{" * 3000 + "forward()" + "}" * 3000,
        "<think>" + "x" * MAX_RESPONSE_CHARS,
        "<answer>" + " " * 60_000 + "forward()",
    ]
    t0 = time.perf_counter()
    for text in hostile:
        parsed(text)
    assert time.perf_counter() - t0 < 5.0
    long_reasoning = "<think>" + " \t" * 30_000 + "</think>\n  forward()  "
    assert action_text(long_reasoning) == "forward()"


NO_TAGS = st.text(max_size=120).filter(lambda s: "<" not in s)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ABSOLUTE.actions), NO_TAGS, NO_TAGS)
def test_reasoning_is_never_searched(action: Action, before: str, after: str) -> None:
    assert parsed(f"<think>{before}{action}{after}</think>").action is None
    assert parsed(f"<think>{before}{action}{after}").action is None
    alone = parsed(after)
    wrapped = parsed(f"<think>{before}{action}</think>{after}")
    assert (wrapped.action, wrapped.error, wrapped.form) == (alone.action, alone.error, alone.form)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ABSOLUTE.actions), NO_TAGS, NO_TAGS)
def test_a_wrapped_action_counts_whatever_surrounds_it(
    action: Action, before: str, after: str
) -> None:
    assert parsed(f"{before}<answer>{action}</answer>{after}").action == action
    outside = (before + after).lower()
    if "{" not in outside and "action" not in outside:  # no other answer field or box
        assert parsed(f"{before}\\boxed{{{action}}}{after}").action == action
