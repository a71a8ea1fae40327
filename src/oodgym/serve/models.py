"""OpenEnv models of a served environment, and the OpenEnv client that speaks them.

Importing this module imports ``openenv-core`` (extra ``ood-gym[serve]``).

* :class:`ServedAction` (``{"text": ...}``): the answer text.
* :class:`ServedObservation`: ``text``, ``image`` (see :mod:`oodgym.serve.wire`),
  ``terminated``, ``truncated``, ``info``, plus OpenEnv's ``reward`` and ``done``
  (``terminated or truncated``).
* :class:`ServedState`: ``episode_id``, ``step_count`` and ``expert_action`` (the
  environment's ``expert_action()`` for the current state, ``null`` when it has none).
* :class:`ServedEnvClient`: an OpenEnv ``EnvClient`` for these models (async; ``.sync()``
  for a synchronous one) that can send a token.
"""

from __future__ import annotations

import os
from typing import Any

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient
from openenv.core.env_server.types import Action, Observation, State
from pydantic import BaseModel, ConfigDict, Field

from oodgym.serve.wire import decode_image

__all__ = [
    "ServedAction",
    "ServedEnvClient",
    "ServedImage",
    "ServedObservation",
    "ServedState",
]


class ServedAction(Action):  # type: ignore[misc]
    """One step's action: the model's answer text."""

    text: str = Field(description="the answer text, exactly as the model wrote it")


class ServedImage(BaseModel):
    """An observation image (see :mod:`oodgym.serve.wire`)."""

    model_config = ConfigDict(extra="forbid")

    encoding: str = Field(description="'png' (lossless PNG) or 'raw' (C-order uint8 bytes)")
    shape: list[int] = Field(description="[H, W, 3]")
    dtype: str = Field(default="uint8", description="always 'uint8'")
    data: str = Field(description="the PNG file or the raw bytes, base64")

    def to_array(self) -> Any:
        """The ``uint8 (H, W, 3)`` NumPy array."""
        return decode_image(self.model_dump())

    def data_url(self) -> str:
        """A ``data:image/png;base64,...`` URL (PNG encoding only) for a chat API."""
        if self.encoding != "png":
            raise ValueError(f"data_url needs the png encoding, this image is {self.encoding!r}")
        return f"data:image/png;base64,{self.data}"


class ServedObservation(Observation):  # type: ignore[misc]
    """What ``reset`` and ``step`` return (``reward`` is ``None`` after ``reset``)."""

    text: str | None = Field(default=None, description="the observation text")
    image: ServedImage | None = Field(default=None, description="the observation image")
    terminated: bool = Field(default=False, description="the episode ended (success or failure)")
    truncated: bool = Field(default=False, description="the episode was cut (e.g. a time limit)")
    info: dict[str, Any] = Field(
        default_factory=dict, description="the JSON-able part of the environment's info"
    )


class ServedState(State):  # type: ignore[misc]
    """The session's state."""

    expert_action: str | None = Field(
        default=None, description="the expert's answer for the current state, if any"
    )


class ServedEnvClient(EnvClient):  # type: ignore[misc]
    """OpenEnv client of ``oodgym serve`` (async; ``.sync()`` gives a synchronous one).

    Example::

        async with ServedEnvClient(base_url="ws://127.0.0.1:8000") as env:
            result = await env.reset(seed=0)
            result = await env.step(ServedAction(text="..."))
            result.observation.info["feedback"], result.reward, result.done

    Args:
        base_url: The address ``oodgym serve`` printed (``ws://``, ``wss://``, ``http://``,
            ``https://``).
        token: Sent as ``Authorization: Bearer TOKEN``; default: the
            ``OODGYM_SERVE_TOKEN`` environment variable, if set.
        **kwargs: ``EnvClient`` options (``connect_timeout_s``, ``message_timeout_s``,
            ``max_message_size_mb``).
    """

    _ws: Any  # EnvClient's connection (None until connected)

    def __init__(self, base_url: str, *, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self._token = token if token is not None else os.environ.get("OODGYM_SERVE_TOKEN")

    async def connect(self) -> ServedEnvClient:
        """Open the WebSocket session (with the token, if any)."""
        if self._ws is not None:
            return self
        from websockets.asyncio.client import connect as ws_connect

        from oodgym.serve.client import is_loopback_url

        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        try:
            self._ws = await ws_connect(
                self._ws_url,
                open_timeout=self._connect_timeout,
                max_size=self._max_message_size,
                additional_headers=headers,
                proxy=None if is_loopback_url(self._ws_url) else True,
            )
        except Exception as err:
            raise ConnectionError(f"Failed to connect to {self._ws_url}: {err}") from err
        return self

    def _step_payload(self, action: ServedAction | str) -> dict[str, Any]:
        if isinstance(action, str):
            return {"text": action}
        return {"text": action.text}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult:
        observation = ServedObservation(
            **payload.get("observation", {}),
            reward=payload.get("reward"),
            done=bool(payload.get("done", False)),
        )
        return StepResult(observation=observation, reward=observation.reward, done=observation.done)

    def _parse_state(self, payload: dict[str, Any]) -> ServedState:
        return ServedState(**payload)
