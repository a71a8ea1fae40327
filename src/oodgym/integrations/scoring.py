"""Scoring answers at replayed states, fast: one replay per state, no pixels when none are needed.

A trainer's reward function scores many completions on the same state: a
GRPO group is G answers to one prompt. The state is named by its environment
configuration and ``(seed, step)``: the state reached from
``reset(seed=seed)`` by playing the expert's answers ``step`` times.
:class:`StateScorer` judges an answer there with the environment's own
``step``, and

* **replays each state once.** After the first replay the state is kept as a
  snapshot (cache key ``(seed, step)`` within a scorer, so ``(env id, kwargs,
  seed, step)`` overall); every further answer restores the snapshot and
  steps. A snapshot copies, for the environment and each wrapper, its
  attributes one level deep (lists, dicts, sets and arrays are copied, the
  random generator is cloned; everything else, such as seed-independent
  caches, is shared). The first time a scorer reuses a snapshot, the result
  is checked against a fresh replay; an environment whose ``step`` mutates
  deeper objects fails that check, and the scorer then warns and replays
  every time (correct, only slower).
* **judges image environments without rendering** when it can. A verdict
  usually depends on the state, not on the pixels of its picture. For an id
  whose observations carry an image and whose constructor takes
  ``observation=``, the scorer tries a *text twin*: the same kwargs with
  ``observation="text"``. The twin is used only if it judges exactly like the
  image environment: before first use both walk the expert's episode of a
  probe seed (up to six states), and at every state both judge the expert's
  answer, empty and unparsable answers, and variants of the expert's answer
  with each field altered (reward, termination, truncation and
  ``info["verdict"]`` must be equal). Navigation passes (its image mode only changes what is shown);
  GeneralPoints does not (in image mode the answer must also read the cards),
  so an image GeneralPoints state is rendered once per state, not per answer.

:func:`state_scorer` returns the scorer of a configuration, shared by the
TRL reward functions and verl's ``compute_score`` in one process (at most
:data:`MAX_SCORERS`, least recently used first out). Scorers are thread-safe:
calls on one scorer are serialised by a lock.
"""

from __future__ import annotations

import collections
import copy
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from oodgym.conversation import Conversation, Message, check_protocol
from oodgym.families import load_families

__all__ = [
    "MAX_EXPERT_STEPS",
    "MAX_SCORERS",
    "STEPS",
    "Score",
    "StateScorer",
    "canonical_kwargs",
    "clear_scorers",
    "expert_answer",
    "expert_states",
    "has_image",
    "make_env",
    "parse_kwargs",
    "replay_conversation",
    "state_scorer",
]

#: Values of ``steps=`` of the dataset builders: the first state of each seed, or every
#: state of the expert's episode.
STEPS = ("first", "expert")
#: Scorers kept by :func:`state_scorer` (one per environment configuration).
MAX_SCORERS = 16
#: Guard against an expert that never ends an episode.
MAX_EXPERT_STEPS = 10_000
#: Seeds whose expert episodes probe a text twin, and how many states of each.
_PROBE_SEEDS = (1_000_000,)
_PROBE_STEPS = 6
#: An unparsable answer for probes.
_GARBAGE = "I cannot tell."


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> gym.Env[Any, Any]:
    """``gym.make(env_id, **env_kwargs)``, registering the ``oodgym.envs`` families first."""
    if env_id not in gym.registry:
        load_families()
    return gym.make(env_id, **dict(env_kwargs or {}))


def has_image(env: gym.Env[Any, Any]) -> bool:
    """Whether the observations of ``env`` carry an image (``Dict`` space with ``"image"``)."""
    space = env.observation_space
    return isinstance(space, spaces.Dict) and "image" in space.spaces


def canonical_kwargs(env_kwargs: Mapping[str, Any] | None) -> str:
    """``env_kwargs`` as canonical JSON (sorted keys, no spaces): how rows store them.

    Raises:
        ValueError: Not plain JSON data (the rows and caches need plain data).
    """
    try:
        return json.dumps(
            dict(env_kwargs or {}), sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"env_kwargs must be plain JSON data: {err}") from err


