"""Conformance kit: the checks every ood-gym environment passes, for your own CI too.

Run them on any registered id (ours or a variant from your package)::

    from oodgym import testing
    testing.assert_conforms("cardenvs/GeneralPoints-v0")

or one by one (each raises :class:`ConformanceError` with a readable reason):

* :func:`check_env_silent`: Gymnasium's ``check_env`` (with render checks)
  passes without any warning.
* :func:`check_rollout`: whole episodes with expert, random and hostile
  answers; at every reset and step the observation is inside the observation
  space, the reward a finite real number, the flags bools and the info a dict,
  and no returned observation shares a buffer with an earlier one or is changed
  afterwards. Failures name the step and the cause.
* :func:`check_determinism`: the same seed gives the same rollout within a
  process and in two fresh processes with different ``PYTHONHASHSEED``.
* :func:`check_pickle`: a pickled mid-episode environment continues exactly
  like the original.
* :func:`check_spec_json`: ``EnvSpec.to_json`` round-trips and the rebuilt
  environment behaves the same.
* :func:`check_vector`: ``gym.make_vec`` runs in ``sync`` and ``async`` mode
  and matches single environments.
* :func:`check_visual_variants`: visual variants (``visuals=...``) announced by
  the environment class's ``conformance_variants()`` change images only: the
  deal, the text, the info and the rewards stay the same.

:func:`run_checks` runs them all and returns one :class:`CheckResult` per
check (the ``oodgym check`` command prints them). Ids may name the module that
registers them (``"my_pkg.envs:MyEnv-v0"``): ``gym.make`` imports it, and so
does the fresh process of the determinism check.

An id may also be the address of a served environment (``"ws://127.0.0.1:8000"``,
see :mod:`oodgym.serve`): the checks then play it through
:class:`oodgym.serve.ServedEnv`, with ``kwargs`` as its options (e.g.
``{"token": ...}``). ``check_env``, ``rollout``, ``determinism`` (the fresh
processes connect to the same server) and ``vector`` (sync and async vector envs
of sessions) run as for an id; ``pickle``, ``spec_json`` and ``visual_variants``
do not apply (the environment, its spec and its kwargs live on the server) and
pass as skipped.

Note:
    Gymnasium 1.x's ``AsyncVectorEnv`` reads non-``Box`` observations from
    shared memory only once, at construction (Gymnasium issue #1164), so text
    observations come back stale. Use
    ``gym.make_vec(id, n, vectorization_mode="async", vector_kwargs={"shared_memory": False})``;
    :func:`check_vector` does the same.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import os
import pickle
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env

from oodgym import safepickle
from oodgym.serve.client import TOKEN_ENV, is_address

__all__ = [
    "CheckResult",
    "ConformanceError",
    "assert_conforms",
    "check_determinism",
    "check_env_silent",
    "check_pickle",
    "check_rollout",
    "check_spec_json",
    "check_vector",
    "check_visual_variants",
    "rollout_digest",
    "run_checks",
]


class ConformanceError(AssertionError):
    """An environment broke a conformance property."""


def _make(env_id: str, kwargs: Mapping[str, Any] | None = None) -> gym.Env[Any, Any]:
    if is_address(env_id):
        from oodgym.serve.client import ServedEnv

        return ServedEnv(env_id, **dict(kwargs or {}))
    return gym.make(env_id, **dict(kwargs or {}))


def _scripted_actions(env: gym.Env[Any, Any], step: int) -> Any:
    """Deterministic mix of sampled garbage and (when available) expert answers."""
    expert = getattr(env.unwrapped, "expert_action", None)
    if step % 3 == 2 and callable(expert):
        return expert()
    return env.action_space.sample()


def _fold(hasher: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        hasher.update(str(value.dtype).encode())
        hasher.update(str(value.shape).encode())
        hasher.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Mapping):
        for key in sorted(value):
            hasher.update(str(key).encode())
            _fold(hasher, value[key])
    elif isinstance(value, (list, tuple)):
        hasher.update(b"[")
        for item in value:
            _fold(hasher, item)
        hasher.update(b"]")
    else:
        hasher.update(repr(value).encode())


def _info_view(info: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not k.startswith("_")}


def rollout_digest(
    env_id: str,
    seed: int = 0,
    *,
    episodes: int = 3,
    steps: int = 6,
    kwargs: Mapping[str, Any] | None = None,
    env: gym.Env[Any, Any] | None = None,
) -> str:
    """SHA-256 of a scripted rollout: observations, rewards, flags and infos.

    The first episode is reset with ``seed``; later ones without a seed (they
    must continue the seeded stream). Actions come from the action space
    (seeded with ``seed``) and the environment's ``expert_action()`` if it has
    one.

    Raises:
        ConformanceError: A reward is not a finite real number (NaN hashes
            like any other value, so a digest would not reveal it).
    """
    env = env if env is not None else _make(env_id, kwargs)
    env.action_space.seed(seed)
    hasher = hashlib.sha256()
    for episode in range(episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        _fold(hasher, obs)
        _fold(hasher, _info_view(info))
        for step in range(steps):
            obs, reward, terminated, truncated, info = env.step(_scripted_actions(env, step))
            where = f"step {step + 1} of episode {episode + 1} (seed {seed})"
            value = _finite_reward(env_id, reward, where)
            _fold(hasher, (obs, value, terminated, truncated, _info_view(info)))
            if terminated or truncated:
                break
    env.close()
    return hasher.hexdigest()


def check_env_silent(env_id: str, kwargs: Mapping[str, Any] | None = None) -> None:
    """Gymnasium's ``check_env`` with render checks, without any warning.

    Runs on the unwrapped environment (as Gymnasium recommends) once without a
    render mode and once for every mode in ``metadata["render_modes"]``. A served
    environment has no render modes (its images are in its observations), so
    ``check_env`` skips its render checks there.
    """
    base = dict(kwargs or {})
    modes: list[str | None] = [None]
    probe = _make(env_id, base)
    modes += list(probe.unwrapped.metadata.get("render_modes", []))
    probe.close()
    for mode in modes:
        env = _make(env_id, {**base, "render_mode": mode} if mode else base)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check_env(env.unwrapped, skip_render_check=is_address(env_id))
            except Exception as err:
                raise ConformanceError(
                    f"{env_id} (render_mode={mode!r}): check_env failed: {err!r}"
                ) from err
            finally:
                env.close()
        if caught:
            messages = "; ".join(str(w.message) for w in caught)
            raise ConformanceError(f"{env_id} (render_mode={mode!r}): check_env warned: {messages}")


# ---------------------------------------------------------------- every step of a rollout


def _short(value: Any, limit: int = 48) -> str:
    """``ascii(value)`` cut to ``limit`` characters (with the length of long strings)."""
    text = ascii(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[: limit - 3]}...{size}"


def _reward_problem(reward: Any) -> str | None:
    """Why ``reward`` is not a finite real number (``None`` if it is one)."""
    real = (int, float, np.integer, np.floating)
    if isinstance(reward, (bool, np.bool_)) or not isinstance(reward, real):
        return f"the reward {_short(reward)} is a {type(reward).__name__}, not a real number"
    try:
        value = float(reward)
    except OverflowError:
        return f"the reward {_short(reward)} does not fit in a float"
    if not math.isfinite(value):
        return f"the reward is {value}: rewards must be finite"
    return None


def _finite_reward(env_id: str, reward: Any, where: str) -> float:
    """``float(reward)``, or a :class:`ConformanceError` naming ``where`` and the problem."""
    problem = _reward_problem(reward)
    if problem is not None:
        raise ConformanceError(f"{env_id}: {where}: {problem}")
    return float(reward)


def _outside(space: gym.Space[Any], value: Any, path: str = "the observation") -> str | None:
    """Why ``value`` is not in ``space`` (``None`` if ``space.contains(value)``)."""
    try:
        if space.contains(value):
            return None
    except Exception as err:  # a contains() that chokes on the value is a failure too
        return f"observation_space.contains({path}) raised {err!r}"
    if isinstance(space, spaces.Dict) and isinstance(value, Mapping):
        missing = sorted(map(str, space.spaces.keys() - value.keys()))
        extra = sorted(map(str, value.keys() - space.spaces.keys()))
        if missing or extra:
            return f"{path} has keys missing {missing} and unexpected {extra}"
        for key, sub in space.spaces.items():
            reason = _outside(sub, value[key], f"{path}[{key!r}]")
            if reason is not None:
                return reason
    if isinstance(space, spaces.Text) and isinstance(value, str):
        if not space.min_length <= len(value) <= space.max_length:
            return (
                f"{path} has {len(value)} characters; the space allows "
                f"{space.min_length} to {space.max_length}"
            )
        bad = sorted(set(value) - set(space.character_set))
        if bad:
            shown = ", ".join(f"U+{ord(ch):04X}" for ch in bad[:5])
            return f"{path} has characters outside the space's charset: {shown}"
    if isinstance(space, spaces.Box) and isinstance(value, np.ndarray):
        if value.shape != space.shape:
            return f"{path} has shape {value.shape}; the space's is {space.shape}"
        if not np.can_cast(value.dtype, space.dtype):
            return f"{path} has dtype {value.dtype}; the space's is {space.dtype}"
        if value.dtype.kind in "fc" and bool(np.isnan(value).any()):
            return f"{path} holds NaN"
        outside = int(np.count_nonzero((value < space.low) | (value > space.high)))
        return f"{path} has {outside} values outside the space's bounds"
    return f"{path} {_short(value)} ({type(value).__name__}) is not in {_short(space, 120)}"


def _mutable_parts(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every mutable object in an observation (arrays, dicts, lists), with its path."""
    if isinstance(value, np.ndarray):
        yield path, value
        if value.dtype == object:
            for index, item in enumerate(value.flat):
                yield from _mutable_parts(item, f"{path}.flat[{index}]")
    elif isinstance(value, Mapping):
        yield path, value
        for key, item in value.items():
            yield from _mutable_parts(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        if isinstance(value, list):
            yield path, value
        for index, item in enumerate(value):
            yield from _mutable_parts(item, f"{path}[{index}]")
    elif isinstance(value, (bytearray, set, memoryview)):
        yield path, value


def _share(a: Any, b: Any) -> bool:
    """Whether two mutable parts are one object or (arrays) overlap in memory."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if not np.may_share_memory(a, b):
            return False
        return bool(np.shares_memory(a, b))
    return False


#: How many earlier observations a new one is compared with (per seed).
_KEEP = 64


@dataclass
class _Returned:
    """An observation handed to the user: where, a digest of it and its mutable parts."""

    where: str
    observation: Any
    digest: bytes
    parts: list[tuple[str, Any]]


def _digest(parts: list[tuple[str, Any]]) -> bytes:
    hasher = hashlib.sha256()
    for _, part in parts:
        _fold(hasher, part)
    return hasher.digest()


class _Buffers:
    """Tracks returned observations: none may share memory or change afterwards.

    Keeps the last :data:`_KEEP` observations with mutable parts (a bound on memory
    for long episodes with large images).
    """

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.returned: list[_Returned] = []

    def add(self, where: str, observation: Any) -> None:
        parts = list(_mutable_parts(observation, "the observation"))
        for path, part in parts:
            for earlier in self.returned:
                for earlier_path, earlier_part in earlier.parts:
                    if _share(part, earlier_part):
                        how = (
                            "shares memory with"
                            if isinstance(part, np.ndarray)
                            else "is the same object as"
                        )
                        raise ConformanceError(
                            f"{self.env_id}: {where}: {path} {how} {earlier_path} returned "
                            f"at {earlier.where} (return a fresh object each time, e.g. "
                            "frame.copy(): users keep observations)"
                        )
        if self.returned:
            self.unchanged(f"by {where}", self.returned[-1:])
        if parts:
            self.returned.append(_Returned(where, observation, _digest(parts), parts))
            del self.returned[:-_KEEP]

    def unchanged(self, when: str, returned: list[_Returned] | None = None) -> None:
        for item in self.returned if returned is None else returned:
            if _digest(item.parts) != item.digest:
                raise ConformanceError(
                    f"{self.env_id}: the observation returned at {item.where} was changed "
                    f"{when} (an environment must not modify observations it returned)"
                )


def _hostile_texts(space: spaces.Text) -> list[str]:
    """Model output an environment with a ``Text`` action space must survive."""
    letters = [ch for ch in sorted(space.character_set) if ch.isalnum()] or ["x"]
    return [
        "",
        " \n\t\r ",
        "\x00\x1b[2J\x07\u202e\u2066 control and bidi characters \u202c",
        "\ud800 lone surrogates \udfff, emoji \U0001f600, CJK \u53f8, e\u0301, \ufeff",
        "NaN inf -0 1e999 -1e999 " + "9" * 5000,  # int() refuses more than 4300 digits
        "[" * 50_000,  # json.loads: RecursionError
        '{"a": ' * 20_000 + "1" + "}" * 20_000,
        letters[0] * min(max(space.max_length, 1), 65_536),  # as long as the space allows
    ]


@dataclass
class _Player:
    """Chooses the actions of :func:`check_rollout`."""

    env: gym.Env[Any, Any]
    hostile: list[str]
    count: int = 0

    def garbage(self) -> Any:
        """Every hostile string once, then samples of the action space and hostile strings."""
        self.count += 1
        if self.count <= len(self.hostile):
            return self.hostile[self.count - 1]
        if self.hostile and self.count % 2:
            return self.hostile[(self.count // 2) % len(self.hostile)]
        return self.env.action_space.sample()

    def garbage_at(self, step: int) -> Any:
        """:meth:`garbage`, whatever the step."""
        return self.garbage()

    def mixed(self, step: int) -> Any:
        """Mostly the expert's answer (to reach the end), garbage every third step."""
        expert = getattr(self.env.unwrapped, "expert_action", None)
        if step % 3 == 0 or not callable(expert):
            return self.garbage()
        return expert()


def _play_episode(
    env_id: str,
    env: gym.Env[Any, Any],
    buffers: _Buffers,
    choose: Callable[[int], Any],
    seed: int | None,
    label: str,
    max_steps: int,
) -> int:
    """Reset and play until the episode ends (or ``max_steps``); check every return."""
    where = f"reset of {label}"
    returned: Any
    try:
        returned = env.reset(seed=seed)
    except Exception as err:
        raise ConformanceError(f"{env_id}: {where}: reset raised {err!r}") from err
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise ConformanceError(f"{env_id}: {where}: reset must return (observation, info)")
    obs, info = returned
    _check_returned(env_id, env, buffers, where, obs, info)
    for step in range(1, max_steps + 1):
        where = f"step {step} of {label}"
        try:
            action = choose(step - 1)
        except Exception as err:
            raise ConformanceError(
                f"{env_id}: {where}: choosing the action (expert_action() or "
                f"action_space.sample()) raised {err!r}"
            ) from err
        try:
            returned = env.step(action)
        except Exception as err:
            raise ConformanceError(
                f"{env_id}: {where}: step({_short(action)}) raised {err!r}"
            ) from err
        where = f"{where}, after action {_short(action)}"
        if not (isinstance(returned, tuple) and len(returned) == 5):
            raise ConformanceError(
                f"{env_id}: {where}: step must return "
                "(observation, reward, terminated, truncated, info)"
            )
        obs, reward, terminated, truncated, info = returned
        _check_returned(env_id, env, buffers, where, obs, info)
        _finite_reward(env_id, reward, where)
        for name, flag in (("terminated", terminated), ("truncated", truncated)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ConformanceError(
                    f"{env_id}: {where}: {name} is {_short(flag)} "
                    f"({type(flag).__name__}), not a bool"
                )
        if terminated or truncated:
            return step
    return max_steps


def _check_returned(
    env_id: str, env: gym.Env[Any, Any], buffers: _Buffers, where: str, obs: Any, info: Any
) -> None:
    reason = _outside(env.observation_space, obs)
    if reason is not None:
        raise ConformanceError(f"{env_id}: {where}: the observation leaves its space: {reason}")
    if not isinstance(info, dict):
        raise ConformanceError(f"{env_id}: {where}: info is a {type(info).__name__}, not a dict")
    buffers.add(where, obs)


def check_rollout(
    env_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    seeds: tuple[int, ...] = (0, 1),
    max_steps: int = 500,
) -> dict[str, int]:
    """Whole episodes, every step checked: space, reward, flags, info and buffers.

    For every seed, one environment plays two episodes: ``reset(seed=seed)``
    then mostly the expert's answers (``expert_action()``, if the environment
    has one) with a random or hostile answer every third step, so that the
    episode runs to its end; then ``reset()`` and random and hostile answers
    only, until the episode ends. An episode stops after ``max_steps`` steps
    at the latest. Hostile answers (for ``Text`` action spaces) are strings a
    model may produce: empty, control and bidirectional-override characters,
    lone surrogates, 5000-digit numbers, JSON nested 50,000 deep and a string
    as long as the action space allows; they may lie outside the action space
    (environments for language models must accept any ``str``).

    At every reset and step: ``observation_space.contains(obs)``; the reward is
    a finite ``int`` or ``float`` (NumPy scalars included, ``bool`` not);
    ``terminated`` and ``truncated`` are bools; ``info`` is a dict; no
    mutable part of the observation (a NumPy array, also inside a dict, a dict
    or a list) shares memory with one returned before by this environment (the
    last 64 of each seed's episodes), and the observations returned before are
    unchanged (checked after every step for the previous one, and at the end of
    each seed for those 64).

    Returns:
        ``{"episodes": ..., "steps": ...}``: how much was played.

    Raises:
        ConformanceError: Naming the environment, the step, the seed, the
            action and the cause.
    """
    env = _make(env_id, kwargs)
    hostile = _hostile_texts(env.action_space) if isinstance(env.action_space, spaces.Text) else []
    episodes = steps = 0
    try:
        with warnings.catch_warnings():
            # Gymnasium's passive checker warns about some of these; this check says more.
            warnings.simplefilter("ignore")
            player = _Player(env, hostile)
            for seed in seeds:
                env.action_space.seed(seed)
                buffers = _Buffers(env_id)
                plays: list[tuple[Callable[[int], Any], int | None, str]] = [
                    (player.mixed, seed, f"episode 1 (seed {seed}, mostly expert answers)"),
                    (
                        player.garbage_at,
                        None,
                        f"episode 2 (reset() after seed {seed}, random and hostile answers)",
                    ),
                ]
                for choose, reset_seed, label in plays:
                    steps += _play_episode(
                        env_id, env, buffers, choose, reset_seed, label, max_steps
                    )
                    episodes += 1
                buffers.unchanged(f"by the end of seed {seed}'s episodes")
    finally:
        env.close()
    return {"episodes": episodes, "steps": steps}


def _registered_name(env_id: str) -> str:
    """The registry key of an id (without a ``module:`` prefix)."""
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def _child_payload(env_id: str, seed: int, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a fresh process needs to rebuild ``env_id``: imports, path and the spec."""
    imports = [env_id.split(":", 1)[0]] if ":" in env_id and not is_address(env_id) else []
    spec_json = None
    spec = gym.registry.get(_registered_name(env_id))
    if spec is not None:
        try:
            spec_json = spec.to_json()
        except Exception:  # a callable entry point or non-JSON kwargs: imports must do
            spec_json = None
    return {
        "id": env_id,
        "seed": seed,
        "kwargs": dict(kwargs or {}),
        "imports": imports,
        "path": [p for p in sys.path if isinstance(p, str)],
        "spec": spec_json,
    }


def _child_digest(payload: Mapping[str, Any]) -> str:
    """Runs in the fresh process: import the families and the id's module, then roll out."""
    from oodgym.families import load_families

    load_families()
    for module in payload["imports"]:
        importlib.import_module(module)
    name = _registered_name(payload["id"])
    if name not in gym.registry and payload.get("spec"):
        # Registered in the parent by code this process does not run: rebuild the spec.
        spec = EnvSpec.from_json(payload["spec"])
        gym.registry[spec.id] = spec
    return rollout_digest(payload["id"], payload["seed"], kwargs=payload["kwargs"])


_CHILD_CODE = (
    "import json, sys\n"
    "payload = json.loads(sys.argv[1])\n"
    "sys.path.extend(p for p in payload['path'] if p not in sys.path)\n"
    "from oodgym.testing import _child_digest\n"
    "print(_child_digest(payload))\n"
)


def _digest_in_subprocess(
    env_id: str, seed: int, kwargs: Mapping[str, Any] | None, hash_seed: str
) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    if is_address(env_id) and kwargs and "token" in kwargs:
        # a served environment's token goes through the environment, never the command line
        kwargs = dict(kwargs)
        env[TOKEN_ENV] = str(kwargs.pop("token"))
    payload = json.dumps(_child_payload(env_id, seed, kwargs))
    result = subprocess.run(
        [sys.executable, "-c", _CHILD_CODE, payload],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise ConformanceError(
            f"{env_id}: rollout in a subprocess failed (if the id is registered by your own "
            "module, name it: 'my_module:Env-v0'):\n"
            f"{result.stderr.strip()[-2000:]}"
        )
    return result.stdout.strip().splitlines()[-1]


def check_determinism(
    env_id: str,
    seed: int = 12345,
    kwargs: Mapping[str, Any] | None = None,
    *,
    processes: bool = True,
) -> None:
    """Same seed, same rollout: twice in this process and in two fresh processes."""
    first = rollout_digest(env_id, seed, kwargs=kwargs)
    second = rollout_digest(env_id, seed, kwargs=kwargs)
    if first != second:
        raise ConformanceError(f"{env_id}: two rollouts with seed {seed} differ in one process")
    other = rollout_digest(env_id, seed + 1, kwargs=kwargs)
    if other == first:
        raise ConformanceError(f"{env_id}: seeds {seed} and {seed + 1} give the same rollout")
    if processes:
        digests = {
            _digest_in_subprocess(env_id, seed, kwargs, hash_seed) for hash_seed in ("1", "2")
        }
        if digests != {first}:
            raise ConformanceError(
                f"{env_id}: rollouts with seed {seed} differ across processes "
                "(PYTHONHASHSEED 1 vs 2, or vs this process)"
            )


_SPACE_CLASSES = frozenset({("oodgym.textspace", "CharsetText"), ("oodgym.textspace", "ImageBox")})


def check_pickle(env_id: str, kwargs: Mapping[str, Any] | None = None, seed: int = 7) -> None:
    """A pickled mid-episode environment continues exactly like the original.

    Not applicable to a served environment (its state lives on the server): returns at once.
    """
    if is_address(env_id):
        return
    env = _make(env_id, kwargs)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    env.step(env.action_space.sample())
    # The round trip admits only globals of already-imported modules of the env's own
    # package, its families, Gymnasium and NumPy (oodgym.safepickle): never os.system & co.
    # Of oodgym itself only its space classes, which ood-gym environments' spaces are.
    trusted = {type(env.unwrapped).__module__.partition(".")[0], "gymnasium", "numpy"}
    trusted.update(_family_packages())
    packages = safepickle.allow_packages(trusted)

    def allow(module: str, name: str) -> bool:
        return packages(module, name) or (module, name) in _SPACE_CLASSES

    try:
        clone = safepickle.loads(pickle.dumps(env), allow=allow)
    except Exception as err:
        raise ConformanceError(f"{env_id}: does not pickle: {err!r}") from err
    action = env.action_space.sample()
    a = env.step(action)
    b = clone.step(action)
    if not _same(a, b):
        raise ConformanceError(f"{env_id}: the unpickled copy stepped differently")
    if not _same(env.reset(), clone.reset()):
        raise ConformanceError(f"{env_id}: the unpickled copy reset differently")


def _family_packages() -> set[str]:
    from oodgym.families import load_families

    return {module.__name__.partition(".")[0] for module in load_families().values()}


def check_spec_json(env_id: str, kwargs: Mapping[str, Any] | None = None, seed: int = 3) -> None:
    """``EnvSpec.to_json`` round-trips; the rebuilt environment behaves the same.

    Not applicable to a served environment (the server owns the spec): returns at once.
    """
    if is_address(env_id):
        return
    env = _make(env_id, kwargs)
    spec = env.spec
    if spec is None:
        raise ConformanceError(f"{env_id}: gym.make returned an environment without a spec")
    try:
        text = spec.to_json()
        rebuilt = EnvSpec.from_json(text)
    except Exception as err:
        raise ConformanceError(f"{env_id}: EnvSpec.to_json failed: {err!r}") from err
    clone = gym.make(rebuilt)
    if rollout_digest(env_id, seed, env=env) != rollout_digest(env_id, seed, env=clone):
        raise ConformanceError(f"{env_id}: the environment rebuilt from its JSON spec differs")


def check_vector(
    env_id: str, kwargs: Mapping[str, Any] | None = None, *, num_envs: int = 2, seed: int = 5
) -> None:
    """``make_vec`` in ``sync`` and ``async`` mode matches single environments.

    For a served environment, ``SyncVectorEnv`` and ``AsyncVectorEnv`` of sessions.
    """
    singles = [_make(env_id, kwargs) for _ in range(num_envs)]
    try:
        expected = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
        for env in singles:
            env.action_space.seed(seed)
        actions = tuple(env.action_space.sample() for env in singles)
        expected_steps = [env.step(a) for env, a in zip(singles, actions, strict=True)]
    finally:
        for env in singles:
            env.close()
    for mode in ("sync", "async"):
        vector_kwargs = {"shared_memory": False} if mode == "async" else {}
        try:
            envs = _make_vec(env_id, num_envs, mode, vector_kwargs, kwargs)
        except Exception as err:
            raise ConformanceError(f"{env_id}: make_vec({mode!r}) failed: {err!r}") from err
        try:
            obs, _ = envs.reset(seed=[seed + i for i in range(num_envs)])  # type: ignore[arg-type]
            if not all(_same(_item(obs, i), expected[i]) for i in range(num_envs)):
                raise ConformanceError(
                    f"{env_id}: make_vec({mode!r}) reset differs from single envs"
                )
            obs, rewards, *_ = envs.step(actions)
            for i, (s_obs, s_reward, *_rest) in enumerate(expected_steps):
                reward = _finite_reward(env_id, s_reward, f"step 1 (seed {seed + i})")
                if not _same(_item(obs, i), s_obs) or float(rewards[i]) != reward:
                    raise ConformanceError(
                        f"{env_id}: make_vec({mode!r}) step differs from single envs"
                    )
        finally:
            envs.close()


def _make_vec(
    env_id: str,
    num_envs: int,
    mode: str,
    vector_kwargs: Mapping[str, Any],
    kwargs: Mapping[str, Any] | None,
) -> gym.vector.VectorEnv[Any, Any, Any]:
    if not is_address(env_id):
        return gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode=mode,
            vector_kwargs=dict(vector_kwargs),
            **dict(kwargs or {}),
        )
    import functools

    from oodgym.serve.client import ServedEnv

    factories = [functools.partial(ServedEnv, env_id, **dict(kwargs or {}))] * num_envs
    if mode == "sync":
        return gym.vector.SyncVectorEnv(factories)
    return gym.vector.AsyncVectorEnv(factories, **dict(vector_kwargs))


def _item(batch: Any, index: int) -> Any:
    if isinstance(batch, Mapping):
        return {k: _item(v, index) for k, v in batch.items()}
    return batch[index]


def _same(a: Any, b: Any) -> bool:
    ha, hb = hashlib.sha256(), hashlib.sha256()
    _fold(ha, a)
    _fold(hb, b)
    return ha.digest() == hb.digest()


def _accepts_keyword(cls: type, name: str) -> bool:
    """Whether ``cls(...)`` accepts the keyword argument ``name``."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _without_arrays(value: Any) -> Any:
    """``value`` with every array leaf dropped (images may differ between visual variants)."""
    if isinstance(value, np.ndarray):
        return None
    if isinstance(value, Mapping):
        return {k: _without_arrays(v) for k, v in value.items() if not isinstance(v, np.ndarray)}
    if isinstance(value, (list, tuple)):
        return [_without_arrays(v) for v in value]
    return value


def _compare_variant(
    env_id: str,
    variant: Mapping[str, Any],
    seed: int,
    plain: gym.Env[Any, Any],
    shifted: gym.Env[Any, Any],
    max_steps: int,
) -> None:
    where = f"{env_id}: variant {dict(variant)} at seed {seed}"
    obs_a, info_a = plain.reset(seed=seed)
    obs_b, info_b = shifted.reset(seed=seed)
    if not _same(_info_view(info_a), _info_view(info_b)):
        raise ConformanceError(f"{where} changes the reset info (the deal)")
    if not _same(_without_arrays(obs_a), _without_arrays(obs_b)):
        raise ConformanceError(f"{where} changes the reset observation text")
    plain.action_space.seed(seed)
    expert = getattr(plain.unwrapped, "expert_action", None)
    for step in range(max_steps):
        action = expert() if callable(expert) else plain.action_space.sample()
        obs_a, reward_a, term_a, trunc_a, info_a = plain.step(action)
        obs_b, reward_b, term_b, trunc_b, info_b = shifted.step(action)
        value_a = _finite_reward(env_id, reward_a, f"step {step + 1} (seed {seed})")
        value_b = _finite_reward(
            env_id, reward_b, f"step {step + 1} (seed {seed}) with variant {dict(variant)}"
        )
        if value_a != value_b:
            raise ConformanceError(
                f"{where} changes the reward of the expert's answer at step {step} "
                f"({value_a} without it, {value_b} with it)"
            )
        if (term_a, trunc_a) != (term_b, trunc_b):
            raise ConformanceError(f"{where} changes the episode end at step {step}")
        if not _same(_info_view(info_a), _info_view(info_b)):
            raise ConformanceError(f"{where} changes the info at step {step}")
        if not _same(_without_arrays(obs_a), _without_arrays(obs_b)):
            raise ConformanceError(f"{where} changes the observation text at step {step}")
        if term_a or trunc_a:
            break


def check_visual_variants(
    env_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    seeds: tuple[int, ...] = (0, 1, 2),
    max_steps: int = 50,
) -> list[dict[str, Any]]:
    """Visual variants change the images only: same deal, text, info and rewards.

    Applies when the environment's constructor accepts a ``visuals`` keyword
    and its class defines ``conformance_variants() -> list[dict]`` (plain-data
    constructor kwargs, e.g. ``{"visuals": ["rotate"]}``). For every variant
    and seed, the environment made with the variant's kwargs (on top of
    ``kwargs``) and the one made without them must reset to the same info and
    the same observation apart from its images, and give the same rewards,
    episode ends, infos and texts when stepped with the expert's answers
    (``expert_action()``, else seeded samples of the action space).

    Returns:
        The variants checked (empty when the check does not apply).
    """
    base = dict(kwargs or {})
    if is_address(env_id):  # the server chose the kwargs
        return []
    probe = _make(env_id, base)
    cls = type(probe.unwrapped)
    probe.close()
    announce = getattr(cls, "conformance_variants", None)
    if not callable(announce) or not _accepts_keyword(cls, "visuals"):
        return []
    variants = [dict(v) for v in announce()]
    for variant in variants:
        try:
            shifted = _make(env_id, {**base, **variant})
        except Exception as err:
            raise ConformanceError(f"{env_id}: variant {variant} cannot be made: {err!r}") from err
        plain = _make(env_id, base)
        try:
            for seed in seeds:
                _compare_variant(env_id, variant, seed, plain, shifted, max_steps)
        finally:
            plain.close()
            shifted.close()
    return variants


CHECKS: dict[str, Callable[..., Any]] = {
    "check_env": check_env_silent,
    "rollout": check_rollout,
    "determinism": check_determinism,
    "pickle": check_pickle,
    "spec_json": check_spec_json,
    "vector": check_vector,
    "visual_variants": check_visual_variants,
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one conformance check on one environment id."""

    #: Check name (a key of :data:`CHECKS`, or ``"make"`` if the id cannot be made).
    name: str
    passed: bool
    #: Why it failed, or what was checked.
    message: str
    seconds: float


def _unexpected(err: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(err.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"unexpected {type(err).__name__}: {err}{where}"


#: Checks that do not apply to a served environment, and why.
_NOT_SERVED = {
    "pickle": "a served environment's state lives on the server",
    "spec_json": "the server owns the spec (GET /oodgym/spec describes it)",
    "visual_variants": "the server fixed the environment's kwargs",
}


def _run_one(name: str, env_id: str, kwargs: Mapping[str, Any] | None, processes: bool) -> str:
    """Run one check; return its success message (raises on failure)."""
    if name == "determinism":
        check_determinism(env_id, kwargs=kwargs, processes=processes)
        where = "in this process and in 2 fresh processes" if processes else "in this process"
        skipped = "" if processes else " (cross-process check skipped)"
        return f"same seed, same rollout {where}{skipped}"
    if name == "rollout":
        played = check_rollout(env_id, kwargs)
        return (
            f"{played['episodes']} episodes, {played['steps']} steps with expert, random and "
            "hostile answers: observations in space, finite rewards, no shared buffers"
        )
    if is_address(env_id) and name in _NOT_SERVED:
        return f"skipped: {_NOT_SERVED[name]}"
    if name == "visual_variants":
        variants = check_visual_variants(env_id, kwargs)
        if not variants:
            return "not applicable (no visuals keyword or conformance_variants())"
        return f"{len(variants)} variants leave the deal, text, info and rewards alone"
    CHECKS[name](env_id, kwargs)
    return {
        "check_env": "gymnasium check_env passes without warnings in every render mode",
        "pickle": "a pickled mid-episode copy continues identically",
        "spec_json": "EnvSpec.to_json round-trips",
        "vector": "make_vec sync and async match single environments",
    }.get(name, "ok")


def run_checks(
    env_id: str, kwargs: Mapping[str, Any] | None = None, *, processes: bool = True
) -> list[CheckResult]:
    """Run every check of :data:`CHECKS` on ``env_id``; never raises for a failing check.

    Args:
        env_id: A registered id, ``"module:id"`` (the module is imported), or the address
            of a served environment (``"ws://127.0.0.1:8000"``).
        kwargs: Keyword arguments for ``gym.make`` (for an address: ``ServedEnv``'s
            options, e.g. ``token``).
        processes: Also compare rollouts in fresh processes (the slow part of
            the determinism check).

    Returns:
        One result per check, in :data:`CHECKS` order; a single ``"make"``
        result if the environment cannot be made at all.
    """
    start = time.perf_counter()
    try:
        _make(env_id, kwargs).close()
    except Exception as err:
        return [
            CheckResult(
                "make",
                False,
                f"{env_id}: {'connecting' if is_address(env_id) else 'gym.make'} failed: {err!r}",
                time.perf_counter() - start,
            )
        ]
    results = []
    for name in CHECKS:
        start = time.perf_counter()
        try:
            message, passed = _run_one(name, env_id, kwargs, processes), True
        except ConformanceError as err:
            message, passed = str(err), False
        except Exception as err:
            message, passed = _unexpected(err), False
        results.append(CheckResult(name, passed, message, time.perf_counter() - start))
    return results


def assert_conforms(
    env_id: str, kwargs: Mapping[str, Any] | None = None, *, processes: bool = True
) -> None:
    """Run every check; raise one :class:`ConformanceError` listing all failures."""
    failures = [
        f"[{r.name}] {r.message}"
        for r in run_checks(env_id, kwargs, processes=processes)
        if not r.passed
    ]
    if failures:
        raise ConformanceError("\n".join(failures))
