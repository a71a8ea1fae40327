"""``oodgym.vector``: chunked worker processes give exactly ``SyncVectorEnv``'s results."""

from __future__ import annotations

import os
import signal
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st

import cardenvs  # noqa: F401
import navenvs  # noqa: F401
from oodgym.vector import ChunkedVectorEnv, add_info, make_vec

GP = "cardenvs/GeneralPoints-v0"


def same(a: Any, b: Any) -> bool:
    """Deep equality of batched results (arrays by dtype and values, dicts by key order)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return all(same(x, y) for x, y in zip(a, b, strict=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, (tuple, list)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and a == b


def answers(infos: dict[str, Any], n: int, rng: np.random.Generator, key: str) -> tuple:
    out = []
    for i in range(n):
        right = infos.get(key, [None] * n)[i]
        if key == "solution":
            good = f'{{"formula": "{right}"}}' if right else "?"
        else:
            good = right or "stop()"
        out.append(good if rng.random() < 0.6 else "I give up.")
    return tuple(out)


def run_pair(env_id: str, n: int, workers: int, steps: int, key: str, **kwargs: Any) -> None:
    mode = kwargs.pop("autoreset_mode", AutoresetMode.NEXT_STEP)
    fns = [partial(gym.make, env_id, **kwargs)] * n
    sync = SyncVectorEnv(fns, autoreset_mode=mode)
    chunked = ChunkedVectorEnv(fns, workers, autoreset_mode=mode)
    try:
        assert chunked.workers == min(workers, n)
        assert chunked.observation_space == sync.observation_space
        assert chunked.action_space == sync.action_space
        first = sync.reset(seed=3)
        assert same(chunked.reset(seed=3), first)
        infos = first[1]
        rng = np.random.default_rng(0)
        for _ in range(steps):
            actions = answers(infos, n, rng, key)
            expected = sync.step(actions)
            got = chunked.step(actions)
            assert same(got, expected)
            assert chunked.observation_space.contains(got[0])
            infos = expected[4]
    finally:
        chunked.close()
        sync.close()


@pytest.mark.parametrize("mode", list(AutoresetMode)[:2])
def test_generalpoints_text_matches_sync(mode: AutoresetMode) -> None:
    run_pair(GP, 8, 2, 40, "solution", autoreset_mode=mode)


def test_navigation_text_with_uneven_chunks_matches_sync() -> None:
    run_pair("navenvs/Navigation-v0", 5, 3, 30, "expert_action")


def test_image_id_matches_sync() -> None:
    run_pair("cardenvs/GeneralPoints-Image-v0", 3, 2, 6, "solution", image_size=224)


def test_reset_seeds_masks_attributes_and_async_steps() -> None:
    envs = make_vec(GP, 4, workers=2)
    sync = gym.make_vec(GP, num_envs=4, vectorization_mode="sync")
    try:
        assert same(envs.reset(seed=[5, None, 7, 8])[0][::2], sync.reset(seed=[5, 1, 7, 8])[0][::2])
        envs.reset(seed=10)
        sync.reset(seed=10)
        mask = np.array([False, True, False, True])
        got = envs.reset(seed=[0, 1, 2, 3], options={"reset_mask": mask})
        assert same(got, sync.reset(seed=[0, 1, 2, 3], options={"reset_mask": mask}))
        assert envs.get_attr("max_attempts") == (5, 5, 5, 5)
        envs.set_attr("max_attempts", [1, 2, 3, 4])
        assert envs.get_attr("max_attempts") == (1, 2, 3, 4)
        assert len(envs.call("expert_action")) == 4
        envs.step_async(("?",) * 4)
        with pytest.raises(RuntimeError, match="step_wait"):
            envs.step_async(("?",) * 4)
        _, rewards, _, truncated, _ = envs.step_wait()
        assert truncated[0] and not truncated[1:].any() and (rewards < 0).all()
        with pytest.raises(RuntimeError, match="step_async"):
            envs.step_wait()
        with pytest.raises(ValueError, match="4 actions"):
            envs.step(("?",) * 3)
    finally:
        envs.close()
        sync.close()
    envs.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        envs.step(("?",) * 4)


class Fragile(gym.Wrapper):  # type: ignore[type-arg]
    """Raises on one answer, as a buggy sub-environment would."""

    def step(self, action: Any) -> Any:
        if action == "boom":
            raise KeyError("boom")
        return self.env.step(action)


def fragile() -> gym.Env:  # type: ignore[type-arg]
    return Fragile(gym.make(GP))


def test_a_sub_environment_error_names_it_and_the_workers_go_on() -> None:
    envs = ChunkedVectorEnv([fragile] * 4, workers=2)
    try:
        envs.reset(seed=0)
        with pytest.raises(RuntimeError, match=r"sub-environment 2 failed in step: KeyError"):
            envs.step(("?", "?", "boom", "?"))
        envs.reset(seed=0)
        assert envs.step(("?",) * 4)[1].shape == (4,)
    finally:
        envs.close()


def test_a_dead_worker_raises_instead_of_hanging() -> None:
    envs = make_vec(GP, 4, workers=2)
    envs.reset(seed=0)
    os.kill(envs._processes[1].pid, signal.SIGKILL)
    envs._processes[1].join(5)
    with pytest.raises(RuntimeError, match="worker 1"):
        envs.step(("?",) * 4)
    envs.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"autoreset_mode": "Sometimes"}, "autoreset_mode"),
        ({"context": "teleport"}, "context"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_vec(GP, 2, **kwargs)
    with pytest.raises(ValueError, match="num_envs"):
        make_vec(GP, 0)


class _Batcher(gym.vector.VectorEnv):  # type: ignore[type-arg]
    def __init__(self, n: int) -> None:
        self.num_envs = n


values = st.recursive(
    st.one_of(
        st.integers(-5, 5),
        st.floats(-1, 1),
        st.booleans(),
        st.text(max_size=3),
        st.lists(st.integers(0, 3), max_size=2),
        st.builds(lambda k: np.arange(k, k + 2), st.integers(0, 3)),
    ),
    lambda inner: st.dictionaries(st.sampled_from("abc"), inner, max_size=2),
    max_leaves=4,
)
infos_strategy = st.dictionaries(st.sampled_from(["x", "y", "final_obs", "cards"]), values)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), infos_strategy), max_size=6))
def test_add_info_equals_gymnasiums(entries: list[tuple[int, dict[str, Any]]]) -> None:
    reference = _Batcher(4)
    ours: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    for env_num, info in entries:
        try:
            theirs = reference._add_info(theirs, info, env_num)
        except Exception:  # mixed kinds of one key, which Gymnasium cannot batch either
            with pytest.raises(Exception):  # noqa: B017
                add_info(ours, info, env_num, 4)
            return
        ours = add_info(ours, info, env_num, 4)
    assert same(ours, theirs)


def broken_maker() -> gym.Env:  # type: ignore[type-arg]
    raise OSError("no such route folder")


def test_a_sub_environment_that_cannot_be_built_fails_the_constructor() -> None:
    with pytest.raises(RuntimeError, match=r"sub-environment 2 failed in construction: OSError"):
        ChunkedVectorEnv([partial(gym.make, GP)] * 2 + [broken_maker], workers=2)


def test_after_a_failed_step_only_reset_goes_on() -> None:
    envs = ChunkedVectorEnv([fragile] * 4, workers=2)
    try:
        envs.reset(seed=0)
        with pytest.raises(RuntimeError, match="failed in step"):
            envs.step(("?", "?", "boom", "?"))
        with pytest.raises(RuntimeError, match="call reset"):
            envs.step(("?",) * 4)
        envs.reset(seed=1)
        envs.step(("?",) * 4)
    finally:
        envs.close()


def test_an_interrupted_step_closes_instead_of_answering_late() -> None:
    envs = make_vec(GP, 4, workers=2)
    envs.reset(seed=0)
    envs.step_async(("?",) * 4)
    original = envs._pipes[1].recv

    def interrupted() -> Any:
        raise KeyboardInterrupt

    envs._pipes[1].recv = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        envs.step_wait()
    envs._pipes[1].recv = original  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="closed"):
        envs.step(("?",) * 4)


def test_disabled_autoreset_refuses_to_step_a_finished_env_and_seeds_are_syncs() -> None:
    envs = make_vec(GP, 2, workers=2, autoreset_mode="Disabled", max_attempts=1)
    sync = gym.make_vec(GP, 2, vectorization_mode="sync", max_attempts=1)
    try:
        envs.reset(seed=3)
        sync.reset(seed=3)
        assert envs.np_random_seed == sync.np_random_seed == (3, 4)
        assert envs.step(("?",) * 2)[3].all()  # one attempt: both truncated
        with pytest.raises(RuntimeError, match="AssertionError"):
            envs.step(("?",) * 2)
        envs.reset(seed=5, options={"reset_mask": np.array([True, True])})
        envs.step(("?",) * 2)
    finally:
        envs.close()
        sync.close()


def test_add_info_takes_any_key_as_gymnasium_does() -> None:
    ours = add_info({}, {0: 1, ("a", 1): "x"}, 1, 2)
    theirs = _Batcher(2)._add_info({}, {0: 1, ("a", 1): "x"}, 1)
    assert same(ours, theirs)
