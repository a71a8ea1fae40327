from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from cardenvs.render import INDEX_BOX, TableScene, default_scene, render_table
from cardenvs.render.sprites import card_sprite
from cardenvs.render.table import _background
from cardenvs.visuals import (
    VISUALS,
    BackgroundVariant,
    NoiseVariant,
    OcclusionVariant,
    RotateVariant,
    ScaleShiftVariant,
    VisualVariant,
    register_visual,
    render_observation,
    resolve_visuals,
    visual_variants,
)

BUILT_INS = [
    "card-style",
    "rotate",
    "jitter",
    "background",
    "noise",
    "blur",
    "jpeg",
    "occlusion",
    "scale-shift",
]
HAND = ["AS", "10C", "QH", "7D"]
SIZE = 256


class Invert(VisualVariant):
    """Invert all colours (a user-defined variant for the tests)."""

    name = "invert-test"

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return 255 - image


class Broken(VisualVariant):
    name = "broken-test"

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return image[:10]


@pytest.fixture
def custom_variants() -> Iterator[None]:
    register_visual("invert-test", Invert)
    try:
        yield
    finally:
        VISUALS.unregister("invert-test")


def observe(specs: Any, seed: int, codes: list[str] = HAND, size: int = SIZE) -> np.ndarray:
    return render_observation(
        codes, size=size, variants=resolve_visuals(specs), rng=np.random.default_rng(seed)
    )


def snapshot_caches() -> list[np.ndarray]:
    arrays = [_background(SIZE, (0x35, 0x65, 0x4D), "plain")]
    arrays += [card_sprite(code, style, 54) for code in HAND for style in ("classic", "alt")]
    return [a.copy() for a in arrays]


def test_built_ins_are_registered() -> None:
    names = visual_variants()
    assert set(BUILT_INS) <= set(names)
    for entry in VISUALS.entries():
        if entry.name in BUILT_INS:
            assert entry.description


@pytest.mark.parametrize("name", BUILT_INS)
def test_variant_is_deterministic_and_pure(name: str) -> None:
    before = snapshot_caches()
    identity = observe([], 0)
    first = observe([name], 7)
    second = observe([name], 7)
    assert first.shape == (SIZE, SIZE, 3)
    assert first.dtype == np.uint8
    assert first.flags.c_contiguous
    assert np.array_equal(first, second)
    assert any(not np.array_equal(observe([name], seed), identity) for seed in range(3))
    # Rendering again without the variant gives the pristine image, caches unchanged.
    assert np.array_equal(observe([], 0), identity)
    after = snapshot_caches()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("name", BUILT_INS)
def test_variant_does_not_mutate_inputs(name: str) -> None:
    (variant,) = resolve_visuals([name])
    scene = default_scene(HAND, SIZE)
    scene_copy = dataclasses.replace(scene)
    image = render_table(scene)
    image_copy = image.copy()
    new_scene = variant.scene(scene, np.random.default_rng(1))
    out = variant.image(image, np.random.default_rng(1))
    assert scene == scene_copy
    assert np.array_equal(image, image_copy)
    assert isinstance(new_scene, TableScene)
    assert out.shape == image.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", BUILT_INS)
def test_variant_draws_a_fixed_number_of_values(name: str) -> None:
    (variant,) = resolve_visuals([name])
    states = []
    for codes, seed in ((HAND, 3), (["KH", "2D", "JH", "9D"], 3), (HAND, 3)):
        rng = np.random.default_rng(seed)
        scene = variant.scene(default_scene(codes, SIZE), rng)
        variant.image(render_table(scene), rng)
        states.append(rng.bit_generator.state["state"]["state"])
    assert states[0] == states[1] == states[2]


def test_different_seeds_give_different_observations() -> None:
    specs = ["rotate", "jitter", "noise"]
    assert not np.array_equal(observe(specs, 1), observe(specs, 2))


