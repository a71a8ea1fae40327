"""oodgym.conversation: the "full" and "paper" protocols, as policies receive them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from oodgym.conversation import PROTOCOLS, Conversation, check_protocol
from oodgym.evaluation import episodes_path, evaluate, read_records
from oodgym.families import load_families
from oodgym.integrations import prompt_dataset, rollout

load_families()

GP_IMAGE = "cardenvs/GeneralPoints-Image-v0"
NAV = "navenvs/Navigation-v0"
MISREAD = json.dumps({"cards": ["A", "A", "A", "A"], "number": [1, 1, 1, 1], "formula": "1+1"})


def images_in(messages: list[dict[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m["content"], list)
        for part in m["content"]
        if part.get("type") == "image"
    )


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p.get("type") == "text")


class Recorder:
    """A scripted policy: wrong ``wrong`` times per state, then the expert; keeps what it got."""

    name = "recorder"

    def __init__(self, wrong: int, answer: str = MISREAD) -> None:
        self.wrong = wrong
        self.answer = answer
        self.requests: list[list[dict[str, Any]]] = []
        self.answers: list[str] = []
        self.failures_here = 0

    def __call__(self, messages: list[dict[str, Any]], *, env: gym.Env | None = None) -> str:
        assert env is not None
        self.requests.append(messages)
        if len(messages) == 1:  # a fresh conversation: a new state
            self.failures_here = 0
        answer = str(env.unwrapped.expert_action())
        if self.failures_here < self.wrong and answer != self.answer:
            self.failures_here += 1
            answer = self.answer
        self.answers.append(answer)
        return answer


def test_unknown_protocols_name_the_allowed_ones() -> None:
    assert PROTOCOLS == ("full", "paper") and check_protocol("paper") == "paper"
    for bad in ("Paper", "", None, 1):
        with pytest.raises(ValueError, match=r"conversation must be one of \['full', 'paper'\]"):
            check_protocol(bad)
    with pytest.raises(ValueError, match="conversation"):
        Conversation("short")
    with pytest.raises(ValueError, match="conversation"):
        rollout(NAV, lambda messages: "stop()", seed=0, conversation="nope")
    with pytest.raises(RuntimeError, match="reset"):
        Conversation().step("a", "b", {}, False, False)


def test_the_state_machine() -> None:
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    first = {"text": "prompt 1", "image": image}
    failed = {"verdict": "wrong", "feedback": "wrong, try again"}
    correct = {"verdict": "correct", "feedback": "fine"}
    full, paper = Conversation("full"), Conversation("paper")
    for talk in (full, paper):
        talk.reset(first)
        talk.step("a1", {"text": "prompt 1 + feedback", "image": image}, failed, False, False)
        talk.step("a2", {"text": "prompt 2", "image": image}, correct, False, False)
    assert [text_of(m) for m in full.messages] == [
        "prompt 1",
        "a1",
        "prompt 1 + feedback",
        "a2",
        "prompt 2",
    ]
    assert images_in(full.messages) == 3 and full.starts == [0]
    # paper: the short feedback without image, then a fresh conversation after "correct"
    assert [text_of(m) for m in paper.transcript] == [
        "prompt 1",
        "a1",
        "wrong, try again",
        "a2",
        "prompt 2",
    ]
    assert paper.messages == paper.transcript[4:] and paper.starts == [0, 4]
    assert images_in(paper.transcript) == 2 and images_in(paper.messages) == 1
    assert paper.transcript[2] == {"role": "user", "content": "wrong, try again"}
    assert [len(c) for c in paper.conversations] == [4, 1]
    paper.step("a3", "the end", correct, True, False)  # the episode ends: the answer only
    assert paper.transcript[-1] == {"role": "assistant", "content": "a3"}


def test_paper_generalpoints_image_sends_one_image_and_short_failure_messages(
    tmp_path: Path,
) -> None:
    policy = Recorder(wrong=5)  # five misread answers, then the expert's (6 attempts allowed)
    summary = evaluate(
        GP_IMAGE,
        policy,
        episodes=1,
        out=tmp_path,
        env_kwargs={"image_size": 224, "max_attempts": 6},
        conversation="paper",
        progress=False,
    )
    assert summary.results[GP_IMAGE].success_rate == 1.0
    assert len(policy.requests) == 6
    for request in policy.requests:
        assert images_in(request) == 1 and images_in(request[:1]) == 1  # in the first message
    last = policy.requests[-1]
    assert [m["role"] for m in last] == ["user"] + ["assistant", "user"] * 5
    feedback = [m for m in last[1:] if m["role"] == "user"]
    (record,) = read_records(episodes_path(tmp_path, GP_IMAGE))
    assert record["verdicts"] == ["wrong_recognition"] * 5 + ["correct"]
    assert record["conversation"] == "paper" and record["conversation_starts"] == [0]
    env = gym.make(GP_IMAGE, image_size=224, max_attempts=6)
    env.reset(seed=0)
    infos = [env.step(MISREAD)[4] for _ in range(5)]
    assert [m["content"] for m in feedback] == [i["feedback"] for i in infos]  # short strings
    prompt = text_of(last[0])
    assert all(len(m["content"]) < len(prompt) and prompt not in m["content"] for m in feedback)
    # the same episode with the "full" protocol repeats the image with every observation
    full = Recorder(wrong=5)
    evaluate(
        GP_IMAGE,
        full,
        episodes=1,
        out=tmp_path / "full",
        env_kwargs={"image_size": 224, "max_attempts": 6},
        progress=False,
    )
    assert images_in(full.requests[-1]) == 6


def test_paper_navigation_steps_are_fresh_prompts_with_the_history(tmp_path: Path) -> None:
    policy = Recorder(wrong=1, answer="stop()")  # one wrong answer at every step, then right
    summary = evaluate(NAV, policy, episodes=1, out=tmp_path, conversation="paper", progress=False)
    assert summary.results[NAV].success_rate == 1.0
    (record,) = read_records(episodes_path(tmp_path, NAV))
    env = gym.make(NAV)
    observation, _ = env.reset(seed=0)
    info: dict[str, Any] = {"verdict": "correct"}
    prompt, steps = "", 0
    for request, answer in zip(policy.requests, policy.answers, strict=True):
        if info["verdict"] == "correct":  # a new step: one user message, the whole prompt
            (message,) = request
            assert message == {"role": "user", "content": observation}
            assert (f"O_{steps}:" in observation) == (steps > 0)  # the history of earlier steps
        else:  # after a failure: the prompt, the answer and the short feedback message
            assert [m["role"] for m in request] == ["user", "assistant", "user"]
            assert request[0]["content"] == prompt and request[1]["content"] == "stop()"
            assert request[2] == {"role": "user", "content": info["feedback"]}
            assert len(info["feedback"]) < 300  # the reason and the answer format
        prompt = observation
        observation, _, _, _, info = env.step(answer)
        steps += info["verdict"] == "correct"
    assert steps == record["correct_attempts"] == len(record["conversation_starts"]) > 2
    assert record["attempts"] == len(policy.requests) > steps  # there were failures


def test_rollouts_and_prompt_rows_follow_the_protocol() -> None:
    def oracle(messages: list[dict[str, Any]], *, env: gym.Env) -> str:
        return str(env.unwrapped.expert_action())

    full = rollout(NAV, oracle, seed=3)
    paper = rollout(NAV, oracle, seed=3, conversation="paper")
    assert full.rewards == paper.rewards and full.conversation_starts == [0]
    assert [m["content"] for m in full.messages] == [m["content"] for m in paper.messages]
    assert paper.conversation_starts == list(range(0, 2 * paper.length, 2))
    assert [len(c) for c in paper.conversations] == [2] * paper.length
    assert paper.to_dict()["conversation"] == "paper"
    rows = prompt_dataset(NAV, seeds=[3], steps="expert", conversation="full")
    assert [len(r["prompt"]) for r in rows] == [2 * i + 1 for i in range(len(rows))]
    assert rows[-1]["prompt"] == full.messages[:-1]
    paper_rows = prompt_dataset(NAV, seeds=[3], steps="expert")
    assert [r["prompt"] for r in paper_rows] == [[m] for m in paper.messages[::2]]
    with pytest.raises(ValueError, match="conversation"):
        prompt_dataset(NAV, seeds=[3], conversation="both")


def test_navigation_images_only_open_a_conversation() -> None:
    nav_image = "navenvs/Navigation-Image-v0"
    policy = Recorder(wrong=1, answer="stop()")
    trajectory = rollout(gym.make(nav_image, image_size=224), policy, seed=1, conversation="paper")
    assert trajectory.success and len(trajectory.conversations) > 2
    for conversation in trajectory.conversations:
        assert images_in(conversation[:1]) == 1 and images_in(conversation[1:]) == 0
    for request in policy.requests:
        assert images_in(request) == 1
    rows = prompt_dataset(
        nav_image,
        seeds=[1],
        steps="expert",
        conversation="full",
        env_kwargs={"image_size": 224},
        as_hf=True,
    )
    last = rows[len(rows) - 1]
    users = [m for m in last["prompt"] if m["role"] == "user"]
    placeholders = [p for m in users for p in m["content"] if p["type"] == "image"]
    assert len(users) == len(rows) == len(placeholders) == len(last["images"])
    first = rows[0]
    assert [p["type"] for p in first["prompt"][0]["content"]] == ["text", "image"]
