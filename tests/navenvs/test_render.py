"""Tests of the procedural street-view renderer and the city themes."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from navenvs import geo
from navenvs.city import City, build_city, sample_route
from navenvs.render import LAYOUT_TEXT, VIEW_LAYOUT, StreetView, StreetViewRenderer, streetview
from navenvs.render.streetview import (
    RENDERERS,
    SIGN_GLYPHS,
    SIGN_MASTERS,
    SIGN_SPRITES,
    TREE_SPRITES,
    street_renderer,
    view_origins,
)
from navenvs.visuals import (
    OOD_THEMES,
    THEMES,
    TRAINING_THEME,
    CityTheme,
    city_themes,
    register_theme,
    resolve_theme,
)

SIZE = 256


@functools.cache
def _city() -> City:
    return build_city("grid", 0)


@functools.cache
def _renderer(theme: str = TRAINING_THEME) -> StreetViewRenderer:
    return StreetViewRenderer(_city(), resolve_theme(theme))


def _spot() -> tuple[float, float, float, str]:
    """A milestone intersection facing its landmark: (lat, lng, heading, landmark name)."""
    route = sample_route(_city(), np.random.default_rng(3))
    m = next(m for m in route.milestones if m.landmark is not None)
    assert m.landmark is not None
    heading = geo.bearing(m.lat, m.lng, m.landmark.lat, m.landmark.lng)
    return m.lat, m.lng, heading, m.landmark.name


def _views(image: np.ndarray) -> list[np.ndarray]:
    cell, origins = view_origins(image.shape[0])
    return [image[r : r + cell, c : c + cell] for r, c in origins]


def test_layout_constants() -> None:
    assert VIEW_LAYOUT == ("front", "right", "back", "left")
    assert "top-left" in LAYOUT_TEXT and "front" in LAYOUT_TEXT


def test_shape_dtype_and_determinism() -> None:
    lat, lng, heading, _ = _spot()
    a = _renderer().render(lat, lng, heading, size=SIZE)
    b = StreetViewRenderer(_city(), resolve_theme(TRAINING_THEME)).render(
        lat, lng, heading, size=SIZE
    )
    assert isinstance(a, StreetView)
    assert a.image.shape == (SIZE, SIZE, 3) and a.image.dtype == np.uint8
    assert a.image.flags.c_contiguous
    assert not a.image.flags.writeable  # the env hands out copies
    assert np.array_equal(a.image, b.image)
    assert a.signs == b.signs
    big = _renderer().render(lat, lng, heading)
    assert big.image.shape == (512, 512, 3)


def test_separators_are_dark() -> None:
    lat, lng, heading, _ = _spot()
    image = _renderer().render(lat, lng, heading, size=SIZE).image
    cell, _ = view_origins(SIZE)
    assert image[:, cell : cell + 3].max() < 40
    assert image[cell : cell + 3, :].max() < 40


def test_four_views_differ() -> None:
    lat, lng, heading, _ = _spot()
    views = _views(_renderer().render(lat, lng, heading + 10.0, size=SIZE).image)
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(views[i], views[j])


def test_image_changes_when_moving_and_turning() -> None:
    city = _city()
    a, b = city.streets[40].a, city.streets[40].b
    heading = city.heading(a, b)
    lat, lng = city.latlng(a)
    base = _renderer().render(lat, lng, heading, size=SIZE).image
    lat2, lng2 = geo.offset(lat, lng, heading, 20.0)
    moved = _renderer().render(lat2, lng2, heading, size=SIZE).image
    turned = _renderer().render(lat, lng, heading + 30.0, size=SIZE).image
    assert np.abs(base.astype(int) - moved).mean() > 2.0
    assert np.abs(base.astype(int) - turned).mean() > 2.0


def test_landmark_sign_straight_ahead() -> None:
    lat, lng, heading, name = _spot()
    view = _renderer().render(lat, lng, heading, size=512)
    boxes = [box for n, v, box in view.signs if n == name and v == 0]
    assert boxes, view.signs
    x0, y0, x1, y1 = boxes[0]
    cell, _ = view_origins(512)
    assert 0 <= x0 < x1 <= cell and 0 <= y0 < y1 <= cell
    assert (x1 - x0) >= 20  # legible size for a nearby sign
    # the same spot in a copy of the city without the landmark: the box differs
    city = _city()
    others = tuple(p for p in city.places if p.name != name)
    bare = City(
        name=city.name,
        layout=city.layout,
        seed=city.seed,
        origin=city.origin,
        intersections=city.intersections,
        streets=city.streets,
        places=others,
        tie_breaks=city.tie_breaks,
    )
    without = StreetViewRenderer(bare, resolve_theme(TRAINING_THEME)).render(
        lat, lng, heading, size=512
    )
    assert name not in {n for n, _, _ in without.signs}
    patch = view.image[y0:y1, x0:x1].astype(int)
    assert np.abs(patch - without.image[y0:y1, x0:x1]).mean() > 10.0
    # the sign background colour dominates the box
    bg = np.array(resolve_theme(TRAINING_THEME).sign_background)
    assert (np.abs(patch - bg).sum(axis=2) < 40).mean() > 0.3


def test_sign_lettering_is_legible_in_the_theme_colours() -> None:
    """A near sign shows its background, a frame and lettering in the theme's text colour."""
    lat, lng, heading, name = _spot()
    theme = resolve_theme(TRAINING_THEME)
    view = _renderer().render(lat, lng, heading, size=512)
    x0, y0, x1, y1 = next(box for n, v, box in view.signs if n == name and v == 0)
    patch = view.image[y0:y1, x0:x1].astype(int)
    fg, bg = np.array(theme.sign_text), np.array(theme.sign_background)
    # how far each pixel lies from the background towards the lettering colour
    towards = ((patch - bg) * (fg - bg)).sum(axis=2) / float(((fg - bg) ** 2).sum())
    near_fg = towards > 0.5
    near_bg = np.abs(patch - bg).sum(axis=2) < 60
    assert 0.03 < near_fg.mean() < 0.6 and near_bg.mean() > 0.3, (near_fg.mean(), near_bg.mean())
    # lettering on more than one row band and column band: text, not a smear
    rows, cols = np.flatnonzero(near_fg.any(axis=1)), np.flatnonzero(near_fg.any(axis=0))
    assert rows.size >= 5 and cols.size >= 0.5 * patch.shape[1]


