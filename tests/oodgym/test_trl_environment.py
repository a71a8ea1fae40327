"""GymEnvironment, used the way TRL's GRPOTrainer(environment_factory=...) uses it (TRL absent).

Written from TRL's GRPOTrainer (main, 1.10.dev): the trainer makes instances with
``factory()``, exposes every public bound method except ``reset`` and ``get_reward`` as a
tool (``inspect.getmembers(env, predicate=inspect.ismethod)``), calls ``reset(**row)`` with
all the row's columns (a string return is appended to the prompt; ``None`` keeps the row's
prompt), calls tools with the model's JSON arguments as keywords (a list return is a
multimodal tool message), and scores the rollout with ``get_reward()``.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, get_type_hints

import gymnasium as gym
import numpy as np
import pytest

from oodgym.families import load_families
from oodgym.integrations import GymEnvironment, prompt_dataset

GP = "cardenvs/GeneralPoints-v0"
NAV = "navenvs/Navigation-v0"
NAV_IMAGE = "navenvs/Navigation-Image-v0"
SMALL = {"image_size": 224}

load_families()


def tools_of(instance: object) -> list[str]:
    """The tool names TRL would expose for an environment instance."""
    return [
        name
        for name, _ in inspect.getmembers(instance, predicate=inspect.ismethod)
        if name not in ("reset", "get_reward") and not name.startswith("_")
    ]


def wrong(env: gym.Env[Any, Any]) -> str:
    expert = json.loads(env.unwrapped.expert_action())
    if "formula" in expert:
        return json.dumps({**expert, "formula": "+".join(map(str, expert["number"]))})
    return json.dumps({"action": "stop()" if expert["action"] != "stop()" else "forward()"})


def test_one_documented_tool() -> None:
    factory = GymEnvironment
    instance = factory()
    assert tools_of(instance) == ["answer"]
    assert tools_of(instance) == tools_of(GymEnvironment(NAV, env_kwargs={}, conversation="full"))
    # What transformers' get_json_schema reads: type hints and a Google-style docstring.
    hints = get_type_hints(GymEnvironment.answer)
    assert hints["text"] is str and "return" in hints
    doc = inspect.getdoc(GymEnvironment.answer) or ""
    assert "Args:\n    text:" in doc and "Returns:" in doc


@pytest.mark.parametrize("failures", [set(), {0}, {0, 1, 2}])
def test_plays_a_generalpoints_episode_from_a_row(failures: set[int]) -> None:
    (row,) = prompt_dataset(GP, seeds=[6], env_kwargs={"max_attempts": 3})
    environment = GymEnvironment()
    assert environment.reset(**row) is None  # the row's prompt is the first message
    reference = gym.make(GP, max_attempts=3)
    reference.reset(seed=6)
    expected = []
    for turn in range(10):
        answer = wrong(reference) if turn in failures else reference.unwrapped.expert_action()
        _, reward, terminated, truncated, info = reference.step(answer)
        expected.append(float(reward))
        reply = environment.answer(text=answer)  # TRL passes the model's arguments by keyword
        assert isinstance(reply, str)
        if terminated or truncated:
            assert reply == f"{info['feedback']}\nThe episode is over."
            break
        assert reply == info["feedback"]  # "paper": the short feedback after a failure
    assert environment.rewards == expected and environment.done
    assert environment.get_reward() == sum(expected)
    assert environment.answer("(6+10-10)*4") == "The episode is over: no more answers are judged."


def test_plays_navigation_from_mid_route_rows() -> None:
    rows = prompt_dataset(NAV, seeds=[3], steps="expert", conversation="full")
    reference = gym.make(NAV)
    for row in rows[1::2]:
        environment = GymEnvironment()
        environment.reset(**row)
        reference.reset(seed=3)
        for _ in range(row["step"]):
            reference.step(reference.unwrapped.expert_action())
        total = 0.0
        while not environment.done:
            answer = reference.unwrapped.expert_action()
            obs, reward, terminated, truncated, _ = reference.step(answer)
            total += float(reward)
            reply = environment.answer(answer)
            if not (terminated or truncated):
                assert reply == obs  # "full": the whole next observation
        assert environment.get_reward() == total == len(reference.unwrapped.rail) - row["step"]


def test_new_images_come_back_as_multimodal_tool_messages() -> None:
    (row,) = prompt_dataset(NAV_IMAGE, seeds=[2], env_kwargs=SMALL)
    environment = GymEnvironment()
    environment.reset(**row)
    reference = gym.make(NAV_IMAGE, **SMALL)
    reference.reset(seed=2)
    answer = reference.unwrapped.expert_action()
    obs, *_ = reference.step(answer)
    reply = environment.answer(answer)
    assert isinstance(reply, list) and [p["type"] for p in reply] == ["image", "text"]
    np.testing.assert_array_equal(np.asarray(reply[0]["image"]), obs["image"])
    assert reply[1]["text"] == obs["text"]
    _, _, _, _, info = reference.step("nonsense")
    assert environment.answer("nonsense") == info["feedback"]  # "paper": no image again


def test_a_rollout_that_stops_answering_forfeits() -> None:
    (row,) = prompt_dataset(GP, seeds=[4])
    env = gym.make(GP)
    env.reset(seed=4)
    bad = wrong(env)
    quitter = GymEnvironment()
    quitter.reset(**row)
    quitter.answer(bad)
    # The remaining attempts are judged as empty answers: quitting never beats trying.
    env.reset(seed=4)
    expected = [float(env.step(bad)[1])] + [float(env.step("")[1]) for _ in range(4)]
    assert quitter.get_reward() == sum(expected) and quitter.done
    assert quitter.rewards == expected
    lenient = GymEnvironment(forfeit=False)
    lenient.reset(**row)
    lenient.answer(bad)
    assert lenient.get_reward() == expected[0]
    silent = GymEnvironment()  # never called the tool: every attempt is judged empty
    silent.reset(**row)
    env.reset(seed=4)
    assert silent.get_reward() == sum(float(env.step("")[1]) for _ in range(5))


def test_rows_must_match_the_environment() -> None:
    (row,) = prompt_dataset(GP, seeds=[1], env_kwargs={"rule": "face-11-12-13"})
    with pytest.raises(ValueError, match="env_kwargs"):
        GymEnvironment(env_kwargs={}).reset(**row)
    with pytest.raises(ValueError, match="env_id"):
        GymEnvironment(NAV).reset(**row)
    with pytest.raises(ValueError, match="conversation"):
        GymEnvironment(conversation="full").reset(**row)
    tampered = {**row, "env_kwargs": "{}"}  # the prompt was made with other kwargs
    with pytest.raises(ValueError, match="prompt is not the observation"):
        GymEnvironment().reset(**tampered)
    hinted = dict(row)
    hinted["prompt"] = [
        {"role": "system", "content": "Answer with the answer tool."},
        {"role": "user", "content": row["prompt"][-1]["content"] + "\nThink step by step."},
    ]
    GymEnvironment().reset(**hinted)  # instructions around the observation are fine
    with pytest.raises(ValueError, match="no seed"):
        GymEnvironment().reset(**{k: v for k, v in row.items() if k != "seed"})
    with pytest.raises(ValueError, match="no env_id"):
        GymEnvironment().reset(seed=0)
    with pytest.raises(ValueError, match="step 7 does not exist"):
        GymEnvironment(GP).reset(seed=0, step=7)
    with pytest.raises(RuntimeError, match="before reset"):
        GymEnvironment().get_reward()
    assert GymEnvironment().answer("x") == "No episode is running."


def test_environments_are_reused_and_arguments_tolerated() -> None:
    environment = GymEnvironment(GP)
    environment.reset(seed=0)
    first = environment._env
    environment.reset(seed=1, prompt=None, images=[], trainer_column="ignored")
    assert environment._env is first  # TRL reuses instances: the environment is kept
    environment.reset(seed=1, env_kwargs='{"max_attempts": 2}')
    assert environment._env is not first
    env = gym.make(GP)
    env.reset(seed=1)
    fields = json.loads(env.unwrapped.expert_action())
    # A model may pass the answer as an object instead of a string.
    assert environment.answer(fields).endswith("The episode is over.")  # type: ignore[arg-type]
    assert environment.rewards == [5.0]
