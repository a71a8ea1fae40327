"""Trainer adapters (oodgym.integrations), tested without GPUs or TRL: fake policies only."""

from __future__ import annotations

import doctest
import importlib
import json
import pickle
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from oodgym.families import presets
from oodgym.integrations import (
    TRAINING_SEED_START,
    EnvReward,
    Trajectory,
    completion_text,
    group_rollouts,
    prompt_dataset,
    reward_function,
    rollout,
    rollout_batch,
)
from oodgym.integrations.scoring import clear_scorers, state_scorer
from oodgym.policies import PolicyOutput

GP = "cardenvs/GeneralPoints-v0"
GP_IMAGE = "cardenvs/GeneralPoints-Image-v0"
NAV = "navenvs/Navigation-v0"
NAV_RELATIVE = "navenvs/Navigation-RuleOOD-v0"
IDS = [p.id for p in presets()]
GARBAGE = "I think the answer is 42"


def make(env_id: str, **kwargs: Any) -> gym.Env[Any, Any]:
    return gym.make(env_id, **kwargs)


def replay(env: gym.Env[Any, Any], seed: int, step: int) -> Any:
    obs, _ = env.reset(seed=seed)
    for _ in range(step):
        obs, *_ = env.step(env.unwrapped.expert_action())
    return obs


def expert_at(env: gym.Env[Any, Any], seed: int, step: int) -> str:
    replay(env, seed, step)
    return str(env.unwrapped.expert_action())


def oracle_for(env: gym.Env[Any, Any]) -> Any:
    """A fake 'model' that answers with the environment's expert."""

    def policy(messages: list[dict[str, Any]]) -> str:
        assert messages[-1]["role"] == "user"
        return str(env.unwrapped.expert_action())

    return policy


def garbage(messages: list[dict[str, Any]]) -> str:
    return GARBAGE


def as_completion(text: str, form: str) -> Any:
    return text if form == "standard" else [{"role": "assistant", "content": text}]


def wrong_answer(env: gym.Env[Any, Any]) -> str:
    """A parseable but incorrect answer for the current state."""
    expert = json.loads(env.unwrapped.expert_action())
    if "formula" in expert:  # GeneralPoints: the dealt numbers, summed (never 24 for these)
        numbers = expert["number"]
        return json.dumps({**expert, "formula": "+".join(map(str, numbers))})
    action = expert["action"]  # navigation: another action of the vocabulary
    return json.dumps({"action": "stop()" if action != "stop()" else "forward()"})


# ---------------------------------------------------------------- prompt datasets
def test_prompt_dataset_text_rows() -> None:
    rows = prompt_dataset(GP, seeds=[0, 1, 2])
    assert [(r["seed"], r["step"], r["env_id"]) for r in rows] == [(s, 0, GP) for s in range(3)]
    env = make(GP)
    for row in rows:
        assert set(row) == {"prompt", "env_id", "seed", "step", "env_kwargs", "conversation"}
        assert (row["env_kwargs"], row["conversation"]) == ("{}", "paper")
        obs, _ = env.reset(seed=row["seed"])
        assert row["prompt"] == [{"role": "user", "content": obs}]
    assert prompt_dataset(GP, seeds=[2, 0]) == [rows[2], rows[0]]
    assert prompt_dataset(GP, seeds=[0], steps="expert") == rows[:1]  # solved in one step
    assert prompt_dataset(GP, seeds=0) == []


def test_a_seed_count_never_names_evaluation_seeds() -> None:
    # oodgym eval plays seeds 0 .. N-1 (N = the preset's episodes, 234 at most here).
    longest = max(p.episodes or 0 for p in presets())
    assert TRAINING_SEED_START == 1_000_000 > longest
    rows = prompt_dataset(GP, seeds=3)
    assert [r["seed"] for r in rows] == [TRAINING_SEED_START + i for i in range(3)]
    batch = rollout_batch(GP, garbage, 2, env_kwargs={"max_attempts": 1})
    assert [t.seed for t in batch] == [TRAINING_SEED_START, TRAINING_SEED_START + 1]


