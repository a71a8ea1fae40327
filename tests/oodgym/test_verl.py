"""verl adapters (oodgym.integrations.verl), called the way verl calls them; verl is not installed.

Written from verl's documentation and code (main branch, January 2026): ``RLHFDataset`` reads
the parquet rows and splits image rows' text on ``<image>``; the reward loop calls
``compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)`` by
keyword from a thread pool (``loop.run_in_executor``) and adds ``turn_scores`` to
``extra_info`` after a multi-turn rollout; ``ToolAgentLoop`` makes the interaction with
``cls(config=...)``, calls ``start_interaction(request_id, **interaction_kwargs)`` and, after
each assistant turn, ``generate_response(request_id, messages, **interaction_kwargs)``, and
appends the reply as a user message.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from oodgym.conversation import Conversation
from oodgym.families import load_families
from oodgym.integrations.rollout import TRAINING_SEED_START
from oodgym.integrations.verl import (
    compute_score,
    make_dataset,
    parse_state,
)

GP = "cardenvs/GeneralPoints-v0"
GP_IMAGE = "cardenvs/GeneralPoints-Image-v0"
NAV = "navenvs/Navigation-v0"
NAV_IMAGE = "navenvs/Navigation-Image-v0"
SMALL = {"image_size": 224}
GARBAGE = "I give up"

load_families()


def wrong_answer(env: gym.Env[Any, Any]) -> str:
    """A parseable, incorrect answer for the current state."""
    expert = json.loads(env.unwrapped.expert_action())
    if "formula" in expert:
        return json.dumps({**expert, "formula": "+".join(map(str, expert["number"]))})
    action = "stop()" if expert["action"] != "stop()" else "forward()"
    return json.dumps({"action": action})


def call_like_verl(row: dict[str, Any], answer: str, **extra: Any) -> Any:
    return compute_score(
        data_source=row["data_source"],
        solution_str=answer,
        ground_truth=row["reward_model"]["ground_truth"],
        extra_info={**row["extra_info"], **extra},
    )


# ---------------------------------------------------------------- datasets
def test_rows_follow_verls_schema() -> None:
    rows = make_dataset(GP, [0, 1], env_kwargs={"max_attempts": 3}, split="test")
    env = gym.make(GP, max_attempts=3)
    for index, row in enumerate(rows):
        assert list(row) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
        assert row["data_source"] == GP and row["ability"] == "ood-gym"
        assert row["reward_model"]["style"] == "rule"
        state = parse_state(row["reward_model"]["ground_truth"])
        assert (state.env_id, state.seed, state.step) == (GP, index, 0)
        assert json.loads(state.env_kwargs) == {"max_attempts": 3}
        info = row["extra_info"]
        assert (info["split"], info["index"], info["seed"]) == ("test", index, index)
        assert info["env_kwargs"] == '{"max_attempts":3}' and info["conversation"] == "paper"
        kwargs = info["interaction_kwargs"]
        assert kwargs["name"] == "oodgym" and kwargs["seed"] == index
        obs, _ = env.reset(seed=index)
        assert row["prompt"] == [{"role": "user", "content": obs}]
    assert [r["extra_info"]["seed"] for r in make_dataset(GP, 2)] == [
        TRAINING_SEED_START,
        TRAINING_SEED_START + 1,
    ]


def test_image_rows_round_trip_through_parquet(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "data" / "train.parquet"
    rows = make_dataset(GP_IMAGE, [2, 3], env_kwargs=SMALL, path=path)
    assert path.is_file() and not list(path.parent.glob(".*"))  # no temporary left
    # What verl's RLHFDataset does: load the parquet, split the text on <image>.
    loaded = datasets.load_dataset("parquet", data_files=str(path), split="train")
    env = gym.make(GP_IMAGE, **SMALL)
    for row, stored in zip(rows, loaded, strict=True):
        content = stored["prompt"][0]["content"]
        segments = [s for s in re.split("(<image>|<video>)", content) if s]
        assert segments.count("<image>") == len(stored["images"]) == 1
        obs, _ = env.reset(seed=stored["extra_info"]["seed"])
        np.testing.assert_array_equal(np.asarray(stored["images"][0]), obs["image"])
        assert "".join(s for s in segments if s != "<image>") == obs["text"]
        assert stored["reward_model"] == row["reward_model"]
        assert stored["extra_info"]["interaction_kwargs"] == row["extra_info"]["interaction_kwargs"]


def test_full_protocol_rows_hold_the_episode_so_far() -> None:
    rows = make_dataset(NAV, [5], steps="expert", conversation="full")
    assert [len(r["prompt"]) for r in rows] == [2 * i + 1 for i in range(len(rows))]
    assert all(isinstance(m["content"], str) for r in rows for m in r["prompt"])
    assert {r["extra_info"]["conversation"] for r in rows} == {"full"}


def test_dataset_argument_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="steps must be one of"):
        make_dataset(GP, [0], steps="all")
    with pytest.raises(ValueError, match="conversation"):
        make_dataset(GP, [0], conversation="chat")
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)
    with pytest.raises(ImportError, match=r"ood-gym\[hf\]"):
        make_dataset(GP, [0], path=tmp_path / "x.parquet")


# ---------------------------------------------------------------- compute_score
@pytest.mark.parametrize(
    ("env_id", "kwargs", "seeds"),
    [(GP, {}, [0, 1, 2]), (NAV, {}, [0, 1]), (NAV_IMAGE, SMALL, [TRAINING_SEED_START])],
)
def test_threaded_compute_score_equals_the_environment(
    env_id: str, kwargs: dict[str, Any], seeds: list[int]
) -> None:
    rows = make_dataset(env_id, seeds, steps="expert", env_kwargs=kwargs)
    env = gym.make(env_id, **kwargs)
    calls, expected = [], []
    for row in rows:
        seed, step = row["extra_info"]["seed"], row["extra_info"]["step"]
        for pick in (lambda e: str(e.unwrapped.expert_action()), wrong_answer, lambda e: GARBAGE):
            env.reset(seed=seed)
            for _ in range(step):
                env.step(env.unwrapped.expert_action())
            answer = pick(env)
            _, reward, _, _, info = env.step(answer)
            calls.append((row, answer))
            expected.append((float(reward), info["verdict"]))
    # verl's reward loop: compute_score by keyword, from a thread pool.
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda call: call_like_verl(*call), calls))
    assert [(r["score"], r["verdict"]) for r in results] == expected
    assert all(set(r) == {"score", "acc", "verdict", "turns"} for r in results)
    # A whole episode: the expert's answers at every state add up to the episode's return.
    for seed in seeds:
        env.reset(seed=seed)
        episode_return, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.unwrapped.expert_action())
            episode_return += float(reward)
            done = terminated or truncated
        mine = [
            r
            for (row, _), r in zip(calls, results, strict=True)
            if row["extra_info"]["seed"] == seed
        ]
        assert sum(r["score"] for r in mine[::3]) == episode_return


def test_compute_score_options_and_errors() -> None:
    (row,) = make_dataset(GP, [3])
    env = gym.make(GP)
    env.reset(seed=3)
    expert = env.unwrapped.expert_action()
    assert call_like_verl(row, expert) == {
        "score": 5.0,
        "acc": 1.0,
        "verdict": "correct",
        "turns": 1,
    }
    # Positional, as verl's prime manager calls it; return_dict from reward_kwargs.
    args = (row["data_source"], expert, row["reward_model"]["ground_truth"], row["extra_info"])
    assert compute_score(*args, return_dict=False) == 5.0
    assert compute_score(*args, reward_router_address=None)["score"] == 5.0  # extra keywords
    assert (
        compute_score(row["data_source"], GARBAGE, row["reward_model"]["ground_truth"])["verdict"]
        == "illegal_formula"
    )
    for bad in ("4", "", None, '{"seed": 1}', json.dumps({"env_id": GP, "seed": -1})):
        with pytest.raises(ValueError, match=r"ood-gym state|seed"):
            compute_score(GP, expert, bad)


def test_compute_score_sums_the_turns_of_a_multi_turn_rollout() -> None:
    (row,) = make_dataset(NAV, [4])
    env = gym.make(NAV)
    env.reset(seed=4)
    steps = len(env.unwrapped.rail)
    solved = [-1.0] + [1.0] * steps
    result = call_like_verl(row, "(the whole transcript)", turn_scores=solved, num_turns=9)
    assert result == {
        "score": float(sum(solved)),
        "acc": 1.0,
        "verdict": "episode",
        "turns": steps + 1,
    }
    cut = call_like_verl(row, "...", turn_scores=[1.0, 1.0])  # verl stopped the rollout early
    assert (cut["score"], cut["acc"]) == (2.0, 0.0)
    # Older verl (SGLang rollout): rollout_reward_scores["user_turn_rewards"].
    older = call_like_verl(row, "...", rollout_reward_scores={"user_turn_rewards": [1.0, -1.0]})
    assert (older["score"], older["turns"]) == (0.0, 2)
    # No turn was judged (verl cut the rollout before the interaction ran): one answer.
    assert call_like_verl(row, GARBAGE, turn_scores=[])["verdict"] == "invalid_action"


# ---------------------------------------------------------------- interaction
def verl_interaction(config: dict[str, Any]) -> Any:
    """How verl builds an interaction: import the class by name, call it with config=."""
    module_name, class_name = "oodgym.integrations.verl.GymInteraction".rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(config=config)


Policy = Callable[[gym.Env[Any, Any], int], str]


async def play_like_verl(
    interaction: Any, row: dict[str, Any], request_id: str, policy: Policy, kwargs: dict[str, Any]
) -> tuple[list[float], list[dict[str, Any]], list[str]]:
    """verl's ToolAgentLoop with an interaction; the policy sees a reference environment."""
    reference = gym.make(row["data_source"], **kwargs)
    reference.reset(seed=row["extra_info"]["seed"])
    for _ in range(row["extra_info"]["step"]):
        reference.step(reference.unwrapped.expert_action())
    interaction_kwargs = row["extra_info"]["interaction_kwargs"]
    await interaction.start_interaction(request_id, **interaction_kwargs)
    messages = [dict(m) for m in row["prompt"]]
    turn_scores: list[float] = []
    answers: list[str] = []
    for turn in range(100):
        answer = policy(reference, turn)
        answers.append(answer)
        reference.step(answer)
        messages.append({"role": "assistant", "content": answer})
        done, reply, reward, _ = await interaction.generate_response(
            request_id, messages, **interaction_kwargs
        )
        messages.append({"role": "user", "content": reply})
        if reward is not None:
            turn_scores.append(reward)
        if done:
            break
    return turn_scores, messages, answers


