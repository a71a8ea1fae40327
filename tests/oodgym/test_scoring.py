"""The shared state cache behind the reward functions (oodgym.integrations.scoring)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from oodgym.families import load_families
from oodgym.integrations.scoring import (
    Score,
    StateScorer,
    canonical_kwargs,
    clear_scorers,
    parse_kwargs,
    state_scorer,
)

GP = "cardenvs/GeneralPoints-v0"
GP_IMAGE = "cardenvs/GeneralPoints-Image-v0"
NAV = "navenvs/Navigation-RuleOOD-v0"
NAV_IMAGE = "navenvs/Navigation-Image-v0"
SMALL = {"image_size": 224}
GARBAGE = "no idea"

load_families()


def answers_for(env: gym.Env[Any, Any]) -> list[str]:
    """The expert's answer, variants of it, and garbage, for the current state."""
    expert = str(env.unwrapped.expert_action())
    fields = json.loads(expert)
    out = [expert, "", GARBAGE]
    if "formula" in fields:
        numbers = fields["number"]
        out.append(json.dumps({**fields, "formula": "+".join(map(str, numbers))}))
        out.append(json.dumps({**fields, "cards": ["A"] * len(numbers)}))  # misread
    else:
        wrong = "stop()" if fields["action"] != "stop()" else "forward()"
        out.append(json.dumps({**fields, "action": wrong}))
        out.append(
            json.dumps({"current observation": "You observe an intersection.", "action": wrong})
        )
    return out


_REFERENCES: dict[tuple[str, str], gym.Env[Any, Any]] = {}


def env_score(env_id: str, kwargs: dict[str, Any], seed: int, step: int, answer: str) -> Score:
    """The reference: reset, the expert replayed, the answer stepped (no snapshots)."""
    key = (env_id, json.dumps(kwargs, sort_keys=True))
    env = _REFERENCES.get(key) or _REFERENCES.setdefault(key, gym.make(env_id, **kwargs))
    env.reset(seed=seed)
    for _ in range(step):
        env.step(env.unwrapped.expert_action())
    _, reward, terminated, truncated, info = env.step(answer)
    return Score(float(reward), info.get("verdict"), bool(terminated), bool(truncated))


@pytest.mark.parametrize(
    ("env_id", "kwargs", "seeds", "depth"),
    [
        (GP, {}, (3, 1_000_004), 0),
        (GP, {"max_attempts": 1}, (3,), 0),
        (GP_IMAGE, SMALL, (3, 1_000_004), 0),
        (NAV, {}, (3, 1_000_004), 3),
        (NAV_IMAGE, SMALL, (1_000_000,), 1),  # the reference renders every replayed step
    ],
)
def test_cached_states_judge_like_a_fresh_environment(
    env_id: str, kwargs: dict[str, Any], seeds: tuple[int, ...], depth: int
) -> None:
    scorer = StateScorer(env_id, kwargs)
    walker = gym.make(env_id, **kwargs)
    for seed in seeds:
        walker.reset(seed=seed)
        for step in range(depth + 1):
            answers = answers_for(walker)
            # In two orders: every later call reuses the cached state.
            for answer in [*answers, *reversed(answers)]:
                assert scorer.score(answer, seed, step) == env_score(
                    env_id, kwargs, seed, step, answer
                ), (seed, step, answer)
            _, _, terminated, truncated, _ = walker.step(walker.unwrapped.expert_action())
            if terminated or truncated:
                break
    assert scorer.reuses > scorer.replays


def test_a_grpo_group_replays_its_state_once() -> None:
    scorer = StateScorer(NAV, {})
    env = gym.make(NAV)
    env.reset(seed=11)
    for _ in range(3):
        env.step(env.unwrapped.expert_action())
    group = [*answers_for(env), *answers_for(env)[:3]]
    assert len(group) == 8
    results = scorer.score_many(group, seed=11, step=3)
    assert scorer.replays == 2  # the first replay, and one fresh replay checking the snapshot
    assert [r.reward for r in results][:1] == [1.0]
    scorer.score_many(group, seed=11, step=3)
    assert scorer.replays == 2 and scorer.reuses == 15
    # A later step of the same episode starts from the cached state, not from reset.
    scorer.score("", seed=11, step=4)
    assert scorer.replays == 3


