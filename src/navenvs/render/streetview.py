"""Procedural street views: a fast ray-cast 2x2 grid of a themed :class:`~navenvs.city.City`.

Layout of a rendered ``size x size`` grid (:data:`VIEW_LAYOUT`): four square
perspective views, each ``(size - 3) // 2`` pixels, separated by dark 3-pixel
bars of colour :data:`SEPARATOR_COLOUR` (the same grid as
:mod:`navenvs.render.panorama`; a spare row and column at the bottom and right
edge keep the separator colour when ``size - 3`` is odd):

* top-left (view 0): FRONT, the heading;
* top-right (view 1): RIGHT, heading + 90 degrees;
* bottom-left (view 2): BACK, heading + 180 degrees;
* bottom-right (view 3): LEFT, heading + 270 degrees.

Each view is a pinhole camera 2.5 m above the ground with a 90-degree field of
view. Buildings line every street: their facades are set back from the centre
lines by half the theme's street width plus the sidewalk, with openings where
streets meet (the boundaries of the blocks left over by the buffered streets).
The facade edges are split into buildings (colour, height, window rhythm drawn
from a fixed seed per city and theme). Rendering casts one ray per column of
all four views at once (numpy), maps wall heights, textures and the ground to
indices into a small colour table, gathers the image in one step, then pastes
cached sprites of trees and shop signs (far to near). A place's sign hangs on
the facade nearest to it, faces the camera, and is drawn only when it is in
view, near enough and not hidden behind a nearer wall; every drawn sign is
reported in :attr:`StreetView.signs`.

Rendering is deterministic: no randomness at render time. What rendering keeps
between calls is held in caches bounded in bytes (:mod:`oodgym.caching`):
renderers per (city, theme) (:data:`RENDERERS`, 64 MB), facade geometry per
(city, street setback) (:data:`STREET_GEOMETRY`, 16 MB), glyphs of the sign
lettering per (font, character) (:data:`SIGN_GLYPHS`, 8 MB), shop signs' coverage
at the master size (:data:`SIGN_MASTERS`, 16 MB) and their packed pixels per size
bucket (:data:`SIGN_SPRITES`, 32 MB), trees (:data:`TREE_SPRITES`, 16 MB) and
sign text layouts (8 MB). A renderer lays out its signs' text only when they
first come near the camera and composes them from cached glyphs (NumPy, no text
drawing) when they are first shown, so a new (city, theme) costs tens of
milliseconds, not a drawing of every shop in town. Sprites are pasted on the
grid as packed 32-bit pixels, turned into RGB bytes in one pass at the end.
Dropping anything from a cache never changes an image.

Example:
    >>> from navenvs.city import build_city
    >>> from navenvs.visuals import resolve_theme
    >>> renderer = StreetViewRenderer(build_city("grid", 0), resolve_theme("default"))
    >>> lat, lng = renderer.city.latlng(40)
    >>> view = renderer.render(lat, lng, 90.0, size=256)
    >>> view.image.shape, view.image.dtype.name
    ((256, 256, 3), 'uint8')
"""

from __future__ import annotations

import functools
import math
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from PIL import Image, ImageDraw

from navenvs import geo
from navenvs.city import City
from navenvs.visuals import CityTheme
from oodgym.assets import load_font
from oodgym.caching import ByteCache

__all__ = [
    "CAMERA_HEIGHT",
    "FOV_DEGREES",
    "LAYOUT_TEXT",
    "MAX_DISTANCE",
    "RENDERERS",
    "SEPARATOR_COLOUR",
    "SEPARATOR_PX",
    "SIGN_GLYPHS",
    "SIGN_MASTERS",
    "SIGN_SPRITES",
    "STREET_GEOMETRY",
    "TREE_SPRITES",
    "VIEW_LAYOUT",
    "StreetView",
    "StreetViewRenderer",
    "street_renderer",
    "view_origins",
]

#: The views of the grid, in order: top-left, top-right, bottom-left, bottom-right.
VIEW_LAYOUT: Final = ("front", "right", "back", "left")
#: One sentence describing the grid, for prompts.
LAYOUT_TEXT: Final = (
    "The image is a 2x2 grid of street views from your position: top-left looks front "
    "(your heading), top-right looks right, bottom-left looks back and bottom-right looks left."
)
#: Width of the dark bars between the views (pixels).
SEPARATOR_PX: Final = 3
#: Colour of the bars between the views.
SEPARATOR_COLOUR: Final = (20, 20, 20)
#: Camera height above the ground (metres).
CAMERA_HEIGHT: Final = 2.5
#: Horizontal (and vertical) field of view of each view (degrees).
FOV_DEGREES: Final = 90.0
#: Walls farther than this (metres) are not drawn: the street fades into haze.
MAX_DISTANCE: Final = 150.0

_SIGN_MAX_DISTANCE: Final = 70.0
_TREE_MAX_DISTANCE: Final = 80.0
_SIGN_BOTTOM: Final = 3.0  # metres above the ground
_SIGN_LINE_HEIGHT: Final = 1.0
_SIGN_MAX_WIDTH: Final = 8.0
_SIGN_MAX_HEIGHT: Final = _SIGN_LINE_HEIGHT * (2 * 1.3 + 0.4) / 1.3  # two lines
_SKYLINE_HEIGHT: Final = 18.0  # height of the hazy skyline where a street runs off (metres)
_SUN: Final = (math.sin(math.radians(135.0)), math.cos(math.radians(135.0)))
_FALLBACK_FONT: Final = "DroidSansFallbackFull.ttf"
_LATIN_FONT: Final = "DejaVuSans-Bold.ttf"
_MASTER_FONT_SIZE: Final = 40
# texture classes: wall, window, line, accent, shopfront, dark window
_K: Final = 6
_MB: Final = 1 << 20

# Caches (oodgym.caching: bounded in bytes; budgets changed with set_cache_limit or
# OODGYM_CACHE_<NAME>_MB). A street view needs, per (city, theme), its renderer; per
# shop name, font and colours, the sign drawn once at the master size and then once
# per size bucket; per tree colour, one sprite per size bucket.
#: Renderers per (city, theme): facades, buildings, trees, sign anchors (about 0.2-1 MB each).
RENDERERS: Final[ByteCache[tuple[int, CityTheme], StreetViewRenderer]] = ByteCache(
    "navenvs.street_renderers", 64 * _MB, description="street-view renderers per (city, theme)"
)
#: Facade edges per (city, street setback): shared by themes with the same street widths.
STREET_GEOMETRY: Final[ByteCache[tuple[int, float], _Facades]] = ByteCache(
    "navenvs.street_geometry", 16 * _MB, description="facade edges per (city, setback)"
)
#: Shop signs' coverage at the master size (40 px lettering), per (name, font, lettering).
SIGN_MASTERS: Final[ByteCache[tuple[Any, ...], npt.NDArray[np.uint8]]] = ByteCache(
    "navenvs.sign_masters", 16 * _MB, description="shop-sign coverage at the master size"
)
#: Glyphs of the sign lettering at the master size, per (font, character).
SIGN_GLYPHS: Final[ByteCache[tuple[str, str], _Glyph]] = ByteCache(
    "navenvs.sign_glyphs", 8 * _MB, description="shop-sign glyphs at the master size"
)
#: Shop signs scaled to a size bucket, packed, per (name, font, lettering, colours, height).
SIGN_SPRITES: Final[ByteCache[tuple[Any, ...], npt.NDArray[np.uint32]]] = ByteCache(
    "navenvs.sign_sprites", 32 * _MB, description="shop signs per size bucket"
)
#: Trees per (colours, height).
TREE_SPRITES: Final[
    ByteCache[tuple[Any, ...], tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]]
] = ByteCache("navenvs.tree_sprites", 16 * _MB, description="street trees per size bucket")
_SIGN_LAYOUTS: Final[ByteCache[tuple[str, str, bool], _SignLayout]] = ByteCache(
    "navenvs.sign_layouts", 8 * _MB, description="shop-sign text layouts (no pixels)"
)


