"""GeneralPoints: the card game of "SFT Memorizes, RL Generalizes" as Gymnasium environments.

Importing the package registers the ids (see :mod:`cardenvs.registration`)::

    import gymnasium as gym
    import cardenvs

    env = gym.make("cardenvs/GeneralPoints-v0")             # J/Q/K = 10
    env = gym.make("cardenvs/GeneralPoints-RuleOOD-v0")     # J/Q/K = 11/12/13
    env = gym.make("cardenvs/GeneralPoints-Image-v0")       # cards shown only in an image

Add a rule or a visual variant without editing the library::

    cardenvs.register_rule("make-10", cardenvs.Rule(target=10))
    env = gym.make("cardenvs/GeneralPoints-v0", rule="make-10")

    class Invert(cardenvs.VisualVariant):
        name = "invert"
        def image(self, image, rng):
            return 255 - image

    cardenvs.register_visual("invert", Invert)
    env = gym.make("cardenvs/GeneralPoints-Image-v0", visuals=["invert", "rotate"])
"""

from cardenvs.cards import Card, parse_card, parse_cards
from cardenvs.env import GeneralPointsEnv
from cardenvs.expression import ExpressionError, evaluate, parse
from cardenvs.registration import PRESETS, oodgym_presets, register_presets
from cardenvs.rules import Rule, register_rule, rule_names
from cardenvs.solver import is_solvable, solution_table, solve
from cardenvs.verifier import DEFAULT_REWARDS, Verdict, Verifier
from cardenvs.visuals import VisualVariant, register_visual, visual_variants

__all__ = [
    "DEFAULT_REWARDS",
    "PRESETS",
    "Card",
    "ExpressionError",
    "GeneralPointsEnv",
    "Rule",
    "Verdict",
    "Verifier",
    "VisualVariant",
    "evaluate",
    "is_solvable",
    "oodgym_presets",
    "parse",
    "parse_card",
    "parse_cards",
    "register_rule",
    "register_visual",
    "rule_names",
    "solution_table",
    "solve",
    "visual_variants",
]

register_presets()
