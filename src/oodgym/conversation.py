"""The conversation format shared by policies, evaluation, export and trainer adapters.

A conversation is a list of chat messages in the OpenAI shape. Observations
become ``user`` messages, answers ``assistant`` messages:

* a text observation: ``{"role": "user", "content": "<prompt>"}``;
* an image observation ``{"text": ..., "image": uint8 HxWx3}``:
  ``{"role": "user", "content": [{"type": "text", "text": ...},
  {"type": "image", "image": <numpy array>}]}``.

Policies receive the whole conversation so far (the paper's multi-turn
setting: a failed attempt's feedback is in the next observation) and return
the answer text. :func:`to_openai` turns image parts into ``image_url`` parts
with a PNG data URL; :func:`without_images` replaces them with a placeholder
(for transcripts written to disk).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Message",
    "assistant_message",
    "image_to_png",
    "observation_message",
    "observation_text",
    "to_openai",
    "without_images",
]

Message = dict[str, Any]


def observation_text(observation: Any) -> str:
    """The text part of an observation (the prompt)."""
    if isinstance(observation, Mapping):
        return str(observation.get("text", ""))
    return str(observation)


def observation_message(observation: Any) -> Message:
    """A ``user`` message for an observation (text, or text plus image)."""
    if isinstance(observation, Mapping) and "image" in observation:
        return {
            "role": "user",
            "content": [
                {"type": "text", "text": str(observation.get("text", ""))},
                {"type": "image", "image": observation["image"]},
            ],
        }
    return {"role": "user", "content": observation_text(observation)}


def assistant_message(text: str) -> Message:
    """An ``assistant`` message."""
    return {"role": "assistant", "content": text}


def image_to_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HxWx3 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _map_parts(messages: Sequence[Message], convert: Any) -> list[Message]:
    out: list[Message] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [
                convert(part) if isinstance(part, Mapping) and part.get("type") == "image" else part
                for part in content
            ]
        out.append({**message, "content": content})
    return out


def to_openai(messages: Sequence[Message]) -> list[Message]:
    """Messages for an OpenAI-compatible endpoint (images as PNG data URLs)."""

    def convert(part: Mapping[str, Any]) -> dict[str, Any]:
        data = base64.b64encode(image_to_png(part["image"])).decode("ascii")
        return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}

    return _map_parts(messages, convert)


def without_images(messages: Sequence[Message], placeholder: str = "<image>") -> list[Message]:
    """Messages with image parts replaced by a text placeholder (JSON-serialisable)."""

    def convert(part: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "text", "text": placeholder}

    return _map_parts(messages, convert)
