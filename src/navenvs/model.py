"""The route data model shared by procedural cities and real V-IRL data.

One schema for both: :mod:`navenvs.city` samples :class:`Route` objects from
procedural cities, :mod:`navenvs.data` reads and writes them in the V-IRL
``route_infos.json`` format, and :mod:`navenvs.routes` turns a route into the
expert rail the environment follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Milestone", "Place", "Route"]


@dataclass(frozen=True)
class Place:
    """A named place (shop, cafe, landmark, start or destination).

    Attributes:
        name: Display name; may hold any Unicode, quotes or braces.
        lat: Latitude (degrees).
        lng: Longitude (degrees).
        types: Place types, e.g. ``("cafe",)``.
        n_reviews: Review count (prominence: the landmark of a milestone is the
            most reviewed place nearby).
        rating: Average rating (0 when unknown).
        place_id: Stable identifier.
        extra: Other fields of a loaded V-IRL record, kept for round trips.
    """

    name: str
    lat: float
    lng: float
    types: tuple[str, ...] = ()
    n_reviews: int = 0
    rating: float = 0.0
    place_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Milestone:
    """A decision point of a route: an intersection where the route turns, or the destination.

    Attributes:
        lat: Latitude of the point.
        lng: Longitude of the point.
        arrival_heading: Heading of travel when arriving here (V-IRL ``human_heading``).
        next_heading: Heading to face for the next leg (V-IRL
            ``to_next_intersection_heading``); ``None`` at the destination.
        landmark: The most prominent place nearby, or ``None``.
        relation: Where the landmark lies relative to ``arrival_heading``
            (``"left front"``, ...); ``None`` without a landmark.
        distance: Length of the leg that arrives here, in metres.
    """

    lat: float
    lng: float
    arrival_heading: float
    next_heading: float | None
    landmark: Place | None
    relation: str | None
    distance: float


@dataclass(frozen=True)
class Route:
    """A route from a start place to a destination through milestones.

    Attributes:
        start: The start place (the agent starts at its position).
        destination: The destination place.
        start_heading: Heading of the first leg (the agent's first turn faces it).
        milestones: Decision points; the last one is the destination.
        legs: For each milestone, the polyline (lat, lng) points of the leg that
            arrives there, starting at the previous milestone (or the start) and
            ending at the milestone itself.
        init_heading: The agent's heading before its first turn; ``None`` means
            "draw one at random" (the V-IRL files store 0 for that).
        city: Name of the city (or data set) the route belongs to.
    """

    start: Place
    destination: Place
    start_heading: float
    milestones: tuple[Milestone, ...]
    legs: tuple[tuple[tuple[float, float], ...], ...]
    init_heading: float | None = None
    city: str = ""

    def __post_init__(self) -> None:
        if not self.milestones:
            raise ValueError("a route needs at least one milestone (the destination)")
        if len(self.legs) != len(self.milestones):
            raise ValueError(
                f"a route needs one leg per milestone: {len(self.legs)} legs for "
                f"{len(self.milestones)} milestones"
            )
        if any(len(leg) < 2 for leg in self.legs):
            raise ValueError("every leg needs at least two points")
