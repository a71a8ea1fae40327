"""``oodgym check`` and the conformance kit's additions (run_checks, rollout, visual variants)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from oodgym import testing
from oodgym.families import load_families
from tests.oodgym import broken_envs  # registers brokenenvs/*

load_families()

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "tests.oodgym.broken_envs:brokenenvs"


def check(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "oodgym", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def lines(report: str, status: str) -> list[str]:
    return [line.split()[1] for line in report.splitlines() if line.strip().startswith(status)]


def test_generalpoints_passes_every_check() -> None:
    result = check("cardenvs/GeneralPoints-v0")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert lines(out, "PASS") == list(testing.CHECKS) and not lines(out, "FAIL")
    assert "in 2 fresh processes" in out and "1/1 ids conform" in out


def test_navigation_passes_quick() -> None:
    result = check("navenvs/Navigation-v0", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cross-process check skipped" in result.stdout
    assert "visual_variants" in result.stdout and "not applicable" in result.stdout


def test_seed_ignoring_env_fails_determinism(tmp_path: Path) -> None:
    result = check(f"{BROKEN}/SeedIgnoring-v0", "--quick", cwd=tmp_path)
    assert result.returncode != 0
    failed = lines(result.stdout, "FAIL")
    assert "determinism" in failed, result.stdout
    assert "differ" in result.stdout and "0/1 ids conform" in result.stdout


def test_fine_env_passes_with_its_module_in_the_id(tmp_path: Path) -> None:
    # Run from elsewhere: the fresh processes of the determinism check must import the module.
    result = check(f"{BROKEN}/Fine-v0", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not lines(result.stdout, "FAIL") and "in 2 fresh processes" in result.stdout


def test_unknown_id_and_env_kwargs_are_reported() -> None:
    result = check("nope/Nope-v0", "cardenvs/GeneralPoints-v0", "--quick", "--env", "suits=green")
    assert result.returncode == 1
    assert lines(result.stdout, "FAIL") == ["make", "make"]
    assert "suits must be one of" in result.stdout and "0/2 ids conform" in result.stdout


def test_visual_variants_of_generalpoints_image() -> None:
    variants = testing.check_visual_variants("cardenvs/GeneralPoints-Image-v0", {"image_size": 224})
    assert {"visuals": ["rotate"]} in variants and len(variants) >= 9


def test_visual_variants_detects_a_leak_and_skips_envs_without_visuals() -> None:
    with pytest.raises(testing.ConformanceError, match="observation text"):
        testing.check_visual_variants("brokenenvs/LeakyVisuals-v0")
    assert testing.check_visual_variants("navenvs/Navigation-v0") == []


def test_run_checks_and_assert_conforms() -> None:
    results = testing.run_checks("brokenenvs/Fine-v0", processes=False)
    assert [r.name for r in results] == list(testing.CHECKS)
    assert all(r.passed and r.seconds >= 0 for r in results), results
    testing.assert_conforms("brokenenvs/Fine-v0", processes=False)
    with pytest.raises(testing.ConformanceError, match=r"\[determinism\]"):
        testing.assert_conforms("brokenenvs/SeedIgnoring-v0", processes=False)


def test_subprocess_rebuilds_an_id_registered_only_in_this_process() -> None:
    # No module in the id: the fresh processes register it from its JSON spec.
    testing.check_determinism("brokenenvs/Fine-v0")


# ------------------------------------------------------------------ every step of a rollout


def test_rollout_fails_an_observation_that_leaves_its_space_at_step_3() -> None:
    with pytest.raises(testing.ConformanceError) as caught:
        testing.check_rollout("brokenenvs/LeavesSpace-v0")
    message = str(caught.value)
    assert message.startswith("brokenenvs/LeavesSpace-v0: step 3 of episode 2 (")
    assert "the observation leaves its space" in message
    assert "the space allows 1 to 64" in message


def test_check_command_names_the_step_and_the_cause(tmp_path: Path) -> None:
    result = check(f"{BROKEN}/LeavesSpace-v0", "--quick", cwd=tmp_path)
    assert result.returncode == 1
    assert lines(result.stdout, "FAIL") == ["rollout"], result.stdout
    assert "step 3 of episode 2" in result.stdout and "leaves its space" in result.stdout


def test_nan_reward_is_named_not_reported_as_nondeterminism() -> None:
    with pytest.raises(testing.ConformanceError, match=r"step 2 of episode 1 .*reward is nan"):
        testing.check_rollout("brokenenvs/NanReward-v0")
    with pytest.raises(testing.ConformanceError, match="reward is nan") as caught:
        testing.check_determinism("brokenenvs/NanReward-v0", processes=False)
    assert "differ" not in str(caught.value)
    results = {r.name: r for r in testing.run_checks("brokenenvs/NanReward-v0", processes=False)}
    assert not results["rollout"].passed and not results["determinism"].passed
    assert "reward is nan" in results["determinism"].message


def test_reused_image_buffer_is_named() -> None:
    with pytest.raises(
        testing.ConformanceError,
        match=r"step 1 of episode 1 .*\['image'\] shares memory with .*returned at reset",
    ):
        testing.check_rollout("brokenenvs/ReusedImage-v0")


def test_an_observation_changed_after_it_was_returned_is_named() -> None:
    with pytest.raises(
        testing.ConformanceError,
        match=r"observation returned at reset of episode 1 .* was changed by step 1 ",
    ):
        testing.check_rollout("brokenenvs/MutatesImage-v0")


def test_rollout_plays_whole_episodes_with_hostile_answers() -> None:
    assert testing.check_rollout("brokenenvs/Fine-v0") == {"episodes": 4, "steps": 10}
    # Without an expert, the first episode runs on garbage too (3 attempts).
    assert testing.check_rollout("brokenenvs/NoExpert-v0", seeds=(5,)) == {
        "episodes": 2,
        "steps": 6,
    }


class Misbehaving(broken_envs.FineEnv):
    """Gets one thing wrong (``fault``) at step 2, or chokes on hostile answers."""

    max_attempts = 10

    def __init__(self, fault: str = "", render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.fault = fault

    def step(self, action: str) -> tuple[Any, Any, Any, Any, Any]:
        obs, reward, terminated, truncated, info = super().step(action)
        out: dict[str, Any] = {}
        if self.fault == "parse":
            try:
                json.loads(action)
            except ValueError:  # but not RecursionError
                pass
        elif self._attempts == 2:  # after the passive checker (first step only)
            out = {
                "bool_reward": {"reward": True},
                "str_reward": {"reward": "1"},
                "huge_reward": {"reward": 10**400},
                "inf_reward": {"reward": np.float32("inf")},
                "numpy_reward": {"reward": np.float64(-1.0)},
                "int_flag": {"terminated": 0},
                "info_list": {"info": []},
                "bad_char": {"obs": obs[:40] + "\x07"},
            }[self.fault]
        return (
            out.get("obs", obs),
            out.get("reward", reward),
            out.get("terminated", terminated),
            truncated,
            out.get("info", info),
        )


if "brokenenvs/Misbehaving-v0" not in gym.registry:
    gym.register(id="brokenenvs/Misbehaving-v0", entry_point=Misbehaving)


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("bool_reward", "the reward True is a bool, not a real number"),
        ("str_reward", "the reward '1' is a str, not a real number"),
        ("huge_reward", "does not fit in a float"),
        ("inf_reward", "the reward is inf: rewards must be finite"),
        ("int_flag", "terminated is 0 (int), not a bool"),
        ("info_list", "info is a list, not a dict"),
        ("bad_char", "characters outside the space's charset: U+0007"),
        ("parse", "[[[... (50000 characters)) raised RecursionError"),
    ],
)
def test_rollout_names_the_cause(fault: str, cause: str) -> None:
    where = r": step \d+ of episode \d \(.*seed 0.*"
    with pytest.raises(testing.ConformanceError, match=where + re.escape(cause)):
        testing.check_rollout("brokenenvs/Misbehaving-v0", {"fault": fault})


def test_numpy_scalar_rewards_are_fine() -> None:
    testing.check_rollout("brokenenvs/Misbehaving-v0", {"fault": "numpy_reward"})
