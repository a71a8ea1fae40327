"""Evaluation settings: episode counts from presets, sampling flags, per-request seeds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

from oodgym.cli import main
from oodgym.evaluation import DEFAULT_EPISODES, default_episodes, evaluate, read_records
from oodgym.evaluation import ids as ids_module
from oodgym.families import PresetInfo, presets
from oodgym.policies import OpenAIPolicy, make_policy, request_seed
from oodgym.presets import Preset, as_dicts
from tests.oodgym.fake_chat_server import FakeChatServer, odd_sum

GP = "cardenvs/GeneralPoints-v0"
NAV = "navenvs/Navigation-v0"


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield


def _records(out: Path, env_id: str) -> list[dict]:
    path = out / env_id.replace("/", "__") / "episodes.jsonl"
    return sorted(read_records(path), key=lambda r: r["seed"])


def test_preset_episodes_field() -> None:
    preset = Preset("x/Y-v0", "a test id", "rule-ood", {"a": 1}, episodes=48)
    assert as_dicts([preset]) == [
        {
            "id": "x/Y-v0",
            "description": "a test id",
            "split": "rule-ood",
            "kwargs": {"a": 1},
            "episodes": 48,
        }
    ]
    assert Preset("x/Y-v0", "", "rule-ood").episodes is None
    for bad in (0, -1, True, 2.0, "48"):
        with pytest.raises(ValueError, match="episodes"):
            Preset("x/Y-v0", "", "rule-ood", episodes=bad)  # type: ignore[arg-type]
    announced = {p.id: p for p in presets()}
    for env_id, info in announced.items():
        expected = info.episodes if info.episodes is not None else DEFAULT_EPISODES
        assert default_episodes(env_id) == expected


def test_episodes_default_to_the_preset_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = {GP: 3, NAV: 2}
    real = ids_module.presets

    def fake_presets() -> list[PresetInfo]:
        return [
            PresetInfo(p.id, p.family, p.description, p.split, p.kwargs, counts.get(p.id))
            for p in real()
        ]

    monkeypatch.setattr(ids_module, "presets", fake_presets)
    summary = evaluate([GP, NAV], "oracle", out=tmp_path / "a", progress=False)
    assert {k: v.episodes for k, v in summary.results.items()} == counts
    assert summary.settings["episodes"] is None
    assert summary.settings["episodes_per_id"] == counts
    assert [r["seed"] for r in _records(tmp_path / "a", GP)] == [0, 1, 2]
    # the command line: no --episodes, the preset's count; --episodes wins over it
    assert main(["eval", GP, "--policy", "oracle", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert len(_records(tmp_path / "b", GP)) == 3
    args = ["eval", GP, "--policy", "oracle", "--episodes", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert len(_records(tmp_path / "c", GP)) == 1
    # an id no family announces gets the evaluation default
    gym.register("oodgym-test/Unannounced-v0", entry_point=f"{__name__}:_never_made")
    try:
        assert default_episodes("oodgym-test/Unannounced-v0") == DEFAULT_EPISODES
    finally:
        del gym.registry["oodgym-test/Unannounced-v0"]


def test_sampling_flags_and_per_request_seeds_reach_the_server(tmp_path: Path) -> None:
    with FakeChatServer(wrong_first=odd_sum) as server:
        status = main(
            [
                "eval",
                GP,
                "--policy",
                "openai",
                "--base-url",
                server.base_url,
                "--model",
                "fake",
                "--episodes",
                "6",
                "--seed",
                "5",
                "--temperature",
                "0.7",
                "--top-p",
                "0.9",
                "--out",
                str(tmp_path / "a"),
                "--quiet",
            ]
        )
        assert status == 0
        bodies = list(server.requests)
        assert {(b["temperature"], b["top_p"], b["max_tokens"]) for b in bodies} == {
            (0.7, 0.9, 256)  # --max-tokens defaults to the reference's cap
        }
        records = _records(tmp_path / "a", GP)
        assert any(r["attempts"] > 1 for r in records)  # some episodes have several turns
        expected = [request_seed(r["seed"], turn) for r in records for turn in range(r["attempts"])]
        seeds = [b["seed"] for b in bodies]
        assert sorted(seeds) == sorted(expected) and len(set(seeds)) == len(seeds)
        assert request_seed(5, 1) == 5001
        summary = json.loads((tmp_path / "a" / "summary.json").read_text())["settings"]
        assert summary["policy_options"] == {"temperature": 0.7, "top_p": 0.9}
        assert summary["request_seed"] == "(episode_seed * 1000 + turn) % 2**31"
        server.requests.clear()
        args = ["--base-url", server.base_url, "--model", "fake", "--episodes", "1", "--quiet"]
        status = main(
            [
                "eval",
                GP,
                "--policy",
                "openai",
                *args,
                "--max-tokens",
                "64",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        assert status == 0
        (body,) = server.requests
        assert body["max_tokens"] == 64 and body["temperature"] == 0 and "top_p" not in body


def test_sampling_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    policy = make_policy("openai", base_url="http://127.0.0.1:9/v1", model="m", top_p=0.5)
    assert isinstance(policy, OpenAIPolicy)
    assert policy.request([], seed=12)["seed"] == 12 and policy.request([])["seed"] == 0
    assert policy.request([])["top_p"] == 0.5 and policy.request([])["max_tokens"] == 256
    for bad in (0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="top_p"):
            OpenAIPolicy(base_url="http://127.0.0.1:9/v1", model="m", top_p=bad)
    for flag, value in (("--top-p", "0"), ("--top-p", "2"), ("--temperature", "-1")):
        with pytest.raises(SystemExit) as caught:
            main(["eval", GP, "--policy", "openai", flag, value, "--out", "unused"])
        assert caught.value.code == 2
        assert flag in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", GP, "--policy", "oracle", "--conversation", "short", "--out", "unused"])
    assert "invalid choice: 'short'" in capsys.readouterr().err