def test_variants_apply_in_order() -> None:
    noisy_then_blurred = observe(["noise", "blur"], 0)
    blurred_then_noisy = observe(["blur", "noise"], 0)
    assert not np.array_equal(noisy_then_blurred, blurred_then_noisy)

    # Blurring noise smooths it: neighbouring background pixels differ less.
    def roughness(image: np.ndarray) -> float:
        return float(np.abs(np.diff(image[:40, :40].astype(int), axis=1)).mean())

    assert roughness(noisy_then_blurred) < roughness(blurred_then_noisy)


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({"name": "rotate", "max_degrees": -1}, "max_degrees"),
        ({"name": "rotate", "max_degrees": 181}, "max_degrees"),
        ({"name": "rotate", "max_degrees": float("nan")}, "max_degrees"),
        ({"name": "rotate", "max_degrees": "10"}, "max_degrees"),
        ({"name": "jitter", "max_shift": 0.3}, "max_shift"),
        ({"name": "background", "color": (0, 0)}, "color"),
        ({"name": "background", "color": (0, 0, 256)}, "color"),
        ({"name": "background", "texture": "marble"}, "texture"),
        ({"name": "noise", "sigma": -0.5}, "sigma"),
        ({"name": "noise", "sigma": True}, "sigma"),
        ({"name": "blur", "radius": 0}, "radius"),
        ({"name": "jpeg", "quality": 0}, "quality"),
        ({"name": "jpeg", "quality": 96}, "quality"),
        ({"name": "jpeg", "quality": 50.5}, "quality"),
        ({"name": "occlusion", "fraction": 0}, "fraction"),
        ({"name": "occlusion", "fraction": 0.5}, "fraction"),
        ({"name": "scale-shift", "min_scale": 0.1}, "min_scale"),
        ({"name": "scale-shift", "min_scale": 1.2, "max_scale": 1.1}, "max_scale"),
        ({"name": "scale-shift", "max_shift": 0.6}, "max_shift"),
        ({"name": "card-style", "style": "nope"}, "style"),
        ({"name": "noise", "sigmaa": 3}, "sigmaa"),
    ],
)
def test_bad_parameters(spec: dict[str, Any], param: str) -> None:
    with pytest.raises(ValueError, match=param):
        resolve_visuals([spec])


def test_unknown_variant() -> None:
    with pytest.raises(ValueError, match=r"visuals: unknown visual variant 'sepia'.*rotate"):
        resolve_visuals(["sepia"])
    with pytest.raises(ValueError, match="cannot import"):
        resolve_visuals(["no_such_module_xyz:Thing"])


def test_resolve_specs() -> None:
    assert resolve_visuals(None) == ()
    assert resolve_visuals([]) == ()
    (noise,) = resolve_visuals([{"name": "noise", "sigma": 5}])
    assert noise == NoiseVariant(sigma=5.0)
    assert isinstance(noise.sigma, float)
    assert resolve_visuals("rotate") == (RotateVariant(),)
    ready = BackgroundVariant(color=[10, 20, 30])  # type: ignore[arg-type]
    assert ready.color == (10, 20, 30)
    assert resolve_visuals([ready]) == (ready,)
    # Specs round-trip through plain data.
    for variant in resolve_visuals(BUILT_INS):
        assert resolve_visuals([variant.spec()]) == (variant,)


def test_defaults_are_documented() -> None:
    variants = dict(zip(BUILT_INS, resolve_visuals(BUILT_INS), strict=True))
    assert variants["rotate"].spec() == {"name": "rotate", "max_degrees": 15.0}
    assert variants["jitter"].spec() == {"name": "jitter", "max_shift": 0.03}
    assert variants["noise"].spec() == {"name": "noise", "sigma": 12.0}
    assert variants["blur"].spec() == {"name": "blur", "radius": 1.5}
    assert variants["jpeg"].spec() == {"name": "jpeg", "quality": 20}
    assert variants["occlusion"].spec() == {"name": "occlusion", "fraction": 0.15}
    assert variants["card-style"].spec() == {"name": "card-style", "style": "alt"}
    assert variants["background"].spec() == {"name": "background", "color": None, "texture": "felt"}
    assert variants["scale-shift"].spec() == {
        "name": "scale-shift",
        "min_scale": 0.8,
        "max_scale": 1.15,
        "max_shift": 0.05,
    }


@pytest.mark.usefixtures("custom_variants")
def test_custom_variant_by_name_and_path() -> None:
    by_name = resolve_visuals(["invert-test"])
    by_path = resolve_visuals([f"{Invert.__module__}:Invert"])
    assert isinstance(by_name[0], Invert) and isinstance(by_path[0], Invert)
    plain = observe([], 0)
    assert np.array_equal(observe(["invert-test"], 0), 255 - plain)
    assert np.array_equal(observe([f"{Invert.__module__}:Invert"], 0), 255 - plain)
    with pytest.raises(ValueError, match="already registered"):
        register_visual("invert-test", Invert)
    assert "invert-test" in visual_variants()


def test_broken_variant_is_reported() -> None:
    with pytest.raises(TypeError, match="broken-test"):
        observe([Broken()], 0)


def test_render_observation_validates() -> None:
    with pytest.raises(ValueError, match="image_size"):
        observe([], 0, size=100)
    with pytest.raises(ValueError, match="invalid card code"):
        observe([], 0, codes=["AS", "1X"])


