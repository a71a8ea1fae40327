"""Play a served environment as if it were local: :class:`ServedEnv` (a ``gymnasium.Env``).

:class:`ServedEnv` reads the server's spaces from ``GET /oodgym/spec`` and holds one OpenEnv
WebSocket session (``/ws``) for its lifetime: ``reset`` and ``step`` send OpenEnv ``reset`` and
``step`` messages and return what the environment on the server returned, decoded to the same
Python objects (text ``str``, image ``uint8`` arrays, info dicts). It needs ``websockets``
(extra ``ood-gym[serve]``) but not ``openenv-core``, so it imports quickly and holds no event
loop (it works in forked vector-env workers).
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from oodgym.serve.wire import (
    PROTOCOL,
    ImageCodec,
    WireError,
    decode_observation,
    space_from_json,
)

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

__all__ = [
    "TOKEN_ENV",
    "ServedEnv",
    "ServedEnvError",
    "connect",
    "is_address",
    "is_loopback_host",
    "is_loopback_url",
]

#: Environment variable holding the token, for servers and clients alike.
TOKEN_ENV = "OODGYM_SERVE_TOKEN"

_SCHEMES = ("ws://", "wss://", "http://", "https://")
_SPEC_PATH = "/oodgym/spec"
_MAX_SPEC_BYTES = 16 * 1024 * 1024


class ServedEnvError(RuntimeError):
    """The server refused a request, answered with an error, or went away.

    Attributes:
        code: OpenEnv's error code (``EXECUTION_ERROR``, ``CAPACITY_REACHED``, ...), the
            WebSocket close code (``1008`` wrong token, ``1009`` message too big), an HTTP
            status, or ``None``.
    """

    def __init__(self, message: str, code: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code


def is_address(target: str) -> bool:
    """Whether ``target`` names a server (``ws://``, ``wss://``, ``http://``, ``https://``)."""
    return target.lower().startswith(_SCHEMES)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (see :func:`is_loopback_host`)."""
    return is_loopback_host(urllib.parse.urlsplit(url).hostname or "")


def _base_urls(address: str) -> tuple[str, str]:
    """``(ws_base, http_base)`` of an address, without a trailing ``/`` or ``/ws``."""
    if not is_address(address):
        raise ValueError(f"expected a ws://, wss://, http:// or https:// address, got {address!r}")
    parts = urllib.parse.urlsplit(address.strip())
    if parts.query or parts.fragment:
        raise ValueError(
            f"the address must not carry a query or fragment (pass the token with token= or "
            f"{TOKEN_ENV}), got {address!r}"
        )
    path = parts.path.rstrip("/")
    path = path.removesuffix("/ws")
    secure = parts.scheme.lower() in ("wss", "https")
    ws_base = urllib.parse.urlunsplit(("wss" if secure else "ws", parts.netloc, path, "", ""))
    http_base = urllib.parse.urlunsplit(("https" if secure else "http", parts.netloc, path, "", ""))
    return ws_base, http_base


def fetch_spec(
    address: str, *, token: str | None = None, timeout_s: float = 10.0
) -> dict[str, Any]:
    """The server's ``GET /oodgym/spec``: id, kwargs, spaces, image encoding and limits.

    Raises:
        ServedEnvError: the server cannot be reached, refuses the token, or is not an
            ``oodgym serve`` server.
    """
    _, http_base = _base_urls(address)
    request = urllib.request.Request(http_base + _SPEC_PATH)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    # Proxies (http_proxy) are for the outside world; never for this machine.
    handlers = [urllib.request.ProxyHandler({})] if is_loopback_url(http_base) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(_MAX_SPEC_BYTES + 1)
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise ServedEnvError(
                f"{http_base} refused the token (missing or wrong; pass token= or set {TOKEN_ENV})",
                401,
            ) from err
        if err.code == 404:
            raise ServedEnvError(
                f"{http_base} is not an oodgym server (no {_SPEC_PATH})", 404
            ) from err
        raise ServedEnvError(f"{http_base}{_SPEC_PATH}: HTTP {err.code}", err.code) from err
    except (urllib.error.URLError, OSError) as err:
        raise ServedEnvError(f"cannot reach {http_base}: {err}") from err
    if len(body) > _MAX_SPEC_BYTES:
        raise ServedEnvError(f"{http_base}{_SPEC_PATH} is larger than {_MAX_SPEC_BYTES} bytes")
    try:
        spec = json.loads(body)
    except ValueError as err:
        raise ServedEnvError(f"{http_base}{_SPEC_PATH} is not JSON: {err}") from err
    if not isinstance(spec, dict) or spec.get("protocol") != PROTOCOL:
        spoken = spec.get("protocol") if isinstance(spec, dict) else None
        raise ServedEnvError(
            f"{http_base} speaks oodgym wire protocol {spoken!r}; this client speaks {PROTOCOL}"
        )
    return spec


def _close_reason(err: Exception) -> ServedEnvError:
    """A readable error for a closed WebSocket (close code and reason)."""
    received = getattr(err, "rcvd", None)
    code = getattr(received, "code", None)
    reason = getattr(received, "reason", "") or ""
    meaning = {
        1008: "refused (policy: missing or wrong token)",
        1009: "closed the session: a message was larger than the server's limit",
        1012: "restarted or stopped",
        1001: "is going away (stopped)",
    }.get(code or 0, "closed the session")
    detail = f" ({reason})" if reason else ""
    return ServedEnvError(f"the server {meaning}{detail}; close code {code}", code)


class ServedEnv(gym.Env[Any, str]):
    """A served environment played as a local ``gymnasium.Env``.

    The observation and action spaces are the server's (rebuilt from ``GET /oodgym/spec``),
    so ``check_env`` and the conformance kit run on it; ``reset(seed=..., options=...)`` and
    ``step(text)`` return what the served environment returned (rewards as ``float``,
    ``terminated`` and ``truncated`` kept apart, ``info`` as JSON: see
    :mod:`oodgym.serve.wire`). When the served environment has an ``expert_action()``, so
    does this one (asked of the server each time). No rendering: image observations arrive
    in the observation itself.

    Example::

        env = ServedEnv("ws://127.0.0.1:8000")
        obs, info = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step("my answer")
        env.close()

    Args:
        address: What ``oodgym serve`` printed (``ws://HOST:PORT``; ``http://`` works too).
        token: Sent as ``Authorization: Bearer TOKEN``; default: ``$OODGYM_SERVE_TOKEN``.
        timeout_s: How long to wait for each answer (the connection is dropped after a
            timeout; later calls raise). Default 120.
        open_timeout_s: How long to wait for the connection. Default 10.
        max_message_bytes: Largest message accepted from the server (images included).
            Default 64 MiB.

    Raises:
        ServedEnvError: the server cannot be reached, refuses the token, has no free
            session, or is not an ``oodgym serve`` server.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's convention)

    #: The served environment's expert (only when the server announces one).
    expert_action: Callable[[], str]

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        timeout_s: float = 120.0,
        open_timeout_s: float = 10.0,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect as ws_connect

        if timeout_s <= 0 or open_timeout_s <= 0:
            raise ValueError(
                f"timeout_s and open_timeout_s must be > 0, got {timeout_s}, {open_timeout_s}"
            )
        self._ws: ClientConnection | None = None
        self.address = address
        self.timeout_s = float(timeout_s)
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        ws_base, _ = _base_urls(address)
        self.server_spec: dict[str, Any] = fetch_spec(
            address, token=token, timeout_s=open_timeout_s
        )
        try:
            self.observation_space = space_from_json(self.server_spec["observation_space"])
            self.action_space = space_from_json(self.server_spec["action_space"])
        except (KeyError, WireError) as err:
            raise ServedEnvError(f"{address}: unusable spec: {err}") from err
        self._codec = ImageCodec()
        limits = self.server_spec.get("limits", {})
        self._send_limit: int = int(limits.get("max_message_bytes", 0)) or (1 << 62)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        options: dict[str, Any] = {}
        if "legacy" in inspect.signature(ws_connect).parameters:
            options["legacy"] = True  # websockets >= 17: a plain connection, not a context
        try:
            self._ws = ws_connect(
                ws_base + "/ws",
                additional_headers=headers,
                max_size=max_message_bytes,
                open_timeout=open_timeout_s,
                compression=None,  # images are PNG already; small texts gain nothing
                proxy=None if is_loopback_url(ws_base) else True,
                close_timeout=2,
                **options,
            )
        except InvalidStatus as err:
            status = err.response.status_code
            raise ServedEnvError(
                f"{ws_base}/ws refused the session (HTTP {status}"
                f"{': missing or wrong token' if status == 403 else ''})",
                status,
            ) from err
        except (OSError, TimeoutError, WebSocketException) as err:
            raise ServedEnvError(f"cannot open a session at {ws_base}/ws: {err}") from err
        # A round trip now: a full server (CAPACITY_REACHED) is reported here, not at reset.
        self._request({"type": "state"})
        if self.server_spec.get("expert"):
            self.expert_action = self._expert_action

    # ------------------------------------------------------------ protocol

    def _request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise ServedEnvError(f"the session with {self.address} is closed")
        text = json.dumps(message)  # ASCII (escapes), so characters are bytes
        if len(text) > self._send_limit:
            raise ValueError(
                f"the {message.get('type')} message has {len(text)} bytes; the server takes "
                f"at most {self._send_limit} (oodgym serve --max-message-bytes)"
            )
        try:
            try:
                self._ws.send(text)
            except ConnectionClosed:
                # The server may have said why before closing (e.g. CAPACITY_REACHED).
                raw = self._ws.recv(timeout=1)
            else:
                raw = self._ws.recv(timeout=self.timeout_s)
        except TimeoutError as err:
            self._drop()
            raise ServedEnvError(
                f"no answer from {self.address} within {self.timeout_s} s; session dropped"
            ) from err
        except ConnectionClosed as err:
            self._drop()
            raise _close_reason(err) from err
        reply = json.loads(raw)
        if reply.get("type") == "error":
            data = reply.get("data") or {}
            code = data.get("code")
            if code in ("CAPACITY_REACHED", "FACTORY_ERROR", "SESSION_ERROR"):
                self._drop()  # the server ends the session after these
            raise ServedEnvError(f"{code}: {data.get('message', 'unknown error')}", code)
        data = reply.get("data")
        if not isinstance(data, dict):
            raise ServedEnvError(f"malformed reply from {self.address}: {str(raw)[:200]}")
        return data

    def _drop(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            ws.close()

    def _decode(self, payload: Mapping[str, Any]) -> tuple[Any, dict[str, Any], Mapping[str, Any]]:
        wire = payload.get("observation")
        if not isinstance(wire, Mapping):
            raise ServedEnvError(f"malformed observation from {self.address}")
        try:
            observation = decode_observation(self.observation_space, wire, self._codec)
        except WireError as err:
            raise ServedEnvError(f"malformed observation from {self.address}: {err}") from err
        info = wire.get("info")
        return observation, dict(info) if isinstance(info, Mapping) else {}, wire

    def _expert_action(self) -> str:
        state = self._request({"type": "state"})
        answer = state.get("expert_action")
        if not isinstance(answer, str):
            raise RuntimeError("the served environment has no expert answer now (reset first)")
        return answer

    # ------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode on the server (``seed`` and JSON ``options`` are sent as they are)."""
        super().reset(seed=seed)
        data: dict[str, Any] = {}
        if seed is not None:
            data["seed"] = int(seed)
        if options is not None:
            data["options"] = options
        observation, info, _ = self._decode(self._request({"type": "reset", "data": data}))
        return observation, info

    def step(self, action: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Send the answer text; return the served environment's step."""
        if not isinstance(action, str):
            raise TypeError(f"a served environment's action is a str, got {type(action).__name__}")
        payload = self._request({"type": "step", "data": {"text": action}})
        observation, info, wire = self._decode(payload)
        reward = payload.get("reward")
        # JSON has no NaN: a non-finite reward arrives as null and stays visibly wrong
        value = math.nan if reward is None else float(reward)
        return observation, value, bool(wire.get("terminated")), bool(wire.get("truncated")), info

    def close(self) -> None:
        """End the session (the server closes its environment)."""
        if self._ws is not None:
            try:
                self._ws.send(json.dumps({"type": "close"}))
            except Exception:  # already gone: nothing to tell
                pass
            self._drop()
        super().close()


def connect(address: str, **options: Any) -> ServedEnv:
    """``ServedEnv(address, **options)``: play the environment served at ``address``."""
    return ServedEnv(address, **options)
