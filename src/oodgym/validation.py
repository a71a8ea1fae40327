"""Argument checks shared by constructors: a bad value fails with a ``ValueError`` naming it."""

from __future__ import annotations

import numbers

__all__ = ["check_int"]


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``.

    Raises:
        ValueError: naming ``name`` and the allowed range.
    """
    number = int(value) if isinstance(value, numbers.Integral) else None
    if (
        isinstance(value, bool)
        or number is None
        or number < low
        or (high is not None and number > high)
    ):
        allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {allowed}, got {value!r}")
    return number
