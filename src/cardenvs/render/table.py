"""Table scenes: cards laid out on a (textured) table, rendered to an RGB array.

A :class:`TableScene` is plain, frozen data (sizes and positions as fractions of
the image), so visual variants can transform it before rendering.
:func:`render_table` composites cached card sprites onto a cached background
with NumPy; an unrotated, unoccluded card takes a fast path that copies its
opaque rows directly, and a rotated card is sampled (bilinearly, from the
premultiplied card) and blended in one pass over its box.

Example:
    >>> from cardenvs.render.table import default_scene, render_table
    >>> image = render_table(default_scene(["AS", "10C", "QS", "7C"], size=336))
    >>> image.shape, image.dtype.name, image.flags.c_contiguous
    ((336, 336, 3), 'uint8', True)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from cardenvs.render.sprites import (
    CARD_ASPECT,
    MAX_SPRITE_WIDTH,
    MIN_SPRITE_WIDTH,
    card_sprite,
    parse_card,
)
from cardenvs.render.styles import CardStyle, get_card_style
from oodgym.caching import ByteCache
from oodgym.validation import check_int

__all__ = [
    "BACKGROUNDS",
    "DEFAULT_BACKGROUND",
    "MAX_CARDS",
    "MAX_IMAGE_SIZE",
    "MIN_IMAGE_SIZE",
    "ROTATION_SPRITES",
    "TABLE_SPRITES",
    "TEXTURES",
    "TEXTURE_MAPS",
    "CardPlacement",
    "Occlusion",
    "TableScene",
    "check_image_size",
    "default_scene",
    "prepared_sprite",
    "render_table",
    "rotate_sprite",
    "rotation_sprite",
]

#: Allowed image sizes (pixels, inclusive).
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 224, 1200
#: Most cards :func:`default_scene` lays out.
MAX_CARDS = 6
#: Table colour of the reference environment.
DEFAULT_BACKGROUND: tuple[int, int, int] = (0x35, 0x65, 0x4D)
#: Table textures: ``plain`` (flat colour), ``felt`` (fine fibres and mottling),
#: ``wood`` (grain stripes). Textures modulate the brightness of the background colour.
TEXTURES = ("plain", "felt", "wood")

_TEXTURE_SEED = 20240917  # fixed: a texture depends only on the image size
_CARD_WIDTH = 0.21  # card width, fraction of the image, for up to 4 cards
_CARD_GAP = 0.12  # gap between cards, fraction of the card width
_ROW_WIDTH = 0.92  # most of the image width a row of cards may take

#: Table backgrounds per (size, colour, texture), read-only (oodgym.caching; 0.8 MB at
#: 512 px, 4.3 MB at 1200 px).
BACKGROUNDS: ByteCache[tuple[int, tuple[int, int, int], str], np.ndarray] = ByteCache(
    "cardenvs.backgrounds", 32 << 20, description="table backgrounds per (size, colour, texture)"
)
#: Table textures per (size, texture): brightness levels, read-only.
TEXTURE_MAPS: ByteCache[tuple[int, str], tuple[np.ndarray, np.ndarray]] = ByteCache(
    "cardenvs.textures", 16 << 20, description="table textures per (size, texture)"
)
#: Card sprites as the table composites them (contiguous colours and coverage; the same
#: bytes as :data:`cardenvs.render.sprites.SPRITES`, laid out for copying), per
#: ``(code, style, width)``, and per ``(code, style, width, drawn width)`` for sprites
#: resampled from another width (:attr:`CardPlacement.draw_width`).
TABLE_SPRITES: ByteCache[
    tuple[str, CardStyle, int] | tuple[str, CardStyle, int, int], _Prepared
] = ByteCache(
    "cardenvs.table_sprites", 96 << 20, description="card sprites laid out for compositing"
)


def check_image_size(size: object) -> int:
    """Return ``size`` if it is an allowed image size.

    Raises:
        ValueError: if ``size`` is not an int in [``MIN_IMAGE_SIZE``, ``MAX_IMAGE_SIZE``].
    """
    return check_int("image_size", size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)


def _check_finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Occlusion:
    """A flat grey rectangle drawn over a card, in fractions of the card size.

    The rectangle moves and rotates with its card.

    Attributes:
        x0: Left edge, fraction of the card width.
        y0: Top edge, fraction of the card height.
        x1: Right edge (> x0).
        y1: Bottom edge (> y0).
        grey: Grey level 0..255.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    grey: int = 128

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            value = _check_finite(f"Occlusion.{name}", getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Occlusion.{name} must be in [0, 1], got {value!r}")
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            raise ValueError(f"Occlusion needs x0 < x1 and y0 < y1, got {self!r}")
        if (
            isinstance(self.grey, bool)
            or not isinstance(self.grey, int)
            or not 0 <= self.grey <= 255
        ):
            raise ValueError(f"Occlusion.grey must be an int in [0, 255], got {self.grey!r}")


@dataclass(frozen=True)
class CardPlacement:
    """Where and how one card is drawn.

    Attributes:
        code: Card code, e.g. ``"10H"``.
        center_x: Card centre, fraction of the image width (may leave [0, 1]).
        center_y: Card centre, fraction of the image height.
        width: Card width, fraction of the image width (height is 1.4 times the width).
        angle: Counter-clockwise rotation in degrees; 0 takes the fast path. Rotated
            cards are sampled bilinearly (see :func:`rotate_sprite`).
        occlusion: Optional grey rectangle over the card.
        draw_width: ``None`` (default) draws the card at ``width``. Otherwise the
            card is drawn at this width (fraction of the image width, in (0, 1]) and
            resampled to ``width`` (bilinear): a continuous range of widths then costs
            one drawing per card plus cheap resamples (the ``scale-shift`` variant).
    """

    code: str
    center_x: float
    center_y: float
    width: float
    angle: float = 0.0
    occlusion: Occlusion | None = None
    draw_width: float | None = None

    def __post_init__(self) -> None:
        parse_card(self.code)
        _check_finite("CardPlacement.center_x", self.center_x)
        _check_finite("CardPlacement.center_y", self.center_y)
        _check_finite("CardPlacement.angle", self.angle)
        width = _check_finite("CardPlacement.width", self.width)
        if not 0.0 < width <= 1.0:
            raise ValueError(f"CardPlacement.width must be in (0, 1], got {self.width!r}")
        if self.draw_width is not None:
            drawn = _check_finite("CardPlacement.draw_width", self.draw_width)
            if not 0.0 < drawn <= 1.0:
                raise ValueError(
                    f"CardPlacement.draw_width must be None or in (0, 1], got {self.draw_width!r}"
                )
        if self.occlusion is not None and not isinstance(self.occlusion, Occlusion):
            raise ValueError(
                f"CardPlacement.occlusion must be an Occlusion or None, got {self.occlusion!r}"
            )


@dataclass(frozen=True)
class TableScene:
    """Everything needed to render one observation.

    Attributes:
        size: Image width and height in pixels, in [224, 1200].
        cards: Cards, drawn in order (later cards on top).
        background: Table colour (RGB).
        style: Card style name (see ``cardenvs.render.styles.CARD_STYLES``).
        texture: Table texture, one of :data:`TEXTURES`.
    """

    size: int
    cards: tuple[CardPlacement, ...]
    background: tuple[int, int, int] = DEFAULT_BACKGROUND
    style: str = "classic"
    texture: str = "plain"

    def __post_init__(self) -> None:
        check_image_size(self.size)
        if not isinstance(self.cards, tuple) or not all(
            isinstance(card, CardPlacement) for card in self.cards
        ):
            raise ValueError(
                f"TableScene.cards must be a tuple of CardPlacement, got {self.cards!r}"
            )
        bg = self.background
        if (
            not isinstance(bg, tuple)
            or len(bg) != 3
            or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in bg)
        ):
            raise ValueError(
                f"TableScene.background must be an (r, g, b) tuple of ints 0..255, got {bg!r}"
            )
        get_card_style(self.style)
        if self.texture not in TEXTURES:
            raise ValueError(
                f"TableScene.texture must be one of {', '.join(TEXTURES)}, got {self.texture!r}"
            )


