"""The expert rail: a route turned into the sequence of decisions the agent must make.

This is the reference environment's rail (``VIRL_DATA.md``), for real and
procedural routes alike. With ``P0`` the start and ``P1 .. Pn`` the milestones
(``Pn`` the destination)::

    at P0, facing the initial heading          -> turn_direction(heading of leg 0)
    at each kept point k/N of leg 0 (k < N)    -> forward()
    at P1, facing leg 0's heading              -> turn_direction(heading of leg 1)
    at each kept point k/N of leg 1            -> forward()
    ...
    at Pn (the destination)                    -> stop()

``N`` is ``forward_points`` (the reference used 5); the points at ``k/N`` for
``k = 1 .. N-1`` are inserted (the ``N/N`` point is the milestone itself) and
each is dropped with probability ``drop_rate`` (the reference used 0.5). A leg
of 5 m or less gets no points, as in the reference. Every correct action moves
the agent to the next rail entry: a correct turn at ``Pk`` puts it on the first
kept point of the next leg (or on ``P(k+1)`` when all were dropped); there is no
``forward()`` on the spot after a turn. All randomness comes from the generator
passed in, which draws ``N - 1`` numbers per leg whatever the geometry.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

import numpy as np

from navenvs.geo import bearing, compass_word, haversine, relative_turn_word
from navenvs.model import Place, Route

__all__ = [
    "MIN_LEG_FOR_POINTS",
    "NO_LANDMARKS",
    "RailStep",
    "build_rail",
    "interpolate",
    "leg_length",
    "random_init_heading",
]


#: What the agent observes between milestones.
NO_LANDMARKS: Final = "No landmarks nearby"
#: Legs this short (metres) get no interpolated points (the reference's rule).
MIN_LEG_FOR_POINTS: Final = 5.0


@dataclass(frozen=True)
class RailStep:
    """One decision of the expert rail.

    Attributes:
        lat: Latitude of the agent.
        lng: Longitude of the agent.
        heading: The agent's heading before acting (degrees).
        milestone: Index of the milestone the agent stands at, or ``None``.
        at_intersection: True at intersections (milestones other than the destination).
        landmark: The landmark of the milestone here (the destination at the end), or ``None``.
        absolute: The expert action in the absolute vocabulary.
        relative: The expert action in the relative vocabulary.
        sentence: The landmark sentence observed here: the milestone's sentence
            (verbatim from a route file), or ``"No landmarks nearby"``.
    """

    lat: float
    lng: float
    heading: float
    milestone: int | None
    at_intersection: bool
    landmark: Place | None
    absolute: str
    relative: str
    sentence: str = NO_LANDMARKS

    @property
    def is_final(self) -> bool:
        """True for the ``stop()`` step."""
        return self.absolute == "stop()"


def interpolate(
    leg: tuple[tuple[float, float], ...], fraction: float
) -> tuple[float, float, float]:
    """The point at ``fraction`` of a polyline's length, and the heading of its segment there."""
    lengths = [haversine(*a, *b) for a, b in itertools.pairwise(leg)]
    total = sum(lengths)
    if total <= 0.0:
        lat, lng = leg[-1]
        return lat, lng, 0.0
    goal = fraction * total
    walked = 0.0
    for (a, b), length in zip(itertools.pairwise(leg), lengths, strict=True):
        if length > 0.0 and walked + length >= goal:
            t = (goal - walked) / length
            lat = a[0] + (b[0] - a[0]) * t
            lng = a[1] + (b[1] - a[1]) * t
            return lat, lng, bearing(*a, *b)
        walked += length
    (a, b) = leg[-2], leg[-1]
    return b[0], b[1], bearing(*a, *b)


def _turn(current: float, target: float, word: str | None = None) -> tuple[str, str]:
    return (
        f"turn_direction({word or compass_word(target)})",
        f"turn_direction({relative_turn_word(current, target)})",
    )


def leg_length(leg: tuple[tuple[float, float], ...]) -> float:
    """Length of a polyline in metres."""
    return sum(haversine(*a, *b) for a, b in itertools.pairwise(leg))


def build_rail(
    route: Route,
    init_heading: float,
    rng: np.random.Generator,
    *,
    forward_points: int = 5,
    drop_rate: float = 0.5,
) -> tuple[RailStep, ...]:
    """The expert rail of ``route`` for an agent starting with ``init_heading``.

    Args:
        route: The route.
        init_heading: The agent's initial heading (degrees).
        rng: Source of the dropped points.
        forward_points: ``N``: the points at ``k/N`` of each leg, ``k = 1 .. N-1``,
            are candidates for ``forward()`` steps.
        drop_rate: Probability of dropping each candidate point.
    """
    milestones = route.milestones
    last = len(milestones) - 1
    start_lat, start_lng = route.legs[0][0]
    absolute, relative = _turn(init_heading, route.start_heading, route.start_word)
    steps = [RailStep(start_lat, start_lng, init_heading, None, False, None, absolute, relative)]
    heading = route.start_heading
    candidates = max(forward_points - 1, 0)
    for index, (milestone, leg) in enumerate(zip(milestones, route.legs, strict=True)):
        keep: list[bool] = (rng.random(candidates) >= drop_rate).tolist()
        if leg_length(leg) > MIN_LEG_FOR_POINTS:
            straight = len(leg) == 2
            for k, kept in enumerate(keep, start=1):
                if kept:
                    lat, lng, segment = interpolate(leg, k / forward_points)
                    steps.append(
                        RailStep(
                            lat,
                            lng,
                            heading if straight else segment,
                            None,
                            False,
                            None,
                            "forward()",
                            "forward()",
                        )
                    )
        arrival = milestone.arrival_heading
        if index == last:
            place = milestone.landmark or route.destination
            sentence = milestone.sentence(destination=route.destination)
            steps.append(
                RailStep(
                    milestone.lat,
                    milestone.lng,
                    arrival,
                    index,
                    False,
                    place,
                    "stop()",
                    "stop()",
                    sentence,
                )
            )
        else:
            target = milestone.next_heading if milestone.next_heading is not None else arrival
            absolute, relative = _turn(arrival, target, milestone.next_word)
            steps.append(
                RailStep(
                    milestone.lat,
                    milestone.lng,
                    arrival,
                    index,
                    True,
                    milestone.landmark,
                    absolute,
                    relative,
                    milestone.sentence(),
                )
            )
            heading = target
    return tuple(steps)


def random_init_heading(rng: np.random.Generator) -> float:
    """A uniform whole-degree initial heading in ``0 .. 359`` (as the reference draws it)."""
    return float(rng.integers(360))
