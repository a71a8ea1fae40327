"""Gymnasium ids of GeneralPoints: the paper's splits as presets.

Registered when ``cardenvs`` is imported (Gymnasium 1.x has no plugin loading):
``import cardenvs`` or ``gym.register_envs(cardenvs)``, or name the module in the
id: ``gym.make("cardenvs:cardenvs/GeneralPoints-v0")``.

Every id uses the paper's protocol: ``deal="paper"`` (the rule-OOD ids force one
face card and draw the rest from the deck) and ``feedback="paper"``; the text ids
deal from all 52 cards, the image ids from the black (training, rule OOD) or red
(visual OOD) deck, paired by seed. Pass ``feedback="detailed"`` or
``deal="uniform"`` to ``gym.make`` for ood-gym's earlier behaviour.
"""

from __future__ import annotations

from typing import Any

from oodgym.presets import Preset, as_dicts, register

__all__ = ["PRESETS", "Preset", "oodgym_presets", "register_presets"]

ENTRY_POINT = "cardenvs.env:GeneralPointsEnv"


#: The paper's protocol, shared by every id: its dealing scheme and its feedback.
_PAPER = {"deal": "paper", "feedback": "paper"}
#: The paper evaluated 234 episodes per GeneralPoints split (``oodgym eval``'s default here).
_EPISODES = 234

PRESETS: tuple[Preset, ...] = (
    Preset(
        "cardenvs/GeneralPoints-v0",
        "GeneralPoints, text: J/Q/K = 10, all 52 cards (paper GP-L training split)",
        "in-distribution",
        {"rule": "face-10", "suits": "all", "observation": "text", **_PAPER},
        episodes=_EPISODES,
    ),
    Preset(
        "cardenvs/GeneralPoints-RuleOOD-v0",
        "GeneralPoints, text: J/Q/K = 11/12/13, one face card forced, all 52 cards (rule OOD)",
        "rule-ood",
        {"rule": "face-11-12-13", "suits": "all", "observation": "text", **_PAPER},
        episodes=_EPISODES,
    ),
    Preset(
        "cardenvs/GeneralPoints-Image-v0",
        "GeneralPoints, image: read the cards, J/Q/K = 10, black suits (paper GP-VL training)",
        "in-distribution",
        {"rule": "face-10", "suits": "black", "observation": "image", **_PAPER},
        episodes=_EPISODES,
    ),
    Preset(
        "cardenvs/GeneralPoints-Image-RuleOOD-v0",
        "GeneralPoints, image: J/Q/K = 11/12/13, one face card forced, black suits "
        "(GP-VL rule OOD)",
        "rule-ood",
        {"rule": "face-11-12-13", "suits": "black", "observation": "image", **_PAPER},
        episodes=_EPISODES,
    ),
    Preset(
        "cardenvs/GeneralPoints-Image-VisualOOD-v0",
        "GeneralPoints, image: J/Q/K = 10, red suits, deals paired with the black deck by seed "
        "(GP-VL visual OOD)",
        "visual-ood",
        {"rule": "face-10", "suits": "red", "observation": "image", **_PAPER},
        episodes=_EPISODES,
    ),
)


def register_presets() -> None:
    """Register every preset (idempotent)."""
    register(PRESETS, ENTRY_POINT)


def oodgym_presets() -> list[dict[str, Any]]:
    """Presets as plain dicts, read by the ``oodgym`` command (entry-point protocol)."""
    return as_dicts(PRESETS)