def default_scene(codes: Sequence[str], size: int = 512, style: str = "classic") -> TableScene:
    """Lay out 1 to 6 cards side by side, centred on a plain green table.

    Up to four cards are 21 % of the image width each; more cards shrink so that
    the row keeps a margin on both sides.

    Raises:
        ValueError: for a bad size, an invalid code or a number of cards outside 1..6.
    """
    check_image_size(size)
    if isinstance(codes, str):
        raise ValueError(f"codes must be a sequence of card codes, not a string: {codes!r}")
    codes = tuple(codes)
    if not 1 <= len(codes) <= MAX_CARDS:
        raise ValueError(f"codes must hold 1 to {MAX_CARDS} cards, got {len(codes)}")
    n = len(codes)
    width = min(_CARD_WIDTH, _ROW_WIDTH / (n + (n - 1) * _CARD_GAP))
    pitch = width * (1.0 + _CARD_GAP)
    first = 0.5 - pitch * (n - 1) / 2
    cards = tuple(
        CardPlacement(code, first + i * pitch, 0.5, width) for i, code in enumerate(codes)
    )
    return TableScene(size=size, cards=cards, style=style)


# --------------------------------------------------------------------------- background
def _blurred_noise(
    rng: np.random.Generator, size: int, sigma_y: float, sigma_x: float
) -> np.ndarray:
    """Zero-mean, unit-std (size, size) noise smoothed with a Gaussian (pixels per axis).

    The blur is done in the Fourier domain, so the texture tiles seamlessly.
    """
    noise = rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    kernel = np.exp(-2.0 * np.pi**2 * ((sigma_y * fy) ** 2 + (sigma_x * fx) ** 2))
    smooth = np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(size, size))
    smooth -= smooth.mean()
    std = float(smooth.std())
    return smooth / std if std > 0 else smooth


