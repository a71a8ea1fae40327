"""TRL adapters: prompt datasets and GRPO reward functions for ood-gym environments.

This module does not import TRL (TRL is the user's dependency); it produces
the plain data and callables that ``trl.GRPOTrainer`` consumes::

    from trl import GRPOConfig, GRPOTrainer
    from oodgym.integrations.trl import prompt_dataset, reward_function

    env_id = "cardenvs/GeneralPoints-v0"
    trainer = GRPOTrainer(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        reward_funcs=reward_function(env_id),
        train_dataset=prompt_dataset(env_id, seeds=1000, as_hf=True),
        args=GRPOConfig(output_dir="gp-grpo"),
    )

A dataset row names a state of an environment: ``env_id``, ``seed`` and
``step`` (the state reached from ``reset(seed=seed)`` by playing the expert's
answers ``step`` times). TRL passes those columns to the reward function, which
rebuilds the same state and scores the completion with one ``env.step``. So
the reward is exactly the environment's reward, with no answer key stored in
the dataset.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from oodgym.conversation import (
    Conversation,
    Message,
    check_protocol,
    images_as_placeholders,
)
from oodgym.integrations.rollout import make_env, seed_list

__all__ = ["STEPS", "EnvReward", "completion_text", "prompt_dataset", "reward_function"]

#: Values of ``prompt_dataset(steps=...)``.
STEPS = ("first", "expert")
#: Guard against an expert that never ends an episode.
_MAX_EXPERT_STEPS = 10_000


def _expert(env: gym.Env[Any, Any]) -> str:
    expert = getattr(env.unwrapped, "expert_action", None)
    if not callable(expert):
        raise TypeError(
            f"{type(env.unwrapped).__name__} has no expert_action(): rows with step > 0 "
            "(steps='expert') need an environment with an expert"
        )
    answer = expert()
    if not isinstance(answer, str):
        raise TypeError(f"expert_action() must return a str, got {type(answer).__name__}")
    return answer


def _replay(env: gym.Env[Any, Any], seed: int, step: int) -> Any:
    """Reset with ``seed`` and play the expert ``step`` times; return the observation."""
    observation, _ = env.reset(seed=seed)
    for done in range(step):
        observation, _, terminated, truncated, _ = env.step(_expert(env))
        if terminated or truncated:
            raise ValueError(
                f"seed {seed}: the expert's episode ends after {done + 1} step(s), "
                f"so step {step} does not exist"
            )
    return observation


def _has_image(env: gym.Env[Any, Any]) -> bool:
    space = env.observation_space
    return isinstance(space, spaces.Dict) and "image" in space.spaces


def _pil(image: Any) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def _row(
    env_id: str, seed: int, step: int, messages: list[Message], image: bool, parts: bool
) -> dict[str, Any]:
    """A dataset row whose prompt is ``messages`` (the conversation the policy is sent).

    ``parts``: contents as lists of parts with ``{"type": "image"}`` placeholders
    (image rows of ``"full"`` conversations); else image rows have one user
    message with a string content, where TRL inserts the placeholder itself.
    """
    ids = {"env_id": env_id, "seed": seed, "step": step}
    if not image:
        prompt = [{"role": m["role"], "content": m["content"]} for m in messages]
        return {"prompt": prompt, **ids}
    listed, images = images_as_placeholders(messages)
    if parts:
        prompt = [{"role": m["role"], "content": m["content"]} for m in listed]
    else:
        (message,) = listed
        text = "".join(p["text"] for p in message["content"] if p["type"] == "text")
        prompt = [{"role": "user", "content": text}]
    return {"prompt": prompt, **ids, "images": [_pil(i) for i in images]}


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as err:
        raise ImportError(
            "as_hf=True needs the Hugging Face 'datasets' package: "
            "pip install 'ood-gym[hf]' (or pip install datasets)"
        ) from err
    return datasets


def _features(datasets: Any, image: bool, parts: bool) -> Any:
    text = datasets.Value("string")
    content: Any = [{"type": text, "text": text}] if parts else text
    columns: dict[str, Any] = {
        "prompt": [{"role": text, "content": content}],
        "env_id": datasets.Value("string"),
        "seed": datasets.Value("int64"),
        "step": datasets.Value("int64"),
    }
    if image:
        columns["images"] = [datasets.Image()]
    return datasets.Features(columns)


def prompt_dataset(
    env_id: str,
    *,
    seeds: Iterable[int] | int,
    steps: str = "first",
    env_kwargs: Mapping[str, Any] | None = None,
    conversation: str = "paper",
    as_hf: bool = False,
) -> Any:
    """Prompts of an environment as a TRL prompt-only, conversational dataset.

    Every row has ``"prompt"`` (``[{"role": "user", "content": <prompt text>}]``),
    ``"env_id"``, ``"seed"`` and ``"step"``; rows of image observations also
    have ``"images"`` (a list with one ``PIL.Image``, TRL's column for
    vision-language models).

    Args:
        env_id: A registered id.
        seeds: The reset seeds, or a count ``n`` for seeds ``0 .. n-1``.
        steps: ``"first"``: one row per seed, the first observation.
            ``"expert"``: one row per step of the expert's episode (the states
            reached by replaying the expert's answers), for multi-step
            environments such as navigation. For GeneralPoints, whose expert
            solves at once, both give the same rows.
        env_kwargs: Keyword arguments of ``gym.make`` (use the same ones for
            :func:`reward_function`).
        conversation: The protocol of the prompts (see :mod:`oodgym.conversation`):
            ``"paper"`` (default): the prompt of the state alone (a navigation
            step's prompt holds the instruction and the history); ``"full"``:
            the episode so far, earlier observations and expert answers
            included; its image rows have list contents (text parts and
            ``{"type": "image"}`` placeholders, one per entry of ``"images"``).
        as_hf: Return a ``datasets.Dataset`` (needs ``pip install 'ood-gym[hf]'``)
            instead of a list of dicts.

    Returns:
        A list of row dicts, or a ``datasets.Dataset``.

    Raises:
        ValueError: for an unknown ``steps`` or ``conversation``, or bad seeds.
        ImportError: if ``as_hf`` and ``datasets`` is missing.
    """
    if steps not in STEPS:
        raise ValueError(f"steps must be one of {list(STEPS)}, got {steps!r}")
    protocol = check_protocol(conversation)
    chosen = seed_list(seeds)
    datasets = _import_datasets() if as_hf else None
    env = make_env(env_id, env_kwargs)
    rows: list[dict[str, Any]] = []
    try:
        image = _has_image(env)
        parts = image and protocol == "full"
        for seed in chosen:
            observation, _ = env.reset(seed=seed)
            talk = Conversation(protocol)
            talk.reset(observation)
            for step in range(_MAX_EXPERT_STEPS):
                rows.append(_row(env_id, seed, step, talk.messages, image, parts))
                if steps == "first":
                    break
                answer = _expert(env)
                observation, _, terminated, truncated, info = env.step(answer)
                talk.step(answer, observation, info, terminated, truncated)
                if terminated or truncated:
                    break
            else:
                raise RuntimeError(
                    f"{env_id}, seed {seed}: the expert did not finish within "
                    f"{_MAX_EXPERT_STEPS} steps"
                )
    finally:
        env.close()
    if datasets is None:
        return rows
    return datasets.Dataset.from_list(rows, features=_features(datasets, image, parts))


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def completion_text(completion: object) -> str:
    """The answer text of a TRL completion.

    Accepts a string (standard format), a conversational completion
    ``[{"role": "assistant", "content": ...}]`` (the last assistant message
    counts; content may be a string or a list of text parts) or a single
    message dict. Anything else gives ``""``, which the environments judge as
    an unparsable answer.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence) and not isinstance(completion, (bytes, bytearray)):
        messages = [m for m in completion if isinstance(m, Mapping)]
        answers = [m for m in messages if m.get("role") == "assistant"] or messages
        if answers:
            return _content_text(answers[-1].get("content"))
    return ""