def fail_then_solve(failures: set[int]) -> Policy:
    def policy(env: gym.Env[Any, Any], turn: int) -> str:
        return wrong_answer(env) if turn in failures else str(env.unwrapped.expert_action())

    return policy


@pytest.mark.parametrize(
    ("env_id", "kwargs", "conversation", "failures"),
    [
        (GP, {}, "paper", {0, 1}),
        (GP, {}, "full", {0}),
        (GP, {}, "paper", {0, 1, 2, 3, 4}),  # attempts exhausted
        (NAV, {}, "paper", {0, 3}),
        (NAV, {"actions": "relative"}, "full", {2}),
        (GP_IMAGE, SMALL, "paper", {0}),
    ],
)
def test_interaction_plays_whole_episodes(
    env_id: str, kwargs: dict[str, Any], conversation: str, failures: set[int]
) -> None:
    (row,) = make_dataset(env_id, [9], env_kwargs=kwargs, conversation=conversation)
    interaction = verl_interaction({"name": "oodgym"})
    policy = fail_then_solve(failures)
    turn_scores, messages, answers = asyncio.run(
        play_like_verl(interaction, row, "req-1", policy, kwargs)
    )
    # The same answers played directly: same rewards, and the replies are the protocol's messages.
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=9)
    talk = Conversation(conversation)
    talk.reset(obs)
    rewards, replies = [], []
    for answer in answers:
        before = len(talk.transcript)
        obs, reward, terminated, truncated, info = env.step(answer)
        talk.step(answer, obs, info, terminated, truncated)
        rewards.append(float(reward))
        new = talk.transcript[before + 1 :]
        replies.append("\n\n".join(observation_text_of(m) for m in new) or info["feedback"])
    assert turn_scores == rewards
    sent = [m["content"] for m in messages[len(row["prompt"]) :] if m["role"] == "user"]
    assert sent[:-1] == replies[:-1]
    assert sent[-1].startswith(replies[-1]) and sent[-1].endswith("The episode is over.")
    assert asyncio.run(interaction.calculate_score("req-1")) == sum(rewards)
    solved = bool(info["is_success"])
    score = call_like_verl(row, "...", turn_scores=turn_scores)
    assert (score["score"], score["acc"]) == (sum(rewards), float(solved))
    asyncio.run(interaction.finalize_interaction("req-1"))
    with pytest.raises(ValueError, match="no episode"):
        asyncio.run(interaction.calculate_score("req-1"))


