import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from navenvs.geo import (
    COMPASS_WORDS,
    RELATIONS,
    bearing,
    compass_word,
    haversine,
    heading_of_word,
    offset,
    relation_word,
    relative_turn_word,
    signed_turn,
    to_latlng,
    to_xy,
)

NYC = (40.73, -73.99)


def test_distances_and_bearings() -> None:
    north = offset(*NYC, 0.0, 100.0)
    east = offset(*NYC, 90.0, 100.0)
    assert haversine(*NYC, *north) == pytest.approx(100.0, rel=1e-6)
    assert signed_turn(0.0, bearing(*NYC, *north)) == pytest.approx(0.0, abs=1e-6)
    assert bearing(*NYC, *east) == pytest.approx(90.0, abs=1e-3)
    assert bearing(*north, *NYC) == pytest.approx(180.0, abs=1e-6)


@pytest.mark.parametrize(
    ("heading", "word"),
    [
        (0, "north"),
        (22.4, "north"),
        (22.6, "northeast"),
        (90, "east"),
        (212, "southwest"),
        (337.4, "northwest"),
        (337.6, "north"),
        (359.9, "north"),
        (-45, "northwest"),
    ],
)
def test_compass_words(heading: float, word: str) -> None:
    assert compass_word(heading) == word


def test_heading_of_word_round_trips() -> None:
    for word in COMPASS_WORDS:
        assert compass_word(heading_of_word(word)) == word
    with pytest.raises(ValueError, match="north"):
        heading_of_word("up")


@pytest.mark.parametrize(
    ("current", "target", "turn", "word"),
    [
        (300, 30, 90.0, "right"),  # the reference called this "left"
        (30, 300, -90.0, "left"),
        (0, 90, 90.0, "right"),
        (90, 0, -90.0, "left"),
        (10, 40, 30.0, "slightly right"),
        (350, 20, 30.0, "slightly right"),
        (20, 350, -30.0, "slightly left"),
        (0, 180, 180.0, "right"),
        (0, 45, 45.0, "slightly right"),
        (0, 46, 46.0, "right"),
        (90, 90, 0.0, "slightly right"),
    ],
)
def test_relative_turns_wrap_around(current: float, target: float, turn: float, word: str) -> None:
    assert signed_turn(current, target) == pytest.approx(turn)
    assert relative_turn_word(current, target) == word


@given(st.floats(0, 360, exclude_max=True), st.floats(0, 360, exclude_max=True))
def test_signed_turn_is_the_shortest_rotation(current: float, target: float) -> None:
    turn = signed_turn(current, target)
    assert -180.0 < turn <= 180.0
    assert math.isclose((current + turn) % 360.0, target % 360.0, abs_tol=1e-6) or math.isclose(
        abs(((current + turn) % 360.0) - (target % 360.0)), 360.0, abs_tol=1e-6
    )


@pytest.mark.parametrize(
    ("heading", "to", "word"),
    [
        (0, 0, "front"),
        (0, 45, "right front"),
        (0, 90, "right"),
        (0, 135, "right behind"),
        (0, 180, "behind"),
        (0, 225, "left behind"),
        (0, 270, "left"),
        (0, 315, "left front"),
        (270, 0, "right"),
        (90, 0, "left"),
        (350, 10, "front"),
    ],
)
def test_landmark_relations(heading: float, to: float, word: str) -> None:
    assert relation_word(heading, to) == word
    assert word in RELATIONS


def test_local_projection_round_trips() -> None:
    point = offset(*NYC, 37.0, 250.0)
    x, y = to_xy(*point, NYC)
    assert math.hypot(x, y) == pytest.approx(250.0, rel=1e-3)
    assert to_latlng(x, y, NYC) == pytest.approx(point, abs=1e-9)