def parse_kwargs(value: object) -> dict[str, Any]:
    """The env kwargs a row carries: a JSON object string, a mapping, or ``None``/``""`` for none.

    Raises:
        ValueError: Anything else, or a string that is not a JSON object.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as err:
            raise ValueError(f"env_kwargs {value[:200]!r} is not JSON: {err}") from None
        if isinstance(parsed, dict):
            return parsed
    raise ValueError(f"env_kwargs must be a JSON object string or a mapping, got {value!r:.200}")


@dataclass(frozen=True)
class Score:
    """What the environment said about one answer at one state."""

    #: The step's reward.
    reward: float
    #: ``info["verdict"]`` (``None`` if the environment gives none).
    verdict: str | None
    terminated: bool
    truncated: bool


# --------------------------------------------------------------------------- snapshots

_CONTAINERS = (list, dict, set, bytearray, collections.deque)


def _copy_value(value: Any) -> Any:
    if isinstance(value, _CONTAINERS):
        return copy.copy(value)
    if isinstance(value, np.ndarray):
        return value.copy() if value.flags.writeable else value  # read-only: never mutated
    if isinstance(value, np.random.Generator):
        return copy.deepcopy(value)
    return value


def _layers(env: gym.Env[Any, Any]) -> list[Any]:
    """The environment and every wrapper around it, outermost first."""
    out: list[Any] = [env]
    while isinstance(out[-1], gym.Wrapper):
        out.append(out[-1].env)
    return out


@dataclass(frozen=True)
class _Snapshot:
    layers: tuple[tuple[Any, dict[str, Any]], ...]
    nbytes: int

    @classmethod
    def take(cls, env: gym.Env[Any, Any]) -> _Snapshot:
        layers = []
        nbytes = 0
        for layer in _layers(env):
            state = {name: _copy_value(value) for name, value in vars(layer).items()}
            layers.append((layer, state))
            nbytes += 512
            for value in state.values():
                if isinstance(value, np.ndarray):  # copied or not, the snapshot keeps it alive
                    nbytes += value.nbytes
                elif isinstance(value, str):
                    nbytes += len(value)
        return cls(tuple(layers), nbytes)

    def restore(self) -> None:
        for layer, state in self.layers:
            attributes = vars(layer)
            attributes.clear()
            attributes.update({name: _copy_value(value) for name, value in state.items()})


# --------------------------------------------------------------------------- expert play


def expert_answer(env: gym.Env[Any, Any]) -> str:
    """The expert's answer at the current state of ``env`` (``expert_action()``, checked).

    Raises:
        TypeError: The environment has no ``expert_action()``, or it returns no str.
    """
    expert = getattr(env.unwrapped, "expert_action", None)
    if not callable(expert):
        raise TypeError(
            f"{type(env.unwrapped).__name__} has no expert_action(): states with step > 0 "
            "need an environment with an expert"
        )
    answer = expert()
    if not isinstance(answer, str):
        raise TypeError(f"expert_action() must return a str, got {type(answer).__name__}")
    return answer


def replay_conversation(
    env: gym.Env[Any, Any], seed: int, step: int, protocol: str, *, who: str = ""
) -> tuple[Any, Conversation]:
    """Reset ``env`` with ``seed`` and play the expert to ``step``, keeping the conversation.

    Returns:
        The observation at ``step`` and the conversation (in ``protocol``) that leads to it.

    Raises:
        ValueError: The expert's episode ends before ``step`` (the message starts with ``who``).
    """
    observation, _ = env.reset(seed=seed)
    talk = Conversation(protocol)
    talk.reset(observation)
    for done in range(step):
        answer = expert_answer(env)
        observation, _, terminated, truncated, info = env.step(answer)
        talk.step(answer, observation, info, terminated, truncated)
        if terminated or truncated:
            raise ValueError(
                f"{who}seed {seed}: the expert's episode ends after {done + 1} step(s), "
                f"so step {step} does not exist"
            )
    return observation, talk


def _advance(env: gym.Env[Any, Any], seed: int, start: int, stop: int) -> None:
    """Play the expert from step ``start`` to ``stop`` (the episode must not end before)."""
    for done in range(start, stop):
        _, _, terminated, truncated, _ = env.step(expert_answer(env))
        if terminated or truncated:
            raise ValueError(
                f"seed {seed}: the expert's episode ends after {done + 1} step(s), "
                f"so step {stop} does not exist"
            )


def _judge(env: gym.Env[Any, Any], answer: str) -> Score:
    _, reward, terminated, truncated, info = env.step(answer)
    verdict = info.get("verdict")
    return Score(
        reward=float(reward),
        verdict=verdict if isinstance(verdict, str) else None,
        terminated=bool(terminated),
        truncated=bool(truncated),
    )


def _variants(answer: str) -> list[str]:
    """The expert's answer with each field altered in turn (probes of a text twin)."""
    try:
        fields = json.loads(answer)
    except ValueError:
        return []
    if not isinstance(fields, dict):
        return []
    out: list[str] = []
    for key, value in fields.items():
        replacements: list[Any]
        if isinstance(value, str):
            replacements = ["", "You observe an intersection.", "There is no intersection."]
        elif isinstance(value, list):
            replacements = [
                [
                    ("A" if item != "A" else "B")
                    if isinstance(item, str)
                    else (item + 1 if isinstance(item, int) else item)
                    for item in value
                ]
            ]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            replacements = [value + 1]
        else:
            continue
        out.extend(json.dumps({**fields, key: new}) for new in replacements)
    return out