def test_rows_record_their_env_kwargs() -> None:
    kwargs = {"rule": "face-11-12-13", "max_attempts": 2}
    (row,) = prompt_dataset(GP, seeds=[4], env_kwargs=kwargs)
    assert json.loads(row["env_kwargs"]) == kwargs
    assert row["env_kwargs"] == '{"max_attempts":2,"rule":"face-11-12-13"}'  # canonical
    with pytest.raises(ValueError, match="plain JSON"):
        prompt_dataset(GP, seeds=[0], env_kwargs={"rule": object()})


def test_prompt_dataset_image_rows_carry_pil_images() -> None:
    rows = prompt_dataset(GP_IMAGE, seeds=[5], env_kwargs={"image_size": 224})
    (row,) = rows
    assert set(row) == {"prompt", "env_id", "seed", "step", "env_kwargs", "conversation", "images"}
    obs, _ = make(GP_IMAGE, image_size=224).reset(seed=5)
    assert row["prompt"] == [{"role": "user", "content": obs["text"]}]
    (image,) = row["images"]
    assert image.size == (224, 224) and image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), obs["image"])


@pytest.mark.parametrize("env_id", [NAV, NAV_RELATIVE])
def test_prompt_dataset_navigation_expert_steps(env_id: str) -> None:
    rows = prompt_dataset(env_id, seeds=[0, 1], steps="expert")
    env = make(env_id)
    for seed in (0, 1):
        mine = [r for r in rows if r["seed"] == seed]
        env.reset(seed=seed)
        length = len(env.unwrapped.rail)
        assert [r["step"] for r in mine] == list(range(length)) and length > 3
        for row in mine:
            assert row["prompt"][0]["content"] == replay(env, seed, row["step"])
    assert prompt_dataset(env_id, seeds=[0, 1]) == [r for r in rows if r["step"] == 0]


def test_prompt_dataset_argument_errors() -> None:
    with pytest.raises(ValueError, match="steps must be one of"):
        prompt_dataset(GP, seeds=1, steps="all")
    with pytest.raises(ValueError, match=">= 0"):
        prompt_dataset(GP, seeds=-1)
    with pytest.raises(TypeError, match="ints"):
        prompt_dataset(GP, seeds=["a"])  # type: ignore[list-item]


def test_as_hf_round_trip() -> None:
    rows = prompt_dataset(NAV, seeds=[4], steps="expert")
    dataset = prompt_dataset(NAV, seeds=[4], steps="expert", as_hf=True)
    assert dataset.column_names == [
        "prompt",
        "env_id",
        "seed",
        "step",
        "env_kwargs",
        "conversation",
    ]
    assert dataset.to_list() == rows
    # What TRL does: every column except the prompt reaches the reward function as a list.
    batch = dataset[:]
    columns = {k: v for k, v in batch.items() if k != "prompt"}
    env = make(NAV)
    answers = [expert_at(env, 4, step) for step in batch["step"]]
    rewards = reward_function(NAV)(batch["prompt"], answers, **columns)
    assert rewards == [1.0] * len(rows)


def test_as_hf_round_trip_with_images() -> None:
    rows = prompt_dataset(GP_IMAGE, seeds=[1, 2], env_kwargs={"image_size": 224})
    dataset = prompt_dataset(GP_IMAGE, seeds=[1, 2], env_kwargs={"image_size": 224}, as_hf=True)
    assert dataset.column_names[-1] == "images" and "env_kwargs" in dataset.column_names
    for row, stored in zip(rows, dataset, strict=True):
        assert stored["prompt"] == row["prompt"] and stored["seed"] == row["seed"]
        np.testing.assert_array_equal(np.asarray(stored["images"][0]), np.asarray(row["images"][0]))


