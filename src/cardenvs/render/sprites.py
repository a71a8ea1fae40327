"""Procedural playing-card sprites drawn with Pillow.

Cards are drawn at a higher resolution (supersampling) and downsampled with
Lanczos filtering. Suits are drawn as polygons and ellipses, so the result does
not depend on the font having suit glyphs. Ranks use a bundled DejaVu font.

The layout is a "jumbo index" design: a large rank and suit in the top-left
corner (repeated upside down in the bottom-right corner), standard pip layouts
in a central column for 2-10, one large pip for aces, and a framed panel with a
large J, Q or K and suit symbols for court cards.

Example:
    >>> from cardenvs.render.sprites import card_sprite
    >>> sprite = card_sprite("10H", "classic", 100)
    >>> sprite.shape, sprite.dtype.name
    ((140, 100, 4), 'uint8')
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from cardenvs.render.styles import CardStyle, get_card_style
from oodgym.assets import load_font
from oodgym.caching import ByteCache
from oodgym.validation import check_int

__all__ = [
    "CARD_ASPECT",
    "INDEX_BOX",
    "MAX_SPRITE_WIDTH",
    "MIN_SPRITE_WIDTH",
    "RANKS",
    "SPRITES",
    "SUITS",
    "card_sprite",
    "parse_card",
]

#: Ranks in order, as used in card codes.
RANKS: tuple[str, ...] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
#: Suit letters: spades, hearts, diamonds, clubs.
SUITS: tuple[str, ...] = ("S", "H", "D", "C")
#: Card height divided by card width.
CARD_ASPECT = 1.4
#: Smallest and largest sprite width in pixels.
MIN_SPRITE_WIDTH = 8
MAX_SPRITE_WIDTH = 2000

RGB = tuple[int, int, int]
Point = tuple[float, float]

# Layout, as fractions of the card width (x) or height (y).
_INDEX_X0 = 0.035  # left edge of the corner index column
_INDEX_W = 0.25  # width of the corner index column
_RANK_Y0 = 0.035  # top of the rank glyphs
_RANK_H = 0.15  # cap height of the rank glyphs
_SUIT_GAP = 0.022  # gap between rank and corner suit
_SUIT_H = 0.085  # height of the corner suit
_INDEX_Y1 = _RANK_Y0 + _RANK_H + _SUIT_GAP + _SUIT_H

#: Box of the top-left corner index as fractions ``(x0, y0, x1, y1)`` of the card
#: width and height. The bottom-right index is the same box rotated by 180 degrees.
INDEX_BOX: tuple[float, float, float, float] = (
    0.0,
    0.0,
    round(_INDEX_X0 + _INDEX_W + 0.015, 3),
    round(_INDEX_Y1 + 0.015, 3),
)

_PIP_COLS = {"L": 0.385, "C": 0.5, "R": 0.615}  # x, fraction of width
_PIP_TOP, _PIP_BOTTOM = 0.14, 0.86  # y of first and last pip rows, fraction of height
# Pip positions (column, row in [0, 1] between _PIP_TOP and _PIP_BOTTOM).
_PIP_LAYOUTS: dict[str, tuple[tuple[str, float], ...]] = {
    "2": (("C", 0.0), ("C", 1.0)),
    "3": (("C", 0.0), ("C", 0.5), ("C", 1.0)),
    "4": (("L", 0.0), ("R", 0.0), ("L", 1.0), ("R", 1.0)),
    "5": (("L", 0.0), ("R", 0.0), ("C", 0.5), ("L", 1.0), ("R", 1.0)),
    "6": (("L", 0.0), ("R", 0.0), ("L", 0.5), ("R", 0.5), ("L", 1.0), ("R", 1.0)),
    "7": (("L", 0.0), ("R", 0.0), ("C", 0.25), ("L", 0.5), ("R", 0.5), ("L", 1.0), ("R", 1.0)),
    "8": (
        ("L", 0.0),
        ("R", 0.0),
        ("C", 0.25),
        ("L", 0.5),
        ("R", 0.5),
        ("C", 0.75),
        ("L", 1.0),
        ("R", 1.0),
    ),
    "9": (
        ("L", 0.0),
        ("R", 0.0),
        ("L", 1 / 3),
        ("R", 1 / 3),
        ("C", 0.5),
        ("L", 2 / 3),
        ("R", 2 / 3),
        ("L", 1.0),
        ("R", 1.0),
    ),
    "10": (
        ("L", 0.0),
        ("R", 0.0),
        ("C", 1 / 6),
        ("L", 1 / 3),
        ("R", 1 / 3),
        ("L", 2 / 3),
        ("R", 2 / 3),
        ("C", 5 / 6),
        ("L", 1.0),
        ("R", 1.0),
    ),
}
_PIP_H = {"9": 0.13, "10": 0.13}  # pip height, fraction of width (default below)
_PIP_H_DEFAULT = 0.145
_ACE_H = 0.48  # fraction of width


def parse_card(code: str) -> tuple[str, str]:
    """Split a card code such as ``"10H"`` into ``("10", "H")``.

    Raises:
        ValueError: if ``code`` is not a valid card code.
    """
    if isinstance(code, str) and len(code) >= 2:
        rank, suit = code[:-1], code[-1]
        if rank in RANKS and suit in SUITS:
            return rank, suit
    raise ValueError(
        f"invalid card code {code!r}: expected a rank from {', '.join(RANKS)} followed by a "
        f"suit from {', '.join(SUITS)} (spades, hearts, diamonds, clubs), e.g. '10H' or 'QS'"
    )


# --------------------------------------------------------------------------- suit shapes
# Shapes live in a unit box: height 1, centred on (0, 0), y pointing down.
# A shape is a list of polygons and circles (cx, cy, r).


def _heart_outline(n: int = 96) -> list[Point]:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x = 16.0 * np.sin(t) ** 3
    y = -(13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t))
    y0, y1 = float(y.min()), float(y.max())
    scale = 1.0 / (y1 - y0)
    return [
        (float(a) * scale * 0.92, float(b - y0) * scale - 0.5) for a, b in zip(x, y, strict=True)
    ]


def _stem(top: float) -> list[Point]:
    steps = 12
    right = [
        (0.035 + 0.195 * (s / steps) ** 2.2, top + (0.5 - top) * s / steps)
        for s in range(steps + 1)
    ]
    left = [(-x, y) for x, y in reversed(right)]
    return right + left


class _Shape:
    def __init__(
        self, polygons: Sequence[list[Point]], circles: Sequence[tuple[float, float, float]]
    ):
        self.polygons = [list(p) for p in polygons]
        self.circles = list(circles)


def _make_shapes() -> dict[str, _Shape]:
    heart = _heart_outline()
    # Spade: an upside-down heart for the body (top 80 %) plus a flared stem.
    body = [(x * 0.98, -y * 0.8 - 0.1) for x, y in heart]
    spade = _Shape([body, _stem(0.0)], [])
    # Club: three circles, a filler and a stem.
    r = 0.235
    club = _Shape(
        [_stem(0.05)],
        [(0.0, -0.5 + r, r), (-0.255, 0.075, r), (0.255, 0.075, r), (0.0, 0.02, 0.15)],
    )
    # Diamond: slightly concave sides.
    half_w, bulge, steps = 0.37, 0.035, 10
    diamond: list[Point] = []
    corners = [(0.0, -0.5), (half_w, 0.0), (0.0, 0.5), (-half_w, 0.0)]
    for i in range(4):
        (x0, y0), (x1, y1) = corners[i], corners[(i + 1) % 4]
        for s in range(steps):
            f = s / steps
            px, py = x0 + (x1 - x0) * f, y0 + (y1 - y0) * f
            inward = bulge * math.sin(math.pi * f)
            norm = math.hypot(px, py) or 1.0
            diamond.append((px - inward * px / norm, py - inward * py / norm))
    return {"H": _Shape([heart], []), "S": spade, "C": club, "D": _Shape([diamond], [])}


_SHAPES = _make_shapes()


def _draw_suit(
    draw: ImageDraw.ImageDraw,
    suit: str,
    cx: float,
    cy: float,
    height: float,
    color: RGB,
    *,
    flip: bool = False,
) -> None:
    """Draw a suit symbol of ``height`` pixels centred on (cx, cy); ``flip`` rotates by 180°."""
    shape = _SHAPES[suit]
    sign = -1.0 if flip else 1.0
    fill = (*color, 255)
    for poly in shape.polygons:
        draw.polygon([(cx + sign * x * height, cy + sign * y * height) for x, y in poly], fill=fill)
    for x, y, r in shape.circles:
        px, py, pr = cx + sign * x * height, cy + sign * y * height, r * height
        draw.ellipse((px - pr, py - pr, px + pr, py + pr), fill=fill)


# --------------------------------------------------------------------------- text
@functools.lru_cache(maxsize=64)
def _text_master(text: str, font_file: str) -> tuple[Image.Image, float, int]:
    """Large mask of ``text``: (mask cropped to ink and cap line, cap height px, cap line row)."""
    font = load_font(font_file, 240)
    cap_top = float(font.getbbox("H", anchor="ls")[1])  # negative: cap line above baseline
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    pad = 8
    canvas = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
    baseline = pad - top
    ImageDraw.Draw(canvas).text((pad - left, baseline), text, font=font, fill=255, anchor="ls")
    ink = canvas.getbbox()
    assert ink is not None
    cap_row = round(baseline + cap_top)
    y0 = min(cap_row, ink[1])
    return canvas.crop((ink[0], y0, ink[2], ink[3])), -cap_top, cap_row - y0


def _text_mask(
    text: str, font_file: str, cap_height: float, max_width: float
) -> tuple[Image.Image, int]:
    """Mask of ``text`` with the given cap height, squeezed to ``max_width``; (mask, cap row)."""
    master, master_cap, cap_row = _text_master(text, font_file)
    scale = cap_height / master_cap
    width = master.width * scale
    sx = min(scale, max_width / master.width) if width > max_width else scale
    size = (max(1, round(master.width * sx)), max(1, round(master.height * scale)))
    return master.resize(size, Image.Resampling.LANCZOS), round(cap_row * scale)


# --------------------------------------------------------------------------- card parts
class _Canvas:
    """A supersampled card image with helpers that mirror drawings by 180 degrees."""

    def __init__(self, width: int, height: int, style: CardStyle):
        self.w, self.h, self.style = width, height, style
        self.image = Image.new("RGBA", (width, height), (*style.border, 0))
        self.draw = ImageDraw.Draw(self.image)

    def suit(self, suit: str, fx: float, fy: float, size: float, color: RGB, flip: bool) -> None:
        """Draw a suit at fractions (fx, fy) of the card; size is a fraction of the width."""
        cx, cy = fx * self.w, fy * self.h
        if flip:
            cx, cy = self.w - cx, self.h - cy
        _draw_suit(self.draw, suit, cx, cy, size * self.w, color, flip=flip)

    def text(
        self,
        text: str,
        center_x: float,
        cap_top: float,
        cap_height: float,
        max_width: float,
        color: RGB,
        flip: bool,
    ) -> None:
        """Draw text centred on ``center_x`` with its cap line at ``cap_top`` (pixels)."""
        mask, cap_row = _text_mask(text, self.style.font, cap_height, max_width)
        x0, y0 = round(center_x - mask.width / 2), round(cap_top) - cap_row
        if flip:
            mask = mask.transpose(Image.Transpose.ROTATE_180)
            x0, y0 = self.w - x0 - mask.width, self.h - y0 - mask.height
        self.image.paste((*color, 255), (x0, y0, x0 + mask.width, y0 + mask.height), mask)


def _draw_index(canvas: _Canvas, rank: str, suit: str, ink: RGB) -> None:
    w, h = canvas.w, canvas.h
    center = (_INDEX_X0 + _INDEX_W / 2) * w
    suit_cy = (_RANK_Y0 + _RANK_H + _SUIT_GAP + _SUIT_H / 2) * h
    for flip in (False, True):
        canvas.text(rank, center, _RANK_Y0 * h, _RANK_H * h, _INDEX_W * w, ink, flip)
        canvas.suit(suit, center / w, suit_cy / h, _SUIT_H * h / w, ink, flip)


def _court_outline(w: int, h: int, margin: float, notch_x: float, notch_y: float) -> list[Point]:
    """Panel polygon with notches for the two corner indices (pixels)."""
    return [
        (notch_x, margin),
        (w - margin, margin),
        (w - margin, h - notch_y),
        (w - notch_x, h - notch_y),
        (w - notch_x, h - margin),
        (margin, h - margin),
        (margin, notch_y),
        (notch_x, notch_y),
    ]


def _draw_pattern(size: tuple[int, int], style: CardStyle, step: float) -> Image.Image:
    layer = Image.new("RGBA", size, (*style.court_panel, 255))
    draw = ImageDraw.Draw(layer)
    color = (*style.court_pattern_color, 255)
    w, h = size
    if style.court_pattern == "hatch":
        line = max(1, round(step * 0.28))
        offset = float(-h)
        while offset < w:
            draw.line([(offset, 0), (offset + h, h)], fill=color, width=line)
            draw.line([(offset + h, 0), (offset, h)], fill=color, width=line)
            offset += step
    elif style.court_pattern == "dots":
        r = step * 0.2
        row = 0
        y = step / 2
        while y < h + step:
            x = step / 2 + (step / 2 if row % 2 else 0.0)
            while x < w + step:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
                x += step
            y += step * 0.87
            row += 1
    return layer


def _emblem(canvas: _Canvas, rank: str, cx: float, base_y: float, width: float, color: RGB) -> None:
    """A crown (K), a tiara (Q) or a feathered cap (J) standing on ``base_y`` (pixels)."""
    draw = canvas.draw
    fill = (*color, 255)
    half = width / 2
    height = width * 0.42
    top = base_y - height
    band = height * 0.28
    if rank == "J":
        draw.pieslice(
            (cx - half * 0.75, base_y - height * 1.3, cx + half * 0.75, base_y + height * 0.3),
            180,
            360,
            fill=fill,
        )
        draw.rectangle((cx - half, base_y - band * 0.6, cx + half, base_y), fill=fill)
        feather = [
            (cx + half * 0.3, base_y - height * 0.6),
            (cx + half * 1.05, top - height * 0.2),
            (cx + half * 0.75, base_y - height * 0.55),
        ]
        draw.polygon(feather, fill=fill)
        return
    points = 3 if rank == "K" else 5
    peak = top if rank == "K" else top + height * 0.3
    outline = [(cx - half, base_y)]
    for i in range(points):
        x_peak = cx - half + width * i / (points - 1)
        if i:
            x_valley = x_peak - width / (points - 1) / 2
            outline.append((x_valley, base_y - band * 1.4))
        outline.append((x_peak, peak))
    outline.append((cx + half, base_y))
    draw.polygon(outline, fill=fill)
    r = width * (0.075 if rank == "K" else 0.06)
    for x, y in outline[1:-1:2]:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _draw_court(canvas: _Canvas, rank: str, suit: str, ink: RGB) -> None:
    style, w, h = canvas.style, canvas.w, canvas.h
    margin = max(0.05, 0.42 * style.corner_radius) * w  # keep the panel inside round corners
    notch_x = (INDEX_BOX[2] + 0.01) * w
    notch_y = (INDEX_BOX[3] + 0.005) * h
    outline = _court_outline(w, h, margin, notch_x, notch_y)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    canvas.image.paste(_draw_pattern((w, h), style, step=0.075 * w), (0, 0), mask)
    line = max(1, round(0.014 * w))
    frame = (*style.court_frame, 255)
    canvas.draw.polygon(outline, outline=frame, width=line)
    inset = 0.035 * w
    inner = _court_outline(w, h, margin + inset, notch_x + inset, notch_y + inset)
    canvas.draw.polygon(inner, outline=(*ink, 255), width=max(1, line // 2))
    # Medallion with an emblem above a large letter, centred as a group.
    canvas.draw.ellipse(
        (0.12 * w, 0.305 * h, 0.88 * w, 0.695 * h),
        fill=(*style.face, 255),
        outline=frame,
        width=line,
    )
    emblem_w = 0.28 * w
    emblem_h = emblem_w * 0.42
    cap, gap = 0.19 * h, 0.012 * h
    group_top = 0.5 * h - (emblem_h + gap + cap) / 2 - 0.012 * h
    _emblem(canvas, rank, 0.5 * w, group_top + emblem_h, emblem_w, ink)
    canvas.text(rank, 0.5 * w, group_top + emblem_h + gap, cap, 0.5 * w, ink, False)
    # Large suits in the free corners of the panel.
    suit_x = (notch_x + w - margin) / 2 / w
    suit_y = (margin + notch_y) / 2 / h
    for flip in (False, True):
        canvas.suit(suit, suit_x, suit_y, 0.24, ink, flip)


def _draw_pips(canvas: _Canvas, rank: str, suit: str, ink: RGB) -> None:
    if rank == "A":
        canvas.suit(suit, 0.5, 0.5, _ACE_H, ink, False)
        return
    size = _PIP_H.get(rank, _PIP_H_DEFAULT)
    for col, row in _PIP_LAYOUTS[rank]:
        fy = _PIP_TOP + (_PIP_BOTTOM - _PIP_TOP) * row
        flip = fy > 0.5 + 1e-9
        fx = _PIP_COLS[col]
        if flip:  # _Canvas.suit mirrors flipped positions, so pass the mirrored point
            fx, fy = 1.0 - fx, 1.0 - fy
        canvas.suit(suit, fx, fy, size, ink, flip)


def _supersampling(width: int) -> int:
    if width <= 90:
        return 4
    return 3 if width <= 320 else 2


def _render(rank: str, suit: str, style: CardStyle, width: int) -> np.ndarray:
    height = round(width * CARD_ASPECT)
    ss = _supersampling(width)
    canvas = _Canvas(width * ss, height * ss, style)
    radius = style.corner_radius * width * ss
    border = max(ss, round(style.border_width * width * ss))
    canvas.draw.rounded_rectangle(
        (0, 0, canvas.w - 1, canvas.h - 1),
        radius=radius,
        fill=(*style.face, 255),
        outline=(*style.border, 255),
        width=border,
    )
    ink = style.ink(suit)
    body: Callable[[_Canvas, str, str, RGB], None] = (
        _draw_court if rank in ("J", "Q", "K") else _draw_pips
    )
    body(canvas, rank, suit, ink)
    _draw_index(canvas, rank, suit, ink)
    # Resample colour and coverage separately: transparent pixels carry the border colour,
    # so edge pixels keep clean colours (no un-premultiplication noise at low alpha).
    size = (width, height)
    rgb = canvas.image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    alpha = canvas.image.getchannel("A").resize(size, Image.Resampling.LANCZOS)
    rgb.putalpha(alpha)
    array = np.array(rgb, dtype=np.uint8)
    array.flags.writeable = False
    return array


#: Card sprites per (rank, suit, style, width): RGBA, read-only (oodgym.caching; a 512 px
#: table's cards are 107 px wide, 63 KB each; 96 MB holds every card at ~30 widths, most
#: of what the ``scale-shift`` variant draws at 512 px).
SPRITES: ByteCache[tuple[str, str, CardStyle, int], np.ndarray] = ByteCache(
    "cardenvs.card_sprites", 96 << 20, description="card sprites per (card, style, width)"
)


def _cached_sprite(rank: str, suit: str, style: CardStyle, width: int) -> np.ndarray:
    return SPRITES.get_or_build(
        (rank, suit, style, width), lambda: _render(rank, suit, style, width)
    )


def card_sprite(code: str, style: str | CardStyle, width: int) -> np.ndarray:
    """Return the RGBA image of one card (cached, read-only).

    Args:
        code: Card code, rank + suit, e.g. ``"10H"``, ``"QS"``, ``"AD"``.
        style: A registered style name (see :data:`~cardenvs.render.styles.CARD_STYLES`)
            or a :class:`~cardenvs.render.styles.CardStyle`.
        width: Sprite width in pixels; the height is ``round(width * 1.4)``.

    Returns:
        A read-only, C-contiguous ``uint8`` array of shape ``(height, width, 4)``.
        Copy it before modifying.

    Raises:
        ValueError: for an invalid code, unknown style or a width outside
            ``[MIN_SPRITE_WIDTH, MAX_SPRITE_WIDTH]``.
    """
    rank, suit = parse_card(code)
    card_style = get_card_style(style)
    width = check_int("sprite width", width, MIN_SPRITE_WIDTH, MAX_SPRITE_WIDTH)
    return _cached_sprite(rank, suit, card_style, int(width))
