"""Rules of GeneralPoints: card values, target, operators, hand constraints.

Built-in rules (the paper's rule split):

* ``"face-10"``: J, Q, K count as 10 (in-distribution).
* ``"face-11-12-13"``: J, Q, K count as 11, 12, 13 and every hand holds at
  least one face card (rule OOD).

Ace is 1 in both. Authors add their own without editing the library::

    import cardenvs, gymnasium as gym
    cardenvs.register_rule("make-10", cardenvs.Rule(target=10, hand_size=3))
    env = gym.make("cardenvs/GeneralPoints-v0", rule="make-10")

A rule can also be given as a mapping that overrides fields of a registered
one, e.g. ``rule={"name": "face-10", "target": 36}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cardenvs.cards import RANKS
from oodgym.registry import Registry

__all__ = ["ALLOWED_OPERATORS", "RULES", "Rule", "register_rule", "resolve_rule", "rule_names"]

ALLOWED_OPERATORS = "+-*/"
_MAX_HAND = 6
_MAX_VALUE = 1000


@dataclass(frozen=True)
class Rule:
    """How cards are valued and what counts as a solution.

    Attributes:
        target: The value the formula must reach (default 24).
        face_values: Values of J, Q and K (default (10, 10, 10)).
        ace_value: Value of A (default 1).
        operators: Allowed binary operators, a subset of ``"+-*/"`` (default all four).
        hand_size: Cards per hand, 1..6 (default 4).
        min_face_cards: Minimum number of J/Q/K in every hand (default 0).
        name: Display name used in prompts and ``info["rule"]`` (set by the registry
            for registered rules; optional otherwise).
    """

    target: int = 24
    face_values: tuple[int, int, int] = (10, 10, 10)
    ace_value: int = 1
    operators: str = ALLOWED_OPERATORS
    hand_size: int = 4
    min_face_cards: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        def is_int(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        if not is_int(self.target):
            raise ValueError(f"Rule.target must be an int, got {self.target!r}")
        faces: Any = self.face_values
        if isinstance(faces, list):
            faces = tuple(faces)
            object.__setattr__(self, "face_values", faces)
        if not (isinstance(faces, tuple) and len(faces) == 3 and all(is_int(v) for v in faces)):
            raise ValueError(
                f"Rule.face_values must be three ints for J, Q, K, got {self.face_values!r}"
            )
        labelled = [("ace_value", self.ace_value), *zip(("J", "Q", "K"), faces, strict=True)]
        for label, value in labelled:
            if not is_int(value) or not 0 <= value <= _MAX_VALUE:
                raise ValueError(
                    f"Rule card value for {label} must be an int in 0..{_MAX_VALUE}, got {value!r}"
                )
        if (
            not isinstance(self.operators, str)
            or not self.operators
            or any(op not in ALLOWED_OPERATORS for op in self.operators)
            or len(set(self.operators)) != len(self.operators)
        ):
            raise ValueError(
                f"Rule.operators must be a non-empty subset of {ALLOWED_OPERATORS!r} "
                f"without repeats, got {self.operators!r}"
            )
        # Canonical operator order so that equal rules compare equal.
        object.__setattr__(
            self, "operators", "".join(op for op in ALLOWED_OPERATORS if op in self.operators)
        )
        if not is_int(self.hand_size) or not 1 <= self.hand_size <= _MAX_HAND:
            raise ValueError(
                f"Rule.hand_size must be an int in 1..{_MAX_HAND}, got {self.hand_size!r}"
            )
        if not is_int(self.min_face_cards) or not 0 <= self.min_face_cards <= self.hand_size:
            raise ValueError(
                f"Rule.min_face_cards must be an int in 0..hand_size ({self.hand_size}), "
                f"got {self.min_face_cards!r}"
            )
        if not isinstance(self.name, str):
            raise ValueError(f"Rule.name must be a str, got {self.name!r}")

    def value_of(self, rank: str) -> int:
        """The number a card of ``rank`` stands for."""
        if rank == "A":
            return self.ace_value
        if rank in ("J", "Q", "K"):
            return self.face_values["JQK".index(rank)]
        if rank in RANKS:
            return int(rank)
        raise ValueError(f"unknown rank {rank!r}; allowed: {', '.join(RANKS)}")

    @property
    def values(self) -> tuple[int, ...]:
        """Distinct card values under this rule, sorted."""
        return tuple(sorted({self.value_of(r) for r in RANKS}))

    def card_values_text(self) -> str:
        """How J, Q, K and A count, e.g. ``'J', 'Q' and 'K' count as 10, and 'A' counts as 1``."""
        j, q, k = self.face_values
        faces = (
            f"'J', 'Q' and 'K' count as {j}"
            if j == q == k
            else (f"'J', 'Q' and 'K' count as {j}, {q} and {k}")
        )
        return f"{faces}, and 'A' counts as {self.ace_value}"

    def describe(self) -> str:
        """One sentence for prompts: how cards are valued and what every hand holds."""
        text = self.card_values_text()
        if self.min_face_cards:
            text += f"; every hand holds at least {self.min_face_cards} of J, Q, K"
        return text

    def fingerprint(self) -> str:
        """A stable string identifying what the rule computes (name excluded)."""
        faces = ",".join(map(str, self.face_values))
        return (
            f"t={self.target};f={faces};a={self.ace_value};o={self.operators};"
            f"h={self.hand_size};m={self.min_face_cards}"
        )


RULES: Registry[Rule] = Registry("rule", value_type=Rule)


def register_rule(name: str, rule: Rule, *, description: str = "", overwrite: bool = False) -> Rule:
    """Register ``rule`` under ``name`` so that ``gym.make(..., rule=name)`` finds it.

    Raises:
        ValueError: if the name is taken (and ``overwrite`` is false) or invalid.
        TypeError: if ``rule`` is not a :class:`Rule`.
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a cardenvs.Rule, got {type(rule).__name__}")
    named = rule if rule.name == name else Rule(**{**_fields(rule), "name": name})
    RULES.register(name, named, description=description or named.describe(), overwrite=overwrite)
    return named


