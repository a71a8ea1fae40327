"""``oodgym serve``: served environments play like local ones; tokens, sizes and sessions hold.

Every server here listens on 127.0.0.1 (a free port) and is stopped by its test.
"""

from __future__ import annotations

import _thread
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("openenv.core", reason="needs the serve extra (openenv-core)")

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from oodgym import cli, testing
from oodgym.families import load_families
from oodgym.serve import ServedEnv, ServedEnvError, connect
from oodgym.serve.server import RunningServer, create_app, start_server

load_families()

NAV = "navenvs/Navigation-v0"
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def nav_server() -> Iterator[RunningServer]:
    with start_server(NAV) as server:
        assert server.host == "127.0.0.1"
        yield server
    assert not server.running


def _jsonish(value: Any) -> Any:
    """What a value looks like after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(value))


def test_served_navigation_passes_the_conformance_kit(nav_server: RunningServer) -> None:
    results = {r.name: r for r in testing.run_checks(nav_server.url, processes=False)}
    assert list(results) == list(testing.CHECKS)
    failed = {name: r.message for name, r in results.items() if not r.passed}
    assert not failed, failed
    for name in ("pickle", "spec_json", "visual_variants"):
        assert results[name].message.startswith("skipped:"), results[name].message
    assert "expert" in results["rollout"].message


def test_spaces_are_the_local_ones(nav_server: RunningServer) -> None:
    local = gym.make(NAV)
    with connect(nav_server.url) as served:
        assert served.observation_space == local.observation_space
        assert served.action_space == local.action_space
        assert served.server_spec["id"] == NAV
        assert served.server_spec["limits"]["max_sessions"] == 32


def test_same_seed_same_episode_locally_and_served(nav_server: RunningServer) -> None:
    local = gym.make(NAV)
    served = connect(nav_server.url)
    try:
        for seed in (3, 4):
            obs, info = local.reset(seed=seed)
            s_obs, s_info = served.reset(seed=seed)
            assert s_obs == obs and s_info == _jsonish(info)
            for step in range(40):
                expert = local.unwrapped.expert_action()
                assert served.expert_action() == expert
                action = "turn_direction(north)" if step % 3 == 1 else expert
                expected = local.step(action)
                got = served.step(action)
                assert got[0] == expected[0]
                assert got[1] == expected[1] and isinstance(got[1], float)
                assert got[2:4] == expected[2:4]
                assert got[4] == _jsonish(expected[4])
                assert {"verdict", "feedback"} <= set(got[4])
                if got[2] or got[3]:
                    break
            assert got[2] or got[3], "the episode should end within 40 steps"
    finally:
        served.close()


@pytest.mark.parametrize("encoding", ["png", "raw"])
def test_served_image_is_the_local_image(encoding: str) -> None:
    env_id = "cardenvs/GeneralPoints-Image-v0"
    local = gym.make(env_id)
    with start_server(env_id, image_encoding=encoding) as server:  # type: ignore[arg-type]
        with connect(server.url) as served:
            assert served.server_spec["image_encoding"] == encoding
            obs, _ = local.reset(seed=5)
            s_obs, _ = served.reset(seed=5)
            assert s_obs["text"] == obs["text"]
            assert s_obs["image"].dtype == np.uint8 and s_obs["image"].shape == obs["image"].shape
            assert s_obs["image"].tobytes() == obs["image"].tobytes()
            # a wrong answer leaves the table as it was: the same frame, in a fresh array
            served_step, local_step = served.step("wrong"), local.step("wrong")
            assert served_step[0]["image"].tobytes() == local_step[0]["image"].tobytes()
            assert not np.shares_memory(served_step[0]["image"], s_obs["image"])
            s_obs, _ = served.reset(seed=6)
            assert s_obs["image"].tobytes() == local.reset(seed=6)[0]["image"].tobytes()


def test_reset_options_and_errors_cross_the_wire(nav_server: RunningServer) -> None:
    with start_server("cardenvs/GeneralPoints-v0") as server, connect(server.url) as served:
        _, info = served.reset(seed=0, options={"cards": ["3S", "3C", "8S", "8C"]})
        assert info["cards"] == ["3S", "3C", "8S", "8C"]
        with pytest.raises(ServedEnvError, match="options") as caught:
            served.reset(options={"nope": 1})
        assert caught.value.code == "EXECUTION_ERROR"
        served.reset(seed=1)  # the session survives an error
        with pytest.raises(TypeError):
            served.step(3)  # type: ignore[arg-type]


def test_token_is_required_and_checked() -> None:
    with pytest.raises(ValueError, match="token"):
        start_server(NAV, host="0.0.0.0")  # refused before anything listens
    with pytest.raises(ValueError, match="at least"):
        start_server(NAV, token="short")
    with start_server(NAV, token=TOKEN) as server:
        for token in (None, "wrong-token-0123456789abcdef"):
            with pytest.raises(ServedEnvError, match="token") as caught:
                connect(server.url, token=token)
            assert caught.value.code == 401
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(server.url + "/ws", proxy=None)  # a client that skips the spec
        assert refused.value.response.status_code == 403
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health") as response:
            assert response.status == 200  # health checks need no token
        with connect(server.url, token=TOKEN) as served:
            served.reset(seed=0)


def test_oversize_messages_are_refused() -> None:
    with start_server(NAV, max_message_bytes=4096) as server:
        with connect(server.url) as served:
            served.reset(seed=0)
            with pytest.raises(ValueError, match="at most 4096"):
                served.step("x" * 5000)  # refused before sending: the session lives on
            served.step("forward()")
        with ws_connect(server.url + "/ws", proxy=None) as raw:  # the server refuses it too
            raw.send(json.dumps({"type": "step", "data": {"text": "x" * 5000}}))
            with pytest.raises(ConnectionClosed) as closed:
                raw.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/step", data=b"x" * 5000, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as http:
            urllib.request.urlopen(request)
        assert http.value.code == 413


def test_app_refuses_oversize_websocket_messages_itself() -> None:
    # create_app under another ASGI server: the app's own check closes the session
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    with TestClient(create_app(NAV, max_message_bytes=2048)) as client:
        with client.websocket_connect("/ws") as socket:
            socket.send_text(json.dumps({"type": "step", "data": {"text": "x" * 3000}}))
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_text()
        assert closed.value.code == 1009


def test_session_limit() -> None:
    with start_server(NAV, max_sessions=2) as server:
        first, second = connect(server.url), connect(server.url)
        with pytest.raises(ServedEnvError) as full:
            connect(server.url)
        assert full.value.code == "CAPACITY_REACHED"
        first.close()
        deadline = time.monotonic() + 5
        while True:  # the server frees the slot once it has closed the session
            try:
                third = connect(server.url)
                break
            except ServedEnvError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        third.reset(seed=0)
        second.reset(seed=0)
        third.close()
        second.close()


def test_openenv_client(nav_server: RunningServer) -> None:
    from oodgym.serve import ServedAction, ServedEnvClient

    local = gym.make(NAV)
    obs, _ = local.reset(seed=9)
    with ServedEnvClient(base_url=nav_server.url).sync() as client:
        result = client.reset(seed=9)
        assert result.observation.text == obs and result.reward is None and not result.done
        answer = client.state().expert_action
        assert answer == local.unwrapped.expert_action()
        result = client.step(ServedAction(text=answer))
        assert result.reward == 1.0 and result.observation.info["verdict"] == "correct"
        assert result.observation.terminated is False and result.observation.truncated is False


def test_serve_and_check_commands(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            deadline = time.monotonic() + 60
            while not any("check it:" in line for line in seen) and time.monotonic() < deadline:
                seen.extend(capsys.readouterr().out.splitlines())
                time.sleep(0.02)
            address = next(line for line in seen if "check it:" in line).split()[4]
            outcome["address"] = address
            outcome["check"] = cli.main(["check", address, "--quick"])
            outcome["check_env"] = cli.main(["check", address, "--env", "max_attempts=2"])
        finally:
            _thread.interrupt_main()  # Ctrl-C

    driver = threading.Thread(target=drive)
    driver.start()
    status = cli.main(["serve", NAV, "--port", "0"])
    driver.join()
    seen.extend(capsys.readouterr().out.splitlines())
    assert status == 0
    assert outcome["address"].startswith("ws://127.0.0.1:")
    assert outcome["check"] == 0, "\n".join(seen)
    assert outcome["check_env"] == 2
    assert any("1/1 ids conform" in line for line in seen)


def test_serve_command_refuses_public_binding_without_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OODGYM_SERVE_TOKEN", raising=False)
    assert cli.main(["serve", NAV, "--host", "0.0.0.0"]) == 2
    assert "token" in capsys.readouterr().err


def test_served_env_reports_unreachable_servers() -> None:
    with pytest.raises(ServedEnvError, match="cannot reach"):
        ServedEnv("ws://127.0.0.1:9", open_timeout_s=2)
    with pytest.raises(ValueError, match="query"):
        ServedEnv("ws://127.0.0.1:9/?token=x")
