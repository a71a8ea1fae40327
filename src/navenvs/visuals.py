"""City themes: the visual distribution of the rendered street views.

A :class:`CityTheme` fixes everything the street-view renderer
(:mod:`navenvs.render.streetview`) draws that is not geometry: sky, ground and
facade palettes, building heights, street and sidewalk widths, the facade
texture, the sign font and lettering, trees, lighting and the procedural layout
the theme is meant to be paired with.

The training theme is :data:`TRAINING_THEME` (``"default"``, a New-York-like
daytime city). :data:`OOD_THEMES` are nine clearly different themes named after
the cities of V-IRL's visual OOD benchmark (Milan, New Delhi, Buenos Aires,
London, Hong Kong, New York at night, Melbourne, Lagos and San Francisco).

Themes are selected with plain data through the :data:`THEMES` registry:

* ``"london"``: a registered name;
* ``{"name": "london", "street_width": 20}``: a name plus field overrides
  (:func:`dataclasses.replace`, so the new values are validated);
* ``"my_package.themes:DESERT"``: an importable :class:`CityTheme` or factory.

Example:
    >>> from navenvs.visuals import resolve_theme
    >>> resolve_theme({"name": "milan", "vegetation": 0.5}).vegetation
    0.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from navenvs.city import LAYOUTS
from oodgym.assets import available_fonts
from oodgym.registry import Registry

__all__ = [
    "FACADE_TEXTURES",
    "OOD_THEMES",
    "SCRIPT_STYLES",
    "THEMES",
    "TRAINING_THEME",
    "CityTheme",
    "city_themes",
    "register_theme",
    "resolve_theme",
]

RGB = tuple[int, int, int]

#: Facade textures the renderer knows.
FACADE_TEXTURES: Final = ("windows-grid", "brick", "plaster", "glass")
#: Sign lettering styles: ``"plain"`` keeps the name, ``"upper"`` upper-cases it.
SCRIPT_STYLES: Final = ("plain", "upper")


def _rgb(value: object, what: str) -> RGB:
    if (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ValueError(f"{what} must be an (r, g, b) triple of ints in 0..255; got {value!r}")


def _number(value: object, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{what} must be a number in [{low:g}, {high:g}]; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CityTheme:
    """The look of a city (all lengths in metres, colours as ``(r, g, b)`` ints).

    Attributes:
        name: Theme name (shown in galleries and info).
        sky_top: Sky colour at the top of a view.
        sky_bottom: Sky colour at the horizon.
        ground: Ground colour far away (blended into the road near the horizon).
        road: Road surface colour.
        sidewalk: Sidewalk colour.
        facade_colors: Facade colours, one drawn per building (at least one).
        window_color: Window (or glass) colour.
        sign_background: Shop sign background colour.
        sign_text: Shop sign lettering colour.
        building_height: ``(low, high)`` building heights, ``3 <= low <= high <= 300``.
        street_width: Carriageway width (kerb to kerb), 4-40.
        sidewalk_width: Sidewalk width (kerb to facade), 0.5-10.
        facade_texture: One of :data:`FACADE_TEXTURES`.
        sign_font: A bundled font file (:func:`oodgym.assets.available_fonts`);
            characters it lacks (CJK) fall back to Droid Sans Fallback.
        script_style: One of :data:`SCRIPT_STYLES`.
        vegetation: Street-tree density in ``[0, 1]`` (0: no trees).
        tree_color: Tree canopy colour.
        brightness: Overall light level in ``[0.2, 1.5]`` (multiplies every colour).
        tint: Light colour multiplied into every colour (``(255, 255, 255)``: neutral).
        haze_color: Colour of distant haze (far walls fade into it).
        haze: Haze strength in ``[0, 1]``.
        lit_windows: Windows and signs glow (not dimmed by ``brightness``), for night themes.
        horizon: Vertical shift of the horizon as a fraction of the view height in
            ``[-0.3, 0.3]`` (positive: lower horizon, as when looking up a hill).
        layout: The procedural layout (:data:`navenvs.city.LAYOUTS`) to pair with.
        description: One line for listings.
    """

    name: str
    sky_top: RGB
    sky_bottom: RGB
    ground: RGB
    road: RGB
    sidewalk: RGB
    facade_colors: tuple[RGB, ...]
    window_color: RGB
    sign_background: RGB
    sign_text: RGB
    building_height: tuple[float, float]
    street_width: float
    sidewalk_width: float
    facade_texture: str
    sign_font: str
    script_style: str = "plain"
    vegetation: float = 0.3
    tree_color: RGB = (70, 120, 60)
    brightness: float = 1.0
    tint: RGB = (255, 255, 255)
    haze_color: RGB = (200, 210, 220)
    haze: float = 0.5
    lit_windows: bool = False
    horizon: float = 0.0
    layout: str = "grid"
    description: str = ""

    def __post_init__(self) -> None:
        def setter(key: str, value: Any) -> None:
            object.__setattr__(self, key, value)

        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string; got {self.name!r}")
        for key in (
            "sky_top",
            "sky_bottom",
            "ground",
            "road",
            "sidewalk",
            "window_color",
            "sign_background",
            "sign_text",
            "tree_color",
            "tint",
            "haze_color",
        ):
            setter(key, _rgb(getattr(self, key), key))
        colors = self.facade_colors
        if not isinstance(colors, (tuple, list)) or not colors:
            raise ValueError(f"facade_colors must be a non-empty list of colours; got {colors!r}")
        setter(
            "facade_colors",
            tuple(_rgb(c, f"facade_colors[{i}]") for i, c in enumerate(colors)),
        )
        heights = self.building_height
        if not (isinstance(heights, (tuple, list)) and len(heights) == 2):
            raise ValueError(f"building_height must be a (low, high) pair; got {heights!r}")
        low = _number(heights[0], "building_height", 3.0, 300.0)
        high = _number(heights[1], "building_height", 3.0, 300.0)
        if low > high:
            raise ValueError(f"building_height must have low <= high; got {heights!r}")
        setter("building_height", (low, high))
        setter("street_width", _number(self.street_width, "street_width", 4.0, 40.0))
        setter("sidewalk_width", _number(self.sidewalk_width, "sidewalk_width", 0.5, 10.0))
        if self.facade_texture not in FACADE_TEXTURES:
            raise ValueError(
                f"facade_texture must be one of {list(FACADE_TEXTURES)}; "
                f"got {self.facade_texture!r}"
            )
        fonts = available_fonts()
        if self.sign_font not in fonts:
            raise ValueError(f"sign_font must be one of {fonts}; got {self.sign_font!r}")
        if self.script_style not in SCRIPT_STYLES:
            raise ValueError(
                f"script_style must be one of {list(SCRIPT_STYLES)}; got {self.script_style!r}"
            )
        setter("vegetation", _number(self.vegetation, "vegetation", 0.0, 1.0))
        setter("brightness", _number(self.brightness, "brightness", 0.2, 1.5))
        setter("haze", _number(self.haze, "haze", 0.0, 1.0))
        setter("horizon", _number(self.horizon, "horizon", -0.3, 0.3))
        if not isinstance(self.lit_windows, bool):
            raise ValueError(f"lit_windows must be a bool; got {self.lit_windows!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {list(LAYOUTS)}; got {self.layout!r}")
        if not isinstance(self.description, str):
            raise ValueError(f"description must be a string; got {self.description!r}")


#: Registry of city themes (names to :class:`CityTheme` values or factories).
THEMES: Registry[CityTheme] = Registry("city theme", value_type=CityTheme)


def register_theme(
    name: str,
    theme: CityTheme | Callable[..., CityTheme],
    *,
    description: str = "",
    overwrite: bool = False,
) -> CityTheme | Callable[..., CityTheme]:
    """Register a theme (or a factory returning one) under ``name``.

    Args:
        name: Name used in specs, e.g. ``"desert"``.
        theme: The theme, or a callable taking keyword parameters and returning one.
        description: One line for listings (default: the theme's description).
        overwrite: Replace an existing entry of the same name.

    Returns:
        ``theme`` unchanged.
    """
    if not description and isinstance(theme, CityTheme):
        description = theme.description
    return THEMES.register(name, theme, description=description, overwrite=overwrite)


def city_themes() -> list[str]:
    """Registered theme names, in registration order."""
    return THEMES.names()


def resolve_theme(spec: object) -> CityTheme:
    """Turn a theme spec (name, ``{"name": ..., **overrides}``, ``"module:attr"``, theme) into one.

    Raises:
        ValueError: for an unknown name or a bad override.
        TypeError: for a spec of the wrong shape.
    """
    return THEMES.resolve(spec, argument="theme")


def _theme(**kwargs: Any) -> CityTheme:
    return CityTheme(**kwargs)


_BUILTINS: Final[Sequence[CityTheme]] = (
    _theme(
        name="default",
        description="training theme: New-York-like daytime grid, brownstones and towers",
        sky_top=(96, 150, 215), sky_bottom=(200, 222, 240), ground=(120, 120, 122),
        road=(72, 72, 76), sidewalk=(170, 165, 156),
        facade_colors=((150, 88, 70), (176, 166, 152), (120, 112, 108), (192, 180, 160),
                       (132, 72, 58), (160, 150, 140)),
        window_color=(58, 74, 96), sign_background=(24, 58, 112), sign_text=(255, 255, 255),
        building_height=(14.0, 45.0), street_width=14.0, sidewalk_width=3.0,
        facade_texture="windows-grid", sign_font="DejaVuSans-Bold.ttf", vegetation=0.3,
        tree_color=(72, 118, 58), haze_color=(205, 215, 225), haze=0.4, layout="grid",
    ),
    _theme(
        name="milan",
        description="Milan: low ochre and terracotta plaster with green shutters, warm light",
        sky_top=(120, 165, 210), sky_bottom=(225, 225, 215), ground=(150, 140, 125),
        road=(105, 98, 90), sidewalk=(196, 186, 168),
        facade_colors=((218, 162, 84), (204, 122, 72), (228, 192, 124), (190, 104, 64),
                       (236, 210, 160)),
        window_color=(52, 92, 60), sign_background=(250, 244, 228), sign_text=(120, 30, 30),
        building_height=(12.0, 21.0), street_width=9.0, sidewalk_width=2.0,
        facade_texture="plaster", sign_font="DejaVuSerif-Bold.ttf", vegetation=0.05,
        tree_color=(90, 120, 60), tint=(255, 238, 212), brightness=1.05,
        haze_color=(230, 220, 200), haze=0.5, layout="perturbed-grid",
    ),
    _theme(
        name="new-delhi",
        description="New Delhi: hazy yellow sky, low pastel concrete, dusty ground, many trees",
        sky_top=(196, 190, 168), sky_bottom=(226, 214, 186), ground=(182, 160, 122),
        road=(128, 118, 104), sidewalk=(186, 164, 128),
        facade_colors=((236, 170, 190), (240, 226, 150), (245, 242, 232), (150, 200, 220),
                       (226, 150, 100)),
        window_color=(70, 70, 64), sign_background=(212, 34, 40), sign_text=(255, 236, 90),
        building_height=(6.0, 14.0), street_width=12.0, sidewalk_width=2.5,
        facade_texture="plaster", sign_font="DejaVuSansCondensed-Bold.ttf",
        script_style="upper", vegetation=0.7, tree_color=(86, 110, 50),
        tint=(255, 240, 214), haze_color=(222, 208, 176), haze=0.9, layout="irregular",
    ),
    _theme(
        name="buenos-aires",
        description="Buenos Aires: Parisian cream stone blocks, wide avenues, purple jacarandas",
        sky_top=(70, 130, 210), sky_bottom=(180, 210, 240), ground=(130, 130, 130),
        road=(88, 88, 92), sidewalk=(200, 190, 176),
        facade_colors=((228, 216, 192), (206, 196, 176), (180, 172, 160), (236, 226, 206)),
        window_color=(40, 52, 60), sign_background=(18, 84, 58), sign_text=(246, 236, 200),
        building_height=(16.0, 30.0), street_width=18.0, sidewalk_width=4.0,
        facade_texture="windows-grid", sign_font="DejaVuSerif-BoldItalic.ttf",
        vegetation=0.8, tree_color=(150, 110, 196), haze_color=(200, 215, 235), haze=0.3,
        layout="grid",
    ),
    _theme(
        name="london",
        description="London: overcast grey sky, red-brown brick terraces, black-and-gold signs",
        sky_top=(138, 144, 156), sky_bottom=(196, 198, 204), ground=(110, 112, 116),
        road=(64, 66, 70), sidewalk=(150, 150, 146),
        facade_colors=((150, 70, 50), (120, 60, 45), (170, 96, 66), (110, 80, 70)),
        window_color=(232, 232, 226), sign_background=(18, 22, 30), sign_text=(226, 190, 90),
        building_height=(10.0, 20.0), street_width=10.0, sidewalk_width=2.5,
        facade_texture="brick", sign_font="DejaVuSerif-Bold.ttf", vegetation=0.25,
        tree_color=(64, 96, 54), brightness=0.88, tint=(228, 236, 255),
        haze_color=(180, 184, 192), haze=0.8, layout="irregular",
    ),
    _theme(
        name="hong-kong",
        description="Hong Kong: dense tall glass towers, narrow streets, red signs in CJK type",
        sky_top=(130, 150, 170), sky_bottom=(200, 210, 216), ground=(100, 104, 106),
        road=(60, 62, 64), sidewalk=(140, 140, 136),
        facade_colors=((120, 160, 170), (170, 180, 186), (90, 120, 140), (210, 214, 210),
                       (110, 130, 120)),
        window_color=(70, 110, 130), sign_background=(196, 20, 30), sign_text=(255, 230, 60),
        building_height=(45.0, 130.0), street_width=8.0, sidewalk_width=2.0,
        facade_texture="glass", sign_font="DroidSansFallbackFull.ttf", vegetation=0.05,
        tree_color=(40, 110, 60), haze_color=(190, 200, 206), haze=0.7,
        layout="perturbed-grid",
    ),
    _theme(
        name="new-york-night",
        description="New York at night: dark sky, lit windows, neon signs",
        sky_top=(6, 8, 26), sky_bottom=(40, 36, 70), ground=(40, 40, 46),
        road=(28, 28, 34), sidewalk=(58, 56, 60),
        facade_colors=((60, 50, 50), (70, 70, 78), (50, 46, 60), (80, 70, 60)),
        window_color=(255, 204, 110), sign_background=(14, 10, 24), sign_text=(60, 255, 230),
        building_height=(20.0, 70.0), street_width=14.0, sidewalk_width=3.0,
        facade_texture="windows-grid", sign_font="DejaVuSansMono-Bold.ttf",
        script_style="upper", vegetation=0.15, tree_color=(30, 50, 30), brightness=0.55,
        tint=(200, 210, 255), haze_color=(40, 36, 60), haze=0.6, lit_windows=True,
        layout="grid",
    ),
    _theme(
        name="melbourne",
        description="Melbourne: bright blue sky, wide boulevards, bluestone and sandstone, gums",
        sky_top=(40, 120, 230), sky_bottom=(170, 210, 250), ground=(140, 138, 130),
        road=(80, 80, 84), sidewalk=(120, 124, 128),
        facade_colors=((92, 96, 104), (206, 176, 126), (150, 156, 160), (180, 120, 80)),
        window_color=(30, 60, 90), sign_background=(250, 210, 20), sign_text=(20, 20, 20),
        building_height=(8.0, 36.0), street_width=22.0, sidewalk_width=4.5,
        facade_texture="windows-grid", sign_font="DejaVuSansCondensed-Bold.ttf",
        vegetation=0.9, tree_color=(110, 140, 100), brightness=1.1,
        haze_color=(190, 220, 250), haze=0.2, layout="grid",
    ),
    _theme(
        name="lagos",
        description="Lagos: bright painted low buildings, red laterite dust, hazy harmattan sky",
        sky_top=(180, 190, 200), sky_bottom=(230, 220, 200), ground=(176, 130, 90),
        road=(126, 100, 84), sidewalk=(190, 150, 110),
        facade_colors=((244, 204, 40), (40, 160, 204), (230, 90, 60), (120, 200, 90),
                       (250, 250, 240), (200, 60, 140)),
        window_color=(50, 60, 70), sign_background=(0, 135, 81), sign_text=(255, 255, 255),
        building_height=(4.0, 11.0), street_width=11.0, sidewalk_width=3.0,
        facade_texture="plaster", sign_font="DejaVuSans-Bold.ttf", script_style="upper",
        vegetation=0.35, tree_color=(50, 110, 40), brightness=1.1, tint=(255, 236, 210),
        haze_color=(226, 206, 176), haze=0.8, layout="irregular",
    ),
    _theme(
        name="san-francisco",
        description="San Francisco: pastel Victorians on hills, fog on the horizon",
        sky_top=(150, 190, 230), sky_bottom=(238, 238, 240), ground=(150, 150, 150),
        road=(96, 96, 100), sidewalk=(206, 204, 200),
        facade_colors=((250, 200, 210), (190, 220, 240), (240, 232, 180), (200, 232, 200),
                       (236, 210, 240)),
        window_color=(250, 250, 248), sign_background=(60, 70, 130), sign_text=(255, 250, 236),
        building_height=(8.0, 15.0), street_width=12.0, sidewalk_width=3.0,
        facade_texture="windows-grid", sign_font="DejaVuSerif-Bold.ttf", vegetation=0.4,
        tree_color=(80, 120, 80), haze_color=(236, 236, 238), haze=0.9, horizon=0.15,
        layout="grid",
    ),
)  # fmt: skip

for _builtin in _BUILTINS:
    register_theme(_builtin.name, _builtin)

#: The theme used for training.
TRAINING_THEME: Final = "default"
#: The nine out-of-distribution themes (V-IRL's visual OOD cities).
OOD_THEMES: Final = (
    "milan",
    "new-delhi",
    "buenos-aires",
    "london",
    "hong-kong",
    "new-york-night",
    "melbourne",
    "lagos",
    "san-francisco",
)