def test_sign_sprites_compose_glyphs_of_every_script() -> None:
    """Latin, accented and CJK names: lettering inside the frame, the frame on the edge."""
    fg, bg = (250, 250, 250), (20, 40, 90)
    for text, font in (
        ("Ibáñez & Sons Grill", "DejaVuSerif-BoldItalic.ttf"),
        ("東京ラーメン Tokyo Ramen", "DroidSansFallbackFull.ttf"),
        ("Café Zürich", "DejaVuSansMono-Bold.ttf"),
    ):
        master = streetview._sign_master(text, font, False)
        assert master.dtype == np.uint8 and not master.flags.writeable
        assert (master[:3] == master[0, 0]).all() and master[0, 0] > 0  # the frame
        inside = master[3:-3, 3:-3]
        assert (inside == 255).mean() > 0.03 and (inside == 0).mean() > 0.4
        sprite = streetview._sign_sprite(text, font, False, fg, bg, 30)
        assert sprite.shape[0] == 30 and sprite.dtype == np.uint32
        rgb = sprite.view(np.uint8).reshape(*sprite.shape, 4)[:, :, :3]
        assert (np.abs(rgb.astype(int) - bg).sum(axis=2) < 30).mean() > 0.4


def test_sign_lettering_repeats_each_glyph_where_the_pen_puts_it() -> None:
    """Every copy of a character is its cached glyph at the pen position (max coverage)."""
    text, font = "MMM Ibáñez iii", "DejaVuSerif-BoldItalic.ttf"
    master = streetview._draw_sign(text, font, False)
    layout = streetview._sign_layout(text, font, False)
    h, w = master.shape
    expected = np.zeros((h, w), dtype=np.uint8)
    expected[:3] = expected[-3:] = expected[:, :3] = expected[:, -3:] = streetview._BORDER_ALPHA
    line_h, pad = int(40 * 1.3), int(40 * 0.4)
    for k, runs in enumerate(layout.lines):
        x = (w - layout.widths[k]) / 2
        y = round(pad / 2 + k * line_h + line_h / 2)
        for file, run in runs:
            for ch in run:
                glyph = streetview._glyph(file, ch)
                gh, gw = glyph.mask.shape
                canvas = np.zeros((h + 2 * gh, w + 2 * gw), dtype=np.uint8)
                x0, y0 = round(x) + glyph.left + gw, y + glyph.top + gh
                canvas[y0 : y0 + gh, x0 : x0 + gw] = glyph.mask
                np.maximum(expected, canvas[gh : gh + h, gw : gw + w], out=expected)
                x += streetview._advance(file, ch)
    np.testing.assert_array_equal(master, expected)