def _judges_alike(real: gym.Env[Any, Any], twin: gym.Env[Any, Any]) -> bool:
    """Whether ``twin`` judges like ``real`` on probe states and answers (see the module doc)."""
    for seed in _PROBE_SEEDS:
        real.reset(seed=seed)
        twin.reset(seed=seed)
        for _ in range(_PROBE_STEPS):
            expert = expert_answer(real)
            real_state, twin_state = _Snapshot.take(real), _Snapshot.take(twin)
            for answer in ["", _GARBAGE, *_variants(expert)]:
                real_state.restore()
                twin_state.restore()
                if _judge(real, answer) != _judge(twin, answer):
                    return False
            real_state.restore()
            twin_state.restore()
            outcome = _judge(real, expert)
            if _judge(twin, expert) != outcome:
                return False
            if outcome.terminated or outcome.truncated:
                break
    return True


def expert_states(
    env_id: str,
    seeds: Iterable[int] | int,
    *,
    steps: str = "first",
    env_kwargs: Mapping[str, Any] | None = None,
    conversation: str = "paper",
) -> Iterator[tuple[gym.Env[Any, Any], dict[str, Any], list[Message]]]:
    """The states of the expert's episodes: ``(env, state, messages)`` per state.

    ``state`` is ``{"env_id", "seed", "step", "env_kwargs" (canonical JSON),
    "conversation"}``; ``messages`` the conversation the policy is sent there.
    Shared by the TRL and verl dataset builders.
    """
    if steps not in STEPS:
        raise ValueError(f"steps must be one of {list(STEPS)}, got {steps!r}")
    protocol = check_protocol(conversation)
    from oodgym.integrations.rollout import seed_list  # rollout imports this module

    chosen = seed_list(seeds)
    kwargs_json = canonical_kwargs(env_kwargs)
    env = make_env(env_id, env_kwargs)
    try:
        for seed in chosen:
            observation, _ = env.reset(seed=seed)
            talk = Conversation(protocol)
            talk.reset(observation)
            for step in range(MAX_EXPERT_STEPS):
                state = {
                    "env_id": env_id,
                    "seed": seed,
                    "step": step,
                    "env_kwargs": kwargs_json,
                    "conversation": protocol,
                }
                yield env, state, talk.messages
                if steps == "first":
                    break
                answer = expert_answer(env)
                observation, _, terminated, truncated, info = env.step(answer)
                talk.step(answer, observation, info, terminated, truncated)
                if terminated or truncated:
                    break
            else:
                raise RuntimeError(
                    f"{env_id}, seed {seed}: the expert did not finish within "
                    f"{MAX_EXPERT_STEPS} steps"
                )
    finally:
        env.close()


