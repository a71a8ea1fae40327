"""Serve any registered id as an OpenEnv environment server, and play it from elsewhere.

``oodgym serve ID`` (extra ``ood-gym[serve]``) runs an OpenEnv server: one environment per
WebSocket session, OpenEnv's ``reset`` / ``step`` / ``state`` messages, observations with the
text and (for image ids) the image, reward, ``terminated``/``truncated`` and the info.

* Client side (no ``openenv-core`` import): :class:`ServedEnv` plays a served environment as
  a local ``gymnasium.Env`` (same spaces; the conformance kit runs on it), :func:`connect`.
* Server side (imports ``openenv-core``): :func:`start_server` (background thread),
  :func:`serve` (until Ctrl-C), :func:`create_app` (the ASGI app, for your own server).
* OpenEnv side: :class:`ServedEnvClient` (an OpenEnv ``EnvClient``) with
  :class:`ServedAction`, :class:`ServedObservation`, :class:`ServedState`.

The wire format is described in :mod:`oodgym.serve.wire` and ``docs/serve.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from oodgym.serve.client import (
    TOKEN_ENV,
    ServedEnv,
    ServedEnvError,
    connect,
    fetch_spec,
    is_address,
)

if TYPE_CHECKING:
    from oodgym.serve.models import (
        ServedAction,
        ServedEnvClient,
        ServedImage,
        ServedObservation,
        ServedState,
    )
    from oodgym.serve.server import RunningServer, create_app, serve, start_server

__all__ = [
    "TOKEN_ENV",
    "RunningServer",
    "ServedAction",
    "ServedEnv",
    "ServedEnvClient",
    "ServedEnvError",
    "ServedImage",
    "ServedObservation",
    "ServedState",
    "connect",
    "create_app",
    "fetch_spec",
    "is_address",
    "serve",
    "start_server",
]

# Imported on first use: they import openenv-core (seconds).
_LAZY = {
    "RunningServer": "oodgym.serve.server",
    "create_app": "oodgym.serve.server",
    "serve": "oodgym.serve.server",
    "start_server": "oodgym.serve.server",
    "ServedAction": "oodgym.serve.models",
    "ServedEnvClient": "oodgym.serve.models",
    "ServedImage": "oodgym.serve.models",
    "ServedObservation": "oodgym.serve.models",
    "ServedState": "oodgym.serve.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