def _fields(rule: Rule) -> dict[str, Any]:
    return {
        "target": rule.target,
        "face_values": rule.face_values,
        "ace_value": rule.ace_value,
        "operators": rule.operators,
        "hand_size": rule.hand_size,
        "min_face_cards": rule.min_face_cards,
        "name": rule.name,
    }


def resolve_rule(spec: object) -> Rule:
    """Turn ``rule=...`` (name, mapping, ``module:attr`` or :class:`Rule`) into a :class:`Rule`."""
    if isinstance(spec, dict) and "face_values" in spec and isinstance(spec["face_values"], list):
        spec = {**spec, "face_values": tuple(spec["face_values"])}
    rule = RULES.resolve(spec, argument="rule")
    if isinstance(spec, dict) and len(spec) > 1 and "name" not in spec.keys() - {"name"}:
        # An overridden registered rule must not pass for the original in info/prompts.
        params = ",".join(f"{k}={spec[k]}" for k in sorted(spec) if k != "name")
        rule = Rule(**{**_fields(rule), "name": f"{spec['name']}({params})"})
    if not rule.name:
        rule = Rule(**{**_fields(rule), "name": "custom"})
    return rule


def rule_names() -> list[str]:
    """Names of the registered rules."""
    return RULES.names()


register_rule(
    "face-10",
    Rule(target=24, face_values=(10, 10, 10)),
    description="J, Q, K count as 10; A is 1 (paper's in-distribution rule)",
)
register_rule(
    "face-11-12-13",
    Rule(target=24, face_values=(11, 12, 13), min_face_cards=1),
    description="J, Q, K count as 11, 12, 13; at least one face card per hand (paper's rule OOD)",
)
