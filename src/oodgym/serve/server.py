"""Serve a Gymnasium id as an OpenEnv environment server (``oodgym serve``).

Built on ``openenv-core``'s ``HTTPEnvServer`` (extra ``ood-gym[serve]``): every WebSocket
session (``/ws``) gets its own environment made with ``gym.make(id, **kwargs)``, and speaks
OpenEnv's messages (``reset``, ``step``, ``state``, ``close``) with the models of
:mod:`oodgym.serve.models`. ``GET /oodgym/spec`` describes the spaces, image encoding and
limits (clients rebuild the spaces from it). The app also has OpenEnv's other routes
(``/health``, ``/schema``, ``/metadata``, stateless ``/reset`` and ``/step``).

Limits: at most ``max_sessions`` sessions at once (the next one gets OpenEnv's
``CAPACITY_REACHED`` error and is closed), idle sessions closed after ``session_timeout_s``,
no message or request body over ``max_message_bytes`` (a WebSocket message over it closes the
session with code 1009; an HTTP body over it gets 413). With a token every request needs
``Authorization: Bearer TOKEN`` (or ``?token=TOKEN``), except ``GET /health``; without one
the server binds to loopback addresses only.
"""

from __future__ import annotations

import functools
import hmac
import logging
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import ConcurrencyConfig, EnvironmentMetadata

from oodgym._version import __version__
from oodgym.serve.client import is_loopback_host
from oodgym.serve.models import ServedAction, ServedObservation, ServedState
from oodgym.serve.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
    DEFAULT_SESSION_TIMEOUT_S,
    IMAGE_ENCODINGS,
    MIN_TOKEN_LENGTH,
    PROTOCOL,
    ImageCodec,
    ImageEncoding,
    encode_observation,
    jsonable_info,
    observation_layout,
    space_to_json,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_PORT",
    "DEFAULT_SESSION_TIMEOUT_S",
    "MIN_TOKEN_LENGTH",
    "RunningServer",
    "ServedEnvironment",
    "create_app",
    "serve",
    "start_server",
]

logger = logging.getLogger("oodgym.serve")


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


@dataclass
class _Served:
    """What every session of one server shares: the id, kwargs and wire settings."""

    env_id: str
    kwargs: dict[str, Any]
    image_encoding: ImageEncoding
    observation_space: gym.Space[Any]
    #: Info keys already reported as left out (logged once each).
    dropped: set[str] = field(default_factory=set)


