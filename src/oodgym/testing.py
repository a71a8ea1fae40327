"""Conformance kit: the checks every ood-gym environment passes, for your own CI too.

Run them on any registered id (ours or a variant from your package)::

    from oodgym import testing
    testing.assert_conforms("cardenvs/GeneralPoints-v0")

or one by one (each raises :class:`ConformanceError` with a readable reason):

* :func:`check_env_silent`: Gymnasium's ``check_env`` (with render checks)
  passes without any warning.
* :func:`check_determinism`: the same seed gives the same rollout within a
  process and in two fresh processes with different ``PYTHONHASHSEED``.
* :func:`check_pickle`: a pickled mid-episode environment continues exactly
  like the original.
* :func:`check_spec_json`: ``EnvSpec.to_json`` round-trips and the rebuilt
  environment behaves the same.
* :func:`check_vector`: ``gym.make_vec`` runs in ``sync`` and ``async`` mode
  and matches single environments.

Note:
    Gymnasium 1.x's ``AsyncVectorEnv`` reads non-``Box`` observations from
    shared memory only once, at construction (Gymnasium issue #1164), so text
    observations come back stale. Use
    ``gym.make_vec(id, n, vectorization_mode="async", vector_kwargs={"shared_memory": False})``;
    :func:`check_vector` does the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env

__all__ = [
    "ConformanceError",
    "assert_conforms",
    "check_determinism",
    "check_env_silent",
    "check_pickle",
    "check_spec_json",
    "check_vector",
    "rollout_digest",
]

_TEXT_KEYS = ("verdict", "feedback", "is_success", "attempts_left")


class ConformanceError(AssertionError):
    """An environment broke a conformance property."""


def _make(env_id: str, kwargs: Mapping[str, Any] | None = None) -> gym.Env[Any, Any]:
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
            _fold(hasher, (obs, float(reward), terminated, truncated, _info_view(info)))
            if terminated or truncated:
                break
    env.close()
    return hasher.hexdigest()


def check_env_silent(env_id: str, kwargs: Mapping[str, Any] | None = None) -> None:
    """Gymnasium's ``check_env`` with render checks, without any warning.

    Runs on the unwrapped environment (as Gymnasium recommends) once without a
    render mode and once for every mode in ``metadata["render_modes"]``.
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
                check_env(env.unwrapped, skip_render_check=False)
            except Exception as err:
                raise ConformanceError(
                    f"{env_id} (render_mode={mode!r}): check_env failed: {err!r}"
                ) from err
            finally:
                env.close()
        if caught:
            messages = "; ".join(str(w.message) for w in caught)
            raise ConformanceError(f"{env_id} (render_mode={mode!r}): check_env warned: {messages}")


def _digest_in_subprocess(
    env_id: str, seed: int, kwargs: Mapping[str, Any] | None, hash_seed: str
) -> str:
    code = (
        "import json, sys\n"
        "from oodgym.families import load_families\n"
        "from oodgym.testing import rollout_digest\n"
        "load_families()\n"
        "args = json.loads(sys.argv[1])\n"
        "print(rollout_digest(args['id'], args['seed'], kwargs=args['kwargs']))\n"
    )
    payload = json.dumps({"id": env_id, "seed": seed, "kwargs": dict(kwargs or {})})
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "-c", code, payload],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise ConformanceError(
            f"{env_id}: rollout in a subprocess failed:\n{result.stderr.strip()[-2000:]}"
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


def check_pickle(env_id: str, kwargs: Mapping[str, Any] | None = None, seed: int = 7) -> None:
    """A pickled mid-episode environment continues exactly like the original."""
    env = _make(env_id, kwargs)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    env.step(env.action_space.sample())
    try:
        clone = pickle.loads(pickle.dumps(env))
    except Exception as err:
        raise ConformanceError(f"{env_id}: does not pickle: {err!r}") from err
    action = env.action_space.sample()
    a = env.step(action)
    b = clone.step(action)
    if not _same(a, b):
        raise ConformanceError(f"{env_id}: the unpickled copy stepped differently")
    if not _same(env.reset(), clone.reset()):
        raise ConformanceError(f"{env_id}: the unpickled copy reset differently")


def check_spec_json(env_id: str, kwargs: Mapping[str, Any] | None = None, seed: int = 3) -> None:
    """``EnvSpec.to_json`` round-trips; the rebuilt environment behaves the same."""
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
    """``make_vec`` in ``sync`` and ``async`` mode matches single environments."""
    singles = [_make(env_id, kwargs) for _ in range(num_envs)]
    expected = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    for env in singles:
        env.action_space.seed(seed)
    actions = tuple(env.action_space.sample() for env in singles)
    expected_steps = [env.step(a) for env, a in zip(singles, actions, strict=True)]
    for mode in ("sync", "async"):
        vector_kwargs = {"shared_memory": False} if mode == "async" else {}
        try:
            envs = gym.make_vec(
                env_id,
                num_envs=num_envs,
                vectorization_mode=mode,
                vector_kwargs=vector_kwargs,
                **dict(kwargs or {}),
            )
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
                if not _same(_item(obs, i), s_obs) or float(rewards[i]) != float(s_reward):
                    raise ConformanceError(
                        f"{env_id}: make_vec({mode!r}) step differs from single envs"
                    )
        finally:
            envs.close()


def _item(batch: Any, index: int) -> Any:
    if isinstance(batch, Mapping):
        return {k: _item(v, index) for k, v in batch.items()}
    return batch[index]


def _same(a: Any, b: Any) -> bool:
    ha, hb = hashlib.sha256(), hashlib.sha256()
    _fold(ha, a)
    _fold(hb, b)
    return ha.digest() == hb.digest()


CHECKS: dict[str, Callable[..., None]] = {
    "check_env": check_env_silent,
    "determinism": check_determinism,
    "pickle": check_pickle,
    "spec_json": check_spec_json,
    "vector": check_vector,
}


def assert_conforms(env_id: str, kwargs: Mapping[str, Any] | None = None) -> None:
    """Run every check; raise one :class:`ConformanceError` listing all failures."""
    failures = []
    for name, check in CHECKS.items():
        try:
            check(env_id, kwargs)
        except ConformanceError as err:
            failures.append(f"[{name}] {err}")
    if failures:
        raise ConformanceError("\n".join(failures))
