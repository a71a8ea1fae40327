"""Reward tables: per-category defaults overridden by plain data from ``gym.make``."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["merge_rewards"]


def merge_rewards(
    defaults: Mapping[str, float], overrides: Mapping[str, float] | None
) -> dict[str, float]:
    """``defaults`` with ``overrides`` applied.

    Raises:
        ValueError: naming an unknown category (and the allowed ones) or a
            non-numeric reward.
    """
    merged = {key: float(value) for key, value in defaults.items()}
    if overrides is None:
        return merged
    if not isinstance(overrides, Mapping):
        raise ValueError(f"rewards must be a mapping of category -> float, got {overrides!r}")
    for key, value in overrides.items():
        if key not in defaults:
            raise ValueError(f"rewards: unknown category {key!r}; allowed: {list(defaults)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"rewards[{key!r}] must be a number, got {value!r}")
        merged[key] = float(value)
    return merged