def test_navigation_images_are_judged_by_a_text_twin() -> None:
    scorer = StateScorer(NAV_IMAGE, SMALL)
    scorer.score("", 0)
    assert scorer.judge_kwargs == {**SMALL, "observation": "text"}
    assert not isinstance(scorer.env.observation_space, spaces.Dict)
    # GeneralPoints checks the cards read from the image: its text twin would judge
    # differently, so the probe rejects it and the image environment judges.
    cards = StateScorer(GP_IMAGE, SMALL)
    cards.score("", 0)
    assert cards.judge_kwargs == SMALL
    assert isinstance(cards.env.observation_space, spaces.Dict)
    assert StateScorer(NAV_IMAGE, SMALL, text_twin=False).env.observation_space == (
        gym.make(NAV_IMAGE, **SMALL).observation_space
    )


def test_snapshots_are_bounded() -> None:
    scorer = StateScorer(GP_IMAGE, SMALL, max_bytes=2 * 224 * 224 * 3)
    for seed in range(5):
        scorer.score("", seed)
    assert len(scorer._states) <= 2
    none = StateScorer(GP, max_states=0)
    for _ in range(3):
        none.score("", 0)
    assert none.replays == 3 and none.reuses == 0
    with pytest.raises(ValueError, match="max_states"):
        StateScorer(GP, max_states=-1)


def test_bad_states_and_answers() -> None:
    scorer = StateScorer(NAV, {})
    with pytest.raises(ValueError, match="step 99 does not exist"):
        scorer.score("", 0, 99)
    with pytest.raises(ValueError, match="step must be >= 0"):
        scorer.score("", 0, -1)
    with pytest.raises(TypeError, match="answer must be a str"):
        scorer.score(None, 0)  # type: ignore[arg-type]


class DeepState(gym.Env[str, str]):
    """Keeps its state one level deeper than the snapshots copy (a counter in a list in a dict)."""

    observation_space = spaces.Text(10)
    action_space = spaces.Text(10)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = {"tries": [0]}
        return "go", {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.state["tries"][0] += 1
        tries = self.state["tries"][0]
        return "go", float(-tries), False, tries >= 3, {"verdict": "wrong"}

    def expert_action(self) -> str:
        return "x"


def test_an_environment_the_snapshots_cannot_restore_is_replayed() -> None:
    gym.register("scoringtest/DeepState-v0", entry_point=DeepState)
    scorer = StateScorer("scoringtest/DeepState-v0")
    assert scorer.score("a", 0).reward == -1.0
    with pytest.warns(RuntimeWarning, match="replayed from reset"):
        assert scorer.score("a", 0).reward == -1.0  # the fresh replay's answer
    assert [scorer.score("a", 0).reward for _ in range(3)] == [-1.0] * 3


def test_kwargs_as_rows_carry_them() -> None:
    assert canonical_kwargs({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert canonical_kwargs(None) == "{}"
    assert parse_kwargs('{"rule": "face-10"}') == {"rule": "face-10"}
    assert parse_kwargs(None) == parse_kwargs("") == {}
    with pytest.raises(ValueError, match="not JSON"):
        parse_kwargs("{")
    with pytest.raises(ValueError, match="JSON object"):
        parse_kwargs("[1]")
    with pytest.raises(ValueError, match="plain JSON"):
        canonical_kwargs({"x": float("nan")})


def test_shared_scorers_per_configuration() -> None:
    clear_scorers()
    a = state_scorer(GP, {"rule": "face-10"})
    assert state_scorer(GP, '{"rule":"face-10"}') is a
    assert state_scorer(GP, {}) is not a
    assert state_scorer(GP, {}).categories == [
        "correct",
        "illegal_formula",
        "wrong_numbers",
        "wrong_recognition",
        "wrong_value",
    ]
    clone = pickle.loads(pickle.dumps(a))
    assert clone.score("", 0) == a.score("", 0)
    clear_scorers()
    assert state_scorer(GP, {"rule": "face-10"}) is not a


def test_expert_rewards_follow_the_episode() -> None:
    scorer = StateScorer(NAV, {})
    env = gym.make(NAV)
    env.reset(seed=2)
    length = len(env.unwrapped.rail)
    assert scorer.expert_rewards(2) == [1.0] * length
    assert scorer.expert_rewards(2, 2) == [1.0] * (length - 2)
    assert np.isclose(StateScorer(GP).expert_rewards(0), [5.0]).all()