def view_origins(size: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The cell size and the (row, column) offsets of the four views of a ``size`` grid."""
    cell = (size - SEPARATOR_PX) // 2
    far = cell + SEPARATOR_PX
    return cell, ((0, 0), (0, far), (far, 0), (far, far))


@dataclass(frozen=True, eq=False)
class StreetView:
    """A rendered 2x2 street-view grid.

    Attributes:
        image: ``(size, size, 3)`` uint8, C-contiguous and read-only (see
            :data:`VIEW_LAYOUT`); copy it to draw on it.
        signs: One ``(place name, view index 0..3, (x0, y0, x1, y1))`` per drawn
            sign, far to near; the box is in grid pixels, ``x1``/``y1`` exclusive.
    """

    image: npt.NDArray[np.uint8]
    signs: tuple[tuple[str, int, tuple[int, int, int, int]], ...]

    def signs_in_view(self, view: int) -> list[str]:
        """Names of the signs drawn in one view (0 front, 1 right, 2 back, 3 left)."""
        return [name for name, v, _ in self.signs if v == view]


# --------------------------------------------------------------------------- text sprites


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


@functools.cache
def _notdef_mask(font_file: str) -> bytes:
    font = load_font(font_file, _MASTER_FONT_SIZE)
    return bytes(font.getmask("\U0010fffd"))


@functools.lru_cache(maxsize=8192)
def _covers(font_file: str, ch: str) -> bool:
    """Whether the font has a glyph for ``ch`` (its mask differs from the missing-glyph box)."""
    if ch.isspace():
        return True
    font = load_font(font_file, _MASTER_FONT_SIZE)
    mask = font.getmask(ch)
    if mask.size[0] == 0:
        return not _is_wide(ch)
    return bytes(mask) != _notdef_mask(font_file)


def _runs(text: str, font_file: str) -> list[tuple[str, str]]:
    """Split text into (font file, run) pieces: the theme font, else DejaVu, else Droid (CJK)."""
    runs: list[tuple[str, str]] = []
    chain = (font_file, _LATIN_FONT, _FALLBACK_FONT)
    for ch in text:
        use = next((f for f in chain if _covers(f, ch)), _FALLBACK_FONT)
        if runs and runs[-1][0] == use:
            runs[-1] = (use, runs[-1][1] + ch)
        else:
            runs.append((use, ch))
    return runs


def _split_lines(text: str) -> list[str]:
    if len(text) <= 16 or " " not in text:
        return [text]
    middle = len(text) / 2
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - middle))
    return [text[:cut], text[cut + 1 :]]


class _SignLayout:
    """How a sign's text sits at the master size: the runs of each line and the sign's size.

    A line is as wide as the sum of its characters' advances (glyphs are placed one
    by one, :func:`_draw_sign`).
    """

    __slots__ = ("height", "lines", "nbytes", "width", "widths")

    def __init__(self, text: str, font_file: str, upper: bool) -> None:
        shown = text.upper() if upper else text
        size = _MASTER_FONT_SIZE
        self.lines = tuple(tuple(_runs(line, font_file)) for line in _split_lines(shown))
        widths = []
        for runs in self.lines:
            width = 0.0
            for file, run in runs:
                for ch in run:
                    width += _advance(file, ch)
            widths.append(width)
        self.widths = tuple(widths)
        line_h = int(size * 1.3)
        pad = int(size * 0.4)
        self.width = int(max(widths)) + 2 * pad
        self.height = line_h * len(self.lines) + pad
        # the strings and tuples, roughly (no pixels: a layout is small)
        self.nbytes = 300 + 120 * sum(len(runs) for runs in self.lines) + 2 * len(text)


def _sign_layout(text: str, font_file: str, upper: bool) -> _SignLayout:
    return _SIGN_LAYOUTS.get_or_build(
        (text, font_file, upper), lambda: _SignLayout(text, font_file, upper)
    )


@functools.lru_cache(maxsize=16384)
def _advance(font_file: str, ch: str) -> float:
    """How far one character moves the pen at the master size (pixels)."""
    return float(load_font(font_file, _MASTER_FONT_SIZE).getlength(ch))


class _Glyph:
    """One character's coverage at the master size and its offset from the pen position.

    The pen sits on the left edge of the character, at the vertical middle of the
    font's ascender and descender (Pillow's ``"lm"`` anchor).
    """

    __slots__ = ("left", "mask", "nbytes", "top")

    def __init__(self, font_file: str, ch: str) -> None:
        font = load_font(font_file, _MASTER_FONT_SIZE)
        left, top, right, bottom = (int(v) for v in font.getbbox(ch, anchor="lm"))
        mask = np.zeros((0, 0), dtype=np.uint8)
        if right > left and bottom > top:
            image = Image.new("L", (right - left, bottom - top), 0)
            ImageDraw.Draw(image).text((-left, -top), ch, fill=255, font=font, anchor="lm")
            mask = np.array(image, dtype=np.uint8)
        mask.flags.writeable = False
        self.mask, self.left, self.top = mask, left, top
        self.nbytes = mask.nbytes + 120


def _glyph(font_file: str, ch: str) -> _Glyph:
    """A character's glyph (drawn once per font, kept in :data:`SIGN_GLYPHS`)."""
    return SIGN_GLYPHS.get_or_build((font_file, ch), lambda: _Glyph(font_file, ch))


#: Coverage of the sign's border (a 3-pixel frame): 40 % lettering colour, 60 % background.
_BORDER_ALPHA: Final = 102