def test_themes_differ() -> None:
    lat, lng, heading, _ = _spot()
    base = _renderer().render(lat, lng, heading, size=SIZE).image.astype(float)
    means = {TRAINING_THEME: base.mean(axis=(0, 1))}
    for name in OOD_THEMES:
        image = _renderer(name).render(lat, lng, heading, size=SIZE).image.astype(float)
        assert np.abs(image - base).mean() > 15.0, name
        means[name] = image.mean(axis=(0, 1))
    assert len(OOD_THEMES) == 9 and TRAINING_THEME == "default"


def test_every_registered_theme_renders() -> None:
    city = build_city("irregular", 1)
    lat, lng = city.latlng(5)
    for name in city_themes():
        view = StreetViewRenderer(city, resolve_theme(name)).render(lat, lng, 33.0, size=128)
        assert view.image.shape == (128, 128, 3)
        assert view.image.std() > 5.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("street_width", -1.0),
        ("street_width", 100.0),
        ("building_height", (30.0, 10.0)),
        ("facade_texture", "marble"),
        ("sign_font", "Nope.ttf"),
        ("script_style", "gothic"),
        ("vegetation", 2.0),
        ("brightness", 0.0),
        ("sky_top", (300, 0, 0)),
        ("facade_colors", ()),
        ("layout", "spiral"),
        ("horizon", 0.9),
    ],
)
def test_bad_theme_parameters(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(resolve_theme(TRAINING_THEME), **{field: value})
    with pytest.raises(ValueError):
        resolve_theme({"name": "milan", field: value})


def test_overrides_and_user_theme() -> None:
    wide = resolve_theme({"name": "london", "street_width": 20, "facade_colors": [[1, 2, 3]]})
    assert wide.street_width == 20.0 and wide.facade_colors == ((1, 2, 3),)
    theme = dataclasses.replace(
        resolve_theme("lagos"), name="mars", sky_top=(200, 80, 40), sky_bottom=(230, 150, 90)
    )
    register_theme("mars-test", theme)
    try:
        assert "mars-test" in city_themes()
        assert resolve_theme("mars-test") is theme
        lat, lng, heading, _ = _spot()
        view = StreetViewRenderer(_city(), resolve_theme("mars-test")).render(
            lat, lng, heading, size=128
        )
        assert view.image[2, 2, 0] > view.image[2, 2, 2]  # reddish sky
        assert isinstance(resolve_theme(theme), CityTheme)
    finally:
        THEMES.unregister("mars-test")


def test_render_validates_arguments() -> None:
    with pytest.raises(ValueError, match="size"):
        _renderer().render(40.73, -73.99, 0.0, size=10)
    with pytest.raises(ValueError, match="finite"):
        _renderer().render(float("nan"), -73.99, 0.0)


# --------------------------------------------------------------------------- caches
def _poses() -> list[tuple[float, float, float]]:
    route = sample_route(_city(), np.random.default_rng(5))
    return [(m.lat, m.lng, h) for m in route.milestones for h in (0.0, 90.0, 200.0, 290.0)]


def test_renderers_are_shared_and_rebuilt_identically() -> None:
    city, theme = _city(), resolve_theme(TRAINING_THEME)
    shared = street_renderer(city, theme)
    assert street_renderer(city, theme) is shared
    assert street_renderer(city, dataclasses.replace(theme)) is shared  # equal themes share
    lat, lng, heading = _poses()[0]
    before = shared.render(lat, lng, heading, size=SIZE)
    budget = RENDERERS.max_bytes
    try:
        RENDERERS.max_bytes = 0  # keep nothing: each call builds a new renderer
        rebuilt = street_renderer(city, theme)
        assert rebuilt is not shared and street_renderer(city, theme) is not rebuilt
        after = rebuilt.render(lat, lng, heading, size=SIZE)
    finally:
        RENDERERS.max_bytes = budget
    assert np.array_equal(before.image, after.image) and before.signs == after.signs


def test_sign_and_tree_caches_stay_in_budget_without_changing_images() -> None:
    poses = _poses()
    reference = [_renderer().render(*pose, size=SIZE) for pose in poses]
    caches = (SIGN_GLYPHS, SIGN_MASTERS, SIGN_SPRITES, TREE_SPRITES)
    budgets = [cache.max_bytes for cache in caches]
    try:
        for cache in caches:
            cache.max_bytes = 30_000
        # A new renderer, drawing in the other order with caches that keep almost nothing.
        fresh = StreetViewRenderer(_city(), resolve_theme(TRAINING_THEME))
        again = [fresh.render(*pose, size=SIZE) for pose in reversed(poses)][::-1]
        for cache in caches:
            assert cache.stats().nbytes <= 30_000
    finally:
        for cache, budget in zip(caches, budgets, strict=True):
            cache.max_bytes = budget
    assert any(view.signs for view in reference)
    for a, b in zip(reference, again, strict=True):
        assert np.array_equal(a.image, b.image) and a.signs == b.signs


def test_each_view_casts_against_its_edges_as_against_all() -> None:
    renderer = _renderer("hong-kong")
    rng = np.random.default_rng(1)
    for lat, lng, heading in _poses():
        x, y = geo.to_xy(lat, lng, _city().origin)
        x, y = x + rng.normal(0, 8), y + rng.normal(0, 8)
        cell = 61
        xs = (np.arange(cell) + 0.5 - cell / 2.0) / (cell / 2.0)
        angles = np.radians(heading + 90.0 * np.arange(4))
        fwd = np.stack([np.sin(angles), np.cos(angles)], axis=1)
        right = np.stack([np.cos(angles), -np.sin(angles)], axis=1)
        dirs = (fwd[:, None, :] + right[:, None, :] * xs[None, :, None]).reshape(-1, 2)
        depth, edge, along = renderer._cast(x, y, dirs, fwd, right)
        # every near edge for every ray, the nearest hit (first edge on ties)
        d = np.array([x, y]) - renderer._p0
        vec = renderer._vec
        s = np.clip((d * vec).sum(axis=1) / renderer._len**2, 0.0, 1.0)
        near = np.hypot(d[:, 0] - vec[:, 0] * s, d[:, 1] - vec[:, 1] * s) < 150.0
        sel = np.flatnonzero(near)
        q, e = renderer._p0[sel] - [x, y], vec[sel]
        qxe = q[:, 0] * e[:, 1] - q[:, 1] * e[:, 0]
        all_depth, all_edge, all_along = renderer._cast_view(dirs, q, e, qxe, sel)
        assert np.array_equal(depth, all_depth)
        assert np.array_equal(edge, all_edge) and np.array_equal(along, all_along)
