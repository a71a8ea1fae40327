"""Visual variants: distribution shifts applied to rendered card tables.

A :class:`VisualVariant` transforms the :class:`~cardenvs.render.table.TableScene`
before rendering (:meth:`~VisualVariant.scene`) and/or the rendered image after it
(:meth:`~VisualVariant.image`). Both methods take all their randomness from the
``rng`` they are given and draw a fixed number of values per call, so an
observation is a deterministic function of the dealt cards, the variants and
the generator state.

Variants are selected with plain data, through the :data:`VISUALS` registry:

* ``"rotate"``: a built-in name with default parameters;
* ``{"name": "noise", "sigma": 5}``: a name plus keyword parameters;
* ``"my_package.variants:Sepia"``: an importable class or instance.

Built-in variants: ``card-style``, ``rotate``, ``jitter``, ``background``,
``noise``, ``blur``, ``jpeg``, ``occlusion`` and ``scale-shift``.

Example:
    >>> import numpy as np
    >>> from cardenvs.visuals import render_observation, resolve_visuals
    >>> variants = resolve_visuals(["rotate", {"name": "noise", "sigma": 5}])
    >>> image = render_observation(
    ...     ["AS", "10C", "QS", "7C"], size=336, variants=variants, rng=np.random.default_rng(0)
    ... )
    >>> image.shape, image.dtype.name
    ((336, 336, 3), 'uint8')
"""

from __future__ import annotations

import colorsys
import dataclasses
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from cardenvs.render.sprites import (
    CARD_ASPECT,
    INDEX_BOX,
    MAX_SPRITE_WIDTH,
    MIN_SPRITE_WIDTH,
)
from cardenvs.render.styles import CARD_STYLES, get_card_style
from cardenvs.render.table import (
    ROTATION_SPRITES,
    TEXTURES,
    Occlusion,
    TableScene,
    check_image_size,
    default_scene,
    prepared_sprite,
    render_table,
    rotation_sprite,
)
from oodgym.caching import ByteCache
from oodgym.registry import Registry

__all__ = [
    "VISUALS",
    "BackgroundVariant",
    "BlurVariant",
    "CardStyleVariant",
    "JitterVariant",
    "JpegVariant",
    "NoiseVariant",
    "OcclusionVariant",
    "RotateVariant",
    "ScaleShiftVariant",
    "VisualVariant",
    "prepare_observations",
    "register_visual",
    "render_observation",
    "resolve_visuals",
    "visual_variants",
]


class VisualVariant:
    """Base class: override scene() and/or image(); both must be deterministic given rng.

    Subclasses must not modify their inputs (scenes are frozen; images may be
    shared with caches): return a new scene or a new array instead.
    """

    name: str = "identity"

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Return the scene to render (default: unchanged)."""
        return scene

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the observation image (default: unchanged)."""
        return image

    def spec(self) -> dict[str, Any]:
        """Return a plain-data spec (``{"name": ..., **params}``) that recreates this variant.

        Dataclass variants list their fields; other variants only their name.
        """
        params: dict[str, Any] = {}
        instance: Any = self
        if dataclasses.is_dataclass(instance):
            params = {f.name: getattr(self, f.name) for f in dataclasses.fields(instance)}
        return {"name": self.name, **params}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


#: Registry of visual variants (names to classes or instances).
VISUALS: Registry[VisualVariant] = Registry("visual variant", value_type=VisualVariant)


def register_visual(
    name: str,
    variant: VisualVariant | Callable[..., VisualVariant],
    *,
    description: str = "",
    overwrite: bool = False,
) -> VisualVariant | Callable[..., VisualVariant]:
    """Register a visual variant instance or factory (usually a class) under ``name``.

    Args:
        name: Name used in specs, e.g. ``"sepia"``.
        variant: A :class:`VisualVariant` instance, or a callable taking keyword
            parameters and returning one.
        description: One line for listings; defaults to the first docstring line.
        overwrite: Replace an existing entry of the same name.

    Returns:
        ``variant`` unchanged (so this can be used on a class definition).

    Raises:
        ValueError: for a bad or taken name.
        TypeError: if ``variant`` is neither a variant nor callable.
    """
    return VISUALS.register(name, variant, description=description, overwrite=overwrite)


