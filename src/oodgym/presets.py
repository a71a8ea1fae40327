"""Registered ids as data: one table of presets per family, registered in a loop.

A family declares its ids as :class:`Preset` rows, calls :func:`register` on
import, and exposes ``oodgym_presets()`` (returning :func:`as_dicts` of its
table) for the ``oodgym`` command and the conformance kit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

__all__ = ["SPLITS", "Preset", "as_dicts", "register"]

#: The splits of the paper.
SPLITS = ("in-distribution", "rule-ood", "visual-ood")


@dataclass(frozen=True)
class Preset:
    """One registered id.

    Attributes:
        id: The Gymnasium id.
        description: One line for listings.
        split: One of :data:`SPLITS`.
        kwargs: Constructor arguments (plain data, so ``EnvSpec.to_json`` works).
        episodes: Episodes ``oodgym eval`` plays for this id when ``--episodes``
            is not given (the paper's count for its split); ``None``: the
            evaluation default.
    """

    id: str
    description: str
    split: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    episodes: int | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"Preset.split must be one of {SPLITS}, got {self.split!r}")
        episodes = self.episodes
        if episodes is not None and (
            isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1
        ):
            raise ValueError(f"Preset.episodes must be None or an int >= 1, got {self.episodes!r}")


def register(presets: Iterable[Preset], entry_point: str) -> None:
    """Register every preset with Gymnasium (idempotent)."""
    for preset in presets:
        if preset.id not in gym.registry:
            gym.register(id=preset.id, entry_point=entry_point, kwargs=dict(preset.kwargs))


def as_dicts(presets: Iterable[Preset]) -> list[dict[str, Any]]:
    """Presets as plain dicts (the ``oodgym_presets()`` protocol)."""
    return [
        {
            "id": p.id,
            "description": p.description,
            "split": p.split,
            "kwargs": dict(p.kwargs),
            "episodes": p.episodes,
        }
        for p in presets
    ]
