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

__all__ = ["NO_LANDMARK", "Milestone", "Place", "Route"]

#: The sentence of a milestone without a landmark (as V-IRL files write it).
NO_LANDMARK = "No landmark nearby"


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

    In a V-IRL file, milestone ``k`` (0-based, the point ``P(k+1)``) is described
    by two ``milestone_info`` blocks: block ``k`` (the leg that arrives here: its
    heading, length and the landmark seen on arriving) and block ``k + 1`` (the
    turn made here, its ``to_next_intersection_heading``).

    Attributes:
        lat: Latitude of the point.
        lng: Longitude of the point.
        arrival_heading: Heading of travel when arriving here (the heading of the
            leg that ends here).
        next_heading: Heading to face for the next leg (the turn made here);
            ``None`` at the destination.
        landmark: The most prominent place nearby, or ``None``.
        relation: Where the landmark lies relative to ``arrival_heading``
            (``"left front"``, ...); ``None`` without a landmark.
        distance: Length of the leg that arrives here, in metres.
        landmark_text: The landmark sentence seen on arriving, verbatim from a
            route file (``"Aritzia is on your left front"``, ``"No landmark
            nearby"``, ``"The destination ... is on your left"``); ``None`` for
            procedural routes, whose sentence is built from ``landmark`` and
            ``relation`` (see :meth:`sentence`).
        next_word: The compass word a route file gives for ``next_heading``
            (``None``: computed from the number).
    """

    lat: float
    lng: float
    arrival_heading: float
    next_heading: float | None
    landmark: Place | None
    relation: str | None
    distance: float
    landmark_text: str | None = None
    next_word: str | None = None

    def sentence(self, *, destination: Place | None = None) -> str:
        """The landmark sentence seen on arriving here.

        Args:
            destination: The route's destination when this is the last
                milestone (its sentence then reads "The destination ... is on your ...").
        """
        if self.landmark_text is not None:
            return self.landmark_text
        if destination is not None:
            place = self.landmark or destination
            return f"The destination {place.name} is on your {self.relation or 'front'}"
        if self.landmark is None or not self.relation:
            return NO_LANDMARK
        return f"{self.landmark.name} is on your {self.relation}"


@dataclass(frozen=True)
class Route:
    """A route from a start place to a destination through milestones.

    Attributes:
        start: The start place (the agent starts at its position).
        destination: The destination place.
        start_heading: Heading of the first leg (the agent's first turn faces it).
        start_word: The compass word a route file gives for ``start_heading``
            (``None``: computed from the number).
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
    start_word: str | None = None

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
