"""The ``openai`` policy against a real HTTP server on 127.0.0.1 (never any other host)."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from oodgym.evaluation import IncompleteEvaluationError, evaluate, read_records
from oodgym.policies import (
    MAX_RETRY_WAIT,
    OpenAIPolicy,
    ServerError,
    make_policy,
    retry_after_seconds,
)
from tests.oodgym.fake_chat_server import (
    BROKEN_REPLIES,
    HTML,
    WRONG,
    FakeChatServer,
    Reply,
    message_text,
    odd_sum,
)

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


HAND = [{"role": "user", "content": "Cards: ['A', '3', '8', 'A']\n"}]


def _policy(server: FakeChatServer, **options: Any) -> OpenAIPolicy:
    policy = make_policy("openai", base_url=server.base_url, model="fake", **options)
    assert isinstance(policy, OpenAIPolicy)
    return policy


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


def test_retries_are_bounded_then_the_episode_did_not_run(tmp_path: Path) -> None:
    with FakeChatServer(fail_first=100) as server:
        with pytest.raises(IncompleteEvaluationError, match="2 of 2 episode") as caught:
            evaluate(
                GP,
                "openai",
                base_url=server.base_url,
                model="fake",
                episodes=2,
                out=tmp_path,
                progress=False,
                policy_options={"retry_backoff": 0, "max_retries": 2},
            )
        assert server.failures == 6  # per episode: one try + two retries
    assert caught.value.not_run == 2 and caught.value.summary.results[GP].episodes == 0
    records = _records(tmp_path, GP)
    assert [(r["seed"], r["status"]) for r in records] == [(0, "error"), (1, "error")]
    assert "after 3 attempt(s)" in records[0]["error"] and "503" in records[0]["error"]


@pytest.mark.parametrize("name", sorted(BROKEN_REPLIES))
def test_a_response_without_answer_text_is_a_failed_request(name: str) -> None:
    broken = BROKEN_REPLIES[name]
    with FakeChatServer(replies=[broken]) as server:
        retried = _policy(server, max_retries=1, retry_backoff=0)
        assert json.loads(retried(HAND))["number"] == [1, 3, 8, 1]  # the retry got the answer
        retried.close()
        assert server.replied == 1 and len(server.requests) == 1
    with FakeChatServer(replies=[broken] * 2) as server:
        policy = _policy(server, max_retries=1, retry_backoff=0)
        with pytest.raises(ServerError, match=r"no usable answer after 2 attempt\(s\)") as caught:
            policy(HAND)
        policy.close()
        assert server.replied == 2 and server.requests == []
    assert "HTTP 200" in str(caught.value) and len(str(caught.value)) < 1000


def test_html_is_not_scored_and_a_rerun_runs_those_episodes(tmp_path: Path) -> None:
    def run(server: FakeChatServer) -> Any:
        return evaluate(
            GP,
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=5,
            out=tmp_path,
            progress=False,
            policy_options={"max_retries": 0},
        )

    with FakeChatServer(replies=[HTML] * 3) as server:
        with pytest.raises(IncompleteEvaluationError, match="3 of 5 episode") as caught:
            run(server)
        assert len(server.requests) == 2
        partial = caught.value.summary.results[GP]
        assert (partial.episodes, partial.successes, partial.not_run) == (2, 2, 3)
        assert partial.verdict_counts == {"correct": 2}  # nothing judged for the failures
        assert "not run" in caught.value.summary.table()
        on_disk = json.loads((tmp_path / "summary.json").read_text())["results"][GP]
        assert on_disk["not_run"] == 3 and on_disk["episodes"] == 2
        failed = [r for r in _records(tmp_path, GP) if r["status"] == "error"]
        assert [r["seed"] for r in failed] == [0, 1, 2]
        assert all("verdicts" not in r and "text/html" in r["error"] for r in failed)

        summary = run(server)  # the same call again: exactly the three failed episodes
        assert len(server.requests) == 5
    result = summary.results[GP]
    assert (result.episodes, result.successes, result.not_run) == (5, 5, 0)
    statuses = [(r["seed"], r["status"]) for r in _records(tmp_path, GP)]
    assert sorted(statuses) == sorted(
        [(s, "error") for s in (0, 1, 2)] + [(s, "completed") for s in range(5)]
    )


def test_retry_after_is_honoured_and_capped() -> None:
    def slow_down(status: int, retry_after: str) -> Reply:
        headers = {"Content-Type": "application/json", "Retry-After": retry_after}
        return Reply(status, b'{"error": {"message": "slow down"}}', headers)

    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    replies = [slow_down(429, "3600"), slow_down(503, soon), slow_down(429, "2")]
    with FakeChatServer(replies=replies) as server:
        policy = _policy(server, max_retries=3, retry_backoff=0)
        waits: list[float] = []
        policy._sleep = lambda seconds: waits.append(seconds) or False  # no real sleeping
        assert json.loads(policy(HAND))["number"] == [1, 3, 8, 1]
        policy.close()
    assert waits[0] == MAX_RETRY_WAIT == 60.0  # an hour asked, the cap waited
    assert 28.0 <= waits[1] <= 30.0  # an HTTP date 30 s ahead
    assert waits[2] == 2.0


def test_retry_after_values() -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=timezone.utc)
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds({"retry-after": date}, now=now) == 60.0
    assert retry_after_seconds({"retry-after": date}, now=now + timedelta(hours=1)) == 0.0
    assert retry_after_seconds({"retry-after": " 120 "}) == 120.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    for bad in ("soon", "-5", "1e9999", "nan", ""):
        assert retry_after_seconds({"retry-after": bad}) is None, bad
    assert retry_after_seconds(None) is None and retry_after_seconds({}) is None


def test_a_timeout_is_retried_then_a_server_error() -> None:
    with FakeChatServer(delay=2.0) as server:
        policy = _policy(server, timeout=0.1, max_retries=1, retry_backoff=0)
        started = time.monotonic()
        with pytest.raises(ServerError, match=r"after 2 attempt\(s\).*Timeout"):
            policy(HAND)
        assert time.monotonic() - started < 1.5
        policy.close()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", 0),
        ("timeout", -1.0),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", "30"),
        ("timeout", True),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retries", True),
        ("retry_backoff", -0.5),
        ("max_tokens", 0),
    ],
)
def test_bad_options_name_the_argument(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        make_policy("openai", base_url="http://127.0.0.1:1/v1", model="m", **{option: value})


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
