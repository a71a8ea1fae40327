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

Rendering is deterministic: no randomness at render time.

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

__all__ = [
    "CAMERA_HEIGHT",
    "FOV_DEGREES",
    "LAYOUT_TEXT",
    "MAX_DISTANCE",
    "SEPARATOR_COLOUR",
    "SEPARATOR_PX",
    "VIEW_LAYOUT",
    "StreetView",
    "StreetViewRenderer",
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
_SKYLINE_HEIGHT: Final = 18.0  # height of the hazy skyline where a street runs off (metres)
_SUN: Final = (math.sin(math.radians(135.0)), math.cos(math.radians(135.0)))
_FALLBACK_FONT: Final = "DroidSansFallbackFull.ttf"
_LATIN_FONT: Final = "DejaVuSans-Bold.ttf"
_MASTER_FONT_SIZE: Final = 40
# texture classes: wall, window, line, accent, shopfront, dark window
_K: Final = 6


def view_origins(size: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The cell size and the (row, column) offsets of the four views of a ``size`` grid."""
    cell = (size - SEPARATOR_PX) // 2
    far = cell + SEPARATOR_PX
    return cell, ((0, 0), (0, far), (far, 0), (far, far))


@dataclass(frozen=True, eq=False)
class StreetView:
    """A rendered 2x2 street-view grid.

    Attributes:
        image: ``(size, size, 3)`` uint8, C-contiguous (see :data:`VIEW_LAYOUT`).
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


@functools.lru_cache(maxsize=4096)
def _sign_master(
    text: str, font_file: str, upper: bool, fg: tuple[int, int, int], bg: tuple[int, int, int]
) -> npt.NDArray[np.uint8]:
    """A sign (RGB array) with the text at the master size; lines of height 1.35 * font size."""
    shown = text.upper() if upper else text
    lines = _split_lines(shown)
    size = _MASTER_FONT_SIZE
    line_h = int(size * 1.3)
    pad = int(size * 0.4)
    widths = []
    for line in lines:
        width = 0.0
        for file, run in _runs(line, font_file):
            width += load_font(file, size).getlength(run)
        widths.append(width)
    w = int(max(widths)) + 2 * pad
    h = line_h * len(lines) + pad
    image = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(image)
    border = tuple(int(0.6 * b + 0.4 * f) for f, b in zip(fg, bg, strict=True))
    draw.rectangle((0, 0, w - 1, h - 1), outline=border, width=3)
    for k, line in enumerate(lines):
        x = (w - widths[k]) / 2
        y = pad / 2 + k * line_h + line_h / 2
        for file, run in _runs(line, font_file):
            font = load_font(file, size)
            draw.text((x, y), run, fill=fg, font=font, anchor="lm")
            x += font.getlength(run)
    return np.asarray(image, dtype=np.uint8)


@functools.lru_cache(maxsize=8192)
def _sign_sprite(
    text: str,
    font_file: str,
    upper: bool,
    fg: tuple[int, int, int],
    bg: tuple[int, int, int],
    height: int,
) -> npt.NDArray[np.uint8]:
    """The sign scaled to ``height`` pixels (cached per size bucket)."""
    master = _sign_master(text, font_file, upper, fg, bg)
    h, w = master.shape[:2]
    width = max(2, round(w * height / h))
    image = Image.fromarray(master).resize(
        (width, height), Image.Resampling.BILINEAR, reducing_gap=2.0
    )
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _sign_aspect(text: str, font_file: str, upper: bool) -> tuple[float, int]:
    master = _sign_master(text, font_file, upper, (255, 255, 255), (0, 0, 0))
    return master.shape[1] / master.shape[0], len(_split_lines(text.upper() if upper else text))


def _size_bucket(px: float) -> int:
    """Round a sprite height to a coarse bucket (exact below 12 px, then ~8% steps)."""
    if px < 12:
        return max(2, round(px))
    return round(12 * 1.08 ** round(math.log(px / 12) / math.log(1.08)))


@functools.lru_cache(maxsize=1024)
def _tree_sprite(
    canopy: tuple[int, int, int], trunk: tuple[int, int, int], height: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A tree (RGB, mask) ``height`` pixels tall; physical box 4.4 m wide, 7.6 m tall."""
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
    return np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3] >= 128)


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


class StreetViewRenderer:
    """Renders 2x2 street-view grids of one city in one theme.

    Build it once per (city, theme): the constructor precomputes the facades,
    buildings, trees and sign anchors (a few tens of milliseconds).

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
        rng = np.random.default_rng(_stable_seed(city.name, city.seed, theme))
        self._build_facades(rng)
        self._build_trees(rng)
        self._build_signs()
        self._light = np.array(theme.tint, dtype=np.float32) / 255.0 * theme.brightness
        self._glow = np.array(theme.tint, dtype=np.float32) / 255.0

    # ------------------------------------------------------------------ precomputation
    def _build_facades(self, rng: np.random.Generator) -> None:
        theme = self.theme
        setback = theme.street_width / 2.0 + theme.sidewalk_width
        lines = [street.line for street in self.city.streets]
        roads = shapely.union_all(
            shapely.buffer(lines, setback, cap_style="square", join_style="mitre")
        )
        roads = shapely.simplify(roads, 0.02)
        self._roads = roads
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
        self._p0, self._vec, self._len = p0, vec, length
        normal = np.stack([-vec[:, 1], vec[:, 0]], axis=1) / length[:, None]
        self._normal = normal
        # which side of each edge faces the street
        mid = p0 + vec / 2
        toward = np.where(shapely.contains_xy(roads, *(mid + normal * 0.3).T), 1.0, -1.0)
        self._street_normal = normal * toward[:, None]
        sun = np.abs(normal @ np.array(_SUN))
        self._edge_light = (0.72 + 0.28 * sun).astype(np.float32)
        # buildings: consecutive pieces along each edge, in one global coordinate
        gap = 1.0
        offsets = np.concatenate([[0.0], np.cumsum(length + gap)[:-1]])
        self._edge_offset = offsets
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
        spots: list[tuple[float, float]] = []
        clear = half + theme.sidewalk_width + 2.0
        for street in self.city.streets:
            coords = np.asarray(street.line.coords, dtype=np.float64)
            a, b = coords[0], coords[-1]
            length = float(np.hypot(*(b - a)))
            if length < 2 * clear + 1:
                continue
            u = (b - a) / length
            n = np.array([-u[1], u[0]])
            for t in np.arange(clear, length - clear, 9.0):
                for side in (-1.0, 1.0):
                    if rng.random() < theme.vegetation:
                        p = a + u * t + n * side * (half + 0.7)
                        spots.append((float(p[0]), float(p[1])))
        xy = np.array(spots, dtype=np.float64).reshape(-1, 2)
        if len(xy):
            tree = shapely.STRtree([s.line for s in self.city.streets])
            near, _ = tree.query(shapely.points(xy), predicate="dwithin", distance=half + 0.3)
            keep = np.ones(len(xy), dtype=bool)
            keep[near] = False
            xy = xy[keep]
        self._trees = xy
        canopy = np.array(theme.tree_color, dtype=np.float32)
        trunk = np.array((90, 70, 55), dtype=np.float32)
        light = np.array(theme.tint, dtype=np.float32) / 255.0 * theme.brightness
        self._tree_canopy = tuple(int(c) for c in np.clip(canopy * light, 0, 255))
        self._tree_trunk = tuple(int(c) for c in np.clip(trunk * light, 0, 255))

    def _build_signs(self) -> None:
        city, theme = self.city, self.theme
        names: list[str] = []
        anchors: list[tuple[float, float]] = []
        sizes: list[tuple[float, float]] = []
        upper = theme.script_style == "upper"
        p0, vec, length = self._p0, self._vec, self._len
        for place in city.places:
            x, y = geo.to_xy(place.lat, place.lng, city.origin)
            d = np.array([x, y]) - p0
            s = np.clip((d * vec).sum(axis=1) / length**2, 0.0, 1.0)
            foot = p0 + vec * s[:, None]
            dist = np.hypot(*(np.array([x, y]) - foot).T)
            e = int(np.argmin(dist))
            anchor = foot[e] + self._street_normal[e] * 0.3
            aspect, lines = _sign_aspect(place.name, theme.sign_font, upper)
            height = _SIGN_LINE_HEIGHT * (lines * 1.3 + 0.4) / 1.3
            width = height * aspect
            if width > _SIGN_MAX_WIDTH:
                height *= _SIGN_MAX_WIDTH / width
                width = _SIGN_MAX_WIDTH
            names.append(place.name)
            anchors.append((float(anchor[0]), float(anchor[1])))
            sizes.append((width, height))
        self._sign_names = tuple(names)
        self._sign_xy = np.array(anchors, dtype=np.float64).reshape(-1, 2)
        self._sign_size = np.array(sizes, dtype=np.float64).reshape(-1, 2)

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
        frame = _Frame(cell, focal, xs, ys, lut.astype(np.float32))
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
        norm = np.sqrt(1.0 + frame.xs**2)
        norm4 = np.tile(norm, 4)
        depth, edge, along = self._cast(x, y, dirs)
        hit = depth * norm4 < MAX_DISTANCE
        depth = np.where(hit, depth, MAX_DISTANCE / norm4)
        edge = np.where(hit, edge, 0)
        # buildings hit
        gpos = self._edge_offset[edge] + along
        bld = np.clip(np.searchsorted(self._b_start, gpos, side="right") - 1, 0, None)
        u = (gpos - self._b_start[bld]).astype(np.float32)
        height = np.where(hit, self._b_height[bld], _SKYLINE_HEIGHT).astype(np.float32)
        z = depth.astype(np.float32)
        # dense per-pixel quantities (rows x all columns)
        ys = frame.ys[:, None]
        v = CAMERA_HEIGHT + ys * z[None, :]  # height of the wall point seen by each pixel
        wall = (v >= 0.0) & (v <= height[None, :])
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
        ground = v < 0.0
        rows = np.arange(cell, dtype=np.int32)[:, None]
        idx = np.broadcast_to(rows, (cell, ncol))
        idx = np.where(ground & (ys > ys_kerb[None, :]), np.int32(2 * cell), idx)
        idx = np.where(ground & (ys > ys_walk[None, :]), rows + np.int32(cell), idx)
        wall_base = 2 * cell + 3
        col_ids = np.arange(ncol, dtype=np.int32) * np.int32(_K) + np.int32(wall_base)
        idx = np.where(wall, col_ids[None, :] + cls, idx)
        lut = np.concatenate([frame.base_lut, self._palette(bld, hit, z * norm4)])
        lut8 = np.zeros((len(lut), 4), dtype=np.uint8)
        lut8[:, :3] = np.clip(lut, 0, 255)
        lut32 = lut8.view(np.uint32).reshape(-1)
        grid = np.full((size, size), lut32[2 * cell + 1], dtype=np.uint32)
        _, origins = view_origins(size)
        for k, (r0, c0) in enumerate(origins):
            block = idx[:, k * cell : (k + 1) * cell]
            np.take(lut32, block, out=grid[r0 : r0 + cell, c0 : c0 + cell])
        rgba = Image.frombuffer("RGBA", (size, size), grid, "raw", "RGBA", 0, 1)
        image = np.array(rgba.convert("RGB"), dtype=np.uint8)
        signs = self._sprites(image, x, y, fwd, right, z, frame, origins)
        return StreetView(image=image, signs=signs)

    def _cast(
        self, x: float, y: float, dirs: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Depth (inf: no hit), edge index and distance along the edge, per ray."""
        p0, vec, length = self._p0, self._vec, self._len
        d = np.array([x, y]) - p0
        s = np.clip((d * vec).sum(axis=1) / length**2, 0.0, 1.0)
        near = np.hypot(d[:, 0] - vec[:, 0] * s, d[:, 1] - vec[:, 1] * s) < MAX_DISTANCE
        sel = np.flatnonzero(near)
        if sel.size == 0:
            n = len(dirs)
            return np.full(n, np.inf), np.zeros(n, np.intp), np.zeros(n)
        q = p0[sel] - np.array([x, y])  # (m, 2)
        e = vec[sel]
        dx, dy = dirs[:, 0:1], dirs[:, 1:2]
        denom = dx * e[None, :, 1] - dy * e[None, :, 0]  # D x E
        qxe = q[:, 0] * e[:, 1] - q[:, 1] * e[:, 0]  # Q x E
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / denom
            t = qxe[None, :] * inv
            s_hit = (q[None, :, 0] * dy - q[None, :, 1] * dx) * inv  # Q x D / (D x E)
        ok = (t > 1e-3) & (s_hit >= 0.0) & (s_hit <= 1.0)
        t = np.where(ok, t, np.inf)
        best = np.argmin(t, axis=1)
        rows = np.arange(len(dirs))
        depth = t[rows, best]
        edge = sel[best]
        along = np.clip(s_hit[rows, best], 0.0, 1.0) * length[edge]
        return depth, edge, np.nan_to_num(along)

    def _classes(
        self,
        ys: npt.NDArray[np.float32],
        v: npt.NDArray[np.float32],
        u: npt.NDArray[np.float32],
        bld: npt.NDArray[np.intp],
        z: npt.NDArray[np.float32],
    ) -> npt.NDArray[np.int32]:
        """Texture class per pixel (only meaningful on wall pixels)."""
        texture = self.theme.facade_texture
        floor = self._b_floor[bld]
        shop = self._b_shop[bld]
        # storeys above the shop floor: an affine map of the screen row per column
        scale = (z / floor).astype(np.float32)
        shift = ((CAMERA_HEIGHT - shop) / floor).astype(np.float32)
        storeys = ys * scale[None, :] + shift[None, :]
        fv = storeys - np.floor(storeys)
        bays = u / self._b_spacing[bld]
        fu = bays - np.floor(bays)  # per column
        if texture == "glass":
            win = (fu > 0.06)[None, :] & (fv > 0.1)
            cls = np.where(win, np.int32(1), np.int32(2))
        else:
            if texture == "plaster":
                a, b, rows = 0.34, 0.66, (0.2, 0.75)
            elif texture == "brick":
                a, b, rows = 0.3, 0.7, (0.22, 0.78)
            else:
                a, b, rows = 0.22, 0.78, (0.25, 0.8)
            win_row = (fv > rows[0]) & (fv < rows[1])
            # per column: 1 inside a window bay, 3 on its frame/shutters, 0 elsewhere
            col_cls = np.where((fu > a) & (fu < b), 1, 0).astype(np.int32)
            if texture == "plaster":
                col_cls[((fu > a - 0.12) & (fu <= a)) | ((fu >= b) & (fu < b + 0.12))] = 3
            elif texture == "brick":
                col_cls[((fu > a - 0.05) & (fu <= a)) | ((fu >= b) & (fu < b + 0.05))] = 3
            cls = np.where(win_row, col_cls[None, :], np.int32(0))
            if texture == "windows-grid":
                cls = np.where(fv < 0.07, np.int32(3), cls)
            elif texture == "brick":
                bricks = v * np.float32(3.4)
                mortar = ((bricks - np.floor(bricks)) < 0.2) & (z < 30.0)[None, :]
                cls = np.where(mortar & (cls == 0), np.int32(2), cls)
        if self.theme.lit_windows:
            bay = np.floor(bays).astype(np.int32) * 13 + bld.astype(np.int32) * 5
            dark = ((np.floor(storeys).astype(np.int32) * 7 + bay[None, :]) % 5) < 2
            cls = np.where((cls == 1) & dark, np.int32(5), cls)
        # ground floor shopfronts and the parapet line
        ground_floor = storeys < 0
        top = v > (self._b_height[bld] - 0.5)[None, :]
        out: npt.NDArray[np.int32] = np.where(
            ground_floor, np.int32(4), np.where(top, np.int32(2), cls)
        )
        return out

    def _palette(
        self, bld: npt.NDArray[np.intp], hit: npt.NDArray[np.bool_], dist: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Per column, the colours of the texture classes, lit and fogged: (ncol * K, 3)."""
        theme = self.theme
        base = self._b_rgb[bld]  # (n, 3)
        n = len(bld)
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
        fog = np.clip(dist / MAX_DISTANCE, 0.0, 1.0) ** 1.3 * theme.haze
        fog = np.where(hit, fog, 1.0)[:, None, None]
        haze = np.array(theme.haze_color, np.float32) * light
        if theme.lit_windows:
            haze = np.array(theme.haze_color, np.float32)
        out = lit * (1.0 - fog) + haze * fog
        result: npt.NDArray[np.float32] = out.reshape(n * _K, 3).astype(np.float32)
        return result

    def _sprites(
        self,
        image: npt.NDArray[np.uint8],
        x: float,
        y: float,
        fwd: npt.NDArray[np.float64],
        right: npt.NDArray[np.float64],
        z: npt.NDArray[np.float32],
        frame: _Frame,
        origins: tuple[tuple[int, int], ...],
    ) -> tuple[tuple[str, int, tuple[int, int, int, int]], ...]:
        """Paste trees and signs, far to near; return the drawn signs."""
        theme = self.theme
        cell, focal = frame.cell, frame.focal
        horizon = cell / 2.0 + theme.horizon * cell
        items: list[tuple[float, int, int, int, Any]] = []
        cam = np.array([x, y])
        for kind, points, limit in (
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
            for i, view in zip(*np.nonzero((zf > 1.0) & (np.abs(xf) < zf + 4.0)), strict=True):
                items.append((float(zf[i, view]), kind, int(close[i]), int(view), xf[i, view]))
        items.sort(key=lambda item: (-item[0], item[1], item[2]))
        drawn: list[tuple[str, int, tuple[int, int, int, int]]] = []
        upper = theme.script_style == "upper"
        sign_fg, sign_bg = theme.sign_text, theme.sign_background
        for depth, kind, index, view, lateral in items:
            cx = cell / 2.0 + focal * lateral / depth
            centre = int(cx)
            zcol = z[view * cell : (view + 1) * cell]
            if kind == 0:
                width_m, height_m = self._sign_size[index]
                hp = _size_bucket(focal * height_m / depth)
                if hp < 5:
                    continue
                if 0 <= centre < cell and zcol[centre] < depth - 0.5:
                    continue  # hidden behind a nearer wall
                rgb = _sign_sprite(
                    self._sign_names[index], theme.sign_font, upper, sign_fg, sign_bg, hp
                )
                mask = None
                top = horizon - focal * (_SIGN_BOTTOM + height_m - CAMERA_HEIGHT) / depth
                tolerance = depth - width_m / 2.0 - 0.5
            else:
                hp = _size_bucket(focal * 7.6 / depth)
                if hp < 6:
                    continue
                rgb, mask = _tree_sprite(self._tree_canopy, self._tree_trunk, hp)
                top = horizon - focal * (7.6 - CAMERA_HEIGHT) / depth
                tolerance = depth - 1.0
            h, w = rgb.shape[:2]
            x0 = round(cx - w / 2.0)
            y0 = round(top)
            c0, c1 = max(0, x0), min(cell, x0 + w)
            r0, r1 = max(0, y0), min(cell, y0 + h)
            if c0 >= c1 or r0 >= r1:
                continue
            visible = zcol[c0:c1] >= tolerance  # columns not hidden by nearer walls
            if not visible.any():
                continue
            sub = rgb[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
            where = np.broadcast_to(visible[None, :, None], sub.shape)
            if mask is not None:
                where = where & mask[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0, None]
            gr, gc = origins[view]
            target = image[gr + r0 : gr + r1, gc + c0 : gc + c1]
            np.copyto(target, sub, where=where)
            if kind == 0:
                cols = np.flatnonzero(visible)
                drawn.append(
                    (
                        self._sign_names[index],
                        view,
                        (gc + c0 + int(cols[0]), gr + r0, gc + c0 + int(cols[-1]) + 1, gr + r1),
                    )
                )
        return tuple(drawn)
