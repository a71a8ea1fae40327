"""``oodgym eval`` end to end, in subprocesses: results, bad arguments, Ctrl-C and kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from oodgym.cli import main
from oodgym.commands.evaluate import parse_env_options
from tests.oodgym.fake_chat_server import HTML, FakeChatServer

REPO = Path(__file__).resolve().parents[2]
SLOW = "tests.oodgym.fake_chat_server:slow_answer"
GP = "cardenvs/GeneralPoints-v0"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "oodgym", "eval", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_env(),
        cwd=REPO,
    )


def _summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return data


def _lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "a torn last line"
    return [json.loads(line) for line in data.decode().splitlines()]


def test_oracle_from_the_command_line(tmp_path: Path) -> None:
    result = run(
        GP,
        "navenvs/Navigation-v0",
        "--policy",
        "oracle",
        "--episodes",
        "3",
        "--out",
        str(tmp_path),
        "--seed",
        "5",
    )
    assert result.returncode == 0, result.stderr
    summary = _summary(tmp_path)
    for env_id in (GP, "navenvs/Navigation-v0"):
        assert summary["results"][env_id]["success_rate"] == 1.0
        assert summary["results"][env_id]["episodes"] == 3
    assert summary["settings"]["seeds"] == [5, 7]
    assert GP in result.stdout and "100.0 ±  0.0" in result.stdout and "step acc." in result.stdout
    assert "Traceback" not in result.stderr


def test_random_on_every_split_with_env_options_and_plot(tmp_path: Path) -> None:
    result = run(
        "cardenvs/GeneralPoints-*",
        "--policy",
        "random",
        "--episodes",
        "2",
        "--out",
        str(tmp_path),
        "--env",
        "image_size=224",
        "--plot",
    )
    assert result.returncode == 0, result.stderr
    summary = _summary(tmp_path)
    assert len(summary["results"]) == 5
    assert {r["split"] for r in summary["results"].values()} == {
        "in-distribution",
        "rule-ood",
        "visual-ood",
    }
    assert all(r["success_rate"] == 0.0 and r["episodes"] == 2 for r in summary["results"].values())
    assert summary["settings"]["env_kwargs"] == {"image_size": 224}
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_env_values_are_json_when_possible() -> None:
    parsed = parse_env_options(
        ["image_size=336", 'visuals=["rotate"]', "rule=face-10", "suits=red", "x=a=b", "y="]
    )
    assert parsed == {
        "image_size": 336,
        "visuals": ["rotate"],
        "rule": "face-10",
        "suits": "red",
        "x": "a=b",
        "y": "",
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_env_options(["novalue"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope/*", "--policy", "oracle"], "unknown environment id"),
        ([GP, "--policy", "openai"], "base_url and model"),
        ([GP, "--policy", "oracle", "--env", "bogus=1"], "cannot make"),
        ([GP, "--policy", "oracle", "--env", "novalue"], "KEY=VALUE"),
        ([GP, "--policy", "nope"], "unknown policy"),
        ([GP, "--policy", "no_such_module_xyz:answer"], "cannot import"),
        ([GP, "--policy", "oracle", "--max-tokens", "10"], "takes no options"),
        ([GP, "--policy", "random", "--max-retries", "2"], "takes no options"),
        ([GP, "--policy", "oracle", "--concurrency", "0"], "--concurrency"),
    ],
)
def test_bad_arguments_exit_2_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(*args, "--episodes", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def _start_slow(out: Path, episodes: int, concurrency: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(
            GP,
            "--policy",
            SLOW,
            "--episodes",
            str(episodes),
            "--out",
            str(out),
            "--concurrency",
            str(concurrency),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )


def _wait_for_records(path: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.kill()
    raise AssertionError("no records written")


def _check_complete(out: Path, episodes: int) -> None:
    records = _lines(out / "cardenvs__GeneralPoints-v0" / "episodes.jsonl")
    seeds = [r["seed"] for r in records]
    assert sorted(seeds) == list(range(episodes)), seeds  # each seed exactly once
    result = _summary(out)["results"][GP]
    assert result["episodes"] == episodes
    assert result["successes"] == sum(r["success"] for r in records) == episodes


@pytest.mark.parametrize("concurrency", [1, 3])
def test_ctrl_c_then_resume(tmp_path: Path, concurrency: int) -> None:
    episodes = 30
    path = tmp_path / "cardenvs__GeneralPoints-v0" / "episodes.jsonl"
    process = _start_slow(tmp_path, episodes, concurrency)
    _wait_for_records(path, 3, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "resume" in stderr and "same command" in stderr
    assert "Traceback" not in stderr
    partial = _lines(path)  # only complete lines
    assert 3 <= len(partial) < episodes
    assert len({r["seed"] for r in partial}) == len(partial)
    assert not (tmp_path / "summary.json").exists()

    result = run(
        GP,
        "--policy",
        SLOW,
        "--episodes",
        str(episodes),
        "--out",
        str(tmp_path),
        "--concurrency",
        str(concurrency),
    )
    assert result.returncode == 0, result.stderr
    _check_complete(tmp_path, episodes)
    assert _lines(path)[: len(partial)] == partial  # nothing rewritten


def test_kill_9_then_resume(tmp_path: Path) -> None:
    episodes = 30
    path = tmp_path / "cardenvs__GeneralPoints-v0" / "episodes.jsonl"
    process = _start_slow(tmp_path, episodes, 2)
    _wait_for_records(path, 4, process)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    kept = path.read_bytes()
    kept = kept[: kept.rfind(b"\n") + 1]  # whatever the kill left, the complete lines
    done = len(kept.splitlines())
    # The worst case a kill can leave: a torn last line.
    torn = kept.splitlines()[0][:25]
    path.write_bytes(kept + torn)

    result = run(
        GP,
        "--policy",
        SLOW,
        "--episodes",
        str(episodes),
        "--out",
        str(tmp_path),
        "--concurrency",
        "2",
    )
    assert result.returncode == 0, result.stderr
    _check_complete(tmp_path, episodes)
    assert path.read_bytes().startswith(kept)
    assert len(_lines(path)) == episodes and done < episodes


def test_openai_policy_ctrl_c_then_resume(tmp_path: Path) -> None:
    episodes = 24
    path = tmp_path / "cardenvs__GeneralPoints-v0" / "episodes.jsonl"
    env = _env()
    env["NO_PROXY"] = "127.0.0.1,localhost"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    with FakeChatServer(delay=0.1) as server:
        args = [
            GP,
            "--policy",
            "openai",
            "--base-url",
            server.base_url,
            "--model",
            "fake",
            "--episodes",
            str(episodes),
            "--out",
            str(tmp_path),
            "--concurrency",
            "3",
            "--max-tokens",
            "128",
        ]
        process = subprocess.Popen(
            _command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        _wait_for_records(path, 3, process)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert time.monotonic() - started < 10  # requests in flight do not hold the exit
        assert len(_lines(path)) < episodes
        result = subprocess.run(
            _command(*args),
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=REPO,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    _check_complete(tmp_path, episodes)
    assert all(body["max_tokens"] == 128 for body in server.requests)


@pytest.fixture
def _local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.usefixtures("_local_only")
def test_html_from_the_server_exits_1_and_a_rerun_runs_those_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeChatServer(replies=[HTML] * 2) as server:
        args = ["eval", GP, "--policy", "openai", "--base-url", server.base_url, "--model", "fake"]
        args += ["--episodes", "4", "--out", str(tmp_path), "--quiet"]
        args += ["--max-retries", "0", "--timeout", "5"]
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "2 of 4 episode(s) did not run" in err and "text/html" in err
        assert "same command" in err and "Traceback" not in err
        assert _summary(tmp_path)["results"][GP]["not_run"] == 2
        assert main(args) == 0  # the rerun plays the two episodes that did not run
        assert len(server.requests) == 4
    result = _summary(tmp_path)["results"][GP]
    assert (result["episodes"], result["successes"], result["not_run"]) == (4, 4, 0)
    assert _summary(tmp_path)["settings"]["policy_options"] == {"timeout": 5.0, "max_retries": 0}


def test_a_second_eval_on_the_same_out_exits_2_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _start_slow(tmp_path, 200, 1)
    try:
        _wait_for_records(tmp_path / "cardenvs__GeneralPoints-v0" / "episodes.jsonl", 1, first)
        begun = time.monotonic()
        status = main(["eval", GP, "--policy", SLOW, "--episodes", "200", "--out", str(tmp_path)])
        assert time.monotonic() - begun < 2.0
        assert status == 2
        err = capsys.readouterr().err
        assert f"another evaluation (pid {first.pid}) is writing to {tmp_path}" in err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    seeds = [r["seed"] for r in _lines(tmp_path / "cardenvs__GeneralPoints-v0" / "episodes.jsonl")]
    assert len(seeds) == len(set(seeds))  # one writer: no duplicates


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "0"), ("--timeout", "nan"), ("--timeout", "x"), ("--max-retries", "-1")],
)
def test_timeout_and_max_retries_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    args = ["eval", GP, "--policy", "openai", "--base-url", "http://127.0.0.1:1/v1"]
    args += ["--model", "m", "--episodes", "1", "--out", str(tmp_path / "out"), flag, value]
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
