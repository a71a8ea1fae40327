from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pytest

from cardenvs.render import (
    CARD_STYLES,
    DEFAULT_BACKGROUND,
    INDEX_BOX,
    RANKS,
    SUITS,
    TEXTURES,
    CardPlacement,
    CardStyle,
    Occlusion,
    TableScene,
    card_sprite,
    default_scene,
    get_card_style,
    register_card_style,
    render_table,
)
from cardenvs.render.sprites import SPRITES
from cardenvs.render.table import (
    BACKGROUNDS,
    TABLE_SPRITES,
    _background,
    _composite,
    _Prepared,
)
from oodgym.assets import available_fonts, font_path, load_font
from oodgym.caching import clear_caches

ALL_CODES = [rank + suit for suit in SUITS for rank in RANKS]
HANDS = (["AS", "10C", "QS", "7C"], ["KH", "2D", "JH", "9D"])


def red_mask(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(int)
    return (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)


# --------------------------------------------------------------------------- assets
def test_font_path_returns_existing_files() -> None:
    fonts = available_fonts()
    assert {"DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf"} <= set(fonts)
    for name in fonts:
        path = font_path(name)
        assert os.path.isabs(path)
        assert os.path.isfile(path)
        assert os.path.getsize(path) > 10_000


def test_unknown_font_names_available_fonts() -> None:
    with pytest.raises(ValueError, match=r"DejaVuSans-Bold\.ttf"):
        font_path("Comic.ttf")


def test_load_font_is_cached() -> None:
    font = load_font("DejaVuSans-Bold.ttf", 20)
    assert font is load_font("DejaVuSans-Bold.ttf", 20)
    assert font.size == 20
    with pytest.raises(ValueError):
        load_font("DejaVuSans-Bold.ttf", 0)


# --------------------------------------------------------------------------- sprites
@pytest.mark.parametrize("width", [20, 71, 108, 252])
def test_sprite_shape_dtype_and_cache(width: int) -> None:
    sprite = card_sprite("10H", "classic", width)
    assert sprite.shape == (round(width * 1.4), width, 4)
    assert sprite.dtype == np.uint8
    assert sprite.flags.c_contiguous
    assert not sprite.flags.writeable  # cached arrays are protected
    assert card_sprite("10H", "classic", width) is sprite
    # Opaque card with transparent rounded corners.
    assert sprite[sprite.shape[0] // 2, width // 2, 3] == 255
    if width >= 50:
        assert sprite[0, 0, 3] < 128


@pytest.mark.parametrize("code", ["", "1H", "11S", "AX", "10", "H", "ah", "T S", "0S", "10HH"])
def test_invalid_codes_raise(code: str) -> None:
    with pytest.raises(ValueError, match=r"A, 2, 3.*10, J, Q, K.*S, H, D, C"):
        card_sprite(code, "classic", 60)


def test_invalid_sprite_arguments() -> None:
    with pytest.raises(ValueError, match="unknown card style"):
        card_sprite("AS", "nope", 60)
    for width in (0, 7, 2001, 60.0, True):
        with pytest.raises(ValueError, match="width"):
            card_sprite("AS", "classic", width)  # type: ignore[arg-type]


def test_all_sprites_are_distinct() -> None:
    for style in ("classic", "alt"):
        sprites = {card_sprite(code, style, 48).tobytes() for code in ALL_CODES}
        assert len(sprites) == len(ALL_CODES)


@pytest.mark.parametrize("style", ["classic", "alt"])
@pytest.mark.parametrize("rank", ["A", "7", "10", "Q"])
def test_suit_colours(style: str, rank: str) -> None:
    for suit in SUITS:
        rgb = card_sprite(rank + suit, style, 80)[..., :3]
        reds = int(red_mask(rgb).sum())
        if suit in "HD":
            assert reds > 150, (rank + suit, reds)
        else:
            assert reds == 0, (rank + suit, reds)


def test_alt_style_differs_from_classic() -> None:
    for code in ("AS", "7H", "QD", "10C"):
        classic = card_sprite(code, "classic", 80).astype(int)
        alt = card_sprite(code, "alt", 80).astype(int)
        assert np.abs(classic - alt).mean() > 5
    assert get_card_style("alt").font != get_card_style("classic").font


def test_corner_index_is_large() -> None:
    width = 100
    height = round(width * 1.4)
    for code in ("10S", "QC", "4S", "KS"):
        sprite = card_sprite(code, "classic", width)
        _, _, x1, y1 = INDEX_BOX
        corner = sprite[: round(y1 * height), : round(x1 * width), :3].astype(int)
        dark_rows = np.flatnonzero((corner.sum(axis=2) < 200).any(axis=1))
        ink_height = (dark_rows.max() - dark_rows.min() + 1) / height
        assert 0.2 <= ink_height <= 0.32, (code, ink_height)
        # The bottom-right index is the top-left one rotated by 180 degrees.
        flipped = sprite[::-1, ::-1][: round(y1 * height), : round(x1 * width), :3].astype(int)
        assert np.abs(flipped - corner).mean() < 12


def test_register_card_style() -> None:
    style = CardStyle(name="test-mint", face=(225, 245, 232), corner_radius=0.1)
    try:
        assert register_card_style(style) is style
        assert CARD_STYLES["test-mint"] is style
        with pytest.raises(ValueError, match="already registered"):
            register_card_style(style)
        sprite = card_sprite("5D", "test-mint", 60)
        assert tuple(sprite[45, 5, :3]) == (225, 245, 232)
        image = render_table(default_scene(HANDS[0], 256, style="test-mint"))
        assert image.shape == (256, 256, 3)
    finally:
        CARD_STYLES.pop("test-mint", None)


@pytest.mark.parametrize(
    "changes",
    [
        {"face": (256, 0, 0)},
        {"red_ink": (1, 2)},
        {"font": "Arial.ttf"},
        {"corner_radius": 0.5},
        {"court_pattern": "stripes"},
        {"name": ""},
    ],
)
def test_bad_card_style(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(get_card_style("classic"), **changes)


# --------------------------------------------------------------------------- table
@pytest.mark.parametrize("size", [224, 336, 512, 1200])
def test_render_table_shape(size: int) -> None:
    image = render_table(default_scene(HANDS[0], size))
    assert image.shape == (size, size, 3)
    assert image.dtype == np.uint8
    assert image.flags.c_contiguous
    assert image.flags.writeable
    assert tuple(image[2, 2]) == DEFAULT_BACKGROUND
    card = default_scene(HANDS[0], size).cards[1]
    assert tuple(image[size // 2, round(card.center_x * size)]) == (255, 255, 255)
    assert tuple(image[size // 2, size // 2]) == DEFAULT_BACKGROUND  # the gap between cards


@pytest.mark.parametrize("size", [0, 223, 1201, 336.0, True, "336", None])
def test_bad_size(size: object) -> None:
    with pytest.raises(ValueError, match=r"image_size.*\[224, 1200\]"):
        default_scene(HANDS[0], size)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_size"):
        TableScene(size=size, cards=())  # type: ignore[arg-type]


def test_render_is_deterministic_and_keeps_caches_pristine() -> None:
    scene = default_scene(HANDS[1], 336)
    first = render_table(scene)
    first[:] = 0  # the caller owns the result
    second = render_table(scene)
    third = render_table(scene)
    assert np.array_equal(second, third)
    assert second.any()
    assert not _background(336, DEFAULT_BACKGROUND, "plain").flags.writeable
    assert (_background(336, DEFAULT_BACKGROUND, "plain") == DEFAULT_BACKGROUND).all()


def test_red_and_black_hands() -> None:
    black = render_table(default_scene(HANDS[0], 336))
    red = render_table(default_scene(HANDS[1], 336))
    assert red_mask(black).sum() == 0
    assert red_mask(red).sum() > 400
    # Every card of the red hand has red ink.
    for card in default_scene(HANDS[1], 336).cards:
        x0 = round((card.center_x - card.width / 2) * 336)
        x1 = round((card.center_x + card.width / 2) * 336)
        assert red_mask(red[:, x0:x1]).sum() > 60


@pytest.mark.parametrize("count", range(1, 7))
def test_default_scene_layout(count: int) -> None:
    codes = ALL_CODES[:count]
    scene = default_scene(codes, 336)
    assert [card.code for card in scene.cards] == codes
    lefts = [card.center_x - card.width / 2 for card in scene.cards]
    rights = [card.center_x + card.width / 2 for card in scene.cards]
    assert min(lefts) > 0.02
    assert max(rights) < 0.98
    assert abs((min(lefts) + max(rights)) / 2 - 0.5) < 1e-9
    assert all(r < left for r, left in zip(rights, lefts[1:], strict=False))
    if count <= 4:
        assert all(card.width == pytest.approx(0.21) for card in scene.cards)
    render_table(scene)


def test_default_scene_rejects_bad_hands() -> None:
    for codes in ([], ALL_CODES[:7]):
        with pytest.raises(ValueError, match="1 to 6"):
            default_scene(codes, 336)
    with pytest.raises(ValueError, match="invalid card code"):
        default_scene(["AS", "ZZ"], 336)
    with pytest.raises(ValueError):
        default_scene("AS", 336)


def test_cards_are_clipped_at_the_border() -> None:
    cards = (
        CardPlacement("AS", -0.05, 0.5, 0.21),
        CardPlacement("KH", 1.02, 0.9, 0.21, angle=30.0),
        CardPlacement("2D", 3.0, 3.0, 0.21),  # entirely outside
    )
    image = render_table(TableScene(size=256, cards=cards))
    assert image.shape == (256, 256, 3)
    assert (image[128, :5] > 200).all()  # the ace shows at the left border
    assert red_mask(image[:, -20:]).sum() > 0


def test_rotation() -> None:
    base = default_scene(["QD"], 300)
    straight = render_table(base)
    full_turn = render_table(
        dataclasses.replace(base, cards=(dataclasses.replace(base.cards[0], angle=360.0),))
    )
    assert np.array_equal(straight, full_turn)
    tilted_scene = dataclasses.replace(
        base, cards=(dataclasses.replace(base.cards[0], angle=20.0),)
    )
    tilted = render_table(tilted_scene)
    assert not np.array_equal(straight, tilted)
    assert np.array_equal(tilted, render_table(tilted_scene))
    # Rotation keeps the card centred and about as large.
    assert (
        abs(
            int((tilted != DEFAULT_BACKGROUND).any(axis=2).sum())
            - int((straight != DEFAULT_BACKGROUND).any(axis=2).sum())
        )
        < 0.05 * 300 * 300
    )


@pytest.mark.parametrize("texture", [t for t in TEXTURES if t != "plain"])
def test_textures(texture: str) -> None:
    plain = default_scene(HANDS[0], 256)
    textured = dataclasses.replace(plain, texture=texture)
    a, b = render_table(textured), render_table(textured)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_table(plain))
    corner = a[:40, :40].astype(float)
    assert corner.std() > 1.0  # visibly textured
    assert np.abs(corner.mean(axis=(0, 1)) - DEFAULT_BACKGROUND).max() < 12


def test_bad_scene_fields() -> None:
    with pytest.raises(ValueError, match="texture"):
        TableScene(size=256, cards=(), texture="marble")
    with pytest.raises(ValueError, match="background"):
        TableScene(size=256, cards=(), background=(0, 0, 300))
    with pytest.raises(ValueError, match="card style"):
        TableScene(size=256, cards=(), style="nope")
    with pytest.raises(ValueError, match="width"):
        CardPlacement("AS", 0.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="center_x"):
        CardPlacement("AS", float("nan"), 0.5, 0.2)
    with pytest.raises(ValueError):
        Occlusion(0.5, 0.5, 0.4, 0.6)


def test_occlusion_is_drawn_on_the_card() -> None:
    base = default_scene(["7H"], 300)
    card = dataclasses.replace(base.cards[0], occlusion=Occlusion(0.3, 0.3, 0.7, 0.7, grey=128))
    image = render_table(dataclasses.replace(base, cards=(card,)))
    grey = (image == 128).all(axis=2).sum()
    card_px = (0.21 * 300) * (0.21 * 300 * 1.4)
    assert grey == pytest.approx(0.16 * card_px, rel=0.2)
    # The cached sprite is untouched.
    assert not (card_sprite("7H", "classic", 63)[..., :3] == 128).all(axis=2).any()


# --------------------------------------------------------------------------- caches
def _blend(out: np.ndarray, rgba: np.ndarray, top: int, left: int) -> np.ndarray:
    """The compositing formula over every pixel, written plainly."""
    out = out.copy()
    for y, x in np.ndindex(*rgba.shape[:2]):
        oy, ox = top + y, left + x
        if 0 <= oy < out.shape[0] and 0 <= ox < out.shape[1]:
            a = int(rgba[y, x, 3])
            rgb = rgba[y, x, :3].astype(int)
            out[oy, ox] = (out[oy, ox].astype(int) * (255 - a) + rgb * a + 127) // 255
    return out


def test_composite_is_the_blend_formula_everywhere() -> None:
    rng = np.random.default_rng(0)
    for _ in range(12):
        h, w = (int(v) for v in rng.integers(3, 30, 2))
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        alpha = rgba[..., 3]
        alpha[rng.random((h, w)) < 0.3] = 0
        alpha[rng.random((h, w)) < 0.3] = 255
        alpha[h // 3 : h // 2] = 255  # an opaque block of rows, copied
        out = rng.integers(0, 256, (40, 45, 3), dtype=np.uint8)
        top, left = (int(v) for v in rng.integers(-20, 40, 2))
        expected = _blend(out, rgba, top, left)
        for cached in (True, False):
            got = out.copy()
            _composite(got, _Prepared(rgba, cached=cached), top, left)
            assert np.array_equal(got, expected)


def test_sprite_caches_stay_in_budget_without_changing_images() -> None:
    scenes = [default_scene(hand, size) for hand in HANDS for size in (224, 300, 336)]
    reference = [render_table(scene) for scene in scenes]
    budgets = {cache: cache.max_bytes for cache in (SPRITES, TABLE_SPRITES, BACKGROUNDS)}
    try:
        for cache in budgets:
            cache.max_bytes = 100_000
        again = [render_table(scene) for scene in reversed(scenes)][::-1]
        for cache in budgets:
            assert cache.stats().nbytes <= 100_000
    finally:
        for cache, budget in budgets.items():
            cache.max_bytes = budget
    for a, b in zip(reference, again, strict=True):
        assert np.array_equal(a, b)


def test_image_envs_draw_their_cards_at_construction() -> None:
    import gymnasium as gym

    import cardenvs  # noqa: F401

    clear_caches()
    env = gym.make("cardenvs/GeneralPoints-Image-v0", image_size=320, suits="red")
    misses = TABLE_SPRITES.stats().misses
    for seed in range(8):
        env.reset(seed=seed)
    assert TABLE_SPRITES.stats().misses == misses  # every card was already drawn


def test_draw_width_is_validated() -> None:
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="draw_width"):
            CardPlacement("AS", 0.5, 0.5, 0.2, draw_width=bad)
    assert CardPlacement("AS", 0.5, 0.5, 0.2, draw_width=0.1).draw_width == 0.1


# --------------------------------------------------------------------------- rotation
def _rotated_reference(out: np.ndarray, rgba: np.ndarray, angle: float, cx: float, cy: float):
    """Float reference: bilinear samples of the premultiplied sprite, composed over ``out``."""
    h, w = rgba.shape[:2]
    theta = np.radians(angle)
    cos, sin = np.cos(theta), np.sin(theta)
    box_w = int(np.ceil(abs(w * cos) + abs(h * sin) - 1e-6))
    box_h = int(np.ceil(abs(w * sin) + abs(h * cos) - 1e-6))
    top, left = round(cy - box_h / 2), round(cx - box_w / 2)
    alpha = rgba[..., 3:].astype(float) / 255
    premul = np.pad(
        np.concatenate([rgba[..., :3] * alpha, alpha * 255], axis=2), ((1, 2), (1, 2), (0, 0))
    )
    v, u = np.mgrid[0:box_h, 0:box_w].astype(float)
    u += 0.5 - box_w / 2
    v += 0.5 - box_h / 2
    x = np.clip(u * cos - v * sin + w / 2 + 0.5, 0, w + 1)
    y = np.clip(u * sin + v * cos + h / 2 + 0.5, 0, h + 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    sample = (
        premul[y0, x0] * (1 - fx) * (1 - fy)
        + premul[y0, x0 + 1] * fx * (1 - fy)
        + premul[y0 + 1, x0] * (1 - fx) * fy
        + premul[y0 + 1, x0 + 1] * fx * fy
    )
    result = out.astype(float)
    for r in range(box_h):
        for c in range(box_w):
            oy, ox = top + r, left + c
            if 0 <= oy < out.shape[0] and 0 <= ox < out.shape[1]:
                a = sample[r, c, 3] / 255
                result[oy, ox] = sample[r, c, :3] + result[oy, ox] * (1 - a)
    return np.rint(result), (top, left)


@pytest.mark.parametrize("angle", [-14.3, 3.0, 45.0, 90.0, 171.5])
def test_rotated_cards_are_bilinear_samples_composed_over_the_table(angle: float) -> None:
    from cardenvs.render.table import _composite_rotated, _Quads

    rng = np.random.default_rng(int(angle * 10) % 1000)
    rgba = np.ascontiguousarray(card_sprite("QH", get_card_style("classic"), 40))
    out = rng.integers(0, 256, (90, 80, 3), dtype=np.uint8)
    for cx, cy in ((40.0, 45.0), (5.0, 80.0)):  # inside, and clipped at two borders
        expected, (top, left) = _rotated_reference(out, rgba, angle, cx, cy)
        got = out.copy()
        _composite_rotated(got, _Quads(rgba), angle, top, left)
        diff = np.abs(got.astype(float) - expected)
        # Positions and weights in 1/16 pixel: small differences at sharp edges only.
        assert diff.max() <= 12
        assert diff.mean() < 0.5


def test_rotation_keeps_the_table_outside_the_card_and_caches_no_angles() -> None:
    from cardenvs.render.table import ROTATION_SPRITES

    base = default_scene(["KH"], 300)
    items = None
    images = []
    for angle in (10.0, 10.01, 10.02, -7.5):
        scene = dataclasses.replace(base, cards=(dataclasses.replace(base.cards[0], angle=angle),))
        images.append(render_table(scene))
        if items is None:
            items = len(ROTATION_SPRITES)
        assert len(ROTATION_SPRITES) == items  # one unrotated card, whatever the angle
    # Angles are continuous: a hundredth of a degree moves the card's edges.
    assert not np.array_equal(images[0], images[1])
    assert not np.array_equal(images[1], images[2])
    # Far from the card the table is untouched; the card's centre is drawn.
    table = render_table(dataclasses.replace(base, cards=()))
    for image in images:
        assert np.array_equal(image[:60], table[:60])
        assert np.array_equal(image[:, :80], table[:, :80])
        assert not np.array_equal(image[150, 150], table[150, 150])