def visual_variants() -> list[str]:
    """Names of the registered visual variants, in registration order."""
    return VISUALS.names()


def resolve_visuals(
    specs: Sequence[str | Mapping[str, Any] | VisualVariant]
    | str
    | Mapping[str, Any]
    | VisualVariant
    | None,
) -> tuple[VisualVariant, ...]:
    """Turn visual-variant specs into variant instances.

    Args:
        specs: ``None`` (no variants), a sequence of specs, or a single spec. A spec is
            a registered name, a mapping ``{"name": ..., **params}``, a
            ``"package.module:Class"`` path or a :class:`VisualVariant`.

    Returns:
        The variants, in order.

    Raises:
        ValueError: for unknown names or bad parameters (the message names ``visuals``).
        TypeError: for specs of the wrong shape.
    """
    if specs is None:
        return ()
    if isinstance(specs, (str, Mapping, VisualVariant)):
        specs = [specs]
    if not isinstance(specs, Sequence):
        raise TypeError(f"visuals must be a sequence of specs or None, got {type(specs).__name__}")
    return tuple(VISUALS.resolve(spec, argument="visuals") for spec in specs)


def render_observation(
    codes: Sequence[str],
    *,
    size: int,
    style: str = "classic",
    variants: Sequence[str | Mapping[str, Any] | VisualVariant] = (),
    rng: np.random.Generator,
) -> np.ndarray:
    """Render dealt cards as an observation image, applying visual variants.

    Steps: :func:`~cardenvs.render.table.default_scene`, then every variant's
    ``scene`` in order, :func:`~cardenvs.render.table.render_table`, then every
    variant's ``image`` in order.

    Args:
        codes: Card codes, e.g. ``["AS", "10C", "QS", "7C"]``.
        size: Image width and height in pixels, in [224, 1200].
        style: Card style name before variants.
        variants: Variants or specs (resolved with :func:`resolve_visuals`).
        rng: Source of all randomness.

    Returns:
        A new C-contiguous ``uint8`` array of shape (size, size, 3).

    Raises:
        ValueError: for bad sizes, codes, styles or specs.
        TypeError: if a variant returns the wrong kind of value.
    """
    check_image_size(size)
    resolved = resolve_visuals(variants)
    scene = default_scene(codes, size, style)
    for variant in resolved:
        scene = variant.scene(scene, rng)
        if not isinstance(scene, TableScene) or scene.size != size:
            raise TypeError(
                f"visual variant {variant.name!r}: scene() must return a TableScene of size "
                f"{size}, got {scene!r}"
            )
    image = render_table(scene)
    for variant in resolved:
        image = variant.image(image, rng)
        if (
            not isinstance(image, np.ndarray)
            or image.dtype != np.uint8
            or image.shape != (size, size, 3)
        ):
            raise TypeError(
                f"visual variant {variant.name!r}: image() must return a uint8 array of shape "
                f"{(size, size, 3)}, got {getattr(image, 'dtype', type(image).__name__)} "
                f"{getattr(image, 'shape', '')}"
            )
    return np.ascontiguousarray(image)


