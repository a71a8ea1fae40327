"""Gymnasium ids of the navigation family: the paper's rule split as presets.

Registered when ``navenvs`` is imported: ``import navenvs`` or
``gym.register_envs(navenvs)``, or ``gym.make("navenvs:navenvs/Navigation-v0")``.
"""

from __future__ import annotations

from typing import Any

from navenvs.visuals import OOD_THEMES
from oodgym.presets import Preset, as_dicts, register

__all__ = ["PRESETS", "oodgym_presets", "register_presets"]

ENTRY_POINT = "navenvs.env:NavigationEnv"
#: Episodes the reference evaluates for V-IRL in-distribution and rule OOD.
_EPISODES = 48
#: The V-IRL "VLN mini" benchmark: 18 routes (two per city theme), played in order.
_MINI_BENCHMARK_EPISODES = 18

PRESETS: tuple[Preset, ...] = (
    Preset(
        "navenvs/Navigation-v0",
        "V-IRL-style navigation, text: absolute actions (north, east, ...), procedural cities "
        "(paper V-IRL-L training split)",
        "in-distribution",
        {"actions": "absolute", "feedback": "paper"},
        episodes=_EPISODES,
    ),
    Preset(
        "navenvs/Navigation-RuleOOD-v0",
        "V-IRL-style navigation, text: relative actions (left, right, slightly left, ...) "
        "(V-IRL-L rule OOD)",
        "rule-ood",
        {"actions": "relative", "feedback": "paper"},
        episodes=_EPISODES,
    ),
    Preset(
        "navenvs/Navigation-Image-v0",
        "V-IRL-style navigation, street-view grid + text: absolute actions, training theme "
        "(paper V-IRL-VL training split)",
        "in-distribution",
        {"actions": "absolute", "observation": "image", "theme": "default", "feedback": "paper"},
        episodes=_EPISODES,
    ),
    Preset(
        "navenvs/Navigation-Image-RuleOOD-v0",
        "V-IRL-style navigation, street-view grid + text: relative actions, training theme "
        "(V-IRL-VL rule OOD)",
        "rule-ood",
        {"actions": "relative", "observation": "image", "theme": "default", "feedback": "paper"},
        episodes=_EPISODES,
    ),
    Preset(
        "navenvs/Navigation-Image-VisualOOD-v0",
        "V-IRL-style navigation, street-view grid + text: absolute actions, nine OOD city "
        "themes, two routes per theme per cycle of 18 seeds (V-IRL-VL visual OOD)",
        "visual-ood",
        {
            "actions": "absolute",
            "observation": "image",
            "theme": list(OOD_THEMES),
            "feedback": "paper",
        },
        episodes=_MINI_BENCHMARK_EPISODES,
    ),
)


def register_presets() -> None:
    """Register every preset (idempotent)."""
    register(PRESETS, ENTRY_POINT)


def oodgym_presets() -> list[dict[str, Any]]:
    """Presets as plain dicts, read by the ``oodgym`` command (entry-point protocol)."""
    return as_dicts(PRESETS)