def _make_texture_map(size: int, texture: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_TEXTURE_SEED)
    gain: np.ndarray
    if texture == "felt":
        fibres = _blurred_noise(rng, size, 0.6, 0.6)
        mottling = _blurred_noise(rng, size, size / 40, size / 40)
        gain = 1.0 + 0.045 * fibres + 0.05 * mottling
    elif texture == "wood":
        y = np.arange(size, dtype=np.float64)[:, None] / size
        warp = _blurred_noise(rng, size, size / 10, size / 4)
        grain = _blurred_noise(rng, size, 0.7, size / 12)
        rings = np.sin(2 * np.pi * (y * 7.0 + 0.25 * warp))
        gain = 1.0 + 0.07 * rings + 0.045 * grain + 0.02 * _blurred_noise(rng, size, 0.5, 0.5)
    else:
        gain = np.ones((size, size), dtype=np.float64)
    lo, hi = float(gain.min()), float(gain.max())
    span = hi - lo if hi > lo else 1.0
    levels = np.clip(np.rint((gain - lo) * (255.0 / span)), 0, 255).astype(np.uint8)
    gains = lo + span * np.arange(256, dtype=np.float64) / 255.0
    levels.flags.writeable = False
    gains.flags.writeable = False
    return levels, gains


def _texture_map(size: int, texture: str) -> tuple[np.ndarray, np.ndarray]:
    """Quantised brightness map: (levels (size, size) uint8, gains (256,) float64).

    The brightness multiplier of pixel (y, x) is ``gains[levels[y, x]]``, around 1.
    Quantising to 256 levels lets :func:`_background` colour a texture with one
    lookup table instead of floating-point arithmetic over the whole image.
    Cached in :data:`TEXTURE_MAPS` (a texture depends only on the size).
    """
    return TEXTURE_MAPS.get_or_build((size, texture), lambda: _make_texture_map(size, texture))


def _background(size: int, color: tuple[int, int, int], texture: str) -> np.ndarray:
    """Read-only (size, size, 3) uint8 table image, cached in :data:`BACKGROUNDS`."""
    key = (size, color, texture)
    image = BACKGROUNDS.get(key)
    if image is not None:
        return image
    if texture == "plain":
        image = np.empty((size, size, 3), dtype=np.uint8)
        image[:] = np.asarray(color, dtype=np.uint8)
    else:
        levels, gains = _texture_map(size, texture)
        lut = np.clip(gains[:, None] * np.asarray(color, dtype=np.float64) + 0.5, 0, 255)
        image = np.take(lut.astype(np.uint8), levels, axis=0)
    image.flags.writeable = False
    return BACKGROUNDS.put(key, image)


