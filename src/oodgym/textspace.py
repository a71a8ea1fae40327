"""Text spaces with an explicit character set.

Gymnasium's ``spaces.Text`` defaults to letters and digits, which rejects every
prompt (spaces, punctuation, newlines). Observations of ood-gym environments are
plain ASCII text (feedback never echoes raw model characters; see
:func:`ascii_safe`), so one charset serves all of them. Actions are free model
output: the action space documents what a policy *may* send; the environments
accept any ``str``.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = [
    "ACTION_CHARSET",
    "OBSERVATION_CHARSET",
    "CharsetText",
    "ImageBox",
    "action_space",
    "ascii_safe",
    "observation_space",
    "prompt_image_space",
]

#: Every character an observation may contain: printable ASCII plus newline and tab.
OBSERVATION_CHARSET: str = "".join(sorted(set(string.printable) - {"\x0b", "\x0c", "\r"}))

#: Characters a sampled action may contain: printable ASCII, whitespace and the
#: typographic operators models commonly emit.
ACTION_CHARSET: str = OBSERVATION_CHARSET + "\r×÷−–‘’“”…"


class CharsetText(spaces.Text):
    """``spaces.Text`` whose membership test runs at C speed.

    Gymnasium's ``Text.contains`` tests a string one character at a time in
    Python (~40 us for a 600-character prompt); this subclass asks the same
    question of the character set at once (``frozenset.issuperset``), with the
    same answer for every input. Everything else (sampling, equality, flattening,
    batching for vector environments, pickling) is ``Text``'s own.
    """

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is a ``str`` of allowed length made of allowed characters."""
        return (
            isinstance(x, str)
            and self.min_length <= len(x) <= self.max_length
            and self._char_set.issuperset(x)
        )


def observation_space(max_length: int, extra_chars: str = "") -> spaces.Text:
    """A ``Text`` space for prompts of up to ``max_length`` characters.

    Args:
        max_length: Longest prompt.
        extra_chars: Characters beyond printable ASCII that prompts may hold (for
            example the letters of non-ASCII landmark names).
    """
    charset = OBSERVATION_CHARSET
    if extra_chars:
        charset += "".join(sorted(set(extra_chars) - set(OBSERVATION_CHARSET)))
    return CharsetText(max_length=max_length, min_length=0, charset=charset)


class ImageBox(spaces.Box):
    """A ``uint8`` ``Box`` over the whole 0..255 range whose membership test is O(1).

    Gymnasium's ``Box.contains`` compares every element with both bounds (~1 ms
    for a 512 x 512 x 3 frame, paid by its environment checker and by every
    per-step conformance check). When the bounds are the whole ``uint8`` range,
    an array that casts safely to ``uint8`` (``uint8`` or ``bool``) and has the
    right shape is inside whatever its values, so this subclass answers from the
    dtype and shape; anything else gets ``Box``'s own answer.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._whole_range = bool(
            self.dtype == np.uint8 and np.all(self.low == 0) and np.all(self.high == 255)
        )

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is an image of this space (``Box.contains``' answer, faster)."""
        if (
            self._whole_range
            and type(x) is np.ndarray  # not a subclass such as a masked array
            and np.can_cast(x.dtype, np.uint8)
        ):
            return bool(x.shape == self.shape)
        return bool(super().contains(x))


def prompt_image_space(text: spaces.Text, image_size: int) -> spaces.Dict:
    """``{"text": <text space>, "image": uint8 image_size x image_size x 3}`` observations."""
    return spaces.Dict(
        {
            "text": text,
            "image": ImageBox(0, 255, (image_size, image_size, 3), dtype=np.uint8),
        }
    )


def action_space(max_length: int, extra_chars: str = "") -> spaces.Text:
    """A ``Text`` space for raw model answers of up to ``max_length`` characters.

    Args:
        max_length: Longest answer.
        extra_chars: Characters beyond :data:`ACTION_CHARSET` that answers may
            hold (the letters of names the model is expected to repeat, so that
            the expert's own answer lies inside the space).
    """
    charset = ACTION_CHARSET
    if extra_chars:
        charset += "".join(sorted(set(extra_chars) - set(ACTION_CHARSET)))
    return CharsetText(max_length=max_length, min_length=0, charset=charset)


_SAFE = frozenset(OBSERVATION_CHARSET) - {"\n", "\t"}


def ascii_safe(text: str, limit: int = 40) -> str:
    """Quote model text for a feedback message: ASCII only, one line, at most ``limit`` chars.

    Characters outside printable ASCII become ``U+XXXX`` so that feedback stays
    inside the observation space and never carries control characters.
    """
    out: list[str] = []
    size = 0
    for ch in text:
        piece = ch if ch in _SAFE else f"U+{ord(ch):04X}"
        if size + len(piece) > limit:
            out.append("...")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)