def _probe(real: gym.Env[Any, Any], twin: gym.Env[Any, Any]) -> bool:
    """:func:`_judges_alike`, ``False`` if the probe cannot run (no expert, a short episode)."""
    try:
        return _judges_alike(real, twin)
    except (TypeError, ValueError, RuntimeError):
        return False


# --------------------------------------------------------------------------- the scorer


class StateScorer:
    """Judges answers at ``(seed, step)`` states of one environment configuration.

    Args:
        env_id: A registered id.
        env_kwargs: Keyword arguments of ``gym.make`` (plain JSON data).
        text_twin: Allow judging an image id with its text twin (see the
            module docstring; used only if the probe finds identical verdicts).
        max_states: Snapshots kept, least recently used first out (0: replay
            every time).
        max_bytes: Upper bound of the snapshots' estimated size in bytes.

    Raises:
        ValueError: ``env_kwargs`` is not plain data, or a bound is negative.
        gymnasium.error.Error: An unknown id (when the environment is first made).
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: Mapping[str, Any] | None = None,
        *,
        text_twin: bool = True,
        max_states: int = 4096,
        max_bytes: int = 256 * 2**20,
    ) -> None:
        if max_states < 0 or max_bytes < 0:
            raise ValueError(
                f"max_states and max_bytes must be >= 0, got {max_states} and {max_bytes}"
            )
        self.env_id = env_id
        self.env_kwargs = json.loads(canonical_kwargs(env_kwargs))
        self.text_twin = text_twin
        self.max_states = max_states
        self.max_bytes = max_bytes
        #: The kwargs of the environment that judges (``observation="text"`` for a twin).
        self.judge_kwargs: dict[str, Any] | None = None
        #: Replays played (from reset or from a cached earlier step) and snapshots reused.
        self.replays = 0
        self.reuses = 0
        self._env: gym.Env[Any, Any] | None = None
        self._states: OrderedDict[tuple[int, int], _Snapshot] = OrderedDict()
        self._bytes = 0
        self._snapshots = max_states > 0
        self._checked = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StateScorer({self.env_id!r}, {self.env_kwargs!r})"

    # The environment is built lazily, and never pickled.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_env=None, _states=OrderedDict(), _bytes=0, judge_kwargs=None)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def env(self) -> gym.Env[Any, Any]:
        """The environment that judges (made on first use; a text twin where verified)."""
        with self._lock:
            return self._judge_env()

    def _judge_env(self) -> gym.Env[Any, Any]:
        if self._env is not None:
            return self._env
        real = make_env(self.env_id, self.env_kwargs)
        chosen, kwargs = real, self.env_kwargs
        if self.text_twin and has_image(real):
            twin_kwargs = {**self.env_kwargs, "observation": "text"}
            try:
                twin: gym.Env[Any, Any] | None = make_env(self.env_id, twin_kwargs)
            except (TypeError, ValueError):
                twin = None  # the constructor takes no observation="text"
            if twin is not None and not has_image(twin) and _probe(real, twin):
                chosen, kwargs = twin, twin_kwargs
                real.close()
            elif twin is not None:
                twin.close()
        self._env, self.judge_kwargs = chosen, kwargs
        return chosen

    @property
    def categories(self) -> list[str]:
        """The verdict categories of the environment (keys of its ``rewards`` table, if any).

        ``"exhausted"`` (a penalty added to a verdict, not a verdict) is left out.
        """
        rewards = getattr(self.env.unwrapped, "rewards", None)
        if not isinstance(rewards, Mapping):
            return []
        return sorted(str(k) for k in rewards if k != "exhausted")

    def score(self, answer: str, seed: int, step: int = 0) -> Score:
        """Judge ``answer`` at the state ``(seed, step)``.

        Raises:
            ValueError: ``step`` is past the end of the expert's episode, or negative.
            TypeError: ``answer`` is not a str, or the environment has no expert
                (needed for ``step > 0``).
        """
        if not isinstance(answer, str):
            raise TypeError(f"answer must be a str, got {type(answer).__name__}")
        seed, step = int(seed), int(step)
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        with self._lock:
            env = self._judge_env()
            snapshot = self._states.get((seed, step)) if self._snapshots else None
            if snapshot is None:
                self._replay(env, seed, step)
                return _judge(env, answer)
            self._states.move_to_end((seed, step))
            snapshot.restore()
            self.reuses += 1
            result = _judge(env, answer)
            if not self._checked:
                self._checked = True
                self._replay(env, seed, step, fresh=True)
                fresh = _judge(env, answer)
                if fresh != result:
                    warnings.warn(
                        f"{self.env_id}: a restored state judged {answer[:80]!r} as {result}, "
                        f"a fresh replay as {fresh}; its step() changes objects the snapshots do "
                        "not copy, so every answer is now replayed from reset (slower)",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    self._snapshots = False
                    self._states.clear()
                    self._bytes = 0
                    return fresh
            return result

    def score_many(self, answers: Iterable[str], seed: int, step: int = 0) -> list[Score]:
        """:meth:`score` for several answers on one state (a GRPO group)."""
        return [self.score(answer, seed, step) for answer in answers]

    def expert_rewards(self, seed: int, step: int = 0) -> list[float]:
        """The rewards of the expert's answers from ``(seed, step)`` to the end of its episode."""
        with self._lock:
            env = self._judge_env()
            self._replay(env, int(seed), int(step))
            rewards = []
            for _ in range(MAX_EXPERT_STEPS):
                result = _judge(env, expert_answer(env))
                rewards.append(result.reward)
                if result.terminated or result.truncated:
                    return rewards
        raise RuntimeError(f"{self.env_id}, seed {seed}: the expert did not finish")

    def _replay(self, env: gym.Env[Any, Any], seed: int, step: int, *, fresh: bool = False) -> None:
        """Bring ``env`` to ``(seed, step)`` (from a cached earlier step unless ``fresh``)."""
        self.replays += 1
        start: int | None = None
        if self._snapshots and not fresh:
            for earlier in range(step - 1, -1, -1):
                cached = self._states.get((seed, earlier))
                if cached is not None:
                    cached.restore()
                    start = earlier
                    break
        if start is None:
            env.reset(seed=seed)
            start = 0
        _advance(env, seed, start, step)
        if self._snapshots and not fresh:
            self._store((seed, step), _Snapshot.take(env))

    def _store(self, key: tuple[int, int], snapshot: _Snapshot) -> None:
        old = self._states.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._states[key] = snapshot
        self._bytes += snapshot.nbytes
        while self._states and (
            len(self._states) > self.max_states or self._bytes > self.max_bytes
        ):
            _, dropped = self._states.popitem(last=False)
            self._bytes -= dropped.nbytes

    def close(self) -> None:
        """Close the environment and drop the snapshots."""
        with self._lock:
            self._states.clear()
            self._bytes = 0
            if self._env is not None:
                self._env.close()
                self._env = None


# --------------------------------------------------------------------------- shared scorers

_SCORERS: OrderedDict[tuple[str, str], StateScorer] = OrderedDict()
_SCORERS_LOCK = threading.Lock()


def state_scorer(env_id: str, env_kwargs: Mapping[str, Any] | str | None = None) -> StateScorer:
    """The process's shared :class:`StateScorer` of a configuration (made on first use).

    ``env_kwargs`` may be a mapping or the canonical JSON string rows carry.
    """
    kwargs = parse_kwargs(env_kwargs)
    key = (env_id, canonical_kwargs(kwargs))
    with _SCORERS_LOCK:
        scorer = _SCORERS.get(key)
        if scorer is None:
            scorer = StateScorer(env_id, kwargs)
            _SCORERS[key] = scorer
            while len(_SCORERS) > MAX_SCORERS:
                _SCORERS.popitem(last=False)[1].close()
        else:
            _SCORERS.move_to_end(key)
        return scorer


def clear_scorers() -> None:
    """Close and forget every shared scorer (tests; or to free memory)."""
    with _SCORERS_LOCK:
        for scorer in _SCORERS.values():
            scorer.close()
        _SCORERS.clear()