# --------------------------------------------------------------------------- sprites
class _Prepared:
    """A sprite ready to composite: contiguous colours, coverage and its opaque rows.

    A cached sprite also keeps, for the rows above and below its opaque block (a
    card's rounded corners), its premultiplied colours and inverse coverage, so that
    those few rows blend in a handful of array operations.
    """

    __slots__ = ("alpha", "bands", "nbytes", "opaque", "rgb")

    def __init__(self, rgba: np.ndarray, *, cached: bool = True) -> None:
        self.bands: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        if cached:  # laid out for fast copies, and the opaque middle rows found
            self.rgb = np.ascontiguousarray(rgba[:, :, :3])
            self.alpha = np.ascontiguousarray(rgba[:, :, 3])
            self.opaque = _opaque_rows(self.alpha)
            o0, o1 = self.opaque
            for r0, r1 in ((0, o0), (o1, len(self.alpha))):
                a16 = self.alpha[r0:r1, :, None].astype(np.uint16)
                self.bands[r0, r1] = (self.rgb[r0:r1] * a16, 255 - a16)
            for array in (self.rgb, self.alpha, *(a for band in self.bands.values() for a in band)):
                array.flags.writeable = False
        else:  # used once (a rotated card has no opaque rows): views, no search
            self.rgb = rgba[:, :, :3]
            self.alpha = rgba[:, :, 3]
            self.opaque = (0, 0)
        self.nbytes = self.rgb.nbytes + self.alpha.nbytes
        self.nbytes += sum(a.nbytes for band in self.bands.values() for a in band)


def _opaque_rows(alpha: np.ndarray) -> tuple[int, int]:
    """The largest block of fully opaque rows (a card's straight middle section), [r0, r1)."""
    full_rows = np.flatnonzero((alpha == 255).all(axis=1))
    if not full_rows.size:
        return (0, 0)
    breaks = np.flatnonzero(np.diff(full_rows) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [full_rows.size - 1]))
    best = int(np.argmax(ends - starts))
    return int(full_rows[starts[best]]), int(full_rows[ends[best]]) + 1


def prepared_sprite(code: str, style: CardStyle, width: int) -> _Prepared:
    """A card ready to composite, cached in :data:`TABLE_SPRITES` (drawn on first use)."""
    return TABLE_SPRITES.get_or_build(
        (code, style, width), lambda: _Prepared(card_sprite(code, style, width))
    )


def _source_rgba(card: CardPlacement, style: CardStyle, width: int, size: int) -> np.ndarray:
    """The card's RGBA sprite at ``width`` pixels: drawn, or resampled from ``draw_width``."""
    if card.draw_width is None:
        return card_sprite(card.code, style, width)
    drawn = _pixel_width(card.draw_width, size)
    if drawn == width:
        return card_sprite(card.code, style, width)
    return _resampled_sprite(card.code, style, drawn, width)


def _pixel_width(width: float, size: int) -> int:
    return min(max(round(width * size), MIN_SPRITE_WIDTH), MAX_SPRITE_WIDTH)


def _resampled_sprite(code: str, style: CardStyle, drawn: int, width: int) -> np.ndarray:
    """The sprite drawn at ``drawn`` pixels, resampled to ``width`` (bilinear; read-only).

    The four channels are resampled independently (colour is not weighted by
    coverage): transparent pixels carry the border colour, as in a drawn sprite,
    so edges keep clean colours.
    """
    rgba = np.ascontiguousarray(card_sprite(code, style, drawn))
    height = round(width * CARD_ASPECT)
    # "CMYK" is Pillow's plain four-channel mode: no alpha premultiplication.
    four = Image.frombuffer("CMYK", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "CMYK", 0, 1)
    resized = four.resize((width, height), Image.Resampling.BILINEAR)
    array = np.frombuffer(resized.tobytes(), dtype=np.uint8).reshape(height, width, 4)
    array.flags.writeable = False
    return array


def _sprite_for(card: CardPlacement, style: CardStyle, width: int, size: int) -> _Prepared:
    """The unrotated card ready to composite: cached when unoccluded."""
    if card.occlusion is None:
        if card.draw_width is None:
            return prepared_sprite(card.code, style, width)
        drawn = _pixel_width(card.draw_width, size)
        if drawn == width:
            return prepared_sprite(card.code, style, width)
        return TABLE_SPRITES.get_or_build(
            (card.code, style, width, drawn),
            lambda: _Prepared(_resampled_sprite(card.code, style, drawn, width)),
        )
    return _Prepared(_occluded_rgba(card, style, width, size), cached=False)


def _quads_for(card: CardPlacement, style: CardStyle, width: int, size: int) -> _Quads:
    """The card laid out for rotation: cached when unoccluded."""
    if card.occlusion is None:
        drawn = None if card.draw_width is None else _pixel_width(card.draw_width, size)
        return rotation_sprite(card.code, style, width, drawn)
    return _Quads(_occluded_rgba(card, style, width, size))


