"""How episodes become chat messages: one place for the message format and the protocols.

A conversation is a list of chat messages in the OpenAI shape. Observations
become ``user`` messages, answers ``assistant`` messages:

* a text observation: ``{"role": "user", "content": "<prompt>"}``;
* an image observation ``{"text": ..., "image": uint8 HxWx3}``:
  ``{"role": "user", "content": [{"type": "text", "text": ...},
  {"type": "image", "image": <numpy array>}]}``.

:class:`Conversation` turns the steps of an episode into the messages a
policy is sent, under one of two protocols (:data:`PROTOCOLS`):

``"full"``
    One growing conversation: after each step the answer is appended as an
    ``assistant`` message and the whole next observation (prompt, feedback,
    image) as a ``user`` message.

``"paper"``
    The reference's protocol. A conversation starts with the observation (with
    its image, if any) as its single ``user`` message. After a failed attempt
    the answer is appended and then one short ``user`` message,
    ``info["feedback"]`` (no image, no prompt). After a correct attempt that
    does not end the episode (a navigation step), a fresh conversation starts
    whose single message is the new observation (its prompt carries the
    instruction and the observation/action history). So GeneralPoints sends
    the prompt and the image once, then short failure messages; navigation
    sends one prompt per step, plus the failure messages at that step.

A correct attempt is one whose ``info["verdict"]`` is ``"correct"``. The same
class builds the conversations of evaluation (:mod:`oodgym.evaluation`),
export (:mod:`oodgym.export`), the rollout helpers and the trainer adapters
(:mod:`oodgym.integrations`), so a protocol means the same thing everywhere.

:func:`to_openai` turns image parts into ``image_url`` parts with a PNG data
URL; :func:`without_images` replaces them with a placeholder (for
transcripts written to disk).
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "PROTOCOLS",
    "Conversation",
    "Message",
    "assistant_message",
    "check_protocol",
    "image_to_png",
    "images_as_placeholders",
    "observation_message",
    "observation_text",
    "to_openai",
    "user_message",
    "without_images",
]

Message = dict[str, Any]

#: The conversation protocols (see the module docstring).
PROTOCOLS: tuple[str, ...] = ("full", "paper")

#: The verdict of a correct attempt (``info["verdict"]``).
CORRECT = "correct"


def check_protocol(protocol: object) -> str:
    """``protocol`` if it is one of :data:`PROTOCOLS`.

    Raises:
        ValueError: Anything else (the message names the allowed values).
    """
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        raise ValueError(f"conversation must be one of {list(PROTOCOLS)}, got {protocol!r}")
    return protocol


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


def user_message(text: str) -> Message:
    """A text-only ``user`` message."""
    return {"role": "user", "content": text}


def assistant_message(text: str) -> Message:
    """An ``assistant`` message."""
    return {"role": "assistant", "content": text}


class Conversation:
    """The messages of one episode under a protocol; fed with what the environment returns.

    Usage::

        conversation = Conversation("paper")
        observation, info = env.reset(seed=seed)
        conversation.reset(observation)
        while True:
            answer = policy(conversation.messages)
            observation, reward, terminated, truncated, info = env.step(answer)
            conversation.step(answer, observation, info, terminated, truncated)
            if terminated or truncated:
                break

    Args:
        protocol: ``"full"`` or ``"paper"`` (see the module docstring).

    Raises:
        ValueError: An unknown protocol (the message names the allowed values).
    """

    def __init__(self, protocol: str = "full") -> None:
        self.protocol = check_protocol(protocol)
        self._transcript: list[Message] = []
        self._starts: list[int] = []

    def reset(self, observation: Any) -> list[Message]:
        """Start the episode with its first observation; return :attr:`messages`."""
        self._transcript = [observation_message(observation)]
        self._starts = [0]
        return self.messages

    def step(
        self,
        answer: str,
        observation: Any,
        info: Mapping[str, Any],
        terminated: bool,
        truncated: bool,
    ) -> None:
        """Record an answer and what the environment returned for it.

        The answer is always appended. If the episode goes on, the next
        message(s) follow the protocol: ``"full"`` appends the whole
        observation; ``"paper"`` starts a fresh conversation with the
        observation after a correct attempt, else appends
        ``info["feedback"]`` as a short ``user`` message (the observation's
        text if the environment gives no feedback).
        """
        if not self._starts:
            raise RuntimeError("call reset(observation) before step()")
        self._transcript.append(assistant_message(answer))
        if terminated or truncated:
            return
        if self.protocol == "full":
            self._transcript.append(observation_message(observation))
        elif info.get("verdict") == CORRECT:
            self._starts.append(len(self._transcript))
            self._transcript.append(observation_message(observation))
        else:
            feedback = info.get("feedback")
            text = feedback if isinstance(feedback, str) else observation_text(observation)
            self._transcript.append(user_message(text))

    @property
    def messages(self) -> list[Message]:
        """The current conversation: what the policy is sent next (a new list)."""
        start = self._starts[-1] if self._starts else 0
        return list(self._transcript[start:])

    @property
    def transcript(self) -> list[Message]:
        """Every message of the episode once, in order (all conversations; a new list)."""
        return list(self._transcript)

    @property
    def starts(self) -> list[int]:
        """Where each conversation starts in :attr:`transcript` (``[0]`` for ``"full"``)."""
        return list(self._starts)

    @property
    def conversations(self) -> list[list[Message]]:
        """The transcript cut into its conversations (one for ``"full"``)."""
        bounds = [*self._starts, len(self._transcript)]
        return [self._transcript[a:b] for a, b in itertools.pairwise(bounds)]


def image_to_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HxWx3 image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _map_parts(
    messages: Sequence[Message], convert: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> list[Message]:
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


def images_as_placeholders(messages: Sequence[Message]) -> tuple[list[Message], list[np.ndarray]]:
    """Messages in the multimodal dataset layout of TRL and Hugging Face processors.

    Image parts become ``{"type": "image"}`` placeholders, text parts stay
    ``{"type": "text", "text": ...}`` and string contents become one text part,
    so every message has a list content (one schema for a whole dataset).

    Returns:
        The messages, and the images in the order of their placeholders.
    """
    images: list[np.ndarray] = []
    out: list[Message] = []
    for message in messages:
        content = message.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "image":
                    images.append(np.asarray(part["image"]))
                    parts.append({"type": "image"})
                elif isinstance(part, Mapping):
                    parts.append({"type": "text", "text": str(part.get("text", ""))})
        else:
            parts.append({"type": "text", "text": "" if content is None else str(content)})
        out.append({**message, "content": parts})
    return out, images