def test_as_hf_without_datasets_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"ood-gym\[hf\]"):
        prompt_dataset(GP, seeds=1, as_hf=True)


# ---------------------------------------------------------------- reward functions
@pytest.mark.parametrize("form", ["standard", "conversational"])
@pytest.mark.parametrize("env_id", [GP, "cardenvs/GeneralPoints-RuleOOD-v0", NAV])
def test_reward_equals_the_env_reward(env_id: str, form: str) -> None:
    reward = reward_function(env_id)
    env = make(env_id)
    seeds = [0, 1, 2]
    for seed in seeds:
        env.reset(seed=seed)
        answers = [env.unwrapped.expert_action(), wrong_answer(env), GARBAGE, ""]
        expected = []
        for answer in answers:
            env.reset(seed=seed)
            expected.append(float(env.step(answer)[1]))
        completions = [as_completion(a, form) for a in answers]
        got = reward([None] * 4, completions, seed=[seed] * 4, step=[0] * 4, env_id=[env_id] * 4)
        assert got == expected
        assert got[0] > 0 and got[1] < 0 and got[2] < 0


def test_reward_known_values_generalpoints() -> None:
    reward = reward_function(GP)
    env = make(GP)
    env.reset(seed=3)
    expert, wrong = env.unwrapped.expert_action(), wrong_answer(env)
    got = reward(None, [expert, [{"role": "assistant", "content": wrong}], GARBAGE], seed=[3] * 3)
    assert got == [5.0, -1.0, -3.0]  # correct, wrong_value, illegal_formula (paper values)


def test_reward_image_env_checks_recognition() -> None:
    kwargs = {"image_size": 224}
    reward = reward_function(GP_IMAGE, env_kwargs=kwargs)
    env = make(GP_IMAGE, **kwargs)
    env.reset(seed=0)
    expert = json.loads(env.unwrapped.expert_action())
    misread = json.dumps({**expert, "cards": ["A", "A", "A", "A"]})
    got = reward(None, [json.dumps(expert), misread], seed=[0, 0], step=[0, 0])
    assert got == [5.0, -1.5]


@pytest.mark.parametrize("env_id", [NAV, NAV_RELATIVE])
def test_reward_on_multi_step_navigation_rows(env_id: str) -> None:
    rows = prompt_dataset(env_id, seeds=[2], steps="expert")
    env = make(env_id)
    right, wrong = [], []
    for row in rows:
        right.append(expert_at(env, row["seed"], row["step"]))
        wrong.append(wrong_answer(env))
    reward = reward_function(env_id)
    columns = {"seed": [r["seed"] for r in rows], "step": [r["step"] for r in rows]}
    assert reward(None, right, **columns) == [1.0] * len(rows)
    assert reward(None, [as_completion(w, "chat") for w in wrong], **columns) == [-1.0] * len(rows)
    # A wrong action that also claims an intersection where there is none costs -1.5
    # (checked against the truth); a correct one with the same claim is still +1.
    lie = json.dumps({"current observation": "You observe an intersection", "action": "stop()"})
    first_forward = next(i for i, a in enumerate(right) if '"forward()"' in a)
    assert reward(None, [lie], seed=[2], step=[first_forward]) == [-1.5]
    lucky = json.dumps(
        {"current observation": "You observe an intersection", "action": "forward()"}
    )
    assert reward(None, [lucky], seed=[2], step=[first_forward]) == [1.0]


@pytest.mark.parametrize(
    "completion",
    [None, 42, 3.5, {"a": 1}, [[1]], [1, 2], b"bytes", object(), "\udc80", [{"role": "user"}]],
)
def test_garbage_completions_do_not_crash(completion: object) -> None:
    for env_id, bad in ((GP, -3.0), (NAV, -1.0)):
        assert reward_function(env_id)(None, [completion], seed=[0], step=[0]) == [bad]