def prepare_observations(
    codes: Sequence[str],
    *,
    size: int,
    hand_size: int,
    style: str = "classic",
    variants: Sequence[str | Mapping[str, Any] | VisualVariant] = (),
) -> None:
    """Draw now what observations of these cards will need, so the first reset does not wait.

    Renders every card of ``codes`` at the size and in the style(s) the table of
    ``hand_size`` cards uses after the variants' scene changes (as sampled once),
    and one whole observation (background, texture, image codecs). Everything
    lands in the renderers' caches (:mod:`oodgym.caching`), shared by every
    environment of the process. Nothing observable changes: observations are the
    same with or without this call.

    Args:
        codes: The cards that can be dealt, e.g. the 26 black cards.
        size: Image size in pixels, in [224, 1200].
        hand_size: Cards per observation, 1 to 6.
        style: Card style before variants.
        variants: The visual variants of the observations.
    """
    check_image_size(size)
    codes = list(codes)
    if not codes:
        return
    resolved = resolve_visuals(variants)
    hand = [codes[i % len(codes)] for i in range(hand_size)]
    rng = np.random.default_rng(0)
    scene = default_scene(hand, size, style)
    for variant in resolved:
        scene = variant.scene(scene, rng)
    card_style = get_card_style(scene.style)
    widths = {  # the widths the cards are drawn at (resampled later if need be)
        min(
            max(
                round((card.width if card.draw_width is None else card.draw_width) * size),
                MIN_SPRITE_WIDTH,
            ),
            MAX_SPRITE_WIDTH,
        )
        for card in scene.cards
    }
    rotated = {  # widths of the rotated cards drawn at their own width
        min(max(round(card.width * size), MIN_SPRITE_WIDTH), MAX_SPRITE_WIDTH)
        for card in scene.cards
        if card.angle % 360.0 != 0.0 and card.occlusion is None and card.draw_width is None
    }
    one = 0  # bytes of one card laid out for rotation (known after the first)
    for width in sorted(widths):
        for code in codes:
            prepared_sprite(code, card_style, width)
            if width in rotated and (
                ROTATION_SPRITES.stats().nbytes + one <= ROTATION_SPRITES.max_bytes
            ):
                # Up to the cache's budget: beyond it, building more would evict the first.
                one = rotation_sprite(code, card_style, width).nbytes
    render_observation(hand, size=size, style=style, variants=resolved, rng=rng)


