"""Gymnasium ids of GeneralPoints: the paper's splits as presets.

Registered when ``cardenvs`` is imported (Gymnasium 1.x has no plugin loading):
``import cardenvs`` or ``gym.register_envs(cardenvs)``, or name the module in the
id: ``gym.make("cardenvs:cardenvs/GeneralPoints-v0")``.
"""

from __future__ import annotations

from typing import Any

from oodgym.presets import Preset, as_dicts, register

__all__ = ["PRESETS", "Preset", "oodgym_presets", "register_presets"]

ENTRY_POINT = "cardenvs.env:GeneralPointsEnv"


PRESETS: tuple[Preset, ...] = (
    Preset(
        "cardenvs/GeneralPoints-v0",
        "GeneralPoints, text: J/Q/K = 10, black suits (paper GP-L training split)",
        "in-distribution",
        {"rule": "face-10", "suits": "black", "observation": "text"},
    ),
    Preset(
        "cardenvs/GeneralPoints-RuleOOD-v0",
        "GeneralPoints, text: J/Q/K = 11/12/13, one face card or more, black suits (rule OOD)",
        "rule-ood",
        {"rule": "face-11-12-13", "suits": "black", "observation": "text"},
    ),
    Preset(
        "cardenvs/GeneralPoints-Image-v0",
        "GeneralPoints, image: read the cards, J/Q/K = 10, black suits (paper GP-VL training)",
        "in-distribution",
        {"rule": "face-10", "suits": "black", "observation": "image"},
    ),
    Preset(
        "cardenvs/GeneralPoints-Image-RuleOOD-v0",
        "GeneralPoints, image: J/Q/K = 11/12/13, black suits (GP-VL rule OOD)",
        "rule-ood",
        {"rule": "face-11-12-13", "suits": "black", "observation": "image"},
    ),
    Preset(
        "cardenvs/GeneralPoints-Image-VisualOOD-v0",
        "GeneralPoints, image: J/Q/K = 10, red suits, deals paired with the black deck by seed "
        "(GP-VL visual OOD)",
        "visual-ood",
        {"rule": "face-10", "suits": "red", "observation": "image"},
    ),
)


def register_presets() -> None:
    """Register every preset (idempotent)."""
    register(PRESETS, ENTRY_POINT)


def oodgym_presets() -> list[dict[str, Any]]:
    """Presets as plain dicts, read by the ``oodgym`` command (entry-point protocol)."""
    return as_dicts(PRESETS)