def test_completion_text_formats() -> None:
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "y"}]) == "y"
    assert completion_text({"role": "assistant", "content": "z"}) == "z"
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, "b", 3]}]
    assert completion_text(parts) == "ab"
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert completion_text(chat) == "a"
    assert completion_text(None) == completion_text(7) == completion_text([]) == ""


def test_reward_function_name_columns_and_errors() -> None:
    reward = reward_function(GP)
    assert isinstance(reward, EnvReward)
    assert reward.__name__ == "reward_cardenvs_GeneralPoints-v0"
    assert reward_function(GP, name="gp").__name__ == "gp"
    # Rows of other ids are "not applicable" (None), so per-id functions mix on one dataset.
    assert reward(None, ["", ""], seed=[0, 0], env_id=[GP, NAV]) == [-3.0, None]
    assert reward(None, ["", ""], seed=1) == [-3.0, -3.0]  # a scalar column is broadcast
    assert reward(None, []) == [] and reward(completions=[]) == []
    with pytest.raises(ValueError, match="'seed' column"):
        reward(None, [""], step=[0])
    with pytest.raises(ValueError, match="2 values for 1 completions"):
        reward(None, [""], seed=[0, 1])
    with pytest.raises(ValueError, match="step 99 does not exist"):
        reward_function(NAV)(None, [""], seed=[0], step=[99])
    with pytest.raises(gym.error.Error):
        reward_function("nope/Nothing-v0")


def test_reward_function_shares_one_scorer_and_pickles() -> None:
    clear_scorers()
    reward = reward_function(GP)
    reward(None, [""], seed=[0])
    scorer = state_scorer(GP, {})
    reward(None, ["", ""], seed=[1, 2])
    assert state_scorer(GP, "{}") is scorer and scorer.replays == 3
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == reward.__name__
    assert clone(None, [""], seed=[0]) == reward(None, [""], seed=[0])


