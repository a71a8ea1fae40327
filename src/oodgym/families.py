"""Discovering environment families through the ``oodgym.envs`` entry-point group.

A family is an importable module that registers its Gymnasium ids on import
and exposes ``oodgym_presets() -> list[dict]`` with ``id``, ``description``,
``split`` (``in-distribution``, ``rule-ood``, ``visual-ood``), ``kwargs`` and
optionally ``episodes`` (the default episode count of ``oodgym eval``).
``cardenvs`` and ``navenvs`` declare themselves in ood-gym's own metadata; a
benchmark author's package does the same in its ``pyproject.toml``::

    [project.entry-points."oodgym.envs"]
    mybench = "mybench"

This keeps the house rule: ``oodgym`` never imports the families by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

__all__ = ["PresetInfo", "load_families", "presets"]

GROUP = "oodgym.envs"


@dataclass(frozen=True)
class PresetInfo:
    """A registered id as announced by its family."""

    id: str
    family: str
    description: str
    split: str
    kwargs: dict[str, Any]
    episodes: int | None = None


def load_families() -> dict[str, ModuleType]:
    """Import every family of the entry-point group (registering its ids)."""
    families: dict[str, ModuleType] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        families[ep.name] = importlib.import_module(ep.value)
    return families


def presets() -> list[PresetInfo]:
    """Every preset of every family, in family then registration order."""
    out: list[PresetInfo] = []
    for name, module in load_families().items():
        announce = getattr(module, "oodgym_presets", None)
        if announce is None:
            continue
        for item in announce():
            episodes = item.get("episodes")
            out.append(
                PresetInfo(
                    id=str(item["id"]),
                    family=name,
                    description=str(item.get("description", "")),
                    split=str(item.get("split", "")),
                    kwargs=dict(item.get("kwargs", {})),
                    episodes=None if episodes is None else int(episodes),
                )
            )
    return out
