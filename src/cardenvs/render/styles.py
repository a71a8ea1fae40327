"""Card styles: palettes, fonts and shapes for the procedural card renderer.

A :class:`CardStyle` is a frozen description of how a card face looks. The
renderer looks styles up by name in :data:`CARD_STYLES`; two are built in:

* ``"classic"``: white card, black and red inks, DejaVu Sans Bold, gold court panels;
* ``"alt"``: cream card, navy and vermilion inks, DejaVu Serif Bold, rounder
  corners and teal court panels (a distribution shift that keeps suit colours readable).

Example:
    >>> from cardenvs.render.styles import CardStyle, get_card_style, register_card_style
    >>> get_card_style("classic").font
    'DejaVuSans-Bold.ttf'
    >>> _ = register_card_style(CardStyle(name="mint", face=(225, 245, 232)))
    >>> get_card_style("mint").red_ink
    (200, 16, 32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from oodgym.assets import available_fonts

__all__ = [
    "CARD_STYLES",
    "COURT_PATTERNS",
    "CardStyle",
    "get_card_style",
    "register_card_style",
]

RGB = tuple[int, int, int]

#: Patterns available for the background of court-card panels.
COURT_PATTERNS = ("hatch", "dots", "plain")


def _check_rgb(field: str, value: object) -> RGB:
    if (
        not isinstance(value, tuple)
        or len(value) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        raise ValueError(
            f"CardStyle.{field} must be an (r, g, b) tuple of ints in 0..255, got {value!r}"
        )
    return value


def _check_fraction(field: str, value: object, lo: float, hi: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ValueError(f"CardStyle.{field} must be a number in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class CardStyle:
    """How a card face is drawn.

    Attributes:
        name: Registry name of the style.
        face: Card face colour (RGB).
        border: Colour of the thin card outline.
        black_ink: Ink of spades and clubs.
        red_ink: Ink of hearts and diamonds; keep it clearly red so that suit colour reads.
        font: Bundled font file used for ranks (see ``oodgym.assets.available_fonts``).
        corner_radius: Corner radius as a fraction of the card width.
        border_width: Outline width as a fraction of the card width.
        court_panel: Fill colour of the framed panel of J, Q and K.
        court_pattern_color: Colour of the panel pattern.
        court_pattern: Panel pattern, one of :data:`COURT_PATTERNS`.
        court_frame: Colour of the panel frame lines.
    """

    name: str
    face: RGB = (255, 255, 255)
    border: RGB = (140, 140, 140)
    black_ink: RGB = (20, 20, 20)
    red_ink: RGB = (200, 16, 32)
    font: str = "DejaVuSans-Bold.ttf"
    corner_radius: float = 0.07
    border_width: float = 0.012
    court_panel: RGB = (250, 226, 150)
    court_pattern_color: RGB = (232, 196, 96)
    court_pattern: str = "hatch"
    court_frame: RGB = (40, 40, 40)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"CardStyle.name must be a non-empty string, got {self.name!r}")
        for field in (
            "face",
            "border",
            "black_ink",
            "red_ink",
            "court_panel",
            "court_pattern_color",
            "court_frame",
        ):
            _check_rgb(field, getattr(self, field))
        fonts = available_fonts()
        if self.font not in fonts:
            raise ValueError(
                f"CardStyle.font must be a bundled font ({', '.join(fonts)}), got {self.font!r}"
            )
        _check_fraction("corner_radius", self.corner_radius, 0.0, 0.25)
        _check_fraction("border_width", self.border_width, 0.0, 0.05)
        if self.court_pattern not in COURT_PATTERNS:
            raise ValueError(
                f"CardStyle.court_pattern must be one of {', '.join(COURT_PATTERNS)}, "
                f"got {self.court_pattern!r}"
            )

    def ink(self, suit: str) -> RGB:
        """Return the ink colour of a suit letter (``"H"``/``"D"`` red, others black)."""
        return self.red_ink if suit in ("H", "D") else self.black_ink


#: Registered styles by name. Use :func:`register_card_style` to add one.
CARD_STYLES: dict[str, CardStyle] = {}


def register_card_style(style: CardStyle, *, overwrite: bool = False) -> CardStyle:
    """Register ``style`` under ``style.name`` and return it.

    Raises:
        TypeError: if ``style`` is not a :class:`CardStyle`.
        ValueError: if the name is taken and ``overwrite`` is false.
    """
    if not isinstance(style, CardStyle):
        raise TypeError(f"expected a CardStyle, got {type(style).__name__}")
    if style.name in CARD_STYLES and not overwrite:
        raise ValueError(
            f"card style {style.name!r} is already registered; pass overwrite=True to replace it"
        )
    CARD_STYLES[style.name] = style
    return style


def get_card_style(style: str | CardStyle) -> CardStyle:
    """Return the registered style called ``style`` (a :class:`CardStyle` passes through).

    Raises:
        ValueError: for an unknown name, listing the registered styles.
    """
    if isinstance(style, CardStyle):
        return style
    found = CARD_STYLES.get(style) if isinstance(style, str) else None
    if found is None:
        raise ValueError(
            f"unknown card style {style!r}; registered: {', '.join(map(repr, CARD_STYLES))}"
        )
    return found


register_card_style(CardStyle(name="classic"))
register_card_style(
    CardStyle(
        name="alt",
        face=(247, 238, 214),
        border=(120, 92, 60),
        black_ink=(22, 34, 86),
        red_ink=(214, 58, 24),
        font="DejaVuSerif-Bold.ttf",
        corner_radius=0.14,
        border_width=0.02,
        court_panel=(196, 228, 220),
        court_pattern_color=(150, 200, 190),
        court_pattern="dots",
        court_frame=(22, 34, 86),
    )
)
