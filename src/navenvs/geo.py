"""Geometry on latitude/longitude: distances, bearings, compass and turn words.

Conventions: bearings are degrees clockwise from north in ``[0, 360)``.
Turns are signed degrees in ``(-180, 180]``: positive turns right (clockwise).

The reference V-IRL code computed relative turns as ``target - current``
without wrapping, so turning from 300 to 30 degrees (a 90-degree right turn
through north) came out as "left". :func:`signed_turn` wraps around 360, and
:func:`relative_turn_word` is built on it.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "COMPASS_WORDS",
    "EARTH_RADIUS_M",
    "RELATIONS",
    "RELATIVE_WORDS",
    "bearing",
    "compass_word",
    "haversine",
    "heading_of_word",
    "offset",
    "relation_word",
    "relative_turn_word",
    "signed_turn",
    "to_latlng",
    "to_xy",
]

EARTH_RADIUS_M: Final = 6_371_008.8
#: The 8 compass words, clockwise from north (sector centres 0, 45, ..., 315 degrees).
COMPASS_WORDS: Final = (
    "north",
    "northeast",
    "east",
    "southeast",
    "south",
    "southwest",
    "west",
    "northwest",
)
#: Relative turn words: |turn| <= 45 degrees is "slightly", more is a full turn.
RELATIVE_WORDS: Final = ("left", "right", "slightly left", "slightly right")
#: Where a landmark is, relative to a heading, clockwise from straight ahead.
RELATIONS: Final = (
    "front",
    "right front",
    "right",
    "right behind",
    "behind",
    "left behind",
    "left",
    "left front",
)


def haversine(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees in ``[0, 360)``."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lng2 - lng1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def offset(lat: float, lng: float, heading: float, distance: float) -> tuple[float, float]:
    """The point ``distance`` metres from (lat, lng) along ``heading``."""
    d = distance / EARTH_RADIUS_M
    h = math.radians(heading)
    p1, l1 = math.radians(lat), math.radians(lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(h))
    l2 = l1 + math.atan2(
        math.sin(h) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def compass_word(heading: float) -> str:
    """The 8-way compass word of a heading (each word covers 45 degrees)."""
    return COMPASS_WORDS[int(((heading % 360.0) + 22.5) // 45.0) % 8]


def heading_of_word(word: str) -> float:
    """The centre heading of a compass word.

    Raises:
        ValueError: naming the allowed words.
    """
    try:
        return COMPASS_WORDS.index(word.strip().lower()) * 45.0
    except ValueError:
        raise ValueError(f"unknown compass word {word!r}; allowed: {list(COMPASS_WORDS)}") from None


def signed_turn(current: float, target: float) -> float:
    """The turn from ``current`` to ``target`` heading, in ``(-180, 180]`` (positive = right).

    Example:
        >>> signed_turn(300, 30)   # the reference code called this a left turn
        90.0
    """
    delta = (target - current) % 360.0
    return delta - 360.0 if delta > 180.0 else delta


def relative_turn_word(current: float, target: float) -> str:
    """Relative word for turning from ``current`` to ``target``.

    ``|turn| <= 45`` is "slightly left/right", more is "left/right"; a turn of
    exactly 0 counts as "slightly right" and a U-turn (180) as "right".
    """
    turn = signed_turn(current, target)
    side = "right" if turn >= 0 else "left"
    return side if abs(turn) > 45.0 else f"slightly {side}"


def relation_word(heading: float, bearing_to_object: float) -> str:
    """Where an object lies relative to ``heading`` (8 sectors of 45 degrees)."""
    turn = (bearing_to_object - heading) % 360.0
    return RELATIONS[int((turn + 22.5) // 45.0) % 8]


def to_xy(lat: float, lng: float, origin: tuple[float, float]) -> tuple[float, float]:
    """Local east/north metres from ``origin`` (equirectangular; accurate over a few km)."""
    lat0, lng0 = origin
    x = math.radians(lng - lng0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * EARTH_RADIUS_M
    return x, y


def to_latlng(x: float, y: float, origin: tuple[float, float]) -> tuple[float, float]:
    """Inverse of :func:`to_xy`."""
    lat0, lng0 = origin
    lat = lat0 + math.degrees(y / EARTH_RADIUS_M)
    lng = lng0 + math.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return lat, lng
