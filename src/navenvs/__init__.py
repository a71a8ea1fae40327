"""V-IRL-style navigation environments (work in progress: no ids are registered yet).

The navigation family follows written route instructions through procedural
cities; see the project issues for its plan. This package already exposes the
entry-point protocol that ``oodgym`` reads, so tools treat it uniformly.
"""

from typing import Any

__all__ = ["oodgym_presets"]


def oodgym_presets() -> list[dict[str, Any]]:
    """Registered navigation presets (none yet)."""
    return []
