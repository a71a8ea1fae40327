import json
import pickle
import warnings

import gymnasium as gym
import pytest

import cardenvs
from cardenvs.env import GeneralPointsEnv

ID = "cardenvs/GeneralPoints-v0"
INFO_KEYS = {"cards", "numbers", "target", "rule", "attempts_left", "solution"}


def test_reset_info_and_prompt() -> None:
    env = gym.make(ID)
    obs, info = env.reset(seed=11)
    assert INFO_KEYS <= set(info)
    assert len(info["cards"]) == 4 and len(set(info["cards"])) == 4
    assert all(code[-1] in "SC" for code in info["cards"])  # black suits
    assert info["target"] == 24 and info["rule"] == "face-10" and info["attempts_left"] == 5
    ranks = [code[:-1] for code in info["cards"]]
    assert "Cards: [" + ", ".join(f"'{r}'" for r in ranks) + "]" in obs
    assert "count as 10" in obs
    assert obs in env.observation_space


def test_seed_gives_the_same_episode_and_other_seeds_differ() -> None:
    a, b = gym.make(ID), gym.make(ID)
    deals_a = [a.reset(seed=s)[1]["cards"] for s in range(20)]
    deals_b = [b.reset(seed=s)[1]["cards"] for s in range(20)]
    assert deals_a == deals_b
    assert len({tuple(d) for d in deals_a}) > 15
    a.reset(seed=5)
    b.reset(seed=5)
    assert [a.reset()[1]["cards"] for _ in range(5)] == [b.reset()[1]["cards"] for _ in range(5)]


def test_rule_ood_hands_hold_a_face_card() -> None:
    env = gym.make("cardenvs/GeneralPoints-RuleOOD-v0")
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert any(code[:-1] in "JQK" for code in info["cards"])
        assert info["rule"] == "face-11-12-13"


def test_multi_turn_feedback_then_success() -> None:
    env = gym.make(ID, max_attempts=3)
    obs, info = env.reset(options={"cards": ["3S", "3C", "8S", "8C"]})
    assert info["solution"] == "8/(3-8/3)"
    obs, reward, terminated, truncated, info = env.step('{"formula": "8*3"}')
    assert (reward, terminated, truncated) == (-2.0, False, False)
    assert (
        info["verdict"] == "wrong_numbers" and info["attempts_left"] == 2 and not info["is_success"]
    )
    assert "Attempt 1 of 3 failed" in obs and info["feedback"] in obs and "2 attempts left" in obs
    obs, reward, terminated, truncated, info = env.step("8/(3-8/3) = 24")
    assert (reward, terminated, truncated) == (5.0, True, False)
    assert info["is_success"] and info["verdict"] == "correct"
    with pytest.raises(RuntimeError, match="reset"):
        env.step("8/(3-8/3)")


def test_last_wrong_attempt_truncates_without_an_extra_step() -> None:
    env = gym.make(ID, max_attempts=2, rewards={"exhausted": -1.0})
    env.reset(seed=0)
    _, r1, te1, tr1, _ = env.step("nothing")
    _, r2, te2, tr2, info = env.step("still nothing")
    assert (te1, tr1) == (False, False)
    assert (te2, tr2) == (False, True) and info["attempts_left"] == 0
    assert (r1, r2) == (-3.0, -4.0)
    with pytest.raises(RuntimeError):
        env.step("again")


def test_expert_action_is_the_paper_answer_shape() -> None:
    env = gym.make(ID)
    env.reset(seed=3)
    answer = json.loads(env.unwrapped.expert_action())
    assert set(answer) == {"cards", "number", "formula"} and answer["formula"].endswith("=24")
    assert env.step(json.dumps(answer))[1] == 5.0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"cards": ["3S", "3C", "8S"]}, "must hold 4 cards"),
        ({"cards": ["3S", "3C", "8S", "8X"]}, "bad card code '8X'"),
        ({"cards": ["3S", "3S", "8S", "8C"]}, "appears twice"),
        ({"cards": ["3H", "3C", "8S", "8C"]}, "not in the black deck"),
        ({"cards": ["AS", "AC", "2S", "2C"]}, "cannot reach 24"),
        ({"cards": "3S 3C 8S 8C"}, "list of card codes"),
        ({"hand": ["3S"]}, "unknown key"),
    ],
)
def test_bad_reset_options_fail_clearly(options: dict, match: str) -> None:
    env = gym.make(ID)
    with pytest.raises(ValueError, match=match):
        env.reset(options=options)


def test_options_respect_the_rule() -> None:
    env = gym.make("cardenvs/GeneralPoints-RuleOOD-v0")
    with pytest.raises(ValueError, match="face card"):
        env.reset(options={"cards": ["4S", "6C", "4C", "AS"]})
    _, info = env.reset(options={"cards": ["KS", "QC", "AS", "AC"]})
    assert info["numbers"] == [13, 12, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"suits": "green"}, "suits must be one of"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"rewards": {"bonus": 3}}, "unknown category"),
        ({"observation": "audio"}, "observation must be one of"),
        ({"render_mode": "depth_array"}, "render_mode"),
        ({"rule": 24}, "rule"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict, match: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium warns about unknown render modes first
        with pytest.raises((ValueError, TypeError), match=match):
            gym.make(ID, **kwargs)


def test_non_str_action_raises_type_error() -> None:
    env = gym.make(ID)
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(123)


def test_red_and_all_decks() -> None:
    red = gym.make(ID, suits="red")
    black = gym.make(ID)
    for seed in range(10):
        r, b = red.reset(seed=seed)[1]["cards"], black.reset(seed=seed)[1]["cards"]
        assert [c[:-1] for c in r] == [c[:-1] for c in b]
        assert all(c[-1] in "HD" for c in r)
    full = gym.make(ID, suits="all")
    suits = {c[-1] for s in range(40) for c in full.reset(seed=s)[1]["cards"]}
    assert suits == set("SHDC")


def test_render_ansi_returns_the_prompt() -> None:
    env = gym.make(ID, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs


def test_pickle_does_not_carry_the_hand_table() -> None:
    env = GeneralPointsEnv(suits="all")
    env.reset(seed=0)
    assert len(pickle.dumps(env)) < 20_000
    clone = pickle.loads(pickle.dumps(env))
    assert clone.reset(seed=4) == env.reset(seed=4)


def test_random_actions_always_get_a_verdict_and_stay_in_the_space() -> None:
    env = gym.make(ID)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs in env.observation_space
        assert info["verdict"] in cardenvs.DEFAULT_REWARDS and reward < 0
        if terminated or truncated:
            env.reset()
