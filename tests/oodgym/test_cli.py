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
    ids = [
        "cardenvs/GeneralPoints-v0",
        "cardenvs/GeneralPoints-RuleOOD-v0",
        "cardenvs/GeneralPoints-Image-v0",
        "navenvs/Navigation-v0",
        "navenvs/Navigation-RuleOOD-v0",
    ]
    for env_id in ids:
        assert f"== {env_id}" in out
    assert out.count("solved by the expert") == out.count("== ") >= len(ids)
    assert "NOT solved" not in out
    assert "illegal_formula reward=-3.0" in out and "invalid_action reward=-1.0" in out
    assert "wrong_recognition" not in out  # a garbage answer is illegal, even in image mode


def test_demo_is_deterministic() -> None:
    assert run("demo", "--seed", "5").stdout == run("demo", "--seed", "5").stdout


def test_list() -> None:
    result = run("list")
    assert result.returncode == 0
    assert "cardenvs/GeneralPoints-RuleOOD-v0" in result.stdout and "rule-ood" in result.stdout