def observation_text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def test_interaction_starts_mid_route_and_runs_episodes_concurrently() -> None:
    rows = make_dataset(NAV, [1, 2], steps="expert")
    interaction = verl_interaction({"name": "oodgym", "max_episodes": 64})
    chosen = rows[2::3]

    async def main() -> list[list[float]]:
        results = await asyncio.gather(
            *(
                play_like_verl(interaction, row, f"r{i}", fail_then_solve({1}), {})
                for i, row in enumerate(chosen)
            )
        )
        return [scores for scores, _, _ in results]

    for row, scores in zip(chosen, asyncio.run(main()), strict=True):
        env = gym.make(NAV)
        env.reset(seed=row["extra_info"]["seed"])
        remaining = len(env.unwrapped.rail) - row["extra_info"]["step"]
        assert scores == [1.0, -1.0] + [1.0] * (remaining - 1)


def test_interaction_refuses_images_verl_cannot_send() -> None:
    interaction = verl_interaction({"name": "oodgym"})
    (nav,) = make_dataset(NAV_IMAGE, [0], env_kwargs=SMALL)
    with pytest.raises(ValueError, match="new image after every correct step"):
        asyncio.run(interaction.start_interaction("a", **nav["extra_info"]["interaction_kwargs"]))
    (full,) = make_dataset(GP_IMAGE, [0], env_kwargs=SMALL, conversation="full")
    with pytest.raises(ValueError, match="conversation='paper'"):
        asyncio.run(interaction.start_interaction("b", **full["extra_info"]["interaction_kwargs"]))


