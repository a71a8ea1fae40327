"""``oodgym check`` and the conformance kit's additions (run_checks, visual variants)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.oodgym.broken_envs  # noqa: F401  (registers brokenenvs/*)
from oodgym import testing
from oodgym.families import load_families

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