def _column(kwargs: Mapping[str, Any], name: str, count: int, default: Any) -> list[Any]:
    value = kwargs.get(name, default)
    if value is None:
        if default is None:
            raise ValueError(
                f"the reward function needs a {name!r} column (prompt_dataset makes one); "
                f"got columns {sorted(kwargs)}"
            )
        value = default
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(f"column {name!r} has {len(values)} values for {count} completions")
    return values


def _reward_name(env_id: str) -> str:
    return "reward_" + re.sub(r"[^0-9A-Za-z_.-]+", "_", env_id).strip("_")


class EnvReward:
    """A TRL reward function scoring completions with an environment's own reward.

    Called as ``reward(prompts, completions, **columns)`` (TRL passes the
    dataset's extra columns as keyword lists): for every completion, the
    environment is reset with the row's ``seed``, the expert is replayed for
    ``step`` steps, and the completion is stepped; its reward is returned.
    Rows whose ``env_id`` column names another id get ``None`` (TRL's "not
    applicable"), so one reward function per id combines on a mixed dataset.

    One environment is made lazily and reused; calls are serialised by a lock.
    ``__name__`` (TRL's logging key) is ``reward_<env id>`` unless ``name`` is given.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if env_id not in gym.registry:
            make_env(env_id, env_kwargs).close()  # registers families; fails for an unknown id
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.__name__ = name or _reward_name(env_id)
        self._env: gym.Env[Any, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EnvReward({self.env_id!r}, env_kwargs={self.env_kwargs!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_env"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def env(self) -> gym.Env[Any, Any]:
        """The cached environment (made on first use)."""
        if self._env is None:
            self._env = make_env(self.env_id, self.env_kwargs)
        return self._env

    def score(self, completion: object, seed: int, step: int = 0) -> float:
        """The reward of one completion at the state ``(seed, step)``."""
        with self._lock:
            env = self.env
            _replay(env, int(seed), int(step))
            _, reward, _, _, _ = env.step(completion_text(completion))
            return float(reward)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        """Rewards of ``completions`` (one per completion, ``None`` for other ids' rows)."""
        count = len(completions)
        if count == 0:
            return []
        seeds = _column(kwargs, "seed", count, None)
        step_values = _column(kwargs, "step", count, 0)
        ids = _column(kwargs, "env_id", count, self.env_id)
        rewards: list[float | None] = []
        for completion, seed, step, env_id in zip(
            completions, seeds, step_values, ids, strict=True
        ):
            if env_id != self.env_id:
                rewards.append(None)
                continue
            rewards.append(self.score(completion, seed, step))
        return rewards


def reward_function(
    env_id: str, *, env_kwargs: Mapping[str, Any] | None = None, name: str | None = None
) -> Callable[..., list[float | None]]:
    """A TRL GRPO reward function for ``env_id`` (see :class:`EnvReward`).

    Args:
        env_id: A registered id.
        env_kwargs: Keyword arguments of ``gym.make``; use the ones given to
            :func:`prompt_dataset`.
        name: The function's ``__name__`` (TRL logs ``rewards/<name>``);
            default ``"reward_<env id>"``.

    Returns:
        ``reward(prompts, completions, **columns) -> list[float | None]``, with
        ``__name__`` ``"reward_<env id>"``. Completions may be strings or
        conversational lists; anything else is scored as an empty answer.

    Example:
        >>> from oodgym.integrations.trl import prompt_dataset, reward_function
        >>> rows = prompt_dataset("cardenvs/GeneralPoints-v0", seeds=[0])
        >>> reward = reward_function("cardenvs/GeneralPoints-v0")
        >>> reward(
        ...     [rows[0]["prompt"]],
        ...     [[{"role": "assistant", "content": "formula: 1+1"}]],
        ...     seed=[0], step=[0],
        ... )
        [-2.0]
    """
    return EnvReward(env_id, env_kwargs, name=name)
