"""Image renderers for the navigation environments.

:mod:`navenvs.render.streetview` draws V-IRL-style 2x2 street-view grids of a
procedural :class:`~navenvs.city.City` in a :class:`~navenvs.visuals.CityTheme`.
"""

from __future__ import annotations

from navenvs.render.streetview import LAYOUT_TEXT, VIEW_LAYOUT, StreetView, StreetViewRenderer

__all__ = ["LAYOUT_TEXT", "VIEW_LAYOUT", "StreetView", "StreetViewRenderer"]
