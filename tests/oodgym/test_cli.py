import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oodgym", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_plays_every_registered_id_and_the_expert_solves() -> None:
    result = run("demo", "--seed", "3")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for env_id in ("cardenvs/GeneralPoints-v0", "cardenvs/GeneralPoints-RuleOOD-v0"):
        assert f"== {env_id}" in out
    assert out.count("solved by the expert") >= 2
    assert "illegal_formula reward=-3.0" in out


def test_demo_is_deterministic() -> None:
    assert run("demo", "--seed", "5").stdout == run("demo", "--seed", "5").stdout


def test_list() -> None:
    result = run("list")
    assert result.returncode == 0
    assert "cardenvs/GeneralPoints-RuleOOD-v0" in result.stdout and "rule-ood" in result.stdout
