"""Table scenes: cards laid out on a (textured) table, rendered to an RGB array.

A :class:`TableScene` is plain, frozen data (sizes and positions as fractions of
the image), so visual variants can transform it before rendering.
:func:`render_table` composites cached card sprites onto a cached background
with NumPy; an unrotated, unoccluded card takes a fast path that copies its
opaque rows directly.

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
    key = (size, texture)
    found = TEXTURE_MAPS.get(key)
    if found is None:
        found = TEXTURE_MAPS.put(key, _make_texture_map(size, texture))
    return found


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
    key = (code, style, width)
    prepared = TABLE_SPRITES.get(key)
    if prepared is None:
        prepared = TABLE_SPRITES.put(key, _Prepared(card_sprite(code, style, width)))
    return prepared


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
    """The card ready to composite: cached when unrotated and unoccluded."""
    if card.angle % 360.0 == 0.0 and card.occlusion is None:
        if card.draw_width is None:
            return prepared_sprite(card.code, style, width)
        drawn = _pixel_width(card.draw_width, size)
        if drawn == width:
            return prepared_sprite(card.code, style, width)
        key = (card.code, style, width, drawn)
        prepared = TABLE_SPRITES.get(key)
        if prepared is None:
            rgba = _resampled_sprite(card.code, style, drawn, width)
            prepared = TABLE_SPRITES.put(key, _Prepared(rgba))
        return prepared
    return _sprite_with_extras(card, style, width, size)


def _sprite_with_extras(card: CardPlacement, style: CardStyle, width: int, size: int) -> _Prepared:
    """Sprite with its occlusion drawn and rotation applied (not cached)."""
    rgba = _source_rgba(card, style, width, size)
    occ = card.occlusion
    if occ is not None:
        rgba = rgba.copy()
        h, w = rgba.shape[:2]
        x0, x1 = round(occ.x0 * w), round(occ.x1 * w)
        y0, y1 = round(occ.y0 * h), round(occ.y1 * h)
        region = rgba[y0:y1, x0:x1]
        visible = region[:, :, 3] > 0
        region[:, :, :3][visible] = occ.grey
    if card.angle % 360.0 != 0.0:
        rgba = rotate_sprite(rgba, card.angle, style.border)
    return _Prepared(rgba, cached=False)


_SCRATCH = threading.local()


def _scratch(name: str, count: int, dtype: type[np.generic]) -> np.ndarray:
    """A per-thread scratch array of ``count`` elements (contents undefined), reused."""
    buffers: dict[str, np.ndarray] | None = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    buffer = buffers.get(name)
    if buffer is None or buffer.size < count or buffer.dtype != dtype:
        buffer = buffers[name] = np.empty(max(count, 1 << 14), dtype=dtype)
    return buffer[:count]


_ROTATION_PAD = 2  # transparent pixels around a sprite before sampling it
_SUBPIXEL_BITS = 4  # bilinear weights in 1/16 steps


def rotate_sprite(rgba: np.ndarray, angle: float, fill: tuple[int, int, int]) -> np.ndarray:
    """Rotate an RGBA sprite counter-clockwise by ``angle`` degrees about its centre.

    The result is enlarged to hold the whole rotated sprite (its centre stays the
    centre) and sampled bilinearly, with source positions and weights in steps of
    1/16 pixel, in integer NumPy arithmetic (the four channels of a pixel are
    interpolated together, two 16-bit lanes per 32-bit word). Pixels outside the
    sprite are ``(*fill, 0)``, so edges blend towards ``fill`` (the card's border
    colour). The result depends only on the arguments.

    Args:
        rgba: ``uint8`` array of shape (height, width, 4).
        angle: Degrees, counter-clockwise.
        fill: Colour of the transparent surroundings.

    Returns:
        A new C-contiguous ``uint8`` array of shape (new height, new width, 4).
    """
    h, w = rgba.shape[:2]
    pad = _ROTATION_PAD
    stride = w + 2 * pad
    padded = np.empty((h + 2 * pad, stride, 4), dtype=np.uint8)
    padded.view(np.uint32).fill(int(np.array((*fill, 0), dtype=np.uint8).view(np.uint32)[0]))
    padded[pad : pad + h, pad : pad + w] = rgba
    theta = math.radians(angle)
    cos, sin = round(math.cos(theta), 15), round(math.sin(theta), 15)
    out_w = max(1, math.ceil(abs(w * cos) + abs(h * sin) - 1e-6))
    out_h = max(1, math.ceil(abs(w * sin) + abs(h * cos) - 1e-6))
    # Source position (pixel centres of the padded sprite) of each output pixel centre,
    # in fixed point with 16 fractional bits: a row term plus a column term. Large
    # temporaries live in per-thread scratch buffers (no page faults per call).
    unit = float(1 << 16)
    xs = np.arange(out_w, dtype=np.float64) + (0.5 - out_w / 2)
    ys = np.arange(out_h, dtype=np.float64) + (0.5 - out_h / 2)
    x_of_col = np.rint((xs * cos + (w / 2 - 0.5 + pad)) * unit).astype(np.int32)
    x_of_row = np.rint(ys * sin * unit).astype(np.int32)
    y_of_col = np.rint((xs * sin + (h / 2 - 0.5 + pad)) * unit).astype(np.int32)
    y_of_row = np.rint(ys * cos * unit).astype(np.int32)
    n = out_w * out_h
    qx = _scratch("qx", n, np.int32)
    qy = _scratch("qy", n, np.int32)
    np.subtract(x_of_col[None, :], x_of_row[:, None], out=qx.reshape(out_h, out_w))
    np.add(y_of_col[None, :], y_of_row[:, None], out=qy.reshape(out_h, out_w))
    sub = 16 - _SUBPIXEL_BITS  # fixed point down to 1/16 pixel, rounded
    for q, limit in ((qx, w + 2 * pad - 2), (qy, h + 2 * pad - 2)):
        q += 1 << (sub - 1)
        q >>= sub
        np.clip(q, 0, limit << _SUBPIXEL_BITS, out=q)
    one = 1 << _SUBPIXEL_BITS
    index = _scratch("index", 4 * n, np.int32).reshape(4, n)
    np.right_shift(qy, _SUBPIXEL_BITS, out=index[0])
    index[0] *= stride
    np.right_shift(qx, _SUBPIXEL_BITS, out=index[1])
    index[0] += index[1]
    for row, offset in ((1, 1), (2, stride), (3, stride + 1)):
        np.add(index[0], offset, out=index[row])
    fx = _scratch("fx", n, np.uint32)
    fy = _scratch("fy", n, np.uint32)
    np.bitwise_and(qx, one - 1, out=fx, casting="unsafe")
    np.bitwise_and(qy, one - 1, out=fy, casting="unsafe")
    wx = _scratch("wx", 4 * n, np.uint32).reshape(4, n)
    np.subtract(one, fx, out=wx[0])
    wx[1] = fx
    wx[2] = wx[0]
    wx[3] = fx
    wy = _scratch("wy", n, np.uint32)
    np.subtract(one, fy, out=wy)
    pixels = padded.view(np.uint32).reshape(-1)
    corners = _scratch("corners", 4 * n, np.uint32).reshape(4, n)
    pixels.take(index, out=corners)  # top-left, top-right, bottom-left, bottom-right
    part = _scratch("part", 4 * n, np.uint32).reshape(4, n)
    lanes = np.uint32(0x00FF00FF)
    result = np.empty(n, dtype=np.uint32)
    for shift in (8, 0):  # channels 1 and 3, then 0 and 2, in 16-bit lanes
        np.right_shift(corners, shift, out=part)
        part &= lanes
        part *= wx
        top, bottom = part[0], part[2]
        top += part[1]
        bottom += part[3]
        top *= wy
        bottom *= fy
        top += bottom
        top += np.uint32(0x00800080)  # rounding, in both lanes
        top >>= 8
        top &= lanes
        if shift:
            np.left_shift(top, shift, out=result)
        else:
            result |= top
    return result.view(np.uint8).reshape(out_h, out_w, 4)


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
        sprite = _sprite_for(card, style, width, size)
        # Centre of the unrotated card; rotation with expand=True keeps the centre.
        cx, cy = card.center_x * size, card.center_y * size
        height, sprite_width = sprite.alpha.shape
        top = round(cy - height / 2)
        left = round(cx - sprite_width / 2)
        _composite(out, sprite, top, left)
    return out