def _draw_sign(text: str, font_file: str, upper: bool) -> npt.NDArray[np.uint8]:
    """A sign's coverage (0 background .. 255 lettering) at the master size.

    Lines are ``1.3 * font size`` tall; each line is centred, its characters pasted
    one after the other from the glyph cache (overlaps keep the larger coverage).
    """
    layout = _sign_layout(text, font_file, upper)
    size = _MASTER_FONT_SIZE
    line_h = int(size * 1.3)
    pad = int(size * 0.4)
    w, h = layout.width, layout.height
    alpha = np.zeros((h, w), dtype=np.uint8)
    alpha[:3] = alpha[-3:] = _BORDER_ALPHA
    alpha[:, :3] = alpha[:, -3:] = _BORDER_ALPHA
    # per character of the sign, once: (mask, left, top, height, width, advance)
    seen: dict[tuple[str, str], tuple[npt.NDArray[np.uint8], int, int, int, int, float]] = {}
    maximum = np.maximum
    for k, runs in enumerate(layout.lines):
        x = (w - layout.widths[k]) / 2
        y = round(pad / 2 + k * line_h + line_h / 2)
        for file, run in runs:
            for ch in run:
                info = seen.get((file, ch))
                if info is None:
                    glyph = _glyph(file, ch)
                    gh, gw = glyph.mask.shape
                    info = (glyph.mask, glyph.left, glyph.top, gh, gw, _advance(file, ch))
                    seen[file, ch] = info
                mask, left, top, gh, gw, advance = info
                if gw:
                    x0, y0 = round(x) + left, y + top
                    if x0 >= 0 and y0 >= 0 and x0 + gw <= w and y0 + gh <= h:  # the usual case
                        region = alpha[y0 : y0 + gh, x0 : x0 + gw]
                        maximum(region, mask, out=region)
                    else:
                        c0, c1 = max(0, x0), min(w, x0 + gw)
                        r0, r1 = max(0, y0), min(h, y0 + gh)
                        if c0 < c1 and r0 < r1:
                            region = alpha[r0:r1, c0:c1]
                            part = mask[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
                            maximum(region, part, out=region)
                x += advance
    alpha.flags.writeable = False
    return alpha


def _sign_master(text: str, font_file: str, upper: bool) -> npt.NDArray[np.uint8]:
    """The sign's coverage at the master size (cached in :data:`SIGN_MASTERS`, read-only)."""
    return SIGN_MASTERS.get_or_build(
        (text, font_file, upper), lambda: _draw_sign(text, font_file, upper)
    )


@functools.lru_cache(maxsize=256)
def _blend_table(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> npt.NDArray[np.uint32]:
    """Packed pixels (see :func:`_pack`) of every coverage 0..255 from ``bg`` to ``fg``."""
    a = np.arange(256, dtype=np.float32)[:, None] / 255.0
    rgb = np.array(bg, np.float32) * (1.0 - a) + np.array(fg, np.float32) * a
    table = _pack(np.round(rgb).astype(np.uint8))
    table.flags.writeable = False
    return table


def _pack(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """RGB pixels ``(..., 3)`` as one uint32 each (bytes R, G, B, 0 in memory)."""
    out = np.zeros((*rgb.shape[:-1], 4), dtype=np.uint8)
    out[..., :3] = rgb
    return out.view(np.uint32).reshape(rgb.shape[:-1])


def _sign_sprite(
    text: str,
    font_file: str,
    upper: bool,
    fg: tuple[int, int, int],
    bg: tuple[int, int, int],
    height: int,
) -> npt.NDArray[np.uint32]:
    """The sign scaled to ``height`` pixels, packed (cached per size bucket, read-only)."""
    key = (text, font_file, upper, fg, bg, height)
    sprite = SIGN_SPRITES.get(key)
    if sprite is not None:
        return sprite
    master = _sign_master(text, font_file, upper)
    h, w = master.shape
    width = max(2, round(w * height / h))
    image = Image.fromarray(master).resize(
        (width, height), Image.Resampling.BILINEAR, reducing_gap=2.0
    )
    sprite = _blend_table(fg, bg)[np.asarray(image, dtype=np.uint8)]
    sprite.flags.writeable = False
    return SIGN_SPRITES.put(key, sprite)


def _size_buckets(px: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Round sprite heights to coarse buckets (exact below 12 px, then ~8% steps)."""
    small = np.maximum(2.0, np.round(px))
    steps = np.round(np.log(np.maximum(px, 12.0) / 12.0) / math.log(1.08))
    big = np.round(12.0 * 1.08**steps)
    buckets: npt.NDArray[np.intp] = np.where(px < 12.0, small, big).astype(np.intp)
    return buckets


def _draw_tree(
    canopy: tuple[int, int, int], trunk: tuple[int, int, int], height: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
    """A tree (packed pixels, mask) ``height`` pixels tall; physical box 4.4 m wide, 7.6 m tall."""
    width = max(2, round(height * 4.4 / 7.6))
    scale = 4
    W, H = width * scale, height * scale  # noqa: N806
    image = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    m = H / 7.6  # pixels per metre
    cx = W / 2
    draw.rectangle((cx - 0.18 * m, H - 3.6 * m, cx + 0.18 * m, H), fill=(*trunk, 255))
    draw.ellipse((cx - 2.2 * m, H - 7.6 * m, cx + 2.2 * m, H - 3.0 * m), fill=(*canopy, 255))
    light = tuple(min(255, int(c * 1.25 + 12)) for c in canopy)
    draw.ellipse((cx - 1.5 * m, H - 7.3 * m, cx + 0.4 * m, H - 5.2 * m), fill=(*light, 255))
    small = image.resize((width, height), Image.Resampling.BOX)
    arr = np.asarray(small, dtype=np.uint8)
    rgb = _pack(arr[:, :, :3])
    mask = np.ascontiguousarray(arr[:, :, 3] >= 128)
    rgb.flags.writeable = False
    mask.flags.writeable = False
    return rgb, mask


def _tree_sprite(
    canopy: tuple[int, int, int], trunk: tuple[int, int, int], height: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
    """A tree ``height`` pixels tall (cached in :data:`TREE_SPRITES`, read-only)."""
    return TREE_SPRITES.get_or_build(
        (canopy, trunk, height), lambda: _draw_tree(canopy, trunk, height)
    )


# --------------------------------------------------------------------------- geometry


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


@dataclass(frozen=True)
class _Frame:
    """Per-size constants."""

    cell: int
    focal: float
    xs: npt.NDArray[np.float64]  # screen x per column of one view (tan of the angle)
    ys: npt.NDArray[np.float32]  # screen y per row (tan of the elevation)
    base_lut: npt.NDArray[np.float32]  # background colours: sky/road rows, sidewalk rows, ...
    norm4: npt.NDArray[np.float64]  # length of each column's ray direction, four views
    rows: npt.NDArray[np.intp]  # (cell, 1) row numbers
    col_ids: npt.NDArray[np.intp]  # first palette entry of each column's wall colours
    below: int  # first row below the horizon (ys < 0)


class _Facades:
    """The facade edges of a city for one street setback (shared by themes with that setback).

    The facades are the boundaries of the blocks left over by the streets buffered
    by the setback (half the street width plus the sidewalk), split into straight
    edges; buildings are laid along them in one global coordinate (``offset``).
    """

    def __init__(self, city: City, setback: float) -> None:
        self.city = city  # keeps the id-keyed cache entry valid
        lines = [street.line for street in city.streets]
        roads = shapely.union_all(
            shapely.buffer(lines, setback, cap_style="square", join_style="mitre")
        )
        roads = shapely.simplify(roads, 0.02)
        shapely.prepare(roads)
        minx, miny, maxx, maxy = shapely.bounds(roads).tolist()
        box = shapely.box(minx - 80.0, miny - 80.0, maxx + 80.0, maxy + 80.0)
        rings: list[npt.NDArray[np.float64]] = []
        polygons = shapely.get_parts(shapely.difference(box, roads))
        for polygon in polygons:
            for ring in (polygon.exterior, *polygon.interiors):
                rings.append(np.asarray(ring.coords, dtype=np.float64))
        starts, ends = [], []
        for coords in rings:
            a, b = coords[:-1], coords[1:]
            keep = np.hypot(*(b - a).T) > 0.05
            starts.append(a[keep])
            ends.append(b[keep])
        p0 = np.concatenate(starts)
        p1 = np.concatenate(ends)
        vec = p1 - p0
        length = np.hypot(vec[:, 0], vec[:, 1])
        self.p0, self.vec, self.length = p0, vec, length
        normal = np.stack([-vec[:, 1], vec[:, 0]], axis=1) / length[:, None]
        self.normal = normal
        # which side of each edge faces the street
        mid = p0 + vec / 2
        toward = np.where(shapely.contains_xy(roads, *(mid + normal * 0.3).T), 1.0, -1.0)
        self.street_normal = normal * toward[:, None]
        sun = np.abs(normal @ np.array(_SUN))
        self.edge_light = (0.72 + 0.28 * sun).astype(np.float32)
        gap = 1.0
        self.offset = np.concatenate([[0.0], np.cumsum(length + gap)[:-1]])
        arrays = (p0, vec, length, normal, self.street_normal, self.edge_light, self.offset)
        self.nbytes = sum(a.nbytes for a in arrays)


def _facades(city: City, setback: float) -> _Facades:
    key = (id(city), setback)
    facades = STREET_GEOMETRY.get(key)
    if facades is None or facades.city is not city:
        facades = STREET_GEOMETRY.put(key, _Facades(city, setback))
    return facades


def street_renderer(city: City, theme: CityTheme) -> StreetViewRenderer:
    """The renderer of a (city, theme) pair, built once and kept in :data:`RENDERERS`.

    Renderers are dropped least recently used first when the cache's byte budget
    (64 MB by default) is exceeded; a dropped one is rebuilt on demand, identically.
    """
    key = (id(city), theme)
    renderer = RENDERERS.get(key)
    if renderer is None or renderer.city is not city:
        renderer = RENDERERS.put(key, StreetViewRenderer(city, theme))
    return renderer


class StreetViewRenderer:
    """Renders 2x2 street-view grids of one city in one theme.

    Build it once per (city, theme), or get a shared one from
    :func:`street_renderer`: the constructor lays out the facades (shared by
    themes with the same street and sidewalk widths), buildings, trees and sign
    anchors in a few tens of milliseconds. A sign's size is worked out (text
    layout only) the first time it comes near the camera; its pixels are drawn
    the first time it is shown, and kept in :data:`SIGN_MASTERS` and
    :data:`SIGN_SPRITES`.

    Args:
        city: The city (its streets give the geometry, its places the signs).
        theme: The theme (:func:`navenvs.visuals.resolve_theme`).
    """

    def __init__(self, city: City, theme: CityTheme) -> None:
        if not isinstance(city, City):
            raise TypeError(f"city must be a navenvs.city.City; got {type(city).__name__}")
        if not isinstance(theme, CityTheme):
            raise TypeError(f"theme must be a CityTheme; got {type(theme).__name__}")
        self.city = city
        self.theme = theme
        self._frames: dict[int, _Frame] = {}
        for font_file in (theme.sign_font, _LATIN_FONT, _FALLBACK_FONT):
            _notdef_mask(font_file)  # the sign fonts, loaded now rather than at the first sign
        rng = np.random.default_rng(_stable_seed(city.name, city.seed, theme))
        facades = _facades(city, theme.street_width / 2.0 + theme.sidewalk_width)
        self._p0, self._vec, self._len = facades.p0, facades.vec, facades.length
        self._normal, self._street_normal = facades.normal, facades.street_normal
        self._edge_light, self._edge_offset = facades.edge_light, facades.offset
        self._build_buildings(rng)
        self._build_trees(rng)
        self._build_signs()
        self._light = np.array(theme.tint, dtype=np.float32) / 255.0 * theme.brightness
        self._glow = np.array(theme.tint, dtype=np.float32) / 255.0
        self._b_lit = self._lit_colours()  # per building: the same numbers as per column

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays this renderer holds (facades included, though shared)."""
        total = sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
        for frame in self._frames.values():
            total += frame.xs.nbytes + frame.ys.nbytes + frame.base_lut.nbytes
        return total + 64 * len(self._sign_names)

    # ------------------------------------------------------------------ precomputation
    def _build_buildings(self, rng: np.random.Generator) -> None:
        """Consecutive buildings along each facade edge (widths, heights, colours, windows)."""
        theme = self.theme
        length, offsets = self._len, self._edge_offset
        b_start: list[float] = []
        b_edge: list[int] = []
        for e in range(len(length)):
            pos, end = 0.0, float(length[e])
            while pos < end - 1e-9:
                width = float(rng.uniform(7.0, 20.0))
                if end - (pos + width) < 5.0:
                    width = end - pos
                b_start.append(float(offsets[e]) + pos)
                b_edge.append(e)
                pos += width
        n = len(b_start)
        self._b_start = np.array(b_start)
        low, high = theme.building_height
        heights = rng.uniform(low, high, size=n)
        self._b_height = heights.astype(np.float32)
        self._b_color = rng.integers(len(theme.facade_colors), size=n)
        self._b_shade = rng.uniform(0.9, 1.08, size=n).astype(np.float32)
        floor = rng.uniform(3.0, 3.6, size=n)
        spacing = rng.uniform(2.2, 3.4, size=n)
        shop = rng.uniform(3.6, 4.6, size=n)
        if theme.facade_texture == "glass":
            spacing = rng.uniform(1.3, 1.9, size=n)
            floor = rng.uniform(3.4, 4.0, size=n)
            shop = rng.uniform(4.5, 6.0, size=n)
        self._b_floor = floor.astype(np.float32)
        self._b_spacing = spacing.astype(np.float32)
        self._b_shop = shop.astype(np.float32)
        colors = np.array(theme.facade_colors, dtype=np.float32)
        self._b_rgb = colors[self._b_color] * self._b_shade[:, None]

    def _build_trees(self, rng: np.random.Generator) -> None:
        theme = self.theme
        half = theme.street_width / 2.0
        clear = half + theme.sidewalk_width + 2.0
        # Candidate spots every 9 m on both sides of each long enough street, in street
        # order; one uniform draw per candidate (all drawn at once: the same numbers).
        starts, units, normals, along = [], [], [], []
        for street in self.city.streets:
            coords = np.asarray(street.line.coords, dtype=np.float64)
            a, b = coords[0], coords[-1]
            length = float(np.hypot(*(b - a)))
            if length < 2 * clear + 1:
                continue
            u = (b - a) / length
            ts = np.arange(clear, length - clear, 9.0)
            starts.append(np.broadcast_to(a, (len(ts), 2)))
            units.append(np.broadcast_to(u, (len(ts), 2)))
            normals.append(np.broadcast_to(np.array([-u[1], u[0]]), (len(ts), 2)))
            along.append(ts)
        xy = np.zeros((0, 2), dtype=np.float64)
        if along:
            a = np.repeat(np.concatenate(starts), 2, axis=0)
            u = np.repeat(np.concatenate(units), 2, axis=0)
            n = np.repeat(np.concatenate(normals), 2, axis=0)
            t = np.repeat(np.concatenate(along), 2)[:, None]
            side = np.tile([-1.0, 1.0], len(t) // 2)[:, None]
            grow = rng.random(len(t)) < theme.vegetation
            xy = (a + u * t + n * side * (half + 0.7))[grow]
        if len(xy):
            tree = shapely.STRtree([s.line for s in self.city.streets])
            near, _ = tree.query(shapely.points(xy), predicate="dwithin", distance=half + 0.3)
            keep = np.ones(len(xy), dtype=bool)
            keep[near] = False
            xy = xy[keep]
        self._trees = np.ascontiguousarray(xy)
        canopy = np.array(theme.tree_color, dtype=np.float32)
        trunk = np.array((90, 70, 55), dtype=np.float32)
        light = np.array(theme.tint, dtype=np.float32) / 255.0 * theme.brightness
        r, g, b = (int(c) for c in np.clip(canopy * light, 0, 255))
        self._tree_canopy = (r, g, b)
        r, g, b = (int(c) for c in np.clip(trunk * light, 0, 255))
        self._tree_trunk = (r, g, b)

    def _build_signs(self) -> None:
        """Anchor each place's sign on the facade nearest to it (sizes come later, lazily)."""
        city = self.city
        p0, vec, length = self._p0, self._vec, self._len
        xy = np.array(
            [geo.to_xy(place.lat, place.lng, city.origin) for place in city.places],
            dtype=np.float64,
        ).reshape(-1, 2)
        anchors = np.empty_like(xy)
        if len(xy):
            # Candidate edges per place: those within the nearest one's distance (found
            # with a spatial index) plus a margin far above rounding; the exact distance
            # below picks among them, the lowest edge first on ties, as over all edges.
            tree = shapely.STRtree(shapely.linestrings(np.stack([p0, p0 + vec], axis=1)))
            points = shapely.points(xy)
            (place_ids, _), nearest = tree.query_nearest(
                points, return_distance=True, all_matches=False
            )
            reach = np.empty(len(xy))
            reach[place_ids] = nearest + 1e-6 * (1.0 + nearest) + 1e-6
            pid, eid = tree.query(points, predicate="dwithin", distance=reach)
            d = xy[pid] - p0[eid]
            s = np.clip((d * vec[eid]).sum(axis=1) / length[eid] ** 2, 0.0, 1.0)
            foot = p0[eid] + vec[eid] * s[:, None]
            dist = np.hypot(*(xy[pid] - foot).T)
            order = np.lexsort((eid, dist, pid))
            first = order[np.flatnonzero(np.r_[True, np.diff(pid[order]) != 0])]
            if len(first) != len(xy):  # cannot happen: every place has a nearest edge
                raise RuntimeError("a shop sign found no facade")
            e = eid[first]
            anchors[pid[first]] = foot[first] + self._street_normal[e] * 0.3
        self._sign_names = tuple(place.name for place in city.places)
        self._sign_xy = anchors
        # per sign: width and height in metres, then the master's width and height in
        # pixels; NaN until the sign first comes near the camera
        self._sign_size = np.full((len(xy), 4), np.nan, dtype=np.float64)

    def _sign_sizes(self, indices: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        """Rows of :attr:`_sign_size` for some signs, laid out (text only) on first use."""
        sizes = self._sign_size
        missing = indices[np.isnan(sizes[indices, 0])]
        if missing.size:
            theme = self.theme
            upper = theme.script_style == "upper"
            for index in np.unique(missing).tolist():
                layout = _sign_layout(self._sign_names[index], theme.sign_font, upper)
                aspect, lines = layout.width / layout.height, len(layout.lines)
                height = _SIGN_LINE_HEIGHT * (lines * 1.3 + 0.4) / 1.3
                width = height * aspect
                if width > _SIGN_MAX_WIDTH:
                    height *= _SIGN_MAX_WIDTH / width
                    width = _SIGN_MAX_WIDTH
                sizes[index] = (width, height, layout.width, layout.height)
        rows: npt.NDArray[np.float64] = sizes[indices]
        return rows

    def _frame(self, size: int) -> _Frame:
        frame = self._frames.get(size)
        if frame is not None:
            return frame
        theme = self.theme
        cell, _ = view_origins(size)
        focal = cell / 2.0 / math.tan(math.radians(FOV_DEGREES / 2))
        xs = ((np.arange(cell) + 0.5 - cell / 2.0) / focal).astype(np.float64)
        horizon = cell / 2.0 + theme.horizon * cell
        ys = ((horizon - (np.arange(cell) + 0.5)) / focal).astype(np.float32)
        # sky gradient above the horizon; road gradient below (fading to ground far away)
        up = np.clip(ys / max(1e-6, float(ys.max())), 0.0, 1.0)[:, None]
        sky = (
            np.array(theme.sky_bottom, np.float32) * (1 - up)
            + np.array(theme.sky_top, np.float32) * up
        )
        down = np.clip(-ys, 1e-6, None)
        far = np.clip(1.0 - down * 6.0, 0.0, 1.0)[:, None] ** 2  # 1 at the horizon
        ground = np.array(theme.ground, np.float32)
        haze = np.array(theme.haze_color, np.float32)
        road = np.array(theme.road, np.float32) * (1 - far) + ground * far
        walk = np.array(theme.sidewalk, np.float32) * (1 - far * 0.6) + ground * far * 0.6
        road = road * (1 - far * theme.haze * 0.5) + haze * far * theme.haze * 0.5
        background = np.where((ys > 0)[:, None], sky, road)
        kerb = np.array(theme.sidewalk, np.float32) * 0.6 + 20
        lut = np.concatenate(
            [
                background,
                walk,
                np.broadcast_to(kerb, (1, 3)),
                np.array([SEPARATOR_COLOUR], np.float32),
                np.broadcast_to(haze * 0.92 + np.array(theme.sky_bottom) * 0.08, (1, 3)),
            ]
        )
        light = np.array(theme.tint, np.float32) / 255.0 * theme.brightness
        lut[: 2 * cell + 1] *= light
        lut[2 * cell + 2] *= light
        norm4 = np.tile(np.sqrt(1.0 + xs**2), 4)
        rows = np.arange(cell, dtype=np.intp)[:, None]
        col_ids = np.arange(4 * cell, dtype=np.intp) * _K + (2 * cell + 3)
        below = int(np.count_nonzero(ys >= 0))
        frame = _Frame(cell, focal, xs, ys, lut.astype(np.float32), norm4, rows, col_ids, below)
        self._frames[size] = frame
        return frame

    # ------------------------------------------------------------------ rendering
    def render(self, lat: float, lng: float, heading: float, size: int = 512) -> StreetView:
        """Render the 2x2 grid at a position, facing ``heading`` (degrees clockwise from north).

        Args:
            lat: Latitude of the camera.
            lng: Longitude of the camera.
            heading: Heading of the FRONT view.
            size: Grid size in pixels (at least 64).

        Returns:
            The image and the drawn signs.

        Raises:
            ValueError: for a bad size or non-finite coordinates.
        """
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 64:
            raise ValueError(f"size must be an int >= 64; got {size!r}")
        if not all(math.isfinite(float(v)) for v in (lat, lng, heading)):
            raise ValueError(f"lat, lng and heading must be finite; got {(lat, lng, heading)!r}")
        size = int(size)
        x, y = geo.to_xy(lat, lng, self.city.origin)
        return self._render_xy(x, y, float(heading), size)

    def _render_xy(self, x: float, y: float, heading: float, size: int) -> StreetView:
        frame = self._frame(size)
        theme = self.theme
        cell = frame.cell
        ncol = 4 * cell
        # ray directions (not normalised: the forward component is 1, so t is the depth)
        angles = np.radians(heading + 90.0 * np.arange(4))
        fwd = np.stack([np.sin(angles), np.cos(angles)], axis=1)  # (4, 2)
        right = np.stack([np.cos(angles), -np.sin(angles)], axis=1)
        dirs = (fwd[:, None, :] + right[:, None, :] * frame.xs[None, :, None]).reshape(ncol, 2)
        norm4 = frame.norm4
        depth, edge, along = self._cast(x, y, dirs, fwd, right)
        hit = depth * norm4 < MAX_DISTANCE
        depth = np.where(hit, depth, MAX_DISTANCE / norm4)
        edge = np.where(hit, edge, 0)
        # buildings hit
        gpos = self._edge_offset[edge] + along
        bld = np.clip(np.searchsorted(self._b_start, gpos, side="right") - 1, 0, None)
        u = (gpos - self._b_start[bld]).astype(np.float32)
        height = np.where(hit, self._b_height[bld], _SKYLINE_HEIGHT).astype(np.float32)
        z = depth.astype(np.float32)
        # Dense per-pixel quantities (rows x all columns), computed in place: the same
        # float32 operations as the plain formulas, so the same bits.
        ys = frame.ys[:, None]
        v = ys * z[None, :]  # height of the wall point seen by each pixel
        v += CAMERA_HEIGHT
        wall = v >= 0.0
        wall &= v <= height[None, :]
        cls = self._classes(ys, v, u, bld, z)
        # sidewalk: ground pixels within the sidewalk width of the facade
        facing = np.abs((dirs * self._normal[edge]).sum(axis=1))
        walk_depth = depth - theme.sidewalk_width / np.maximum(facing, 1e-3)
        kerb_depth = walk_depth - 0.25 / np.maximum(facing, 1e-3)
        no_walk = np.float32(np.inf)
        ys_walk = np.where(hit, -CAMERA_HEIGHT / np.maximum(walk_depth, 1e-6), no_walk).astype(
            np.float32
        )
        ys_kerb = np.where(hit, -CAMERA_HEIGHT / np.maximum(kerb_depth, 1e-6), no_walk).astype(
            np.float32
        )
        ys_walk[hit & (walk_depth <= 0)] = -np.inf
        ys_kerb[hit & (kerb_depth <= 0)] = -np.inf
        # intp indices, taken in one contiguous pass (mode "wrap": no bounds checks, and
        # every index is valid): about half the time of int32 ones taken per view
        idx = np.empty((cell, ncol), dtype=np.intp)
        idx[...] = frame.rows
        # Ground (v < 0) needs ys < 0: only the rows below the horizon can hold any.
        low = slice(frame.below, cell)
        ys_low = ys[low]
        ground = v[low] < 0.0
        np.copyto(idx[low], 2 * cell, where=ground & (ys_low > ys_kerb[None, :]))
        ground &= ys_low > ys_walk[None, :]
        np.copyto(idx[low], frame.rows[low] + cell, where=ground)
        np.add(frame.col_ids[None, :], cls, out=idx, where=wall)
        lut = np.concatenate([frame.base_lut, self._palette(bld, hit, z * norm4)])
        lut8 = np.zeros((len(lut), 4), dtype=np.uint8)
        lut8[:, :3] = np.clip(lut, 0, 255)
        lut32 = lut8.view(np.uint32).reshape(-1)
        views = np.take(lut32, idx, mode="wrap")
        grid = np.full((size, size), lut32[2 * cell + 1], dtype=np.uint32)
        _, origins = view_origins(size)
        for k, (r0, c0) in enumerate(origins):
            grid[r0 : r0 + cell, c0 : c0 + cell] = views[:, k * cell : (k + 1) * cell]
        signs = self._sprites(grid, x, y, fwd, right, z, frame, origins)
        # one pass from packed pixels to RGB bytes (Pillow's raw packer)
        packed = Image.frombuffer("RGBA", (size, size), grid, "raw", "RGBA", 0, 1)
        image = np.frombuffer(packed.tobytes("raw", "RGB"), dtype=np.uint8)
        return StreetView(image=image.reshape(size, size, 3), signs=signs)

    def _cast(
        self,
        x: float,
        y: float,
        dirs: npt.NDArray[np.float64],
        fwd: npt.NDArray[np.float64],
        right: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Depth (inf: no hit), edge index and distance along the edge, per ray.

        Each view's rays are tested against the facade edges within 150 m that reach
        into that view's 90-degree wedge (a conservative test: a ray meets no other).
        Per ray and edge the arithmetic is the same as testing every edge, and the
        edges keep their order, so the nearest hit (ties: the lower edge) is the same.
        """
        p0, vec, length = self._p0, self._vec, self._len
        d = np.array([x, y]) - p0
        s = np.clip((d * vec).sum(axis=1) / length**2, 0.0, 1.0)
        near = np.hypot(d[:, 0] - vec[:, 0] * s, d[:, 1] - vec[:, 1] * s) < MAX_DISTANCE
        sel = np.flatnonzero(near)
        n = len(dirs)
        if sel.size == 0:
            return np.full(n, np.inf), np.zeros(n, np.intp), np.zeros(n)
        q = p0[sel] - np.array([x, y])  # (m, 2)
        e = vec[sel]
        qxe = q[:, 0] * e[:, 1] - q[:, 1] * e[:, 0]  # Q x E
        # endpoints in each view's (forward, right) frame: (m, 4)
        ends = (q, q + e)
        f = [end @ fwd.T for end in ends]
        r = [end @ right.T for end in ends]
        slack = 1e-6 * (1.0 + np.abs(q).sum(axis=1))[:, None]
        outside = (
            ((r[0] - 1.05 * f[0] > slack) & (r[1] - 1.05 * f[1] > slack))
            | ((-r[0] - 1.05 * f[0] > slack) & (-r[1] - 1.05 * f[1] > slack))
            | ((f[0] < -slack) & (f[1] < -slack))
        )
        cell = n // 4
        depth = np.empty(n)
        edge = np.empty(n, dtype=np.intp)
        along = np.empty(n)
        for view in range(4):
            rays = slice(view * cell, (view + 1) * cell)
            cols = np.flatnonzero(~outside[:, view])
            if cols.size == 0:  # nothing in this view: as if no edge were hit
                cols = np.zeros(1, dtype=np.intp)
            depth[rays], edge[rays], along[rays] = self._cast_view(
                dirs[rays], q[cols], e[cols], qxe[cols], sel[cols]
            )
        # A ray that hits nothing gets the numbers of the first near edge (as when every
        # ray was tested against every near edge); they are never drawn (pure haze).
        missed = np.flatnonzero(~np.isfinite(depth))
        if missed.size:
            _, first_edge, first_along = self._cast_view(
                dirs[missed], q[:1], e[:1], qxe[:1], sel[:1], force=True
            )
            edge[missed] = first_edge
            along[missed] = first_along
        return depth, edge, along

    def _cast_view(
        self,
        dirs: npt.NDArray[np.float64],
        q: npt.NDArray[np.float64],
        e: npt.NDArray[np.float64],
        qxe: npt.NDArray[np.float64],
        sel: npt.NDArray[np.intp],
        force: bool = False,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Nearest hit of each ray among some edges (``force``: as if the first one were hit)."""
        dx, dy = dirs[:, 0:1], dirs[:, 1:2]
        denom = dx * e[None, :, 1] - dy * e[None, :, 0]  # D x E
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / denom
            t = qxe[None, :] * inv
            s_hit = (q[None, :, 0] * dy - q[None, :, 1] * dx) * inv  # Q x D / (D x E)
        ok = (t > 1e-3) & (s_hit >= 0.0) & (s_hit <= 1.0)
        t = np.where(ok, t, np.inf)
        best = np.zeros(len(dirs), dtype=np.intp) if force else np.argmin(t, axis=1)
        rows = np.arange(len(dirs))
        depth = t[rows, best]
        edge = sel[best]
        along = np.clip(s_hit[rows, best], 0.0, 1.0) * self._len[edge]
        return depth, edge, np.nan_to_num(along)

    def _classes(
        self,
        ys: npt.NDArray[np.float32],
        v: npt.NDArray[np.float32],
        u: npt.NDArray[np.float32],
        bld: npt.NDArray[np.intp],
        z: npt.NDArray[np.float32],
    ) -> npt.NDArray[np.uint8]:
        """Texture class per pixel, 0.._K-1 (only meaningful on wall pixels)."""
        texture = self.theme.facade_texture
        floor = self._b_floor[bld]
        shop = self._b_shop[bld]
        # storeys above the shop floor: an affine map of the screen row per column
        scale = (z / floor).astype(np.float32)
        shift = ((CAMERA_HEIGHT - shop) / floor).astype(np.float32)
        storeys = ys * scale[None, :]
        storeys += shift[None, :]
        whole = np.floor(storeys)
        fv = storeys - whole
        bays = u / self._b_spacing[bld]
        fu = bays - np.floor(bays)  # per column
        cls: npt.NDArray[np.uint8]
        if texture == "glass":
            win = (fu > 0.06)[None, :] & (fv > 0.1)
            cls = np.uint8(2) - win.view(np.uint8)
        else:
            if texture == "plaster":
                a, b, rows = 0.34, 0.66, (0.2, 0.75)
            elif texture == "brick":
                a, b, rows = 0.3, 0.7, (0.22, 0.78)
            else:
                a, b, rows = 0.22, 0.78, (0.25, 0.8)
            win_row = fv > rows[0]
            win_row &= fv < rows[1]
            # per column: 1 inside a window bay, 3 on its frame/shutters, 0 elsewhere
            col_cls = ((fu > a) & (fu < b)).astype(np.uint8)
            if texture == "plaster":
                col_cls[((fu > a - 0.12) & (fu <= a)) | ((fu >= b) & (fu < b + 0.12))] = 3
            elif texture == "brick":
                col_cls[((fu > a - 0.05) & (fu <= a)) | ((fu >= b) & (fu < b + 0.05))] = 3
            cls = win_row * col_cls[None, :]
            if texture == "windows-grid":
                _assign(cls, fv < 0.07, np.uint8(3))
            elif texture == "brick":
                bricks = v * np.float32(3.4)
                mortar = (bricks - np.floor(bricks)) < 0.2
                mortar &= (z < 30.0)[None, :]
                mortar &= cls == 0
                _assign(cls, mortar, np.uint8(2))
        if self.theme.lit_windows:
            bay = np.floor(bays).astype(np.int32) * 13 + bld.astype(np.int32) * 5
            dark = ((whole.astype(np.int32) * 7 + bay[None, :]) % 5) < 2
            dark &= cls == 1
            _assign(cls, dark, np.uint8(5))
        # ground floor shopfronts and the parapet line
        _assign(cls, v > (self._b_height[bld] - 0.5)[None, :], np.uint8(2))
        _assign(cls, storeys < 0, np.uint8(4))
        return cls

    def _palette(
        self, bld: npt.NDArray[np.intp], hit: npt.NDArray[np.bool_], dist: npt.NDArray[Any]
    ) -> npt.NDArray[np.float32]:
        """Per column, the colours of the texture classes, lit and fogged: (ncol * K, 3)."""
        theme = self.theme
        lit = self._b_lit[bld]  # (n, K, 3)
        n = len(bld)
        light = self._light
        fog = np.clip(dist / MAX_DISTANCE, 0.0, 1.0) ** 1.3 * theme.haze
        fog = np.where(hit, fog, 1.0)[:, None, None]
        haze = np.array(theme.haze_color, np.float32) * light
        if theme.lit_windows:
            haze = np.array(theme.haze_color, np.float32)
        out = lit * (1.0 - fog) + haze * fog
        result: npt.NDArray[np.float32] = out.reshape(n * _K, 3).astype(np.float32)
        return result

    def _lit_colours(self) -> npt.NDArray[np.float32]:
        """Per building, the lit colours of the texture classes: (buildings, K, 3)."""
        theme = self.theme
        base = self._b_rgb  # (n, 3)
        n = len(base)
        window = np.broadcast_to(np.array(theme.window_color, np.float32), (n, 3))
        dark_glass = base * 0.25 + np.array((26, 30, 38), np.float32)
        if theme.facade_texture == "glass":
            glass = window * 0.65 + base * 0.35
            pal = [base * 0.95, glass, base * 0.6, base * 0.85, dark_glass, glass * 0.8]
        elif theme.facade_texture in ("plaster", "brick"):
            pal = [base, dark_glass, base * 0.78, window, dark_glass * 0.9, dark_glass]
        else:
            pal = [base, window, base * 0.72, base * 0.82, dark_glass, dark_glass]
        colors = np.stack(pal, axis=1)  # (n, K, 3)
        colors[:, 4] = colors[:, 4] * 0.6 + np.array(theme.sign_background, np.float32) * 0.15
        light = self._light
        lit = colors * light
        if theme.lit_windows:
            lit[:, 1] = colors[:, 1] * self._glow
            lit[:, 4] = np.array((255, 190, 110), np.float32) * 0.7 * self._glow
        result: npt.NDArray[np.float32] = lit
        return result

    def _sprites(
        self,
        image: npt.NDArray[np.uint32],
        x: float,
        y: float,
        fwd: npt.NDArray[np.float64],
        right: npt.NDArray[np.float64],
        z: npt.NDArray[np.float32],
        frame: _Frame,
        origins: tuple[tuple[int, int], ...],
    ) -> tuple[tuple[str, int, tuple[int, int, int, int]], ...]:
        """Paste trees and signs on the packed grid, far to near; return the drawn signs.

        Everything but the pasting is worked out for all sprites at once: size bucket,
        box on screen, and whether any column of the box is not hidden by a nearer wall
        (a sign is also left out when the wall in front of its centre is nearer).
        """
        theme = self.theme
        cell, focal = frame.cell, frame.focal
        horizon = cell / 2.0 + theme.horizon * cell
        cam = np.array([x, y])
        found: list[tuple[npt.NDArray[Any], ...]] = []
        for code, points, limit in (
            (0, self._sign_xy, _SIGN_MAX_DISTANCE),
            (1, self._trees, _TREE_MAX_DISTANCE),
        ):
            if not len(points):
                continue
            rel = points - cam
            close = np.flatnonzero(np.abs(rel).max(axis=1) < limit)
            if not close.size:
                continue
            rel = rel[close]
            zf = rel @ fwd.T  # (m, 4) depth in each view
            xf = rel @ right.T
            at, seen_in = np.nonzero((zf > 1.0) & (np.abs(xf) < zf + 4.0))
            found.append(
                (zf[at, seen_in], np.full(len(at), code), close[at], seen_in, xf[at, seen_in])
            )
        if not found:
            return ()
        depth, kind, index, view, lateral = (
            np.concatenate(parts) for parts in zip(*found, strict=True)
        )
        is_sign = kind == 0
        n = len(depth)
        # physical size (metres), bucketed height and width (pixels) of every sprite
        height_m = np.full(n, 7.6)
        width_m = np.full(n, 4.4)
        width_px = np.zeros(n, dtype=np.intp)
        signs = np.flatnonzero(is_sign)
        if signs.size:
            sizes = self._sign_sizes(index[signs])
            width_m[signs], height_m[signs] = sizes[:, 0], sizes[:, 1]
        hp = _size_buckets(focal * height_m / depth)
        if signs.size:
            ratio = hp[signs] * sizes[:, 2] / sizes[:, 3]  # master width * hp / master height
            width_px[signs] = np.maximum(2, np.round(ratio)).astype(np.intp)
        trees = np.flatnonzero(~is_sign)
        width_px[trees] = np.maximum(2, np.round(hp[trees] * 4.4 / 7.6)).astype(np.intp)
        cx = cell / 2.0 + focal * lateral / depth
        bottom = np.where(is_sign, _SIGN_BOTTOM, 0.0)
        x0 = np.round(cx - width_px / 2.0).astype(np.intp)
        y0 = np.round(horizon - focal * (bottom + height_m - CAMERA_HEIGHT) / depth)
        y0 = y0.astype(np.intp)
        c0, c1 = np.maximum(x0, 0), np.minimum(x0 + width_px, cell)
        r0, r1 = np.maximum(y0, 0), np.minimum(y0 + hp, cell)
        tolerance = np.where(is_sign, depth - width_m / 2.0 - 0.5, depth - 1.0)
        keep = (hp >= np.where(is_sign, 5, 6)) & (c0 < c1) & (r0 < r1)
        # a sign whose centre column shows a nearer wall is hidden
        centre = np.trunc(cx)
        inside = is_sign & (centre >= 0) & (centre < cell)
        col = view * cell + np.clip(centre, 0, cell - 1).astype(np.intp)
        keep &= ~(inside & (z[col] < depth - 0.5))
        chosen = np.flatnonzero(keep)
        if chosen.size:  # some column of the box in front of every nearer wall
            base = view[chosen] * cell
            nearest = _range_max(z, base + c0[chosen], base + c1[chosen] - 1)
            chosen = chosen[nearest >= tolerance[chosen]]
        order = chosen[np.lexsort((index[chosen], kind[chosen], -depth[chosen]))]
        drawn: list[tuple[str, int, tuple[int, int, int, int]]] = []
        upper = theme.script_style == "upper"
        sign_fg, sign_bg = theme.sign_text, theme.sign_background
        canopy, trunk = self._tree_canopy, self._tree_trunk
        names = self._sign_names
        for is_tree, i, v, h, sx, sy, a0, a1, b0, b1, tol in zip(
            kind[order].tolist(),
            index[order].tolist(),
            view[order].tolist(),
            hp[order].tolist(),
            x0[order].tolist(),
            y0[order].tolist(),
            c0[order].tolist(),
            c1[order].tolist(),
            r0[order].tolist(),
            r1[order].tolist(),
            tolerance[order].tolist(),
            strict=True,
        ):
            visible = z[v * cell + a0 : v * cell + a1] >= tol  # columns not behind a nearer wall
            gr, gc = origins[v]
            target = image[gr + b0 : gr + b1, gc + a0 : gc + a1]
            if is_tree:
                rgb, mask = _tree_sprite(canopy, trunk, h)
                sub_mask = mask[b0 - sy : b1 - sy, a0 - sx : a1 - sx] & visible
                np.copyto(target, rgb[b0 - sy : b1 - sy, a0 - sx : a1 - sx], where=sub_mask)
                continue
            rgb = _sign_sprite(names[i], theme.sign_font, upper, sign_fg, sign_bg, h)
            np.copyto(target, rgb[b0 - sy : b1 - sy, a0 - sx : a1 - sx], where=visible)
            cols = np.flatnonzero(visible)
            box = (gc + a0 + int(cols[0]), gr + b0, gc + a0 + int(cols[-1]) + 1, gr + b1)
            drawn.append((names[i], v, box))
        return tuple(drawn)


def _assign(target: npt.NDArray[Any], where: npt.NDArray[np.bool_], value: Any) -> None:
    """``target[where] = value`` (broadcasting) as branch-free arithmetic in target's dtype.

    For masks that break up often (window rows, mortar), a masked copy costs several
    times as much.
    """
    change = np.subtract(value, target, dtype=target.dtype)
    change *= where
    target += change


def _range_max(
    values: npt.NDArray[np.float32], lo: npt.NDArray[np.intp], hi: npt.NDArray[np.intp]
) -> npt.NDArray[np.float32]:
    """``values[lo[i] : hi[i] + 1].max()`` for every i (a sparse table: log n vector steps)."""
    levels = [values]
    span = 1
    while 2 * span <= len(values):
        prev = levels[-1]
        levels.append(np.maximum(prev[:-span], prev[span:]))
        span *= 2
    length = hi - lo + 1
    k = np.floor(np.log2(length)).astype(np.intp)
    out = np.empty(len(lo), dtype=values.dtype)
    for level in np.unique(k).tolist():
        sel = k == level
        table = levels[level]
        out[sel] = np.maximum(table[lo[sel]], table[hi[sel] - (1 << level) + 1])
    return out
