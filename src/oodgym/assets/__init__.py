"""Bundled data files (fonts) used by the renderers.

Files are located with :mod:`importlib.resources`, so they are found both in a
source checkout and in an installed wheel. When the package is imported from a
zip archive the file is extracted to a temporary location that lives until the
interpreter exits.

Example:
    >>> from oodgym.assets import font_path, load_font
    >>> font_path("DejaVuSans-Bold.ttf").endswith("DejaVuSans-Bold.ttf")
    True
    >>> load_font("DejaVuSans-Bold.ttf", 24).size
    24
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from importlib import resources
from pathlib import Path

from PIL import ImageFont

__all__ = ["available_fonts", "font_path", "load_font"]

_FONT_DIR = "fonts"
_FONT_SUFFIXES = (".ttf", ".otf")
_exit_stack = contextlib.ExitStack()
atexit.register(_exit_stack.close)


def available_fonts() -> list[str]:
    """Return the file names of the bundled fonts, sorted."""
    folder = resources.files(__name__).joinpath(_FONT_DIR)
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.lower().endswith(_FONT_SUFFIXES)
    )


@functools.cache
def font_path(filename: str) -> str:
    """Return a real filesystem path of a bundled font.

    Args:
        filename: A file name from :func:`available_fonts`, e.g. ``"DejaVuSans-Bold.ttf"``.

    Returns:
        An absolute path to an existing file.

    Raises:
        ValueError: if ``filename`` is not a bundled font.
    """
    fonts = available_fonts()
    if filename not in fonts:
        raise ValueError(f"unknown font {filename!r}; available fonts: {', '.join(fonts)}")
    resource = resources.files(__name__).joinpath(_FONT_DIR).joinpath(filename)
    path = _exit_stack.enter_context(resources.as_file(resource))
    return str(Path(path).resolve())


@functools.lru_cache(maxsize=256)
def load_font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    """Load a bundled font at a pixel size (cached).

    Args:
        filename: A file name from :func:`available_fonts`.
        size: The font size in pixels (em size), at least 1.

    Returns:
        The Pillow font. It is shared between callers: do not modify it.

    Raises:
        ValueError: if ``filename`` is not a bundled font or ``size`` is not a positive int.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"font size must be a positive int, got {size!r}")
    return ImageFont.truetype(font_path(filename), size)
