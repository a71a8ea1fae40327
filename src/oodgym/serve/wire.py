"""The wire format of a served environment: spaces, observations, images and info as JSON.

Shared by the server (:mod:`oodgym.serve.server`) and the clients
(:mod:`oodgym.serve.client`), with the server's default limits; it imports neither
``openenv`` nor ``websockets``.

Observations travel as ``{"text": str | None, "image": EncodedImage | None}``:

* a ``Text`` observation space: ``text`` is the observation, ``image`` is ``null``;
* a ``Dict`` space with keys among ``"text"`` (``Text``) and ``"image"`` (a ``uint8`` ``Box`` of
  shape ``(H, W, 3)``): each key in its field, the other ``null``;
* a ``uint8`` ``Box`` of shape ``(H, W, 3)``: ``image`` is the observation.

An image is ``{"encoding": "png" | "raw", "shape": [H, W, 3], "dtype": "uint8", "data": BASE64}``:
``png`` is a lossless PNG (what a chat API's ``data:image/png;base64,...`` URL takes), ``raw``
the array's C-order bytes. Both decode to the very array the environment returned.

Info values travel as JSON: numbers, strings, bools, ``null``, lists (tuples become lists) and
objects with string keys; NumPy scalars become Python numbers. Any other value (arrays,
objects) is left out, and so is a key whose value holds one. Lone surrogates in strings (which
UTF-8 cannot carry) become U+FFFD.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Mapping
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from oodgym.textspace import CharsetText, ImageBox

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_PORT",
    "DEFAULT_SESSION_TIMEOUT_S",
    "IMAGE_ENCODINGS",
    "MIN_TOKEN_LENGTH",
    "PROTOCOL",
    "ImageCodec",
    "WireError",
    "decode_image",
    "decode_observation",
    "encode_image",
    "encode_observation",
    "jsonable_info",
    "observation_layout",
    "space_from_json",
    "space_to_json",
]

#: Version of this wire format (``GET /oodgym/spec`` announces it).
PROTOCOL = 1

#: ``oodgym serve``'s port when none is given.
DEFAULT_PORT = 8000
#: Sessions (WebSocket connections, one environment each) open at once.
DEFAULT_MAX_SESSIONS = 32
#: Largest WebSocket message or HTTP body a server accepts (1 MiB: answers are far smaller).
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
#: A session idle this long loses its environment (a model may think for minutes a step).
DEFAULT_SESSION_TIMEOUT_S = 900.0
#: Shortest token a server accepts (``secrets.token_urlsafe()`` gives 43 characters).
MIN_TOKEN_LENGTH = 16

#: Image encodings a server may use (``oodgym serve --image-encoding``).
IMAGE_ENCODINGS: tuple[str, ...] = ("png", "raw")

ImageEncoding = Literal["png", "raw"]


class WireError(ValueError):
    """A space, observation or image that the wire format cannot carry (or a malformed one)."""


# ---------------------------------------------------------------- spaces


def _bound(values: np.ndarray) -> Any:
    """A Box bound as JSON: one number when every entry is the same, else nested lists."""
    flat = values.ravel()
    if flat.size and bool((flat == flat[0]).all()):
        return flat[0].item()
    return values.tolist()


def space_to_json(space: gym.Space[Any]) -> dict[str, Any]:
    """A ``Text``, ``Box`` or ``Dict`` space as JSON (see :func:`space_from_json`).

    Raises:
        WireError: for any other space (or a ``Box`` bound that is not finite
            and not an integer dtype's limit).
    """
    if isinstance(space, spaces.Text):
        return {
            "type": "Text",
            "min_length": space.min_length,
            "max_length": space.max_length,
            # the ordered characters: samples of the rebuilt space match the original's
            "charset": space.characters,
        }
    if isinstance(space, spaces.Box):
        for name, bound in (("low", space.low), ("high", space.high)):
            if bound.dtype.kind == "f" and not np.isfinite(bound).all():
                raise WireError(f"Box {name} bounds must be finite to be served, got {space}")
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": _bound(space.low),
            "high": _bound(space.high),
        }
    if isinstance(space, spaces.Dict):
        return {
            "type": "Dict",
            # pairs, not an object: the key order is part of the space
            "spaces": [[key, space_to_json(sub)] for key, sub in space.spaces.items()],
        }
    raise WireError(
        f"cannot serve a {type(space).__name__} space ({space}); "
        "the wire format carries Text, Box and Dict spaces"
    )


def space_from_json(data: Mapping[str, Any]) -> gym.Space[Any]:
    """The space :func:`space_to_json` described.

    Raises:
        WireError: for a malformed description.
    """
    try:
        kind = data["type"]
        if kind == "Text":
            return CharsetText(
                max_length=int(data["max_length"]),
                min_length=int(data["min_length"]),
                charset=str(data["charset"]),
            )
        if kind == "Box":
            dtype = np.dtype(str(data["dtype"]))
            shape = tuple(int(n) for n in data["shape"])
            low = np.broadcast_to(np.asarray(data["low"], dtype=dtype), shape)
            high = np.broadcast_to(np.asarray(data["high"], dtype=dtype), shape)
            box = ImageBox if dtype == np.uint8 else spaces.Box  # images: O(1) membership
            return box(low=low, high=high, shape=shape, dtype=dtype)
        if kind == "Dict":
            return spaces.Dict({str(key): space_from_json(sub) for key, sub in data["spaces"]})
    except (KeyError, TypeError, ValueError) as err:
        raise WireError(f"malformed space description: {err!r}") from err
    raise WireError(f"unknown space type {kind!r} (known: Text, Box, Dict)")


# ---------------------------------------------------------------- observations


def _is_image_space(space: gym.Space[Any]) -> bool:
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[2] == 3
    )


def observation_layout(space: gym.Space[Any]) -> tuple[str, ...]:
    """The wire fields an observation space fills: ``("text",)``, ``("image",)`` or both.

    Raises:
        WireError: naming the space, for anything but ``Text``, a ``uint8 (H, W, 3)`` ``Box``
            or a ``Dict`` of those under the keys ``"text"`` and ``"image"``.
    """
    if isinstance(space, spaces.Text):
        return ("text",)
    if _is_image_space(space):
        return ("image",)
    if isinstance(space, spaces.Dict):
        keys = tuple(space.spaces)
        fits = {"text": isinstance(space.spaces.get("text"), spaces.Text)}
        fits["image"] = "image" in space.spaces and _is_image_space(space.spaces["image"])
        if keys and all(fits.get(key, False) for key in keys):
            return keys
    raise WireError(
        f"cannot serve the observation space {space}: the wire format carries a Text space, "
        "a uint8 Box of shape (H, W, 3), or a Dict of those under the keys 'text' and 'image'"
    )


def encode_image(image: np.ndarray, encoding: ImageEncoding = "png") -> dict[str, Any]:
    """``{"encoding", "shape", "dtype", "data"}`` of a ``uint8 (H, W, 3)`` array."""
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise WireError(f"images are uint8 (H, W, 3) arrays, got {array.dtype} {array.shape}")
    if encoding == "png":
        from PIL import Image

        buffer = io.BytesIO()
        # level 1: about as small as level 6 for rendered scenes, at half the time
        Image.fromarray(array, mode="RGB").save(buffer, format="PNG", compress_level=1)
        payload = buffer.getvalue()
    elif encoding == "raw":
        payload = array.tobytes()
    else:
        raise WireError(f"unknown image encoding {encoding!r}; known: {list(IMAGE_ENCODINGS)}")
    return {
        "encoding": encoding,
        "shape": list(array.shape),
        "dtype": "uint8",
        "data": base64.b64encode(payload).decode("ascii"),
    }


def decode_image(image: Mapping[str, Any], *, max_pixels: int = 64_000_000) -> np.ndarray:
    """The ``uint8 (H, W, 3)`` array of an encoded image (a fresh, writeable array).

    Raises:
        WireError: for a malformed image, or one larger than ``max_pixels``.
    """
    try:
        encoding = image["encoding"]
        shape = tuple(int(n) for n in image["shape"])
        data = base64.b64decode(image["data"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as err:
        raise WireError(f"malformed image: {err!r}") from err
    if len(shape) != 3 or shape[2] != 3 or min(shape) <= 0 or math.prod(shape) > 3 * max_pixels:
        raise WireError(f"an image must have shape (H, W, 3) within the size limit, got {shape}")
    if image.get("dtype", "uint8") != "uint8":
        raise WireError(f"images are uint8, got {image.get('dtype')!r}")
    if encoding == "raw":
        if len(data) != math.prod(shape):
            raise WireError(f"raw image of shape {shape} has {len(data)} bytes")
        raw: np.ndarray = np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()
        return raw
    if encoding == "png":
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data), formats=["PNG"]) as picture:
                if (picture.height, picture.width) != shape[:2]:
                    raise WireError(f"PNG of size {picture.size} announced as {shape}")
                array: np.ndarray = np.array(picture.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError) as err:
            raise WireError(f"undecodable PNG image: {err!r}") from err
        return array
    raise WireError(f"unknown image encoding {encoding!r}; known: {list(IMAGE_ENCODINGS)}")


class ImageCodec:
    """Encodes (server) or decodes (client) one session's images, reusing the last one.

    An episode often shows the same frame again (a wrong answer leaves the table or the street
    view as it was): comparing with the last frame costs far less than a PNG round trip.
    Decoded arrays are always fresh copies.
    """

    def __init__(self, encoding: ImageEncoding = "png") -> None:
        self.encoding = encoding
        self._frame: np.ndarray | None = None
        self._encoded: dict[str, Any] | None = None
        self._data: str | None = None
        self._decoded: np.ndarray | None = None

    def encode(self, image: np.ndarray) -> dict[str, Any]:
        """:func:`encode_image`, or the last result when ``image`` equals the last frame."""
        if (
            self._encoded is not None
            and self._frame is not None
            and np.array_equal(image, self._frame)
        ):
            return dict(self._encoded)
        encoded = encode_image(image, self.encoding)
        self._frame, self._encoded = np.array(image, copy=True), encoded
        return dict(encoded)

    def decode(self, image: Mapping[str, Any]) -> np.ndarray:
        """:func:`decode_image`, or a copy of the last result when the data is the same."""
        data = image.get("data") if isinstance(image, Mapping) else None
        if self._decoded is not None and isinstance(data, str) and data == self._data:
            if list(image.get("shape", [])) == list(self._decoded.shape):
                again: np.ndarray = self._decoded.copy()
                return again
        decoded = decode_image(image)
        self._data, self._decoded = (data if isinstance(data, str) else None), decoded.copy()
        return decoded


def encode_observation(
    space: gym.Space[Any],
    observation: Any,
    encoding: ImageEncoding = "png",
    codec: ImageCodec | None = None,
) -> dict[str, Any]:
    """``{"text": ..., "image": ...}`` of an observation of ``space``."""
    layout = observation_layout(space)
    encode = codec.encode if codec is not None else (lambda image: encode_image(image, encoding))
    if layout == ("text",):
        return {"text": clean_text(observation), "image": None}
    if layout == ("image",):
        return {"text": None, "image": encode(observation)}
    return {
        "text": clean_text(observation["text"]) if "text" in layout else None,
        "image": encode(observation["image"]) if "image" in layout else None,
    }


def decode_observation(
    space: gym.Space[Any], wire: Mapping[str, Any], codec: ImageCodec | None = None
) -> Any:
    """The observation of ``space`` that :func:`encode_observation` sent.

    Raises:
        WireError: when a field the space needs is missing.
    """
    layout = observation_layout(space)
    decode = codec.decode if codec is not None else decode_image
    values: dict[str, Any] = {}
    for key in layout:
        value = wire.get(key)
        if value is None:
            raise WireError(f"the observation has no {key!r} field")
        values[key] = decode(value) if key == "image" else str(value)
    if isinstance(space, spaces.Dict):
        return values
    return values[layout[0]]


# ---------------------------------------------------------------- info


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (UTF-8 cannot carry them)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


_DROP = object()


def _jsonable(value: Any, depth: int = 0) -> Any:
    if depth > 32:
        return _DROP
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_jsonable(item, depth + 1) for item in value]
        return _DROP if any(item is _DROP for item in items) else items
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            return _DROP
        out = {clean_text(key): _jsonable(item, depth + 1) for key, item in value.items()}
        return _DROP if any(item is _DROP for item in out.values()) else out
    return _DROP


def jsonable_info(info: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The JSON-able part of an info dict, and the keys left out (see the module docstring)."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in info.items():
        converted = _jsonable(value) if isinstance(key, str) else _DROP
        if converted is _DROP:
            dropped.append(str(key))
        else:
            kept[clean_text(key)] = converted
    return kept, dropped