# --------------------------------------------------------------------------- validation
def _number(
    variant: str,
    param: str,
    value: object,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    integer: bool = False,
) -> float:
    kind = "an int" if integer else "a number"
    interval = f"{'(' if lo_open else '['}{lo}, {hi}]"
    ok = (
        not isinstance(value, bool)
        and isinstance(
            value, (int, np.integer) if integer else (int, float, np.integer, np.floating)
        )
        and math.isfinite(float(value))
        and (lo < float(value) if lo_open else lo <= float(value))
        and float(value) <= hi
    )
    if not ok:
        raise ValueError(
            f"visual variant {variant!r}: {param} must be {kind} in {interval}, got {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def _set(obj: object, field: str, value: object) -> None:
    object.__setattr__(obj, field, value)


# --------------------------------------------------------------------------- built-ins
@dataclass(frozen=True)
class CardStyleVariant(VisualVariant):
    """Draw the cards in another card style (default ``alt``: cream cards, serif font).

    Attributes:
        style: A registered card style name.
    """

    name = "card-style"
    style: str = "alt"

    def __post_init__(self) -> None:
        if not isinstance(self.style, str) or self.style not in CARD_STYLES:
            raise ValueError(
                f"visual variant 'card-style': style must be a registered card style "
                f"({', '.join(map(repr, CARD_STYLES))}), got {self.style!r}"
            )
        get_card_style(self.style)

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Switch the scene's card style (draws nothing from ``rng``)."""
        return dataclasses.replace(scene, style=self.style)


@dataclass(frozen=True)
class RotateVariant(VisualVariant):
    """Rotate every card by its own uniform random angle.

    Angles are continuous (not quantised). Rotated cards are sampled bilinearly
    from the premultiplied card, with positions and weights in steps of 1/16 pixel,
    and blended in the same pass (:func:`~cardenvs.render.table.render_table`).

    Attributes:
        max_degrees: Angles are uniform in [-max_degrees, max_degrees]; in [0, 180].
    """

    name = "rotate"
    max_degrees: float = 15.0

    def __post_init__(self) -> None:
        _set(self, "max_degrees", _number(self.name, "max_degrees", self.max_degrees, 0, 180))

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Add a random angle to each card (one draw per card)."""
        angles = rng.uniform(-self.max_degrees, self.max_degrees, size=len(scene.cards))
        cards = tuple(
            dataclasses.replace(card, angle=card.angle + float(a))
            for card, a in zip(scene.cards, angles, strict=True)
        )
        return dataclasses.replace(scene, cards=cards)


@dataclass(frozen=True)
class JitterVariant(VisualVariant):
    """Move each card's centre by an independent random offset.

    Attributes:
        max_shift: Offsets are uniform in [-max_shift, max_shift], as a fraction of
            the image size, independently in x and y; in [0, 0.25].
    """

    name = "jitter"
    max_shift: float = 0.03

    def __post_init__(self) -> None:
        _set(self, "max_shift", _number(self.name, "max_shift", self.max_shift, 0, 0.25))

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Shift each card (two draws per card)."""
        shifts = rng.uniform(-self.max_shift, self.max_shift, size=(len(scene.cards), 2))
        cards = tuple(
            dataclasses.replace(
                card, center_x=card.center_x + float(dx), center_y=card.center_y + float(dy)
            )
            for card, (dx, dy) in zip(scene.cards, shifts, strict=True)
        )
        return dataclasses.replace(scene, cards=cards)


@dataclass(frozen=True)
class BackgroundVariant(VisualVariant):
    """Change the table colour and texture.

    Attributes:
        color: ``None`` for a random dark colour per observation, or a fixed
            ``(r, g, b)`` with ints in 0..255.
        texture: Table texture: ``plain``, ``felt`` or ``wood``.
    """

    name = "background"
    color: tuple[int, int, int] | None = None
    texture: str = "felt"

    def __post_init__(self) -> None:
        color = self.color
        if color is not None:
            if (
                isinstance(color, (str, bytes))
                or not isinstance(color, Sequence)
                or len(color) != 3
                or not all(
                    isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c <= 255
                    for c in color
                )
            ):
                raise ValueError(
                    f"visual variant 'background': color must be None or an (r, g, b) "
                    f"sequence of ints in [0, 255], got {color!r}"
                )
            _set(self, "color", tuple(int(c) for c in color))
        if self.texture not in TEXTURES:
            raise ValueError(
                f"visual variant 'background': texture must be one of {', '.join(TEXTURES)}, "
                f"got {self.texture!r}"
            )

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Set the background (three draws if the colour is random, none otherwise)."""
        if self.color is None:
            hue, sat, val = rng.random(3)
            r, g, b = colorsys.hsv_to_rgb(
                float(hue), 0.3 + 0.55 * float(sat), 0.16 + 0.3 * float(val)
            )
            color = (round(r * 255), round(g * 255), round(b * 255))
        else:
            color = self.color
        return dataclasses.replace(scene, background=color, texture=self.texture)


#: Noise fields per (number of values, sigma): int16, read-only (oodgym.caching; 1.5 MB at
#: 512 px).
NOISE_FIELDS: ByteCache[tuple[int, float], np.ndarray] = ByteCache(
    "cardenvs.noise_fields", 32 << 20, description="Gaussian noise fields per (size, sigma)"
)
_NOISE_SEED = 20240918  # fixed: a noise field depends only on its length and sigma


def _noise_field(count: int, sigma: float) -> np.ndarray:
    """``count`` rounded Gaussian values of std ``sigma`` (int16, read-only, cached)."""
    key = (count, sigma)
    field = NOISE_FIELDS.get(key)
    if field is None:
        normal = np.random.default_rng(_NOISE_SEED).standard_normal(count)
        field = np.rint(normal * sigma).astype(np.int16)
        field.flags.writeable = False
        field = NOISE_FIELDS.put(key, field)
    return field


@dataclass(frozen=True)
class NoiseVariant(VisualVariant):
    """Add Gaussian pixel noise (clipped to 0..255), from a fixed noise field moved at random.

    Every pixel and channel gets an independent, rounded Gaussian value of std
    ``sigma``. The values come from one noise field per (image size, sigma), drawn
    once from a fixed seed: each observation reads it from a random offset
    (cyclically, in the image's memory order: rows, columns, channels), forwards
    or backwards, and adds or subtracts it (three draws). The noise of two
    observations is therefore generally different, but always a moved copy of
    the same field.

    Attributes:
        sigma: Standard deviation in grey levels; in [0, 100].
    """

    name = "noise"
    sigma: float = 12.0

    def __post_init__(self) -> None:
        _set(self, "sigma", _number(self.name, "sigma", self.sigma, 0, 100))

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a noisy copy (three draws)."""
        u = rng.random(3)
        count = image.size
        field = _noise_field(count, self.sigma)
        if u[1] < 0.5:
            field = field[::-1]
        start = min(int(u[0] * count), count - 1)
        combine = np.subtract if u[2] < 0.5 else np.add
        out = image.astype(np.int16, order="C")  # a view of any input's layout, flat
        flat = out.reshape(-1)
        # flat[i] (+/-)= field[(i + start) % count], in two blocks.
        head, tail = flat[: count - start], flat[count - start :]
        combine(head, field[start:], out=head)
        combine(tail, field[:start], out=tail)
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)


@lru_cache(maxsize=64)
def _blur_kernel(radius: float) -> tuple[tuple[int, ...], int]:
    """Gaussian of std ``radius`` as integer taps (centre first) and their precision bits.

    The taps of a symmetric kernel sum to ``2**bits`` (8 bits up to radius 4, 16
    above); taps that round to 0 are dropped.
    """
    bits = 8 if radius <= 4 else 16
    scale = 1 << bits
    half = max(1, math.ceil(3 * radius))
    k = np.arange(half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (k / radius) ** 2)
    g *= scale / (g[0] + 2 * g[1:].sum())
    taps = np.floor(g).astype(np.int64)
    missing = scale - int(taps[0] + 2 * taps[1:].sum())
    if missing % 2:  # the centre takes an odd remainder, the sides pairs
        taps[0] += 1
        missing -= 1
    order = np.argsort(-(g[1:] - taps[1:]), kind="stable") + 1
    taps[order[: missing // 2]] += 1
    kept = int(np.flatnonzero(taps)[-1]) + 1
    return tuple(int(t) for t in taps[:kept]), bits


def _blur_pass(source: np.ndarray, taps: tuple[int, ...], bits: int, axis: int) -> np.ndarray:
    """Convolve a (height, width, channels) image with symmetric ``taps`` along ``axis``.

    Edges repeat the border pixels. Returns the rounded result, in ``uint16`` or
    ``uint32`` (the accumulator's type), with values in 0..255.
    """
    dtype: type[np.unsignedinteger[Any]] = np.uint16 if bits <= 8 else np.uint32
    half = len(taps) - 1
    shape = list(source.shape)
    n = shape[axis]
    shape[axis] += 2 * half
    padded = np.empty(shape, dtype=dtype)
    moved = np.moveaxis(padded, axis, 0)
    src = np.moveaxis(source, axis, 0)
    moved[half : half + n] = src
    moved[:half] = src[:1]
    moved[half + n :] = src[-1:]
    # A flat view: neighbours along the axis are a fixed number of elements apart, so
    # every tap is one contiguous operation (the padding absorbs the shifts).
    step = int(np.prod(padded.shape[axis + 1 :]))
    flat = padded.reshape(-1)
    count = flat.size - 2 * half * step
    acc = np.empty(padded.size, dtype=dtype)
    out = acc[:count]
    np.multiply(flat[half * step : half * step + count], dtype(taps[0]), out=out)
    pair = np.empty(count, dtype=dtype)
    for k in range(1, half + 1):
        np.add(
            flat[(half - k) * step : (half - k) * step + count],
            flat[(half + k) * step :][:count],
            out=pair,
        )
        pair *= dtype(taps[k])
        out += pair
    out += dtype(1 << (bits - 1))
    out >>= bits
    # Element j of acc is the output at padded element j + half * step.
    result = acc.reshape(padded.shape)
    index = [slice(None)] * padded.ndim
    index[axis] = slice(0, n)
    valid: np.ndarray = result[tuple(index)]
    return valid


@dataclass(frozen=True)
class BlurVariant(VisualVariant):
    """Gaussian blur of standard deviation ``radius`` (integer separable kernel).

    A sampled Gaussian of std ``radius`` pixels, quantised to integer taps summing
    to 256 (65,536 above radius 4) and cut where taps round to zero, applied along
    rows then columns with edges repeated; each pass is rounded to whole grey
    levels. It matches Pillow's ``GaussianBlur(radius)`` to within a few grey
    levels; very small radii (below about 0.3) leave the image unchanged. The
    rounding of the taps makes the effective standard deviation 1-3% below
    ``radius`` and lets it dip by up to ~0.02 px between radii closer than ~0.05
    (e.g. 1.96 vs 2.0): a larger radius blurs more only in steps of ~0.05.

    Attributes:
        radius: Standard deviation of the Gaussian in pixels; in (0, 20].
    """

    name = "blur"
    radius: float = 1.5

    def __post_init__(self) -> None:
        _set(self, "radius", _number(self.name, "radius", self.radius, 0, 20, lo_open=True))

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a blurred copy (draws nothing from ``rng``)."""
        taps, bits = _blur_kernel(self.radius)
        if len(taps) == 1:
            unchanged: np.ndarray = image.copy()
            return unchanged
        rows = _blur_pass(image, taps, bits, axis=1)
        blurred: np.ndarray = _blur_pass(rows, taps, bits, axis=0).astype(np.uint8)
        return blurred


@dataclass(frozen=True)
class JpegVariant(VisualVariant):
    """JPEG compression artefacts (encode and decode in memory with Pillow).

    Attributes:
        quality: JPEG quality; an int in [1, 95].
    """

    name = "jpeg"
    quality: int = 20

    def __post_init__(self) -> None:
        _set(self, "quality", int(_number(self.name, "quality", self.quality, 1, 95, integer=True)))

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a compressed and decompressed copy (draws nothing from ``rng``)."""
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=self.quality)
        buffer.seek(0)
        with Image.open(buffer, formats=["JPEG"]) as decoded:  # our own bytes
            return np.array(decoded.convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True)
class OcclusionVariant(VisualVariant):
    """A grey rectangle over part of one card, always leaving one corner index visible.

    The rectangle is attached to the card (it follows later shifts and rotations)
    and never overlaps one of the card's two corner indices, chosen at random.

    Attributes:
        fraction: Rectangle area as a fraction of the card area; in (0, 0.4].
    """

    name = "occlusion"
    fraction: float = 0.15

    def __post_init__(self) -> None:
        _set(self, "fraction", _number(self.name, "fraction", self.fraction, 0, 0.4, lo_open=True))

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Occlude one random card (six draws)."""
        u = rng.random(6)
        if not scene.cards:
            return scene
        index = min(int(u[0] * len(scene.cards)), len(scene.cards) - 1)
        keep_top_left = bool(u[1] < 0.5)
        aspect = math.exp(math.log(0.5) + float(u[2]) * math.log(4.0))  # width / height in [0.5, 2]
        width = min(math.sqrt(self.fraction * aspect), 0.9)
        height = min(self.fraction / width, 0.9)
        width = self.fraction / height
        x0 = float(u[3]) * (1.0 - width)
        y0 = float(u[4]) * (1.0 - height)
        x0, y0 = _avoid_index(x0, y0, width, height, keep_top_left)
        occlusion = Occlusion(
            x0=x0,
            y0=y0,
            x1=min(x0 + width, 1.0),
            y1=min(y0 + height, 1.0),
            grey=96 + int(u[5] * 80),
        )
        cards = list(scene.cards)
        cards[index] = dataclasses.replace(cards[index], occlusion=occlusion)
        return dataclasses.replace(scene, cards=tuple(cards))


def _avoid_index(
    x0: float, y0: float, width: float, height: float, keep_top_left: bool
) -> tuple[float, float]:
    """Move a rectangle (card fractions) off the kept corner index with the smallest shift."""
    bx0, by0, bx1, by1 = INDEX_BOX
    if not keep_top_left:
        bx0, by0, bx1, by1 = 1.0 - bx1, 1.0 - by1, 1.0 - bx0, 1.0 - by0
    if x0 >= bx1 or x0 + width <= bx0 or y0 >= by1 or y0 + height <= by0:
        return x0, y0
    options: list[tuple[float, float, float]] = []  # (distance, x0, y0)
    if keep_top_left:
        if bx1 + width <= 1.0:
            options.append((bx1 - x0, bx1, y0))
        if by1 + height <= 1.0:
            options.append((by1 - y0, x0, by1))
    else:
        if bx0 - width >= 0.0:
            options.append((x0 + width - bx0, bx0 - width, y0))
        if by0 - height >= 0.0:
            options.append((y0 + height - by0, x0, by0 - height))
    _, x0, y0 = min(options)
    return x0, y0


@dataclass(frozen=True)
class ScaleShiftVariant(VisualVariant):
    """Scale the whole card layout about the image centre and shift it.

    The shift is limited so that the layout stays inside the image whenever it
    fits (a layout wider than the image stays centred on that axis), so that
    every card keeps both corner indices in view when possible. The scale is
    continuous: cards are drawn at their unscaled width and resampled (bilinear)
    to the scaled one (:attr:`~cardenvs.render.table.CardPlacement.draw_width`),
    so that a new scale costs a resample, not a new drawing.

    Attributes:
        min_scale: Smallest scale factor; in [0.25, 2].
        max_scale: Largest scale factor; in [min_scale, 2].
        max_shift: The layout moves by uniform offsets in [-max_shift, max_shift]
            (fraction of the image size) in x and y; in [0, 0.5].
    """

    name = "scale-shift"
    min_scale: float = 0.8
    max_scale: float = 1.15
    max_shift: float = 0.05

    def __post_init__(self) -> None:
        lo = _number(self.name, "min_scale", self.min_scale, 0.25, 2.0)
        hi = _number(self.name, "max_scale", self.max_scale, lo, 2.0)
        _set(self, "min_scale", lo)
        _set(self, "max_scale", hi)
        _set(self, "max_shift", _number(self.name, "max_shift", self.max_shift, 0, 0.5))

    def scene(self, scene: TableScene, rng: np.random.Generator) -> TableScene:
        """Scale and shift all cards together (three draws)."""
        scale = float(rng.uniform(self.min_scale, self.max_scale))
        dx, dy = (float(v) for v in rng.uniform(-self.max_shift, self.max_shift, size=2))
        cards = [
            dataclasses.replace(
                card,
                center_x=0.5 + (card.center_x - 0.5) * scale,
                center_y=0.5 + (card.center_y - 0.5) * scale,
                width=min(card.width * scale, 1.0),
                draw_width=card.width if card.draw_width is None else card.draw_width,
            )
            for card in scene.cards
        ]
        if cards:
            x0 = min(c.center_x - c.width / 2 for c in cards)
            x1 = max(c.center_x + c.width / 2 for c in cards)
            y0 = min(c.center_y - c.width * CARD_ASPECT / 2 for c in cards)
            y1 = max(c.center_y + c.width * CARD_ASPECT / 2 for c in cards)
            dx = _clamp_shift(dx, x0, x1)
            dy = _clamp_shift(dy, y0, y1)
        moved = tuple(
            dataclasses.replace(card, center_x=card.center_x + dx, center_y=card.center_y + dy)
            for card in cards
        )
        return dataclasses.replace(scene, cards=moved)


def _clamp_shift(shift: float, lo: float, hi: float) -> float:
    """Limit ``shift`` so that [lo, hi] + shift stays in [0, 1] (or is centred if wider)."""
    if hi - lo >= 1.0:
        return 0.5 - (lo + hi) / 2
    return min(max(shift, -lo), 1.0 - hi)


for _variant in (
    CardStyleVariant,
    RotateVariant,
    JitterVariant,
    BackgroundVariant,
    NoiseVariant,
    BlurVariant,
    JpegVariant,
    OcclusionVariant,
    ScaleShiftVariant,
):
    register_visual(_variant.name, _variant)
del _variant