def _occluded_rgba(card: CardPlacement, style: CardStyle, width: int, size: int) -> np.ndarray:
    """The card's RGBA sprite with its occlusion drawn (a new array, not cached)."""
    rgba: np.ndarray = _source_rgba(card, style, width, size).copy()
    occ = card.occlusion
    if occ is not None:
        h, w = rgba.shape[:2]
        x0, x1 = round(occ.x0 * w), round(occ.x1 * w)
        y0, y1 = round(occ.y0 * h), round(occ.y1 * h)
        region = rgba[y0:y1, x0:x1]
        visible = region[:, :, 3] > 0
        region[:, :, :3][visible] = occ.grey
    return rgba


_SCRATCH = threading.local()


#: Scratch bytes a thread keeps between renders (a 512 px card needs ~3.5 MB); larger
#: requests (big cards at large image sizes) get arrays of their own, freed after use.
SCRATCH_KEEP_BYTES = 16 << 20


def _scratch(name: str, count: int, dtype: type[np.generic]) -> np.ndarray:
    """A per-thread scratch array of ``count`` elements (contents undefined), reused.

    A thread keeps at most :data:`SCRATCH_KEEP_BYTES` of them; a request that would
    go beyond gets a fresh array, not kept.
    """
    buffers: dict[str, np.ndarray] | None = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    buffer = buffers.get(name)
    if buffer is not None and buffer.size >= count and buffer.dtype == dtype:
        return buffer[:count]
    fresh = np.empty(max(count, 1 << 14), dtype=dtype)
    kept = sum(b.nbytes for key, b in buffers.items() if key != name)
    if kept + fresh.nbytes <= SCRATCH_KEEP_BYTES:
        buffers[name] = fresh
    else:
        buffers.pop(name, None)  # the old, smaller one would be of no use for this size
    return fresh[:count]


_SUBPIXEL_BITS = 4  # bilinear positions and weights in 1/16 pixel steps
_ONE = 1 << _SUBPIXEL_BITS
#: Bilinear weights of the four neighbours (top-left, top-right, bottom-left,
#: bottom-right) per fraction ``fy * 16 + fx``, in 1/256: they sum to 256.
_WEIGHTS = np.array(
    [
        ((_ONE - fx) * (_ONE - fy), fx * (_ONE - fy), (_ONE - fx) * fy, fx * fy)
        for fy in range(_ONE)
        for fx in range(_ONE)
    ],
    dtype=np.uint64,
)
_WEIGHTS.flags.writeable = False
_LANE_HALF = np.uint64(0x0080_0080_0080_0080)  # 0.5 in the low byte of every 16-bit lane
_LANE_LOW = np.uint64(0x00FF_00FF_00FF_00FF)
_LANE_HIGH = np.uint64(0xFF00_FF00_FF00_FF00)
_ALPHA_SHIFT = np.uint64(56)
_BYTE = np.uint64(8)
_BYTE_MAX = np.uint64(255)


class _Quads:
    """A sprite laid out for bilinear rotation: premultiplied 2x2 neighbourhoods.

    Each pixel of the sprite, surrounded by transparent pixels (one above and to
    the left, two below and to the right), is a 64-bit word holding its
    premultiplied red, green, blue and its alpha in four 16-bit lanes (low byte
    each): ``quads[y, x]`` holds the words of pixels (y, x), (y, x + 1),
    (y + 1, x) and (y + 1, x + 1), so one gather fetches all four neighbours and
    one multiply by the bilinear weights interpolates the four channels of a
    pixel at once. Premultiplied transparent pixels are all zero, so edges fade
    out without a colour of their own.
    """

    __slots__ = ("height", "nbytes", "quads", "width")

    def __init__(self, rgba: np.ndarray) -> None:
        h, w = rgba.shape[:2]
        alpha = rgba[:, :, 3]
        lanes = np.zeros((h + 3, w + 3, 4), dtype=np.uint16)
        colour = lanes[1 : h + 1, 1 : w + 1, :3]
        np.multiply(rgba[:, :, :3], alpha[:, :, None], out=colour, dtype=np.uint16)
        colour += 127
        colour //= 255  # premultiplied, rounded as the blend formula rounds
        lanes[1 : h + 1, 1 : w + 1, 3] = alpha
        words = lanes.view(np.uint64)[:, :, 0]
        quads = np.empty((h + 2, w + 2, 4), dtype=np.uint64)
        quads[:, :, 0] = words[:-1, :-1]
        quads[:, :, 1] = words[:-1, 1:]
        quads[:, :, 2] = words[1:, :-1]
        quads[:, :, 3] = words[1:, 1:]
        quads.flags.writeable = False
        self.quads = quads
        self.height, self.width = h, w
        self.nbytes = quads.nbytes