def test_completions_by_keyword_first_or_second() -> None:
    reward = reward_function(GP)
    env = make(GP)
    env.reset(seed=3)
    expert = env.unwrapped.expert_action()
    expected = [5.0, -3.0]
    assert reward(completions=[expert, GARBAGE], seed=[3, 3]) == expected  # TRL's call
    assert reward(prompts=["p", "q"], completions=[expert, GARBAGE], seed=3) == expected
    assert reward([expert, GARBAGE], seed=[3, 3]) == expected  # completions first
    assert reward(None, [expert, GARBAGE], seed=[3, 3]) == expected  # (prompts, completions)
    assert reward(["p", "q"], completions=[expert, GARBAGE], seed=3) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {"seed": [0]}, TypeError, "needs the completions"),
        (("a", "b", "c"), {"seed": [0]}, TypeError, "positionally"),
        (("p", "q"), {"completions": ["x"], "seed": [0]}, TypeError, "at most the prompts"),
        ((["p"], ["x"]), {"prompts": ["p"], "seed": [0]}, TypeError, "prompts twice"),
        (("just one string",), {"seed": [0]}, TypeError, "must be a list"),
        ((), {"completions": {"role": "assistant"}, "seed": [0]}, TypeError, "must be a list"),
        ((["p", "q"], ["x"]), {"seed": [0]}, ValueError, "2 prompts for 1 completions"),
        ((["x"],), {"seed": ["zero"]}, ValueError, "seed must be an int"),
        ((["x"],), {"seed": [-1]}, ValueError, "seed must be an int >= 0"),
        ((["x"],), {"seed": [0], "step": [True]}, ValueError, "step must be an int"),
    ],
)
def test_reward_function_misuse_raises(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        reward_function(GP)(*args, **kwargs)


def test_rows_kwargs_are_used_or_checked() -> None:
    ood = {"rule": "face-11-12-13"}
    rows = prompt_dataset(GP, seeds=[1, 2, 3], env_kwargs=ood)
    env = make(GP, **ood)
    answers = []
    for row in rows:
        env.reset(seed=row["seed"])
        answers.append(env.unwrapped.expert_action())  # J/Q/K = 11/12/13
    columns = {k: [r[k] for r in rows] for k in ("seed", "step", "env_id", "env_kwargs")}
    # Built without env_kwargs, the reward function takes them from the rows.
    assert reward_function(GP)(completions=answers, **columns) == [5.0] * 3
    assert reward_function(GP, env_kwargs=ood)(completions=answers, **columns) == [5.0] * 3
    # Built with other kwargs, it refuses rather than judging another environment.
    with pytest.raises(ValueError, match="differ from this reward function"):
        reward_function(GP, env_kwargs={})(completions=answers, **columns)
    # A face-11-12-13 answer is wrong under the default rule: what a silent mismatch costs.
    assert reward_function(GP)(completions=answers, seed=columns["seed"]) != [5.0] * 3
    with pytest.raises(ValueError, match="not JSON"):
        reward_function(GP)(completions=["x"], seed=[0], env_kwargs=["{rule"])


def test_verdict_counts_reach_log_metric() -> None:
    logged: dict[str, Any] = {}

    def log(name: str, value: Any) -> None:
        logged[name] = value

    reward = reward_function(GP, name="gp")
    env = make(GP)
    env.reset(seed=3)
    completions = [env.unwrapped.expert_action(), GARBAGE, GARBAGE, "(1+2"]
    reward(completions=completions, seed=3, log_metric=log, log_extra=log, trainer_state=None)
    categories = ["correct", "illegal_formula", "wrong_numbers", "wrong_recognition", "wrong_value"]
    assert sorted(k for k in logged if k.startswith("verdicts/")) == [
        f"verdicts/gp/{c}" for c in categories
    ]
    assert logged["verdicts/gp/correct"] == 1.0 and logged["verdicts/gp/wrong_value"] == 0.0
    assert logged["verdicts/gp/illegal_formula"] == 3.0
    assert logged["verdict/gp"][:2] == ["correct", "illegal_formula"]
    # The same keys every call, even when no row is this id's (all processes log alike).
    logged.clear()
    assert reward(completions=["x"], seed=0, env_id=NAV, log_metric=log) == [None]
    assert sorted(logged) == [f"verdicts/gp/{c}" for c in categories]
    assert set(logged.values()) == {0.0}


# ---------------------------------------------------------------- rollouts
@pytest.mark.parametrize("env_id", IDS)
def test_oracle_rollout_succeeds_on_every_id(env_id: str) -> None:
    env = make(env_id)
    trajectory = rollout(env, oracle_for(env), seed=1)
    assert trajectory.success and trajectory.terminated and not trajectory.truncated
    assert trajectory.env_id == env_id and trajectory.seed == 1
    assert trajectory.length == len(trajectory.infos) >= 1
    assert trajectory.episode_return == sum(trajectory.rewards) > 0
    roles = [m["role"] for m in trajectory.messages]
    assert roles == ["user", "assistant"] * trajectory.length
    first, _ = env.reset(seed=1)
    content = trajectory.messages[0]["content"]
    if isinstance(first, dict):  # image observations keep their image
        np.testing.assert_array_equal(content[1]["image"], first["image"])
        assert content[0]["text"] == first["text"]
        assert json.loads(json.dumps(trajectory.to_dict()))["messages"][0]["content"][1] == {
            "type": "text",
            "text": "<image>",
        }
    else:
        assert content == first


@pytest.mark.parametrize("env_id", [GP, NAV])
def test_garbage_rollout_fails(env_id: str) -> None:
    trajectory = rollout(env_id, garbage, seed=0)
    assert not trajectory.success and trajectory.truncated and not trajectory.terminated
    assert all(r < 0 for r in trajectory.rewards)
    assert trajectory.length == (5 if env_id == GP else 2)  # max_attempts
    # Multi-turn: the feedback of a failed attempt is in the next observation.
    assert "fail" in trajectory.messages[2]["content"].lower()


def test_max_steps_truncates_and_bad_policies_raise() -> None:
    trajectory = rollout(GP, garbage, seed=0, max_steps=2)
    assert trajectory.length == 2 and trajectory.truncated and not trajectory.success
    assert rollout(GP, garbage, seed=0, max_steps=0).messages == []
    with pytest.raises(TypeError, match="must return the answer str or a PolicyOutput"):
        rollout(GP, lambda messages: None, seed=0)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="max_steps"):
        rollout(GP, garbage, max_steps=-1)