def test_interaction_config_and_bookkeeping() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        verl_interaction({"name": "x", "env_id": GP})
    with pytest.raises(ValueError, match="max_episodes"):
        verl_interaction({"max_episodes": 0})
    interaction = verl_interaction({"name": "oodgym", "max_episodes": 2})
    rows = make_dataset(GP, [0, 1, 2])

    async def main() -> None:
        ids = [
            await interaction.start_interaction(None, **r["extra_info"]["interaction_kwargs"])
            for r in rows
        ]
        assert len(set(ids)) == 3
        with pytest.raises(ValueError, match="max_episodes=2"):  # the oldest was dropped
            await interaction.generate_response(ids[0], [])
        done, reply, reward, metrics = await interaction.generate_response(
            ids[1], [{"role": "assistant", "content": GARBAGE}]
        )
        assert (done, reward, metrics["verdict"]) == (False, -3.0, "illegal_formula")
        assert "failed" in reply
        with pytest.raises(ValueError, match="needs an 'env_id'"):
            await interaction.start_interaction("x", seed=0)
        with pytest.raises(ValueError, match="seed must be an int"):
            await interaction.start_interaction("x", env_id=GP, seed="0")
        with pytest.raises(ValueError, match="step 5 does not exist"):
            await interaction.start_interaction("x", env_id=GP, seed=0, step=5)
        await interaction.finalize_interaction(ids[1])
        await interaction.finalize_interaction("never-started")  # no-op
        env = gym.make(GP)
        env.reset(seed=2)
        solved = [{"role": "assistant", "content": env.unwrapped.expert_action()}]
        done, _, reward, metrics = await interaction.generate_response(ids[2], solved)
        assert (done, reward, metrics["done"]) == (True, 5.0, True)
        assert (await interaction.generate_response(ids[2], solved))[:3] == (
            True,
            "The episode is over.",
            0.0,
        )

    asyncio.run(main())
