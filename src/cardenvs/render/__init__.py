"""Procedural rendering of playing cards on a table.

* :mod:`cardenvs.render.styles`: :class:`CardStyle` palettes and the style registry;
* :mod:`cardenvs.render.sprites`: :func:`card_sprite`, one card as an RGBA array;
* :mod:`cardenvs.render.table`: :class:`TableScene` and :func:`render_table`.

Example:
    >>> from cardenvs.render import default_scene, render_table
    >>> render_table(default_scene(["KH", "2D", "JH", "9D"], size=336)).shape
    (336, 336, 3)
"""

from __future__ import annotations

from cardenvs.render.sprites import (
    CARD_ASPECT,
    INDEX_BOX,
    RANKS,
    SUITS,
    card_sprite,
    parse_card,
)
from cardenvs.render.styles import (
    CARD_STYLES,
    CardStyle,
    get_card_style,
    register_card_style,
)
from cardenvs.render.table import (
    DEFAULT_BACKGROUND,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    TEXTURES,
    CardPlacement,
    Occlusion,
    TableScene,
    check_image_size,
    default_scene,
    render_table,
)

__all__ = [
    "CARD_ASPECT",
    "CARD_STYLES",
    "DEFAULT_BACKGROUND",
    "INDEX_BOX",
    "MAX_IMAGE_SIZE",
    "MIN_IMAGE_SIZE",
    "RANKS",
    "SUITS",
    "TEXTURES",
    "CardPlacement",
    "CardStyle",
    "Occlusion",
    "TableScene",
    "card_sprite",
    "check_image_size",
    "default_scene",
    "get_card_style",
    "parse_card",
    "register_card_style",
    "render_table",
]