def test_rollout_batch_is_sequential_and_deterministic() -> None:
    env = make(NAV)
    policy = oracle_for(env)
    batch = rollout_batch(env, policy, [3, 1, 3])
    assert [t.seed for t in batch] == [3, 1, 3]
    assert all(t.success for t in batch)
    assert batch[0] == batch[2] == rollout(env, policy, seed=3)
    garbage_batch = rollout_batch(GP, garbage, 2, env_kwargs={"max_attempts": 1})
    first = TRAINING_SEED_START
    assert [(t.seed, t.length, t.success) for t in garbage_batch] == [
        (first, 1, False),
        (first + 1, 1, False),
    ]
    assert rollout_batch(GP, garbage, 2, env_kwargs={"max_attempts": 1}) == garbage_batch
    with pytest.raises(ValueError, match="env_kwargs"):
        rollout_batch(env, policy, 1, env_kwargs={"max_attempts": 1})


def test_group_rollouts_pass_the_sample_index() -> None:
    env = make(GP)
    oracle = oracle_for(env)
    seen: list[int] = []

    def policy(messages: list[dict[str, Any]], *, sample: int) -> str:
        seen.append(sample)
        return oracle(messages) if sample % 2 else GARBAGE  # odd samples solve at once

    group = group_rollouts(env, policy, seed=7, group_size=4)
    assert [t.sample for t in group] == [0, 1, 2, 3] and {t.seed for t in group} == {7}
    assert [t.success for t in group] == [False, True, False, True]
    garbage_return = rollout(make(GP), lambda messages: GARBAGE, seed=7).episode_return
    assert garbage_return < 0
    assert [t.episode_return for t in group] == [garbage_return, 5.0, garbage_return, 5.0]
    assert seen == [0] * 5 + [1] + [2] * 5 + [3]
    # Same seed, same start: every sample saw the same first observation.
    assert len({t.messages[0]["content"] for t in group}) == 1
    plain = group_rollouts(GP, garbage, seed=7, group_size=2, env_kwargs={"max_attempts": 2})
    assert [t.length for t in plain] == [2, 2] and plain[0].rewards == plain[1].rewards
    with pytest.raises(ValueError, match="group_size"):
        group_rollouts(GP, garbage, seed=0, group_size=0)


def test_group_rollouts_with_kwargs_policy() -> None:
    calls: list[dict[str, Any]] = []

    def policy(messages: list[dict[str, Any]], **kwargs: Any) -> str:
        calls.append(kwargs)
        return GARBAGE

    env = make(NAV)
    group_rollouts(env, policy, seed=0, group_size=2)
    assert [c["sample"] for c in calls] == [0, 0, 1, 1]
    assert all(c["env"] is env for c in calls)


def test_policies_that_take_env_get_it() -> None:
    def oracle(messages: list[dict[str, Any]], *, env: gym.Env[Any, Any]) -> str:
        return str(env.unwrapped.expert_action())

    assert rollout(NAV_RELATIVE, oracle, seed=5).success
    assert all(t.success for t in rollout_batch(GP_IMAGE, oracle, [0, 1]))


def test_oodgym_policies_work_as_rollout_policies() -> None:
    policies = pytest.importorskip("oodgym.policies")
    assert rollout(NAV, policies.make_policy("oracle"), seed=2).success
    assert not rollout(GP, policies.make_policy("random"), seed=2).success