def test_background_variant() -> None:
    fixed = observe([{"name": "background", "color": [90, 60, 30], "texture": "plain"}], 0)
    assert tuple(fixed[1, 1]) == (90, 60, 30)
    colours = {tuple(observe(["background"], seed)[SIZE // 2, SIZE // 2]) for seed in range(4)}
    assert len(colours) == 4
    for colour in colours:
        assert max(colour) < 150  # dark tables keep the cards readable


def test_card_style_variant_changes_face_colour() -> None:
    image = observe(["card-style"], 0)
    card = default_scene(HAND, SIZE).cards[1]
    assert tuple(image[SIZE // 2, round(card.center_x * SIZE)]) == (247, 238, 214)


def test_occlusion_keeps_one_index_visible() -> None:
    variant = OcclusionVariant(fraction=0.4)
    bx0, by0, bx1, by1 = INDEX_BOX
    boxes = [(bx0, by0, bx1, by1), (1 - bx1, 1 - by1, 1 - bx0, 1 - by0)]
    occluded_cards = set()
    for seed in range(200):
        scene = variant.scene(default_scene(HAND, SIZE), np.random.default_rng(seed))
        occluded = [(i, c.occlusion) for i, c in enumerate(scene.cards) if c.occlusion is not None]
        assert len(occluded) == 1
        index, occ = occluded[0]
        assert occ is not None
        occluded_cards.add(index)
        assert (occ.x1 - occ.x0) * (occ.y1 - occ.y0) == pytest.approx(0.4, rel=1e-6)
        overlaps = [
            occ.x0 < x1 and occ.x1 > x0 and occ.y0 < y1 and occ.y1 > y0 for x0, y0, x1, y1 in boxes
        ]
        assert not all(overlaps)
    assert occluded_cards == {0, 1, 2, 3}


def test_scale_shift_keeps_layout_inside() -> None:
    variant = ScaleShiftVariant()
    for seed in range(50):
        scene = variant.scene(default_scene(HAND, SIZE), np.random.default_rng(seed))
        lefts = [c.center_x - c.width / 2 for c in scene.cards]
        rights = [c.center_x + c.width / 2 for c in scene.cards]
        if max(rights) - min(lefts) <= 1:
            assert min(lefts) >= -1e-9 and max(rights) <= 1 + 1e-9
        widths = {round(c.width, 9) for c in scene.cards}
        assert len(widths) == 1
        assert 0.21 * 0.8 - 1e-9 <= widths.pop() <= 0.21 * 1.15 + 1e-9


def test_rotate_and_jitter_ranges() -> None:
    scene = default_scene(HAND, SIZE)
    rotated = resolve_visuals([{"name": "rotate", "max_degrees": 5}])[0].scene(
        scene, np.random.default_rng(0)
    )
    angles = [c.angle for c in rotated.cards]
    assert all(-5 <= a <= 5 for a in angles) and len(set(angles)) == 4
    jittered = resolve_visuals(["jitter"])[0].scene(scene, np.random.default_rng(0))
    for before, after in zip(scene.cards, jittered.cards, strict=True):
        assert abs(after.center_x - before.center_x) <= 0.03
        assert abs(after.center_y - before.center_y) <= 0.03


# --------------------------------------------------------------------------- fast variants
FAST = ["rotate", "noise", "blur", "scale-shift"]


def _env_frames(name: str, seeds: list[int]) -> list[np.ndarray]:
    import gymnasium as gym

    import cardenvs  # noqa: F401

    env = gym.make("cardenvs/GeneralPoints-Image-v0", image_size=256, visuals=[name])
    return [env.reset(seed=seed)[0]["image"] for seed in seeds]


@pytest.mark.parametrize("name", FAST)
def test_fresh_envs_same_seed_same_bytes(name: str) -> None:
    first = _env_frames(name, [3, 4, 3])
    second = _env_frames(name, [3, 4, 3])
    for a, b in zip(first, second, strict=True):
        assert a.dtype == np.uint8 and a.shape == (256, 256, 3)
        assert np.array_equal(a, b)
    assert np.array_equal(first[0], first[2])
    if name != "blur":  # blur draws nothing: its images differ only through the deal
        assert not np.array_equal(observe([name], 1), observe([name], 2))
    assert not np.array_equal(first[0], first[1])


def test_same_bytes_in_another_process() -> None:
    import hashlib
    import subprocess
    import sys

    code = (
        "import hashlib, numpy as np\n"
        "from cardenvs.visuals import render_observation\n"
        f"for name in {FAST!r}:\n"
        "    image = render_observation(['AS', '10C', 'QH', '7D'], size=256, variants=[name],\n"
        "                               rng=np.random.default_rng(11))\n"
        "    print(hashlib.sha256(image.tobytes()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    here = [hashlib.sha256(observe([name], 11).tobytes()).hexdigest() for name in FAST]
    assert out == here


def test_noise_is_gaussian_with_sigma() -> None:
    grey = np.full((256, 256, 3), 128, dtype=np.uint8)
    variant = NoiseVariant(sigma=10)
    a = variant.image(grey, np.random.default_rng(0)).astype(float) - 128
    b = variant.image(grey, np.random.default_rng(1)).astype(float) - 128
    assert abs(a.mean()) < 0.2 and a.std() == pytest.approx(10, rel=0.03)
    assert not np.array_equal(a, b)
    # Channels and neighbours are uncorrelated.
    assert abs(np.corrcoef(a[..., 0].ravel(), a[..., 1].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]) < 0.03
    assert np.array_equal(NoiseVariant(sigma=0).image(grey, np.random.default_rng(0)), grey)


@pytest.mark.parametrize(
    "layout",
    [np.asfortranarray, lambda a: np.rot90(a).copy().transpose(1, 0, 2), np.rot90],
    ids=["fortran", "transposed", "rotated-view"],
)
def test_noise_applies_to_images_of_any_memory_layout(layout: Any) -> None:
    grey = layout(np.full((64, 64, 3), 128, dtype=np.uint8))
    noisy = NoiseVariant(sigma=12).image(grey, np.random.default_rng(0))
    assert noisy.shape == grey.shape and noisy.dtype == np.uint8
    assert (noisy.astype(float) - 128).std() == pytest.approx(12, rel=0.1)


def test_rotation_scratch_kept_per_thread_is_bounded() -> None:
    from cardenvs.render import table

    cards = [
        dataclasses.replace(card, width=0.5, angle=45.0)
        for card in default_scene(["AS"], 1200, "classic").cards
    ]
    render_table(dataclasses.replace(default_scene(["AS"], 1200, "classic"), cards=tuple(cards)))
    kept = sum(b.nbytes for b in table._SCRATCH.buffers.values())
    assert kept <= table.SCRATCH_KEEP_BYTES


def test_blur_matches_a_gaussian_and_grows_with_radius() -> None:
    from PIL import Image, ImageFilter

    image = observe([{"name": "background", "texture": "felt"}], 0)
    previous = 0.0
    for radius in (0.5, 1.5, 3.0, 6.0):
        blurred = resolve_visuals([{"name": "blur", "radius": radius}])[0].image(
            image, np.random.default_rng(0)
        )
        reference = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
        diff = np.abs(blurred.astype(int) - reference)
        assert diff.mean() < 1.0 and diff.max() <= 12
        change = float(np.abs(blurred.astype(int) - image).mean())
        assert change > previous
        previous = change


def test_rotate_sprite_matches_pillow() -> None:
    from PIL import Image

    from cardenvs.render.table import rotate_sprite

    sprite = card_sprite("10C", "classic", 80)
    for angle in (-13.0, 7.5, 90.0):
        ours = rotate_sprite(sprite, angle, (0, 0, 0))
        theirs = np.asarray(
            Image.fromarray(sprite, "RGBA").rotate(
                angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=(0, 0, 0, 0)
            )
        )
        h = min(ours.shape[0], theirs.shape[0])
        w = min(ours.shape[1], theirs.shape[1])
        assert abs(ours.shape[0] - theirs.shape[0]) <= 1
        assert abs(ours.shape[1] - theirs.shape[1]) <= 1
        # Compare the alpha of the central region (same direction and size).
        a = ours[(ours.shape[0] - h) // 2 :][:h, (ours.shape[1] - w) // 2 :][:, :w, 3]
        b = theirs[(theirs.shape[0] - h) // 2 :][:h, (theirs.shape[1] - w) // 2 :][:, :w, 3]
        assert np.abs(a.astype(int) - b).mean() < 12


def test_scale_shift_resamples_drawn_cards() -> None:
    scene = default_scene(HAND, SIZE)
    same = dataclasses.replace(
        scene,
        cards=tuple(dataclasses.replace(c, draw_width=c.width) for c in scene.cards),
    )
    assert np.array_equal(render_table(scene), render_table(same))
    scaled = ScaleShiftVariant(min_scale=1.1, max_scale=1.1, max_shift=0).scene(
        scene, np.random.default_rng(0)
    )
    assert all(c.draw_width == pytest.approx(0.21) for c in scaled.cards)
    image = render_table(scaled)
    assert image.shape == (SIZE, SIZE, 3)
    # Cards are larger: more non-table pixels than the unscaled layout.
    table = np.array((0x35, 0x65, 0x4D))
    assert (image != table).any(axis=2).sum() > (render_table(scene) != table).any(axis=2).sum()
