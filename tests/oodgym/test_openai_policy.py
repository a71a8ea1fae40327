"""The ``openai`` policy against a real HTTP server on 127.0.0.1 (never any other host)."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from oodgym.evaluation import EvaluationError, evaluate, read_records
from oodgym.policies import OpenAIPolicy, make_policy
from tests.oodgym.fake_chat_server import WRONG, FakeChatServer, message_text, odd_sum

GP = "cardenvs/GeneralPoints-v0"
GP_OOD = "cardenvs/GeneralPoints-RuleOOD-v0"


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Requests go to 127.0.0.1 directly, never through a proxy from the environment.
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
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield


def _records(out: Path, env_id: str) -> list[dict]:
    return sorted(
        read_records(out / env_id.replace("/", "__") / "episodes.jsonl"), key=lambda r: r["seed"]
    )


def test_server_lists_models() -> None:
    with FakeChatServer() as server, urllib.request.urlopen(f"{server.base_url}/models") as resp:
        assert json.load(resp)["data"][0]["id"] == "fake"


def test_openai_policy_solves_generalpoints_text(tmp_path: Path) -> None:
    with FakeChatServer() as server:
        summary = evaluate(
            [GP, GP_OOD],
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=4,
            out=tmp_path,
            concurrency=2,
            progress=False,
            policy_options={"max_tokens": 64},
        )
    for env_id in (GP, GP_OOD):
        result = summary.results[env_id]
        assert result.episodes == 4 and result.success_rate == 1.0 and result.stderr == 0.0
        assert [r["attempts"] for r in _records(tmp_path, env_id)] == [1, 1, 1, 1]
    assert summary.settings["policy"] == "openai:fake"
    assert summary.settings["policy_options"] == {"max_tokens": 64}
    assert len(server.requests) == 8
    for body in server.requests:
        assert body["model"] == "fake"
        assert body["temperature"] == 0
        assert body["max_tokens"] == 64
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert "Cards: [" in body["messages"][0]["content"]
    assert set(server.authorizations) == {"Bearer EMPTY"}


def test_multi_turn_conversation_carries_the_feedback(tmp_path: Path) -> None:
    with FakeChatServer(wrong_first=odd_sum) as server:
        summary = evaluate(
            GP,
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=8,
            out=tmp_path,
            progress=False,
        )
    assert summary.results[GP].success_rate == 1.0
    records = _records(tmp_path, GP)
    attempts = {r["seed"]: r["attempts"] for r in records}
    assert set(attempts.values()) == {1, 2}, attempts  # some hands answered wrong first
    second_requests = [b for b in server.requests if len(b["messages"]) > 1]
    assert len(second_requests) == sum(a == 2 for a in attempts.values())
    for body in second_requests:
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert body["messages"][1]["content"] == WRONG
        first, retry = message_text(body["messages"][0]), message_text(body["messages"][2])
        assert retry.startswith(first)
        assert "Attempt 1 of 5 failed" in retry and "You have 4 attempts left" in retry
    for record in records:
        if record["attempts"] == 2:
            assert record["verdicts"][1] == "correct" and record["verdicts"][0] != "correct"
            assert [m["role"] for m in record["transcript"]] == [
                "user",
                "assistant",
                "user",
                "assistant",
            ]
            assert record["rewards"][1] == 5.0 and record["return"] == sum(record["rewards"])


def test_image_observations_are_sent_as_image_parts(tmp_path: Path) -> None:
    with FakeChatServer() as server:
        summary = evaluate(
            "cardenvs/GeneralPoints-Image-v0",
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=1,
            out=tmp_path,
            env_kwargs={"image_size": 224},
            progress=False,
        )
    assert summary.results["cardenvs/GeneralPoints-Image-v0"].success_rate == 0.0
    assert len(server.requests) == 5  # garbage five times: the episode is truncated
    last = server.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant"] * 4 + ["user"]
    for message in last[::2]:
        kinds = [part["type"] for part in message["content"]]
        assert kinds == ["text", "image_url"]
        assert message["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    (record,) = _records(tmp_path, "cardenvs/GeneralPoints-Image-v0")
    assert record["transcript"][0]["content"][1] == {"type": "text", "text": "<image>"}


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    with FakeChatServer(fail_first=2) as server:
        summary = evaluate(
            GP,
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=2,
            out=tmp_path,
            progress=False,
            policy_options={"retry_backoff": 0.01},
        )
    assert summary.results[GP].success_rate == 1.0
    assert server.failures == 2 and len(server.requests) == 2


def test_retries_are_bounded(tmp_path: Path) -> None:
    with FakeChatServer(fail_first=100) as server:
        with pytest.raises(EvaluationError, match="openai:fake"):
            evaluate(
                GP,
                "openai",
                base_url=server.base_url,
                model="fake",
                episodes=2,
                out=tmp_path,
                progress=False,
                policy_options={"retry_backoff": 0.01, "max_retries": 2},
            )
        assert server.failures == 3  # one try + two retries, then the error
    assert _records(tmp_path, GP) == []


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    with FakeChatServer() as server:
        policy = make_policy("openai", base_url=server.base_url, model="fake")
        assert isinstance(policy, OpenAIPolicy)
        answer = policy([{"role": "user", "content": "Cards: ['A', '3', '8', 'A']\n"}])
        policy.close()
    assert json.loads(answer)["number"] == [1, 3, 8, 1]
    assert server.authorizations == ["Bearer sk-local"]


def test_openai_needs_base_url_and_model() -> None:
    with pytest.raises(ValueError, match=r"base_url and model"):
        make_policy("openai")
    with pytest.raises(ValueError, match=r"needs model"):
        make_policy("openai", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match=r"no option"):
        make_policy("openai", base_url="http://127.0.0.1:1/v1", model="m", bogus=1)
    with pytest.raises(ValueError, match=r"openai"):
        make_policy("oracle", model="m")


def test_missing_openai_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=r"ood-gym\[openai\]"):
        make_policy("openai", base_url="http://127.0.0.1:1/v1", model="m")
