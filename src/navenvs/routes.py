"""The expert rail: a route turned into the sequence of decisions the agent must make.

For a route with milestones ``m_1 .. m_K`` (``m_K`` the destination) the rail is::

    at the start, facing init_heading     -> turn_direction(heading of leg 1)
    at the start, facing leg 1            -> forward()
    at each kept point along leg 1        -> forward()
    at m_1, facing its arrival heading    -> turn_direction(heading of leg 2)
    at m_1, facing leg 2                  -> forward()
    ...
    at m_K (the destination)              -> stop()

``forward_points`` points are interpolated along each leg and each is dropped
with probability ``drop_rate`` (the reference used 5 and 0.5), so the number
of ``forward()`` steps per leg varies between episodes. All randomness comes
from the generator passed in.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from navenvs.geo import bearing, compass_word, haversine, relation_word, relative_turn_word
from navenvs.model import Milestone, Place, Route

__all__ = ["RailStep", "build_rail", "interpolate"]


@dataclass(frozen=True)
class RailStep:
    """One decision of the expert rail.

    Attributes:
        lat: Latitude of the agent.
        lng: Longitude of the agent.
        heading: The agent's heading before acting (degrees).
        milestone: Index of the milestone the agent stands at, or ``None``.
        at_intersection: True at intersections (milestones other than the destination).
        landmark: The landmark visible here (milestone landmark or destination), or ``None``.
        absolute: The expert action in the absolute vocabulary.
        relative: The expert action in the relative vocabulary.
    """

    lat: float
    lng: float
    heading: float
    milestone: int | None
    at_intersection: bool
    landmark: Place | None
    absolute: str
    relative: str

    @property
    def is_final(self) -> bool:
        """True for the ``stop()`` step."""
        return self.absolute == "stop()"

    def landmark_relation(self) -> str | None:
        """Where the landmark lies relative to the current heading."""
        if self.landmark is None:
            return None
        if haversine(self.lat, self.lng, self.landmark.lat, self.landmark.lng) < 0.5:
            return "front"
        return relation_word(
            self.heading, bearing(self.lat, self.lng, self.landmark.lat, self.landmark.lng)
        )


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


def _turn(current: float, target: float) -> tuple[str, str]:
    return (
        f"turn_direction({compass_word(target)})",
        f"turn_direction({relative_turn_word(current, target)})",
    )


def _milestone_landmark(route: Route, index: int) -> Place | None:
    milestone: Milestone = route.milestones[index]
    if index == len(route.milestones) - 1:
        return milestone.landmark or route.destination
    return milestone.landmark


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
        forward_points: Points interpolated along each leg (before dropping).
        drop_rate: Probability of dropping each interpolated point.
    """
    steps: list[RailStep] = []
    start_lat, start_lng = route.legs[0][0]
    absolute, relative = _turn(init_heading, route.start_heading)
    steps.append(
        RailStep(start_lat, start_lng, init_heading, None, False, None, absolute, relative)
    )
    heading = route.start_heading
    last = len(route.milestones) - 1
    for index, (milestone, leg) in enumerate(zip(route.milestones, route.legs, strict=True)):
        # The step at the start of the leg (after turning) and the kept interior points.
        lat, lng = leg[0]
        steps.append(
            RailStep(
                lat,
                lng,
                heading,
                index - 1 if index else None,
                index > 0,
                _milestone_landmark(route, index - 1) if index else None,
                "forward()",
                "forward()",
            )
        )
        keep: list[bool] = (rng.random(forward_points) >= drop_rate).tolist()
        for k, kept in enumerate(keep, start=1):
            if not kept:
                continue
            lat, lng, seg_heading = interpolate(leg, k / (forward_points + 1))
            steps.append(
                RailStep(lat, lng, seg_heading, None, False, None, "forward()", "forward()")
            )
        arrival = milestone.arrival_heading
        landmark = _milestone_landmark(route, index)
        if index == last:
            steps.append(
                RailStep(
                    milestone.lat,
                    milestone.lng,
                    arrival,
                    index,
                    False,
                    landmark,
                    "stop()",
                    "stop()",
                )
            )
        else:
            target = milestone.next_heading if milestone.next_heading is not None else arrival
            absolute, relative = _turn(arrival, target)
            steps.append(
                RailStep(
                    milestone.lat, milestone.lng, arrival, index, True, landmark, absolute, relative
                )
            )
            heading = target
    return tuple(steps)


def random_init_heading(start_heading: float, rng: np.random.Generator) -> float:
    """An initial heading at least 20 degrees away from the first leg (so a turn is needed)."""
    offset = float(rng.uniform(20.0, 340.0))
    return math.fmod(start_heading + offset, 360.0)