#: Card sprites laid out for rotation (:class:`_Quads`: 32 bytes per pixel, 0.56 MB per
#: card at 512 px, 2.9 MB at 1200 px), per ``(code, style, width)`` and ``(code, style, width, drawn
#: width)`` as :data:`TABLE_SPRITES`. Angles are not quantised: only the unrotated
#: card is kept, each rotation samples it afresh.
ROTATION_SPRITES: ByteCache[
    tuple[str, CardStyle, int] | tuple[str, CardStyle, int, int], _Quads
] = ByteCache(
    "cardenvs.rotation_sprites",
    96 << 20,  # a black deck at 1200 px (26 x 2.9 MB), a whole deck up to ~850 px
    description="card sprites as premultiplied 2x2 neighbourhoods for rotation",
)


def rotation_sprite(code: str, style: CardStyle, width: int, drawn: int | None = None) -> _Quads:
    """A card laid out for rotation, cached in :data:`ROTATION_SPRITES`.

    ``drawn`` (default ``width``) is the width the card is drawn at before it is
    resampled to ``width`` (:attr:`CardPlacement.draw_width`).
    """
    key: tuple[str, CardStyle, int] | tuple[str, CardStyle, int, int]
    if drawn is None or drawn == width:
        key = (code, style, width)
    else:
        key = (code, style, width, drawn)
    quads = ROTATION_SPRITES.get(key)
    if quads is None:
        if len(key) == 3:
            rgba = card_sprite(code, style, width)
        else:
            rgba = _resampled_sprite(code, style, drawn or width, width)
        quads = ROTATION_SPRITES.put(key, _Quads(rgba))
    return quads


def _rotated_size(h: int, w: int, angle: float) -> tuple[int, int, float, float]:
    """(height, width) of the box holding a (h, w) sprite rotated by ``angle``; cos, sin."""
    theta = math.radians(angle)
    cos, sin = round(math.cos(theta), 15), round(math.sin(theta), 15)
    out_w = max(1, math.ceil(abs(w * cos) + abs(h * sin) - 1e-6))
    out_h = max(1, math.ceil(abs(w * sin) + abs(h * cos) - 1e-6))
    return out_h, out_w, cos, sin


def _rotate_lanes(
    quads: _Quads, angle: float, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, int, int]:
    """Sample the rotated sprite over part of its box: premultiplied RGBA lanes.

    ``box`` is (row0, row1, col0, col1) within the rotated sprite's box (see
    :func:`_rotated_size`). Returns a per-thread scratch array of ``rows * cols``
    64-bit words, and rows, cols: each word holds, in the high byte of each 16-bit
    lane, the bilinear sample of premultiplied red, green, blue and alpha (rounded;
    the low bytes hold the rounding remainders).
    """
    h, w = quads.height, quads.width
    out_h, out_w, cos, sin = _rotated_size(h, w, angle)
    r0, r1, c0, c1 = box
    rows, cols = r1 - r0, c1 - c0
    n = rows * cols
    # Source position (x, y) (pixel centres of the padded sprite: sprite pixel i at
    # i + 1) of each output pixel centre, in fixed point with 16 fractional bits: a
    # column term plus a row term, then rounded to 1/16 pixel (the rounding half is
    # in the column term).
    unit = float(1 << 16)
    xs = np.arange(c0, c1, dtype=np.float64) + (0.5 - out_w / 2)
    ys = np.arange(r0, r1, dtype=np.float64) + (0.5 - out_h / 2)
    col_terms = np.outer((cos * unit, sin * unit), xs)
    col_terms += ((w / 2 + 0.5) * unit + (1 << 11),), ((h / 2 + 0.5) * unit + (1 << 11),)
    row_terms = np.outer((-sin * unit, cos * unit), ys)
    q = _scratch("q", 2 * n, np.int32).reshape(2, rows, cols)
    np.add(
        np.rint(col_terms).astype(np.int32)[:, None, :],
        np.rint(row_terms).astype(np.int32)[:, :, None],
        out=q,
    )
    q >>= 16 - _SUBPIXEL_BITS
    # Outside the sprite, positions stop on its transparent border (fraction 0).
    np.clip(q, 0, _clip_bounds(w, h), out=q)
    qx, qy = q.reshape(2, n)
    index = _scratch("index", n, np.int32)
    fraction = _scratch("fraction", n, np.int32)
    np.left_shift(qy, _SUBPIXEL_BITS, out=fraction)
    fraction &= (_ONE - 1) << _SUBPIXEL_BITS
    np.bitwise_and(qx, _ONE - 1, out=index)
    fraction |= index
    q >>= _SUBPIXEL_BITS
    np.multiply(qy, w + 2, out=index)
    index += qx
    corners = _scratch("corners", 4 * n, np.uint64)
    weights = _scratch("weights", 4 * n, np.uint64)
    quads.quads.reshape(-1, 4).view("V32")[:, 0].take(index, out=corners.view("V32"), mode="clip")
    _WEIGHTS.view("V32")[:, 0].take(fraction, out=weights.view("V32"), mode="clip")
    corners *= weights  # each lane: channel * weight <= 255 * 256
    pairs = corners.reshape(2 * n, 2)
    sums = weights[: 2 * n]
    np.add(pairs[:, 0], pairs[:, 1], out=sums)
    lanes = _scratch("lanes", n, np.uint64)
    halves = sums.reshape(n, 2)
    np.add(halves[:, 0], halves[:, 1], out=lanes)  # the weights sum to 256
    lanes += _LANE_HALF
    return lanes, rows, cols


