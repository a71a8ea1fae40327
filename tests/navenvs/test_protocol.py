"""Navigation's side of the paper protocol: prompt templates, feedback levels, paper defaults."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import pytest

import navenvs  # noqa: F401
from navenvs.geo import COMPASS_WORDS, RELATIVE_WORDS
from navenvs.instructions import FIELDS, TEMPLATES, prompt_text, register_template

NAV = "navenvs/Navigation-v0"
RULE_OOD = "navenvs/Navigation-RuleOOD-v0"


def play_to_step(env: gym.Env[str, str], seed: int, steps: int) -> tuple[str, dict]:
    obs, info = env.reset(seed=seed)
    for _ in range(steps):
        obs, _, _, _, info = env.step(env.unwrapped.expert_action())
    return obs, info


# --------------------------------------------------------------------------- templates


def test_default_template_is_today_s_wording() -> None:
    env = gym.make(NAV)
    obs, _ = play_to_step(env, 3, 2)
    unwrapped = env.unwrapped
    expected = prompt_text(
        unwrapped._instruction,
        unwrapped._vocabulary_sentence,
        unwrapped._history,
        unwrapped._observation(unwrapped.rail[unwrapped._index]),
    )
    assert obs == expected
    assert obs.startswith("You are walking through a city street by street")
    assert "History:\nO_1: No landmarks nearby\nA_1: turn_direction(" in obs
    assert gym.make(NAV, prompt="default").reset(seed=3)[0] == env.reset(seed=3)[0]


def test_sectioned_template_has_the_reference_s_sections() -> None:
    env = gym.make(NAV, prompt="sectioned")
    obs, info = play_to_step(env, 1, 2)
    for section in (
        "## Task description",
        "## Route instruction",
        "## Action space",
        "## Observations and actions so far",
        "## Output format",
    ):
        assert section in obs
    assert f"O_3: {info['observation']}\nA_3:\n" in obs  # the current O_n and an empty A_n
    assert "O_1: No landmarks nearby\nA_1: turn_direction(" in obs
    assert env.observation_space.contains(obs)


def test_a_template_file_with_the_reference_field_names(tmp_path: Path) -> None:
    path = tmp_path / "virl.txt"
    path.write_text(
        "[Instruction]\n{instruction}\n[Action space]\n{action_space}\n"
        '[Observations and actions]\n{obs_act_seq}\n[Output]\n{{"action": ...}}\n',
        encoding="utf-8",
    )
    env = gym.make(RULE_OOD, prompt=str(path))
    obs, _ = env.reset(seed=0)
    assert obs.startswith("[Instruction]\n1. First, turn ")
    assert "O_1: No landmarks nearby\nA_1:\n" in obs
    assert '{"action": ...}' in obs and env.observation_space.contains(obs)
    # a JSON file may override a field's text, with the other fields available
    spec = {
        "template": "{instruction}\n{answer_format}",
        "fields": {"answer_format": "Step {step}."},
    }
    (tmp_path / "t.json").write_text(json.dumps(spec), encoding="utf-8")
    obs, _ = gym.make(NAV, prompt=str(tmp_path / "t.json")).reset(seed=0)
    assert obs.endswith("\nStep 1.")
    # inline mappings keep EnvSpec.to_json working
    env = gym.make(NAV, prompt=spec)
    assert env.reset(seed=0)[0] == obs
    assert json.loads(env.spec.to_json())["kwargs"]["prompt"] == spec
    assert pickle.loads(pickle.dumps(env.unwrapped)).reset(seed=0)[0] == obs


@pytest.mark.parametrize(
    ("template", "snippet"),
    [
        ("{instruction.__class__}", "attribute or index lookup"),
        ("{instruction[0]}", "attribute or index lookup"),
        ("{}", "positional field"),
        ("{0}", "positional field"),
        ("{instruction!r}", "conversion or format spec"),
        ("{route_secret}", "unknown field {route_secret}"),
        ("{instruction", "malformed template"),
        ("tab\tok but bell\x07 not", "control characters"),
    ],
)
def test_templates_are_data_not_code(template: str, snippet: str) -> None:
    with pytest.raises(ValueError, match="prompt") as info:
        gym.make(NAV, prompt={"template": template})
    assert snippet in str(info.value)
    for name in FIELDS:
        assert name in str(info.value) or snippet in ("malformed template", "control characters")


def test_unknown_template_name_and_file() -> None:
    with pytest.raises(ValueError, match="unknown prompt template 'nope'; registered: 'default'"):
        gym.make(NAV, prompt="nope")
    with pytest.raises(ValueError, match="not a regular file"):
        gym.make(NAV, prompt="/no/such/template.txt")


def test_authors_register_their_own() -> None:
    register_template("test-terse", "{instruction}\n{obs_act_seq}\n{answer_format}\n")
    try:
        obs, _ = gym.make(NAV, prompt="test-terse").reset(seed=0)
        assert obs.startswith("1. First, turn ")
    finally:
        TEMPLATES.unregister("test-terse")


def test_long_templates_and_routes_stay_in_the_space() -> None:
    text = "Ünïcødé preamble. " * 400 + "{instruction}\n{history}{obs_act_seq}\n{answer_format}"
    env = gym.make(NAV, prompt={"template": text}, milestones=8, forward_points=20, drop_rate=0.0)
    obs, _ = env.reset(seed=0)
    while True:
        assert env.observation_space.contains(obs)
        obs, _, terminated, truncated, _ = env.step(env.unwrapped.expert_action())
        if terminated or truncated:
            break
    assert env.observation_space.contains(obs)


# --------------------------------------------------------------------------- feedback


def test_paper_feedback_never_lists_the_allowed_words() -> None:
    env = gym.make(RULE_OOD, max_attempts=10)  # registered: feedback="paper"
    assert env.unwrapped.feedback_level == "paper"
    obs, info = env.reset(seed=0)
    answers = [
        '{"action": "turn_direction(north)"}',  # the memorised compass word
        "turn_direction(up)",
        "I am lost",
        json.dumps({"current observation": "You observe an intersection", "action": "stop()"}),
    ]
    for answer in answers:
        obs, reward, _, _, info = env.step(answer)
        assert reward < 0
        feedback = info["feedback"]
        for word in (*RELATIVE_WORDS, *COMPASS_WORDS):
            assert word not in feedback, (answer, feedback)
        assert "same format" in feedback and feedback in obs
    assert info["feedback"].startswith("You are not at an intersection.")


def test_detailed_feedback_says_what_was_wrong() -> None:
    env = gym.make(RULE_OOD, feedback="detailed", max_attempts=10)
    env.reset(seed=0)
    _, _, _, _, info = env.step('{"action": "turn_direction(north)"}')
    assert "relative vocabulary; use one of left, right" in info["feedback"]
    with pytest.raises(ValueError, match=r"feedback must be one of \['paper', 'detailed'\]"):
        gym.make(NAV, feedback="terse")


def test_class_defaults_and_registered_defaults() -> None:
    from navenvs.env import NavigationEnv

    assert NavigationEnv().feedback_level == "detailed"
    for env_id in gym.registry:
        if env_id.startswith("navenvs/"):
            assert gym.make(env_id).unwrapped.feedback_level == "paper"


def test_running_out_of_attempts_costs_one_more() -> None:
    env = gym.make(NAV)
    _, info = env.reset(seed=0)
    wrong = "stop()" if info["expert_action"] != "stop()" else "forward()"
    _, first, _, truncated, _ = env.step(wrong)
    assert (first, truncated) == (-1.0, False)
    _, second, _, truncated, _ = env.step(wrong)
    assert (second, truncated) == (-2.0, True)  # -1 wrong, -1 exhausted (the paper's)


def test_expert_action_accepts_an_rng() -> None:
    import numpy as np

    env = gym.make(NAV)
    env.reset(seed=0)
    assert env.unwrapped.expert_action(np.random.default_rng(1)) == env.unwrapped.expert_action()