class ServedEnvironment(Environment):  # type: ignore[misc]
    """One session's environment: ``gym.make(id, **kwargs)`` behind OpenEnv's interface.

    The Gymnasium environment is made on the session's first ``reset`` (OpenEnv also builds
    this class for ``/metadata`` and ``/state``, which need none).
    """

    # Each session has its own environment; nothing mutable is shared but caches.
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, served: _Served) -> None:
        super().__init__()
        self._served = served
        self._env: gym.Env[Any, Any] | None = None
        self._episode_id: str | None = None
        self._steps = 0
        self._codec = ImageCodec(served.image_encoding)
        self._closed = False

    @property
    def env(self) -> gym.Env[Any, Any]:
        """The Gymnasium environment (made on first use)."""
        if self._closed:
            # OpenEnv's idle-session reaper closes the environment, not the connection
            raise RuntimeError(
                "this session's environment was closed (idle longer than the server's "
                "session timeout): open a new session"
            )
        if self._env is None:
            self._env = gym.make(self._served.env_id, **self._served.kwargs)
        return self._env

    def _observation(
        self,
        observation: Any,
        info: Mapping[str, Any],
        *,
        reward: float | None,
        terminated: bool,
        truncated: bool,
    ) -> ServedObservation:
        wire = encode_observation(
            self._served.observation_space,
            observation,
            self._served.image_encoding,
            codec=self._codec,
        )
        kept, dropped = jsonable_info(info)
        for key in dropped:
            if key not in self._served.dropped:
                self._served.dropped.add(key)
                logger.warning("info[%r] is not JSON-able: it is not sent to clients", key)
        return ServedObservation(
            **wire,
            terminated=terminated,
            truncated=truncated,
            info=kept,
            reward=reward,
            done=terminated or truncated,
        )

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ServedObservation:
        """``env.reset(seed=seed, options=options)``; ``episode_id`` names the episode."""
        if kwargs:
            raise ValueError(
                f"unknown reset parameter(s) {sorted(kwargs)}; known: seed, options, episode_id"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or null, got {seed!r}")
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be an object or null, got {type(options).__name__}")
        observation, info = self.env.reset(seed=seed, options=options)
        self._episode_id = episode_id if episode_id is not None else uuid.uuid4().hex
        self._steps = 0
        return self._observation(observation, info, reward=None, terminated=False, truncated=False)

    def step(
        self, action: ServedAction, timeout_s: float | None = None, **kwargs: Any
    ) -> ServedObservation:
        """``env.step(action.text)``."""
        if self._env is None and not self._closed:
            raise RuntimeError("call reset before step")
        observation, reward, terminated, truncated, info = self.env.step(action.text)
        self._steps += 1
        return self._observation(
            observation,
            info,
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
        )

    @property
    def state(self) -> ServedState:
        """Episode id, steps since reset and the expert's answer (when there is one)."""
        expert: str | None = None
        if self._env is not None:
            method = getattr(self._env.unwrapped, "expert_action", None)
            if callable(method):
                try:
                    answer = method()
                except Exception:  # before reset, or after the episode: no answer
                    answer = None
                expert = answer if isinstance(answer, str) else None
        return ServedState(
            episode_id=self._episode_id, step_count=self._steps, expert_action=expert
        )

    def get_metadata(self) -> EnvironmentMetadata:
        """The id as the name, ood-gym's version."""
        return EnvironmentMetadata(
            name=self._served.env_id,
            description=f"{self._served.env_id} served by ood-gym (GET /oodgym/spec for spaces)",
            version=__version__,
        )

    def close(self) -> None:
        """Close the Gymnasium environment (the session cannot play any more)."""
        self._closed = True
        if self._env is not None:
            self._env.close()
            self._env = None


# ---------------------------------------------------------------- guard: token and sizes


class _Guard:
    """ASGI middleware: the token (if any) and the size limit, for HTTP and WebSocket alike."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_message_bytes: int) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.limit = max_message_bytes

    def _authorized(self, scope: Mapping[str, Any]) -> bool:
        if self.token is None:
            return True
        offered = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
        if not offered:
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
            offered = (query.get("token") or [""])[0].encode()
        return hmac.compare_digest(offered, self.token)

    def _too_big(self, message: Mapping[str, Any]) -> bool:
        text = message.get("text")
        size = len(message.get("bytes") or b"")
        if text:  # UTF-8 needs 1 to 4 bytes a character: encode only when it matters
            small = len(text) * 4 <= self.limit
            size += len(text) if small else len(text.encode("utf-8", "replace"))
        return size > self.limit

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        public = kind == "http" and scope.get("path") == "/health"
        if not public and not self._authorized(scope):
            if kind == "websocket":
                await receive()  # websocket.connect
                await send(
                    {"type": "websocket.close", "code": 1008, "reason": "missing or wrong token"}
                )
            else:
                await _plain(send, 401, "missing or wrong token")
            return
        if kind == "websocket":
            await self.app(scope, self._bounded_websocket(receive, send), _quiet_close(send))
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _plain(send, 413, f"request body larger than {self.limit} bytes")
                return
        await self.app(scope, self._bounded_http(receive), send)

    def _bounded_websocket(
        self, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> Callable[[], Awaitable[Any]]:
        async def bounded() -> Any:
            message = await receive()
            if message.get("type") == "websocket.receive" and self._too_big(message):
                reason = f"message larger than {self.limit} bytes"
                await send({"type": "websocket.close", "code": 1009, "reason": reason})
                return {"type": "websocket.disconnect", "code": 1009}
            return message

        return bounded

    def _bounded_http(self, receive: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        seen = 0

        async def bounded() -> Any:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # a chunked body without Content-Length
                    return {"type": "http.disconnect"}
            return message

        return bounded


def _quiet_close(send: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
    """``send`` that ignores a close after the client left.

    OpenEnv closes the socket after a ``close`` message, when a client (its own
    ``EnvClient`` too) may have hung up already; the ASGI server then raises, which is noise.
    """

    async def quiet(message: Any) -> None:
        try:
            await send(message)
        except OSError:  # uvicorn's ClientDisconnected
            if message.get("type") != "websocket.close":
                raise

    return quiet


async def _plain(send: Callable[[Any], Awaitable[None]], status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- the app


def _check_limits(
    max_sessions: int, max_message_bytes: int, session_timeout_s: float | None, image_encoding: str
) -> None:
    if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
        raise ValueError(f"max_sessions must be an integer >= 1, got {max_sessions!r}")
    if (
        isinstance(max_message_bytes, bool)
        or not isinstance(max_message_bytes, int)
        or max_message_bytes < 1024
    ):
        raise ValueError(f"max_message_bytes must be an integer >= 1024, got {max_message_bytes!r}")
    if session_timeout_s is not None and not session_timeout_s > 0:
        raise ValueError(f"session_timeout_s must be > 0 or None, got {session_timeout_s!r}")
    if image_encoding not in IMAGE_ENCODINGS:
        raise ValueError(
            f"image_encoding must be one of {list(IMAGE_ENCODINGS)}, got {image_encoding!r}"
        )


def _json_safe(value: Any) -> Any:
    kept, _ = jsonable_info({"value": value})
    return kept.get("value", repr(value))


def describe(
    env_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    image_encoding: ImageEncoding = "png",
) -> tuple[_Served, dict[str, Any]]:
    """Make ``env_id`` once: check it can be served; return its shared settings and spec.

    Raises:
        ValueError: the action space is not ``Text`` or the observation space is not one the
            wire format carries (:func:`oodgym.serve.wire.observation_layout`).
    """
    from oodgym.families import load_families

    load_families()  # the ids of every installed family, as the command line sees them
    kwargs = dict(kwargs or {})
    env = gym.make(env_id, **kwargs)
    try:
        if not isinstance(env.action_space, spaces.Text):
            raise ValueError(
                f"{env_id}: only Text action spaces can be served, got {env.action_space}"
            )
        layout = observation_layout(env.observation_space)
        served = _Served(env_id, kwargs, image_encoding, env.observation_space)
        metadata = {
            key: _json_safe(value)
            for key, value in env.unwrapped.metadata.items()
            if key in ("render_modes", "render_fps")
        }
        spec = {
            "protocol": PROTOCOL,
            "oodgym_version": __version__,
            "id": env_id,
            "kwargs": {key: _json_safe(value) for key, value in kwargs.items()},
            "observation_space": space_to_json(env.observation_space),
            "action_space": space_to_json(env.action_space),
            "observation_fields": list(layout),
            "image_encoding": image_encoding if "image" in layout else None,
            "max_episode_steps": env.spec.max_episode_steps if env.spec is not None else None,
            "expert": callable(getattr(env.unwrapped, "expert_action", None)),
            "metadata": metadata,
        }
    finally:
        env.close()
    return served, spec


def create_app(
    env_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    token: str | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    session_timeout_s: float | None = DEFAULT_SESSION_TIMEOUT_S,
    image_encoding: ImageEncoding = "png",
) -> Any:
    """The OpenEnv FastAPI app serving ``env_id`` (for your own ASGI server, e.g. uvicorn).

    Args:
        env_id: A registered id, or ``"module:id"`` (the module is imported).
        kwargs: ``gym.make`` keyword arguments (the same for every session).
        token: Required of every request (``Authorization: Bearer TOKEN`` or
            ``?token=TOKEN``) except ``GET /health``; ``None``: no token.
        max_sessions: Sessions at once (default 32).
        max_message_bytes: Largest WebSocket message or HTTP body (default 1 MiB). Pass the
            same to your server (uvicorn's ``ws_max_size``) so it refuses bigger frames
            before reading them.
        session_timeout_s: Idle sessions are closed after this (default 900 s; ``None``:
            never).
        image_encoding: ``"png"`` (default) or ``"raw"`` (see :mod:`oodgym.serve.wire`).

    Raises:
        ValueError: a bad limit, a short token, or an environment that cannot be served.
    """
    _check_limits(max_sessions, max_message_bytes, session_timeout_s, image_encoding)
    if token is not None and (
        len(token) < MIN_TOKEN_LENGTH
        or not token.isascii()
        or not token.isprintable()
        or " " in token
    ):
        raise ValueError(
            f"the token must have at least {MIN_TOKEN_LENGTH} printable ASCII characters and "
            "no spaces; make one with python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    served, spec = describe(env_id, kwargs, image_encoding=image_encoding)
    spec["limits"] = {
        "max_sessions": max_sessions,
        "max_message_bytes": max_message_bytes,
        "session_timeout_s": session_timeout_s,
    }
    spec["token_required"] = token is not None
    # a partial of the class: OpenEnv reads SUPPORTS_CONCURRENT_SESSIONS without making one
    factory = functools.partial(ServedEnvironment, served)
    app = create_fastapi_app(
        factory,
        ServedAction,
        ServedObservation,
        concurrency_config=ConcurrencyConfig(
            max_concurrent_envs=max_sessions, session_timeout=session_timeout_s
        ),
    )
    app.title = f"ood-gym: {env_id}"
    app.state.oodgym_spec = spec

    async def oodgym_spec() -> dict[str, Any]:
        return spec

    app.add_api_route(
        "/oodgym/spec",
        oodgym_spec,
        methods=["GET"],
        tags=["Environment Info"],
        summary="Spaces, image encoding and limits (what oodgym.serve.ServedEnv reads)",
    )

    app.add_middleware(_Guard, token=token, max_message_bytes=max_message_bytes)
    return app


# ---------------------------------------------------------------- running it


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"ws://{shown}:{port}"


@dataclass
class RunningServer:
    """A server running in a background thread (:func:`start_server`); a context manager."""

    env_id: str
    host: str
    port: int
    #: What clients connect to: ``ws://HOST:PORT``.
    url: str
    spec: dict[str, Any]
    _server: Any
    _thread: threading.Thread

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, close the sessions, wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread.is_alive()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    env_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    session_timeout_s: float | None = DEFAULT_SESSION_TIMEOUT_S,
    image_encoding: ImageEncoding = "png",
) -> RunningServer:
    """Serve ``env_id`` from a background thread; return once it listens.

    Arguments as :func:`create_app`, plus ``host`` (default ``127.0.0.1``; any other address
    needs a ``token``) and ``port`` (default 0: a free port, see ``RunningServer.port``).

    Raises:
        ValueError: a non-loopback ``host`` without a token, or a bad argument.
        OSError: the server could not listen (e.g. the port is taken).
    """
    import uvicorn

    if token is None and not is_loopback_host(host):
        raise ValueError(
            f"binding to {host!r} makes the environments reachable from other machines: "
            "give a token (--token or OODGYM_SERVE_TOKEN), or bind to 127.0.0.1"
        )
    app = create_app(
        env_id,
        kwargs,
        token=token,
        max_sessions=max_sessions,
        max_message_bytes=max_message_bytes,
        session_timeout_s=session_timeout_s,
        image_encoding=image_encoding,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ws_max_size=max_message_bytes,  # refused frame by frame, before it is read whole
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"oodgym-serve:{env_id}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"could not serve {env_id} on {host}:{port} (see the log above)")
        time.sleep(0.01)
    bound = int(server.servers[0].sockets[0].getsockname()[1])
    return RunningServer(
        env_id, host, bound, _url(host, bound), app.state.oodgym_spec, server, thread
    )


def serve(
    env_id: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    announce: Callable[[RunningServer], None] | None = None,
    **options: Any,
) -> None:
    """Serve ``env_id`` until interrupted (Ctrl-C); ``oodgym serve`` runs this.

    Arguments as :func:`start_server`; ``announce`` is called once the server listens.
    """
    running = start_server(env_id, kwargs, host=host, port=port, **options)
    try:
        if announce is not None:
            announce(running)
        while running.running:
            running._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