@lru_cache(maxsize=256)
def _clip_bounds(w: int, h: int) -> np.ndarray:
    """Largest source positions (x, y) of a (h, w) sprite, in 1/16 pixel, shaped (2, 1, 1)."""
    bounds = np.array([(w + 1) << _SUBPIXEL_BITS, (h + 1) << _SUBPIXEL_BITS], dtype=np.int32)
    bounds = bounds.reshape(2, 1, 1)
    bounds.flags.writeable = False
    return bounds


def _composite_rotated(out: np.ndarray, quads: _Quads, angle: float, top: int, left: int) -> None:
    """Blend the rotated sprite into ``out``, its box's top-left corner at (top, left); clips.

    One pass over the box: bilinear samples of the premultiplied sprite
    (:func:`_rotate_lanes`) composed as ``out' = rgb + out * (255 - a) / 255``
    (rounded), in the 16-bit lanes of 64-bit words (three colours, one multiply).
    """
    out_h, out_w, _, _ = _rotated_size(quads.height, quads.width, angle)
    size_y, size_x = out.shape[:2]
    y0, y1 = max(top, 0), min(top + out_h, size_y)
    x0, x1 = max(left, 0), min(left + out_w, size_x)
    if y0 >= y1 or x0 >= x1:
        return
    lanes, rows, cols = _rotate_lanes(quads, angle, (y0 - top, y1 - top, x0 - left, x1 - left))
    n = rows * cols
    inverse = _scratch("inverse", n, np.uint64)
    np.right_shift(lanes, _ALPHA_SHIFT, out=inverse)
    inverse ^= _BYTE_MAX  # 255 - alpha
    target = out[y0:y1, x0:x1]
    mixed = _scratch("mixed", n, np.uint64)
    mixed.fill(0)
    mixed_bytes = mixed.view(np.uint8).reshape(rows, cols, 8)
    for channel in range(3):  # low bytes of the first three lanes
        mixed_bytes[:, :, 2 * channel] = target[:, :, channel]
    mixed *= inverse  # each lane: out * (255 - a) <= 255 * 255
    # x / 255 rounded, exactly, is (x + 128 + ((x + 128) >> 8)) >> 8: the high bytes.
    mixed += _LANE_HALF
    carry = _scratch("carry", n, np.uint64)
    np.right_shift(mixed, _BYTE, out=carry)
    carry &= _LANE_LOW
    mixed += carry
    mixed &= _LANE_HIGH
    # rgb <= a: the high bytes sum to at most 255, and the low bytes (the samples'
    # rounding remainders, on zeros) do not carry into them.
    mixed += lanes
    for channel in range(3):
        target[:, :, channel] = mixed_bytes[:, :, 2 * channel + 1]


