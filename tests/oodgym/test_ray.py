"""The Ray backend: the same records and bytes as a local run, resume, workers that die.

One local Ray (2 CPUs) for the whole module: starting one costs seconds.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from oodgym.cli import main
from oodgym.distributed import RayBackend
from oodgym.evaluation import episodes_path, evaluate, read_records
from oodgym.export import export
from oodgym.policies import OpenAIPolicy
from tests.oodgym.fake_chat_server import FakeChatServer

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
GP = "cardenvs/GeneralPoints-v0"
GP_OOD = "cardenvs/GeneralPoints-RuleOOD-v0"
IMAGE_ID = "cardenvs/GeneralPoints-Image-v0"


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        # The workers import this module (DieOnce) and reach the fake server directly.
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "NO_PROXY": "127.0.0.1,localhost"}},
    )
    try:
        yield
    finally:
        ray.shutdown()


def record_set(out: Path, env_id: str) -> set[str]:
    return {json.dumps(r, sort_keys=True) for r in read_records(episodes_path(out, env_id))}


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


class DieOnce:
    """The expert, except that the first time it plays ``seed`` it kills its own process."""

    name = "die-once"

    def __init__(self, marker: Path, seed: int) -> None:
        self.marker = marker
        self.seed = seed

    def __call__(
        self, messages: list[dict[str, Any]], *, env: gym.Env | None = None, seed: int = 0
    ) -> str:
        assert env is not None
        if seed // 1000 == self.seed and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)  # a worker that dies: no exception, no result
        return str(env.unwrapped.expert_action())


def test_eval_on_ray_gives_the_records_of_a_local_run(cluster: None, tmp_path: Path) -> None:
    local, remote = tmp_path / "local", tmp_path / "ray"
    evaluate([GP, GP_OOD], "oracle", episodes=3, out=local, progress=False)
    args = ["eval", GP, GP_OOD, "--policy", "oracle", "--episodes", "3", "--out", str(remote)]
    assert main([*args, "--quiet", "--ray"]) == 0
    for env_id in (GP, GP_OOD):
        assert len(record_set(local, env_id)) == 3
        assert record_set(remote, env_id) == record_set(local, env_id)
    assert (remote / "summary.json").read_bytes() == (local / "summary.json").read_bytes()


def test_eval_on_ray_resumes_a_killed_run(cluster: None, tmp_path: Path) -> None:
    local, remote = tmp_path / "local", tmp_path / "ray"
    evaluate(GP, "oracle", episodes=4, out=local, progress=False)
    path = episodes_path(remote, GP)
    path.parent.mkdir(parents=True)
    kept = b"".join(episodes_path(local, GP).read_bytes().splitlines(keepends=True)[:2])
    path.write_bytes(kept + b'{"env_id": "cardenvs/Gen')  # two records and a torn line
    evaluate(GP, "oracle", episodes=4, out=remote, progress=False, backend="ray")
    assert path.read_bytes().startswith(kept)
    assert sorted(r["seed"] for r in read_records(path)) == [0, 1, 2, 3]
    assert record_set(remote, GP) == record_set(local, GP)


def test_a_worker_that_dies_loses_and_repeats_no_episode(cluster: None, tmp_path: Path) -> None:
    marker = tmp_path / "died"
    summary = evaluate(
        GP,
        DieOnce(marker, seed=3),
        episodes=6,
        out=tmp_path / "run",
        progress=False,
        backend=RayBackend(max_retries=2),
    )
    assert marker.exists(), "the worker playing seed 3 did not die"
    assert int(marker.read_text()) != os.getpid()
    records = read_records(episodes_path(tmp_path / "run", GP))
    assert sorted(r["seed"] for r in records) == list(range(6))  # each exactly once
    assert all(r["success"] for r in records)
    assert summary.results[GP].successes == 6


def test_openai_policy_on_ray_workers_calls_the_same_server(cluster: None, tmp_path: Path) -> None:
    policy = OpenAIPolicy(base_url="http://127.0.0.1:9/v1", model="m", temperature=0.5)
    copy = pickle.loads(pickle.dumps(policy))
    assert (copy.name, copy.base_url, copy.temperature) == ("openai:m", policy.base_url, 0.5)
    with FakeChatServer() as server:
        summary = evaluate(
            GP,
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=2,
            out=tmp_path,
            progress=False,
            backend="ray",
        )
    assert summary.results[GP].successes == 2
    assert sorted(body["seed"] for body in server.requests) == [0, 1000]  # request seeds


def test_export_on_ray_is_byte_identical(cluster: None, tmp_path: Path) -> None:
    local, remote = tmp_path / "local", tmp_path / "ray"
    export(IMAGE_ID, episodes=5, out=local, seed=7, env_kwargs={"image_size": 224})
    args = ["export", IMAGE_ID, "--episodes", "5", "--out", str(remote), "--seed", "7"]
    assert main([*args, "--env", "image_size=224", "--ray"]) == 0
    files = tree_bytes(local)
    assert len([name for name in files if name.endswith(".png")]) == 5
    assert tree_bytes(remote) == files


def test_without_ray_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails
    with pytest.raises(ImportError, match=r"ood-gym\[ray\]"):
        evaluate(GP, "oracle", episodes=1, out=tmp_path / "e", progress=False, backend="ray")
    with pytest.raises(ImportError, match=r"ood-gym\[ray\]"):
        export(GP, episodes=1, out=tmp_path / "x", backend="ray")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="concurrency"):
        evaluate(GP, "oracle", episodes=1, out=tmp_path, concurrency=2, backend="ray")
    with pytest.raises(ValueError, match="backend"):
        evaluate(GP, "oracle", episodes=1, out=tmp_path, backend="dask")
    out = str(tmp_path / "c")
    args = ["eval", GP, "--policy", "oracle", "--out", out, "--concurrency", "2", "--ray"]
    assert main(args) == 2
    assert main([*args[:-3], "--ray-cpus-per-episode", "2"]) == 2
    assert "needs --ray" in capsys.readouterr().err
