"""Playing cards: ranks, suits, card codes and decks.

A card code is the rank followed by the suit letter: ``"10H"``, ``"QS"``,
``"AD"``. Ranks are ``A, 2..10, J, Q, K``; suits ``S`` (spades), ``H``
(hearts), ``D`` (diamonds), ``C`` (clubs). On input ``T`` is accepted for 10
and lower case is accepted; codes are always emitted in the canonical form.

The black and red decks list their cards in matching order (spades <-> hearts,
clubs <-> diamonds), so the same draw index gives the same ranks in either
deck: in-distribution and visual-OOD results are paired by seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "FACE_RANKS",
    "RANKS",
    "SUITS",
    "SUIT_SETS",
    "Card",
    "deck",
    "parse_card",
    "parse_cards",
    "rank_from_name",
]

RANKS: Final[tuple[str, ...]] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
FACE_RANKS: Final[frozenset[str]] = frozenset({"J", "Q", "K"})
SUITS: Final[tuple[str, ...]] = ("S", "H", "D", "C")
SUIT_NAMES: Final[dict[str, str]] = {"S": "spades", "H": "hearts", "D": "diamonds", "C": "clubs"}
#: Suits of each deck option, in paired order (S<->H, C<->D).
SUIT_SETS: Final[dict[str, tuple[str, ...]]] = {
    "black": ("S", "C"),
    "red": ("H", "D"),
    "all": ("S", "C", "H", "D"),
}

_RANK_ALIASES: Final[dict[str, str]] = {
    **{r: r for r in RANKS},
    "T": "10",
    "1": "A",
    "ACE": "A",
    "JACK": "J",
    "QUEEN": "Q",
    "KING": "K",
    "TEN": "10",
    "ONE": "A",
    "TWO": "2",
    "THREE": "3",
    "FOUR": "4",
    "FIVE": "5",
    "SIX": "6",
    "SEVEN": "7",
    "EIGHT": "8",
    "NINE": "9",
}


@dataclass(frozen=True, order=True)
class Card:
    """One playing card.

    Attributes:
        rank: One of :data:`RANKS`.
        suit: One of :data:`SUITS`.
    """

    rank: str
    suit: str

    def __post_init__(self) -> None:
        if self.rank not in RANKS:
            raise ValueError(f"card rank must be one of {', '.join(RANKS)}; got {self.rank!r}")
        if self.suit not in SUITS:
            raise ValueError(f"card suit must be one of {', '.join(SUITS)}; got {self.suit!r}")

    @property
    def code(self) -> str:
        """The canonical code, e.g. ``"10H"``."""
        return self.rank + self.suit

    @property
    def is_face(self) -> bool:
        """True for J, Q and K."""
        return self.rank in FACE_RANKS

    @property
    def is_red(self) -> bool:
        """True for hearts and diamonds."""
        return self.suit in ("H", "D")

    def __str__(self) -> str:
        return self.code


def rank_from_name(name: str) -> str | None:
    """Canonical rank for a name a model may report ("10", "T", "Q", "Queen", "ace").

    Returns ``None`` when the name is not a rank.
    """
    key = name.strip().upper()
    if key.endswith("S") and key[:-1] in _RANK_ALIASES and len(key) > 2:
        key = key[:-1]  # "Kings" -> "KING"
    return _RANK_ALIASES.get(key)


def parse_card(code: str) -> Card:
    """Parse a card code such as ``"10H"``, ``"QS"``, ``"ad"`` or ``"TH"``.

    Raises:
        ValueError: naming the code and the allowed ranks and suits.
    """
    if not isinstance(code, str) or len(code.strip()) < 2:
        raise ValueError(
            f"bad card code {code!r}: expected rank ({', '.join(RANKS)}) followed by suit "
            f"({', '.join(SUITS)}), e.g. '10H', 'QS', 'AD'"
        )
    text = code.strip().upper()
    rank, suit = text[:-1], text[-1]
    rank = "10" if rank == "T" else rank
    if rank not in RANKS or suit not in SUITS:
        raise ValueError(
            f"bad card code {code!r}: expected rank ({', '.join(RANKS)}) followed by suit "
            f"({', '.join(SUITS)}), e.g. '10H', 'QS', 'AD'"
        )
    return Card(rank, suit)


def parse_cards(codes: Iterable[str]) -> tuple[Card, ...]:
    """Parse several codes; duplicates are rejected (cards are dealt without replacement)."""
    if isinstance(codes, str):
        raise ValueError(f"cards must be a list of card codes, got the string {codes!r}")
    cards = tuple(parse_card(c) for c in codes)
    seen: set[Card] = set()
    for card in cards:
        if card in seen:
            raise ValueError(f"card {card.code} appears twice; cards are dealt without replacement")
        seen.add(card)
    return cards


def deck(suits: str) -> tuple[Card, ...]:
    """The cards of a deck option (``"black"``, ``"red"`` or ``"all"``), in paired order."""
    if suits not in SUIT_SETS:
        raise ValueError(f"suits must be one of {sorted(SUIT_SETS)}; got {suits!r}")
    return tuple(Card(rank, suit) for suit in SUIT_SETS[suits] for rank in RANKS)