def rotate_sprite(rgba: np.ndarray, angle: float, fill: tuple[int, int, int]) -> np.ndarray:
    """Rotate an RGBA sprite counter-clockwise by ``angle`` degrees about its centre.

    The result is enlarged to hold the whole rotated sprite (its centre stays the
    centre) and sampled bilinearly, with source positions and weights in steps of
    1/16 pixel, from the premultiplied sprite, as :func:`render_table` draws
    rotated cards (there without this function's un-premultiplying). Colours are
    un-premultiplied (rounded); fully transparent pixels are ``(*fill, 0)``. The
    result depends only on the arguments.

    Args:
        rgba: ``uint8`` array of shape (height, width, 4).
        angle: Degrees, counter-clockwise.
        fill: Colour of the transparent surroundings.

    Returns:
        A new C-contiguous ``uint8`` array of shape (new height, new width, 4).
    """
    quads = _Quads(np.asarray(rgba, dtype=np.uint8))
    out_h, out_w, _, _ = _rotated_size(quads.height, quads.width, angle)
    lanes, _, _ = _rotate_lanes(quads, angle, (0, out_h, 0, out_w))
    sampled = lanes.view(np.uint8).reshape(out_h, out_w, 8)[:, :, 1::2].astype(np.uint32)
    alpha = sampled[:, :, 3:]
    colour = (sampled[:, :, :3] * 255 + alpha // 2) // np.maximum(alpha, 1)
    result = np.empty((out_h, out_w, 4), dtype=np.uint8)
    result[:, :, :3] = np.where(alpha > 0, np.minimum(colour, 255), np.asarray(fill, np.uint32))
    result[:, :, 3] = alpha[:, :, 0]
    return result


def _composite(out: np.ndarray, sprite: _Prepared, top: int, left: int) -> None:
    """Blend ``sprite`` into ``out`` with its top-left corner at (top, left); clips.

    The sprite's opaque rows are copied and every other pixel is blended with
    ``(out * (255 - a) + rgb * a + 127) // 255``, the formula that gives ``out``
    at ``a = 0`` and ``rgb`` at ``a = 255``: one formula for every pixel, applied
    to whole row bands at once.
    """
    size_y, size_x = out.shape[:2]
    height, width = sprite.alpha.shape
    x0, x1 = max(left, 0), min(left + width, size_x)
    if x0 >= x1:
        return
    sx0, sx1 = x0 - left, x1 - left
    o0, o1 = sprite.opaque
    # Row bands in sprite coordinates: blend above, copy the opaque middle, blend below.
    for r0, r1, solid in ((0, o0, False), (o0, o1, True), (o1, height, False)):
        y0, y1 = max(top + r0, 0), min(top + r1, size_y)
        if y0 >= y1:
            continue
        target = out[y0:y1, x0:x1]
        rgb = sprite.rgb[y0 - top : y1 - top, sx0:sx1]
        if solid:
            target[...] = rgb
            continue
        band = sprite.bands.get((r0, r1))
        if band is not None:  # precomputed: the formula over the band's rows
            premul, inverse = band
            rows = slice(y0 - top - r0, y1 - top - r0)
            mixed = target * inverse[rows, sx0:sx1]
            mixed += premul[rows, sx0:sx1]
            mixed += 127
            mixed //= 255
            target[...] = mixed
            continue
        alpha = np.repeat(sprite.alpha[y0 - top : y1 - top, sx0:sx1, None], 3, axis=2)
        mixed = target * (255 - alpha).astype(np.uint16)
        mixed += rgb * alpha.astype(np.uint16)
        mixed += 127
        mixed //= 255
        target[...] = mixed


def render_table(scene: TableScene) -> np.ndarray:
    """Render a scene to a new C-contiguous ``uint8`` array of shape (size, size, 3).

    Cards partly outside the image are clipped. Cached backgrounds and sprites
    are never modified.
    """
    size = scene.size
    style = get_card_style(scene.style)
    out: np.ndarray = _background(size, scene.background, scene.texture).copy()
    for card in scene.cards:
        width = _pixel_width(card.width, size)
        # Centre of the unrotated card; a rotated card's box keeps the centre.
        cx, cy = card.center_x * size, card.center_y * size
        if card.angle % 360.0 != 0.0:
            quads = _quads_for(card, style, width, size)
            height, box_width, _, _ = _rotated_size(quads.height, quads.width, card.angle)
            top, left = round(cy - height / 2), round(cx - box_width / 2)
            _composite_rotated(out, quads, card.angle, top, left)
            continue
        sprite = _sprite_for(card, style, width, size)
        height, sprite_width = sprite.alpha.shape
        top = round(cy - height / 2)
        left = round(cx - sprite_width / 2)
        _composite(out, sprite, top, left)
    return out