def test_trajectory_is_frozen() -> None:
    trajectory = rollout(GP, garbage, seed=0, max_steps=1)
    assert isinstance(trajectory, Trajectory)
    with pytest.raises(AttributeError):
        trajectory.success = True  # type: ignore[misc]


# ---------------------------------------------------------------- documented examples
@pytest.mark.parametrize(
    "module", ["oodgym.integrations.rollout", "oodgym.integrations.trl", "oodgym.policies"]
)
def test_docstring_examples(module: str) -> None:
    # (importlib: the package re-exports the function ``rollout`` under the submodule's name)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------- rich policy results
def test_policies_may_return_token_ids_and_logprobs() -> None:
    def sampler(messages: list[dict[str, Any]], *, env: gym.Env[Any, Any]) -> PolicyOutput:
        turn = len(messages)
        text = GARBAGE if turn < 3 else str(env.unwrapped.expert_action())
        return PolicyOutput(
            text=text,
            token_ids=[turn, turn + 1],
            logprobs=[-0.5, -0.25],
            metadata={"turn": turn},
        )

    trajectory = rollout(GP, sampler, seed=7)
    assert trajectory.success and trajectory.length == 2
    assert [o.token_ids for o in trajectory.outputs] == [(1, 2), (3, 4)]
    assert [o.logprobs for o in trajectory.outputs] == [(-0.5, -0.25)] * 2
    assert [o.metadata for o in trajectory.outputs] == [{"turn": 1}, {"turn": 3}]
    assert [o.text for o in trajectory.outputs] == [
        m["content"] for m in trajectory.messages if m["role"] == "assistant"
    ]
    record = json.loads(json.dumps(trajectory.to_dict()))
    assert record["outputs"][1] == {
        "text": trajectory.outputs[1].text,
        "token_ids": [3, 4],
        "logprobs": [-0.5, -0.25],
        "metadata": {"turn": 3},
    }
    # The record form and plain text mix freely; text-only steps have no token ids.
    answers = iter([{"text": GARBAGE, "token_ids": [9]}, GARBAGE])
    mixed = rollout(GP, lambda messages: next(answers), seed=7, max_steps=2)
    assert [(o.text, o.token_ids) for o in mixed.outputs] == [(GARBAGE, (9,)), (GARBAGE, None)]


def test_group_rollouts_keep_outputs_per_sample() -> None:
    def policy(messages: list[dict[str, Any]], *, sample: int) -> PolicyOutput:
        return PolicyOutput(GARBAGE, token_ids=[sample], logprobs=[-1.0])

    group = group_rollouts(GP, policy, seed=1, group_size=3, env_kwargs={"max_attempts": 2})
    assert [[o.token_ids for o in t.outputs] for t in group] == [
        [(0,), (0,)],
        [(1,), (1,)],
        [(2,), (2,)],
    ]


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (None, TypeError, "must return the answer str"),
        ({"token_ids": [1]}, TypeError, "without 'text'"),
        ({"text": "x", "logits": []}, ValueError, "unknown key"),
        ({"text": "x", "token_ids": [1, 2], "logprobs": [0.0]}, ValueError, "2 token_ids but 1"),
        ({"text": "x", "token_ids": [1.5]}, TypeError, "must hold ints"),
        ({"text": "x", "logprobs": "abc"}, TypeError, "must be a sequence"),
        ({"text": "x", "metadata": [1]}, TypeError, "metadata must be a mapping"),
        ({"text": 3}, TypeError, "text must be a str"),
    ],
)
def test_bad_policy_results_are_named(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        rollout(GP, lambda messages: value, seed=0)


def test_evaluation_policies_answer_with_the_text_of_a_record() -> None:
    from oodgym.policies import CallablePolicy

    policy = CallablePolicy(lambda messages: PolicyOutput("42", token_ids=np.array([4, 2])))
    assert policy([{"role": "user", "content": "?"}]) == "42"
    assert PolicyOutput("x", token_ids=np.array([4, 2])).token_ids == (4, 2)
