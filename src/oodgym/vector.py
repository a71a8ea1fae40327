"""A process-parallel vector environment that sends one message per worker, not per env.

Gymnasium's ``AsyncVectorEnv`` runs one process per sub-environment and
exchanges one pipe message with each of them per step. For environments whose
step costs tens of microseconds (every text id of this library), the messages
and the process switches cost more than the steps: with 8 environments on a
2-core machine, ``async`` ran 3x slower than ``sync``.

:class:`ChunkedVectorEnv` splits the sub-environments into ``workers``
contiguous chunks (one per core by default). Each worker process steps its
chunk in a loop and sends the chunk's results back in one message; the parent
assembles them exactly as ``gymnasium.vector.SyncVectorEnv`` does (the same
observations, rewards, flags and ``infos`` with their ``_key`` masks, in
environment order, for every autoreset mode), so switching between the two
changes nothing but speed. Observations travel through the pipes (text needs
no shared memory, and so avoids Gymnasium issue #1164).

Usage::

    from oodgym.vector import make_vec

    envs = make_vec("cardenvs/GeneralPoints-v0", num_envs=8)  # workers=os.cpu_count()
    obs, infos = envs.reset(seed=0)
    obs, rewards, terminated, truncated, infos = envs.step(tuple(answers))
    envs.close()

A failing sub-environment raises in the parent (``RuntimeError`` naming the
environment, the command and the worker's exception); a worker that dies makes
every later call raise instead of hanging.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from copy import deepcopy
from functools import partial
from typing import Any, NoReturn, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import (
    CloudpickleWrapper,
    batch_space,
    concatenate,
    create_empty_array,
    iterate,
)

__all__ = ["ChunkedVectorEnv", "make_vec"]

_MODES = {mode.value: mode for mode in AutoresetMode}


def _chunks(total: int, parts: int) -> list[range]:
    """``total`` indices split into ``parts`` contiguous ranges of near-equal size."""
    base, extra = divmod(total, parts)
    out, start = [], 0
    for k in range(parts):
        size = base + (1 if k < extra else 0)
        out.append(range(start, start + size))
        start += size
    return out


def _worker(
    pipe: Any, parent_pipe: Any, env_fns: CloudpickleWrapper, offset: int, mode: str
) -> None:
    """Serve commands for one chunk of environments until ``close`` (runs in a child)."""
    parent_pipe.close()
    makers: list[Callable[[], gym.Env[Any, Any]]] = env_fns.fn  # type: ignore[assignment]
    envs: list[gym.Env[Any, Any]] = []
    try:
        for make in makers:
            envs.append(make())
    except Exception as err:  # reported to the parent, whose constructor raises
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        pipe.send(("error", (offset + len(envs), "construction", detail)))
        for env in envs:
            env.close()
        return
    pipe.send(("ok", None))
    autoreset = [False] * len(envs)
    autoreset_mode = _MODES[mode]
    current = -1
    try:
        while True:
            try:
                command, data = pipe.recv()
            except EOFError:  # the parent is gone
                return
            try:
                if command == "reset":
                    seeds, options, mask = data
                    results: list[Any] = []
                    for j, env in enumerate(envs):
                        current = j
                        if mask is None or mask[j]:
                            autoreset[j] = False
                            obs, info = env.reset(seed=seeds[j], options=options)
                            results.append((obs, info))
                        else:
                            results.append(None)
                    pipe.send(("ok", results))
                elif command == "step":
                    results = []
                    for j, (env, action) in enumerate(zip(envs, data, strict=True)):
                        current = j
                        results.append(_step_one(env, action, autoreset, j, autoreset_mode))
                    pipe.send(("ok", results))
                elif command == "call":
                    name, args, kwargs = data
                    values = []
                    for j, env in enumerate(envs):
                        current = j
                        attr = env.get_wrapper_attr(name)
                        values.append(attr(*args, **kwargs) if callable(attr) else attr)
                    pipe.send(("ok", values))
                elif command == "set_attr":
                    name, values = data
                    for j, (env, value) in enumerate(zip(envs, values, strict=True)):
                        current = j
                        env.set_wrapper_attr(name, value)
                    pipe.send(("ok", None))
                elif command == "close":
                    pipe.send(("ok", None))
                    return
                else:  # pragma: no cover - the parent sends only the commands above
                    raise ValueError(f"unknown command {command!r}")
            except Exception as err:  # reported to the parent, which raises
                detail = "".join(traceback.format_exception_only(type(err), err)).strip()
                pipe.send(("error", (offset + current, command, detail)))
    finally:
        for env in envs:
            try:
                env.close()
            except Exception:  # closing must not mask the real error
                pass


def add_info(
    vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int, num_envs: int
) -> dict[str, Any]:
    """``VectorEnv._add_info`` for ``num_envs`` environments, without its throwaway arrays.

    Gymnasium's version allocates a fresh mask for every key of every
    sub-environment's info even when the mask exists (``dict.get``'s default is
    evaluated first). Same keys, order, dtypes, values and masks (tests compare).
    """
    for key, value in env_info.items():
        if key == "final_obs":
            array = vector_infos.get(key)
            if array is None:
                array = np.full(num_envs, fill_value=None, dtype=object)
            array[env_num] = value
        elif isinstance(value, dict):
            array = add_info(vector_infos.get(key, {}), value, env_num, num_envs)
        else:
            array = vector_infos.get(key)
            if array is None:
                kind = type(value)
                if kind in (int, float, bool) or issubclass(kind, np.number):
                    array = np.zeros(num_envs, dtype=kind)
                elif isinstance(value, np.ndarray):
                    array = np.zeros((num_envs, *value.shape), dtype=value.dtype)
                else:
                    array = np.full(num_envs, fill_value=None, dtype=object)
            array[env_num] = value
        mask_key = f"_{key}"
        mask = vector_infos.get(mask_key)
        if mask is None:
            mask = np.zeros(num_envs, dtype=np.bool_)
        mask[env_num] = True
        vector_infos[key], vector_infos[mask_key] = array, mask
    return vector_infos


def _step_one(
    env: gym.Env[Any, Any], action: Any, autoreset: list[bool], j: int, mode: AutoresetMode
) -> tuple[Any, float, bool, bool, list[dict[str, Any]]]:
    """One sub-environment's step as ``SyncVectorEnv`` makes it: ``(obs, r, term, trunc, infos)``.

    ``infos`` lists the dicts the parent adds, in order (under ``SAME_STEP`` a
    finished episode's ``final_obs``/``final_info`` come before the reset's info).
    """
    reward: SupportsFloat
    if mode == AutoresetMode.NEXT_STEP:
        if autoreset[j]:
            obs, info = env.reset()
            reward, terminated, truncated = 0.0, False, False
        else:
            obs, reward, terminated, truncated, info = env.step(action)
        autoreset[j] = bool(terminated or truncated)
        return obs, float(reward), bool(terminated), bool(truncated), [info]
    if mode == AutoresetMode.DISABLED:
        # As SyncVectorEnv: stepping a finished sub-environment without a reset is an error.
        assert not autoreset[j], f"sub-environment {j} finished: reset it (reset_mask) first"
        obs, reward, terminated, truncated, info = env.step(action)
        autoreset[j] = bool(terminated or truncated)
        return obs, float(reward), bool(terminated), bool(truncated), [info]
    obs, reward, terminated, truncated, info = env.step(action)
    if terminated or truncated:
        final = {"final_obs": obs, "final_info": info}
        obs, info = env.reset()
        return obs, float(reward), bool(terminated), bool(truncated), [final, info]
    return obs, float(reward), bool(terminated), bool(truncated), [info]


class ChunkedVectorEnv(VectorEnv[Any, Any, Any]):
    """Sub-environments stepped in ``workers`` processes, a chunk each, one message per chunk.

    Args:
        env_fns: Functions that create the sub-environments (called in the workers;
            the first one is also called once in the parent to read the spaces).
        workers: Worker processes; ``None`` means ``os.cpu_count()``. At most
            ``len(env_fns)``; at least 1.
        copy: Return a deep copy of the observations (as ``SyncVectorEnv``'s ``copy``).
        context: A ``multiprocessing`` start method (``"fork"``, ``"spawn"``,
            ``"forkserver"``); ``None`` is the platform's default.
        autoreset_mode: ``AutoresetMode`` or its value (``"NextStep"``, ``"SameStep"``,
            ``"Disabled"``), with ``SyncVectorEnv``'s meaning.

    Raises:
        ValueError: no ``env_fns``, a bad ``workers``, ``context`` or ``autoreset_mode``.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env[Any, Any]]],
        workers: int | None = None,
        *,
        copy: bool = True,
        context: str | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    ) -> None:
        self._closed = True
        self._broken = False
        self._pending: str | None = None
        self._processes: list[Any] = []
        self._pipes: list[Any] = []
        env_fns = list(env_fns)
        if not env_fns:
            raise ValueError("env_fns must hold at least one function")
        if workers is None:
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1 or None; got {workers!r}")
        if isinstance(autoreset_mode, str):
            if autoreset_mode not in _MODES:
                raise ValueError(
                    f"autoreset_mode must be one of {list(_MODES)}; got {autoreset_mode!r}"
                )
            autoreset_mode = _MODES[autoreset_mode]
        if not isinstance(autoreset_mode, AutoresetMode):
            raise ValueError(
                f"autoreset_mode must be one of {list(_MODES)}; got {autoreset_mode!r}"
            )
        methods = multiprocessing.get_all_start_methods()
        if context is not None and context not in methods:
            raise ValueError(f"context must be None or one of {methods}; got {context!r}")

        self.num_envs = len(env_fns)
        self.copy = copy
        self.autoreset_mode = autoreset_mode
        probe = env_fns[0]()
        self.metadata = dict(probe.metadata)
        self.metadata["autoreset_mode"] = autoreset_mode
        self.render_mode = probe.render_mode
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        self.spec = probe.spec
        probe.close()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        self._ranges = _chunks(self.num_envs, min(workers, self.num_envs))
        ctx = multiprocessing.get_context(context)
        for k, indices in enumerate(self._ranges):
            parent, child = ctx.Pipe()
            # CloudpickleWrapper pickles any object with cloudpickle; here, the chunk's list.
            fns = CloudpickleWrapper([env_fns[i] for i in indices])  # type: ignore[arg-type]
            process = ctx.Process(  # type: ignore[attr-defined]
                target=_worker,
                name=f"ChunkedVectorEnv-worker-{k}",
                args=(child, parent, fns, indices.start, autoreset_mode.value),
                daemon=True,
            )
            process.start()
            child.close()
            self._pipes.append(parent)
            self._processes.append(process)
        self._closed = False
        self._broken = False
        self._receive("construction")  # every worker built its environments, or this raises
        self._env_obs: list[Any] = [None] * self.num_envs
        self._observations: Any = create_empty_array(
            self.single_observation_space, n=self.num_envs, fn=np.zeros
        )

    @property
    def np_random_seed(self) -> tuple[int, ...]:  # type: ignore[override]
        """The sub-environments' ``np_random_seed`` (as ``SyncVectorEnv``'s)."""
        return self.get_attr("np_random_seed")

    @property  # type: ignore[misc]
    def np_random(self) -> tuple[np.random.Generator, ...]:  # type: ignore[override]
        """Copies of the sub-environments' generators (they live in the workers)."""
        return self.get_attr("np_random")

    @property
    def workers(self) -> int:
        """The number of worker processes."""
        return len(self._ranges)

    # ------------------------------------------------------------------ messaging
    def _exchange(self, command: str, payloads: Sequence[Any]) -> list[Any]:
        """Send one message to every worker, then collect every answer (in worker order)."""
        self._send(command, payloads)
        return self._receive(command)

    def _send(self, command: str, payloads: Sequence[Any]) -> None:
        if self._closed:
            raise RuntimeError("the vector environment is closed")
        if self._pending is not None:
            raise RuntimeError(
                f"a {self._pending} is in progress: call {self._pending}_wait() first"
            )
        for k, (pipe, payload) in enumerate(zip(self._pipes, payloads, strict=True)):
            try:
                pipe.send((command, payload))
            except (BrokenPipeError, OSError) as err:
                self._fail(k, command, f"cannot send: {err!r}")

    def _receive(self, command: str) -> list[Any]:
        answers, errors = [], []
        try:
            for k, pipe in enumerate(self._pipes):
                try:
                    status, data = pipe.recv()
                except (EOFError, OSError) as err:
                    self._fail(k, command, f"the worker died ({err!r})")
                if status == "error":
                    errors.append(data)
                answers.append(data)
        except BaseException:
            # Interrupted (Ctrl-C, a broken message...) with answers still unread: the pipes
            # would answer every later call with the previous call's results. Stop here.
            if not self._closed:
                self.close(terminate=True)
            raise
        if errors:
            index, cmd, detail = errors[0]
            if command == "construction":
                self.close(terminate=True)
            elif command == "step":
                # Other chunks did step (and may have finished episodes the caller never saw).
                self._broken = True
            raise RuntimeError(f"sub-environment {index} failed in {cmd}: {detail}")
        return answers

    def _fail(self, k: int, command: str, why: str) -> NoReturn:
        self.close(terminate=True)
        raise RuntimeError(f"ChunkedVectorEnv worker {k} ({command}): {why}")

    def _add_info(
        self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int
    ) -> dict[str, Any]:
        return add_info(vector_infos, env_info, env_num, self.num_envs)

    # ------------------------------------------------------------------ API
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-environment (or ``options["reset_mask"]``'s), as ``SyncVectorEnv``."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(
                f"If seeds are passed as a list the length must match num_envs={self.num_envs} "
                f"but got length={len(seeds)}."
            )
        mask = None
        if options is not None and "reset_mask" in options:
            options = dict(options)
            mask = options.pop("reset_mask")
            if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
                raise TypeError("`options['reset_mask']` must be a numpy array of dtype bool")
            if mask.shape != (self.num_envs,):
                raise ValueError(
                    f"`options['reset_mask']` must have shape `({self.num_envs},)`, "
                    f"got {mask.shape}"
                )
            if not np.any(mask):
                raise ValueError("`options['reset_mask']` must hold at least one True value")
        payloads = [
            ([seeds[i] for i in r], options, None if mask is None else [bool(mask[i]) for i in r])
            for r in self._ranges
        ]
        self._broken = False  # the caller has seen the error and resets what it chose
        infos: dict[str, Any] = {}
        for r, results in zip(self._ranges, self._exchange("reset", payloads), strict=True):
            for i, result in zip(r, results, strict=True):
                if result is None:
                    continue
                self._env_obs[i], info = result
                infos = self._add_info(infos, info, i)
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        return (deepcopy(self._observations) if self.copy else self._observations), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-environment (autoresetting as ``SyncVectorEnv`` does)."""
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: Any) -> None:
        """Send the actions and return at once (the workers step while the caller works)."""
        if self._broken:
            raise RuntimeError(
                "a sub-environment failed in the last step (the others stepped): call reset()"
            )
        actions = list(iterate(self.action_space, actions))
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        self._send("step", [[actions[i] for i in r] for r in self._ranges])
        self._pending = "step"

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """The last ``step_async``'s results, batched as ``SyncVectorEnv.step`` returns them."""
        if self._pending != "step":
            raise RuntimeError("step_wait() without a step_async() before it")
        self._pending = None
        answers = self._receive("step")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict[str, Any] = {}
        for r, results in zip(self._ranges, answers, strict=True):
            for i, (obs, reward, terminated, truncated, env_infos) in zip(r, results, strict=True):
                self._env_obs[i] = obs
                rewards[i], terminations[i], truncations[i] = reward, terminated, truncated
                for info in env_infos:
                    infos = add_info(infos, info, i, self.num_envs)
        self._observations = concatenate(
            self.single_observation_space, self._env_obs, self._observations
        )
        observations = deepcopy(self._observations) if self.copy else self._observations
        return observations, rewards, terminations, truncations, infos

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call (or read, if not callable) ``name`` on every sub-environment."""
        values = self._exchange("call", [(name, args, kwargs)] * self.workers)
        return tuple(v for chunk in values for v in chunk)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute ``name`` of every sub-environment."""
        return self.call(name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set ``name`` on every sub-environment (one value for all, or one each)."""
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} values, got {len(values)}")
        self._exchange("set_attr", [(name, [values[i] for i in r]) for r in self._ranges])

    def render(self) -> tuple[Any, ...] | None:
        """Every sub-environment's ``render()``."""
        return self.call("render")

    def close_extras(self, timeout: float = 5.0, terminate: bool = False, **kwargs: Any) -> None:
        """Stop the workers (asking first unless ``terminate``) within ``timeout`` seconds."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + (0.0 if terminate else max(float(timeout), 0.0))

        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        if not terminate:
            if self._pending is not None:
                for pipe in self._pipes:  # an unread answer would stand before the close's
                    try:
                        if pipe.poll(left()):
                            pipe.recv()
                    except (EOFError, OSError):
                        pass
            for pipe in self._pipes:
                try:
                    pipe.send(("close", None))
                except (BrokenPipeError, OSError):
                    pass
            for pipe in self._pipes:
                try:
                    if pipe.poll(left()):
                        pipe.recv()
                except (EOFError, OSError):
                    pass
        self._pending = None
        for process in self._processes:
            process.join(left())
            if process.is_alive():
                process.terminate()
                process.join(1.0)
        for pipe in self._pipes:
            pipe.close()

    def close(self, **kwargs: Any) -> None:
        """Close the workers and their sub-environments (idempotent)."""
        self.close_extras(**kwargs)
        self.closed = True

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close(terminate=True)

    def __repr__(self) -> str:
        return f"ChunkedVectorEnv(num_envs={self.num_envs}, workers={self.workers})"


def make_vec(
    env_id: str,
    num_envs: int,
    *,
    workers: int | None = None,
    copy: bool = True,
    context: str | None = None,
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    **env_kwargs: Any,
) -> ChunkedVectorEnv:
    """``num_envs`` copies of ``gym.make(env_id, **env_kwargs)`` in a :class:`ChunkedVectorEnv`.

    Raises:
        ValueError: a ``num_envs`` below 1, or a bad ``workers``, ``context`` or
            ``autoreset_mode``.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an int >= 1; got {num_envs!r}")
    fn = partial(gym.make, env_id, **env_kwargs)
    return ChunkedVectorEnv(
        [fn] * num_envs, workers, copy=copy, context=context, autoreset_mode=autoreset_mode
    )
