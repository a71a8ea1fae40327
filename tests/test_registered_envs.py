"""Every registered id of every family passes the conformance kit (oodgym.testing)."""

import gymnasium as gym
import pytest

from oodgym import testing
from oodgym.families import presets

IDS = [p.id for p in presets()]


def test_families_register_ids() -> None:
    assert "cardenvs/GeneralPoints-v0" in IDS and "cardenvs/GeneralPoints-RuleOOD-v0" in IDS
    assert all(env_id in gym.registry for env_id in IDS)
    assert all(p.split in {"in-distribution", "rule-ood", "visual-ood"} for p in presets())


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_is_silent(env_id: str) -> None:
    testing.check_env_silent(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_every_step_conforms(env_id: str) -> None:
    # Whole episodes with expert, random and hostile answers: every observation in its
    # space, finite rewards, no shared or later-modified observation buffers.
    played = testing.check_rollout(env_id)
    assert played["episodes"] == 4 and played["steps"] >= 8


@pytest.mark.parametrize("env_id", IDS)
def test_deterministic_across_processes(env_id: str) -> None:
    testing.check_determinism(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_pickles(env_id: str) -> None:
    testing.check_pickle(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_spec_to_json(env_id: str) -> None:
    testing.check_spec_json(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_sync_and_async(env_id: str) -> None:
    testing.check_vector(env_id)


def test_module_prefixed_id() -> None:
    env = gym.make("cardenvs:cardenvs/GeneralPoints-v0")
    assert env.reset(seed=0)[1]["target"] == 24
