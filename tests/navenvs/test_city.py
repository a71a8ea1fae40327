from __future__ import annotations

import hashlib
import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import shapely

from navenvs import geo
from navenvs.city import (
    LAYOUTS,
    TURN_THRESHOLD,
    City,
    Intersection,
    Street,
    build_city,
    clear_city_cache,
    sample_route,
)
from navenvs.model import Place, Route

SNIPPET = """
import hashlib
import numpy as np
from navenvs.city import LAYOUTS, build_city, sample_route
for layout in LAYOUTS:
    city = build_city(layout, 3)
    route = sample_route(city, np.random.default_rng(7))
    print(layout, city.digest(), hashlib.sha256(repr(route).encode()).hexdigest())
"""


def _fingerprints() -> str:
    lines = []
    for layout in LAYOUTS:
        city = build_city(layout, 3)
        route = sample_route(city, np.random.default_rng(7))
        lines.append(f"{layout} {city.digest()} {hashlib.sha256(repr(route).encode()).hexdigest()}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- cities


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_builds_connected_street_like_city(layout: str) -> None:
    city = build_city(layout, 0)
    n = len(city.intersections)
    assert 50 <= n <= 100
    assert all(node.index == i for i, node in enumerate(city.intersections))
    assert len(city.places) >= 300
    lengths = [s.length for s in city.streets]
    assert 45.0 <= min(lengths) and max(lengths) <= 130.0
    assert 60.0 <= float(np.mean(lengths)) <= 100.0
    assert city.is_connected()
    # every pair of intersections is reachable, through adjacent intersections
    for a in range(n):
        for b in range(0, n, 7):
            path = city.shortest_path(a, b)
            assert path[0] == a and path[-1] == b
            for u, v in itertools.pairwise(path):
                assert v in city.neighbors(u)
    for street in city.streets:
        a, b = city.intersections[street.a], city.intersections[street.b]
        assert street.length == pytest.approx(math.hypot(a.x - b.x, a.y - b.y))
        assert street.length == pytest.approx(geo.haversine(a.lat, a.lng, b.lat, b.lng), rel=1e-3)
        assert street.line.length == pytest.approx(street.length)
        assert street.name.strip()
    for node in city.intersections:
        assert geo.to_xy(node.lat, node.lng, city.origin) == pytest.approx((node.x, node.y))


def test_grid_is_regular_and_named_by_rows_and_columns() -> None:
    city = build_city("grid", 0)
    assert len(city.intersections) == 81 and len(city.streets) == 144
    assert all(s.length == pytest.approx(80.0) for s in city.streets)
    bearings = [city.heading(s.a, s.b) % 90.0 for s in city.streets]
    assert all(min(b, 90.0 - b) < 0.01 for b in bearings)
    assert len({s.name for s in city.streets}) == 18  # 9 rows, 9 columns


def test_perturbed_grid_removes_streets_but_stays_connected() -> None:
    for seed in range(4):
        city = build_city("perturbed-grid", seed)
        assert len(city.streets) < 144
        assert city.is_connected()
        assert min(len(row) for row in city.adjacency) >= 2
        assert len({s.length for s in city.streets}) > 100  # jittered


def test_irregular_layout_has_non_axis_aligned_streets() -> None:
    city = build_city("irregular", 0)
    off_axis = 0
    for street in city.streets:
        b = city.heading(street.a, street.b) % 90.0
        off_axis += min(b, 90.0 - b) > 5.0
    assert off_axis > 0.7 * len(city.streets)
    # planar: streets only meet at their shared intersections
    lines = [s.line for s in city.streets]
    tree = shapely.STRtree(lines)
    for k, street in enumerate(city.streets):
        for j in tree.query(street.line, predicate="intersects").tolist():
            if j != k:
                other = city.streets[j]
                assert {street.a, street.b} & {other.a, other.b}


def test_cache_and_determinism() -> None:
    city = build_city("irregular", 5)
    assert build_city(layout="irregular", seed=5) is city
    assert build_city("irregular", 5, origin=(40.73, -73.99), blocks=8, block_size=80) is city
    digest = city.digest()
    clear_city_cache()
    again = build_city("irregular", 5)
    assert again is not city
    assert again.digest() == digest
    assert again == city
    assert build_city("irregular", 6).digest() != digest
    assert build_city("grid", 5).digest() != build_city("grid", 6).digest()
    other = build_city("grid", 1, origin=(48.85, 2.35), blocks=4, block_size=100.0)
    assert other.name != build_city("grid", 1).name
    assert len(other.intersections) == 25


def test_determinism_across_pythonhashseed() -> None:
    expected = _fingerprints()
    for hashseed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert out.stdout.strip() == expected


def test_places_unique_varied_and_set_back() -> None:
    city = build_city("grid", 0)
    names = [p.name for p in city.places]
    assert len(set(names)) == len(names)
    assert sum(not n.isascii() for n in names) >= 20
    assert any("'" in n for n in names)
    assert any("&" in n for n in names)
    assert any('"' in n for n in names)
    assert any(any("\u3040" <= ch <= "\u9fff" for ch in n) for n in names)  # CJK
    assert len({p.types[0] for p in city.places}) >= 10
    for k, place in enumerate(city.places):
        assert place.place_id == f"{city.name}-{k}"
        assert isinstance(place.n_reviews, int) and place.n_reviews >= 0
        assert 1.0 <= place.rating <= 5.0
        assert place.types
    reviews = np.array([p.n_reviews for p in city.places])
    assert reviews.max() > 10 * np.median(reviews)  # heavy tail
    # set back from every street centre line, but close to one
    tree = shapely.STRtree([s.line for s in city.streets])
    for place in city.places:
        point = shapely.Point(*geo.to_xy(place.lat, place.lng, city.origin))
        nearest = city.streets[int(tree.nearest(point))].line
        assert 5.0 <= point.distance(nearest) <= 10.5
    # most, not all, intersections have a landmark within 18 m
    for layout in LAYOUTS:
        c = build_city(layout, 0)
        share = np.mean([c.landmark_at(i, 18.0) is not None for i in range(len(c.intersections))])
        assert 0.6 <= share < 1.0
    # across cities, the vocabulary is large
    all_names = {p.name for seed in range(3) for p in build_city("grid", seed).places}
    assert len(all_names) >= 1000


def test_charset_covers_every_name() -> None:
    city = build_city("perturbed-grid", 2)
    chars = city.charset()
    assert list(chars) == sorted(set(chars))
    used = {ch for p in city.places for ch in p.name} | {ch for s in city.streets for ch in s.name}
    assert set(chars) == used
    assert "é" in chars and "'" in chars


def test_landmark_near_is_the_most_reviewed_place_within_radius() -> None:
    city = build_city("perturbed-grid", 1)
    rng = np.random.default_rng(0)
    lats = [p.lat for p in city.intersections]
    lngs = [p.lng for p in city.intersections]
    for _ in range(150):
        lat = float(rng.uniform(min(lats), max(lats)))
        lng = float(rng.uniform(min(lngs), max(lngs)))
        for radius in (18.0, 40.0):
            inside = [p for p in city.places if geo.haversine(lat, lng, p.lat, p.lng) <= radius]
            expected = min(inside, key=lambda p: (-p.n_reviews, p.name)) if inside else None
            assert city.landmark_near(lat, lng, radius) == expected
            assert city.places_near(lat, lng, radius) == sorted(
                inside, key=lambda p: (-p.n_reviews, p.name)
            )
    far = geo.offset(city.origin[0], city.origin[1], 0.0, 5000.0)
    assert city.landmark_near(*far) is None
    for node, near in enumerate(city.node_places):
        lat, lng = city.latlng(node)
        assert [city.places[i] for i in near] == city.places_near(lat, lng, 25.0)


def _tiny_city(places: tuple[Place, ...]) -> City:
    origin = (0.0, 0.0)
    xy = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)]
    nodes = tuple(
        Intersection(i, *geo.to_latlng(x, y, origin), x, y) for i, (x, y) in enumerate(xy)
    )
    streets = tuple(
        Street(a, b, name, math.dist(xy[a], xy[b]), shapely.LineString([xy[a], xy[b]]))
        for a, b, name in [(0, 1, "A Street"), (1, 2, "B Avenue")]
    )
    return City("tiny", "hand-made", 0, origin, nodes, streets, places)


def test_landmark_ties_are_broken_by_name_and_hand_made_city() -> None:
    origin = (0.0, 0.0)
    places = tuple(
        Place(name, *geo.to_latlng(x, y, origin), ("cafe",), reviews, 4.0, f"tiny-{k}")
        for k, (name, x, y, reviews) in enumerate(
            [("Zeta", 8.0, 8.0, 50), ("Alpha", -8.0, 8.0, 50), ("Big", 92.0, 108.0, 900)]
        )
    )
    city = _tiny_city(places)
    assert city.landmark_near(0.0, 0.0, 20.0) == places[1]
    assert city.landmark_near(0.0, 0.0, 200.0) == places[2]
    assert city.place_node == (0, 0, 2)
    assert city.shortest_path(0, 2) == [0, 1, 2]
    route = sample_route(city, np.random.default_rng(0), milestones=2)
    _check_route(city, route, 2, 2)
    assert places[2] in (route.start, route.destination)
    assert route.milestones[0].landmark is None and route.milestones[0].relation is None
    with pytest.raises(ValueError, match="milestones"):
        sample_route(city, np.random.default_rng(0), milestones=3, max_tries=5)


def test_shortest_path_is_shortest_and_deterministic() -> None:
    for layout in LAYOUTS:
        city = build_city(layout, 4)
        n = len(city.intersections)
        dist = np.full((n, n), np.inf)
        np.fill_diagonal(dist, 0.0)
        for s in city.streets:
            dist[s.a, s.b] = dist[s.b, s.a] = s.length
        for k in range(n):  # Floyd-Warshall
            dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
        for a in range(0, n, 5):
            for b in range(n):
                path = city.shortest_path(a, b)
                assert city.path_length(path) == pytest.approx(dist[a, b], abs=0.01)
        clear_city_cache()
        again = build_city(layout, 4)
        assert [again.shortest_path(0, b) for b in range(n)] == [
            city.shortest_path(0, b) for b in range(n)
        ]
    with pytest.raises(ValueError, match="b must be"):
        city.shortest_path(0, 10_000)


# --------------------------------------------------------------------------- routes


def _check_route(city: City, route: Route, low: int, high: int) -> None:
    assert isinstance(route, Route)
    assert low <= len(route.milestones) <= high
    assert route.city == city.name and route.init_heading is None
    assert route.start != route.destination
    start_node = city.nearest_intersection(route.start.lat, route.start.lng)
    assert route.legs[0][0] == city.latlng(start_node)
    # The route ends at the destination's foot point on its street, in front of it.
    goal = city.places.index(route.destination)
    assert route.legs[-1][-1] == city.place_foot[goal]
    end_lat, end_lng = route.legs[-1][-1]
    dest = route.destination
    assert geo.haversine(end_lat, end_lng, dest.lat, dest.lng) <= 12.0
    if route.legs[-1][-1] not in {city.latlng(v) for v in range(len(city.intersections))}:
        # Mid-block: the shop is beside the street, to the left or to the right.
        assert route.milestones[-1].relation in ("left", "right")
    assert sum(m.distance for m in route.milestones) > 10.0
    assert route.start_heading == pytest.approx(geo.bearing(*route.legs[0][0], *route.legs[0][1]))
    for k, (milestone, leg) in enumerate(zip(route.milestones, route.legs, strict=True)):
        assert len(leg) >= 2
        assert leg[-1] == (milestone.lat, milestone.lng)
        if k + 1 < len(route.legs):
            assert route.legs[k + 1][0] == leg[-1]
        segments = [geo.bearing(*p, *q) for p, q in itertools.pairwise(leg)]
        assert milestone.arrival_heading == pytest.approx(segments[-1])
        for h1, h2 in itertools.pairwise(segments):  # no turn inside a leg
            assert abs(geo.signed_turn(h1, h2)) <= TURN_THRESHOLD
        steps = [geo.haversine(*p, *q) for p, q in itertools.pairwise(leg)]
        assert milestone.distance == pytest.approx(sum(steps), rel=1e-3)
        last = k == len(route.milestones) - 1
        if last:
            assert milestone.next_heading is None
            assert milestone.landmark == route.destination
        else:
            nxt = route.legs[k + 1]
            assert milestone.next_heading == pytest.approx(geo.bearing(*nxt[0], *nxt[1]))
            assert abs(geo.signed_turn(milestone.arrival_heading, milestone.next_heading)) > 30.0
            assert milestone.landmark == city.landmark_near(milestone.lat, milestone.lng)
        if milestone.landmark is None:
            assert milestone.relation is None
        else:
            to_landmark = geo.bearing(
                milestone.lat, milestone.lng, milestone.landmark.lat, milestone.landmark.lng
            )
            assert milestone.relation in geo.RELATIONS
            assert milestone.relation == geo.relation_word(milestone.arrival_heading, to_landmark)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sampled_routes_are_consistent(layout: str) -> None:
    city = build_city(layout, 2)
    rng = np.random.default_rng(123)
    counts = {2: 0, 3: 0}
    lengths = []
    for _ in range(200):
        route = sample_route(city, rng)
        _check_route(city, route, 2, 3)
        counts[len(route.milestones)] += 1
        lengths.append(sum(m.distance for m in route.milestones))
    assert min(counts.values()) > 40  # both counts occur
    assert 100.0 <= float(np.median(lengths)) <= 500.0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_exact_and_long_milestone_counts(layout: str) -> None:
    city = build_city(layout, 1)
    rng = np.random.default_rng(5)
    for count in (1, 2, 3, 5, 8):
        for _ in range(5):
            _check_route(city, sample_route(city, rng, milestones=count), count, count)
    with pytest.raises(ValueError, match="40 milestones"):
        sample_route(city, rng, milestones=40, max_tries=20)


def test_distance_filter() -> None:
    city = build_city("grid", 0)
    rng = np.random.default_rng(1)
    for _ in range(50):
        route = sample_route(city, rng, distance=(100.0, 300.0))
        assert 100.0 - 1e-6 <= sum(m.distance for m in route.milestones) <= 300.0 + 1e-6
    with pytest.raises(ValueError, match="length"):
        sample_route(city, rng, milestones=2, distance=(5000.0, 6000.0), max_tries=10)


def test_same_rng_state_same_route() -> None:
    city = build_city("irregular", 0)
    a = [sample_route(city, np.random.default_rng(s)) for s in range(20)]
    b = [sample_route(city, np.random.default_rng(s)) for s in range(20)]
    assert a == b
    assert len({(r.start.name, r.destination.name) for r in a}) > 15


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"layout must be one of \['grid'"):
        build_city("hex")
    with pytest.raises(ValueError, match="seed"):
        build_city("grid", -1)
    with pytest.raises(ValueError, match="seed"):
        build_city("grid", True)
    with pytest.raises(ValueError, match="blocks"):
        build_city("grid", blocks=1)
    with pytest.raises(ValueError, match="block_size"):
        build_city("grid", block_size=5.0)
    with pytest.raises(ValueError, match="origin"):
        build_city("grid", origin=(95.0, 0.0))
    with pytest.raises(ValueError, match="origin"):
        build_city("grid", origin="here")  # type: ignore[arg-type]
    city = build_city("grid", 0)
    rng = np.random.default_rng(0)
    for bad in (0, (3, 2), (0, 2), "2", (1, 2, 3), 2.0, True):
        with pytest.raises(ValueError, match="milestones"):
            sample_route(city, rng, milestones=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tries"):
        sample_route(city, rng, max_tries=0)
    with pytest.raises(ValueError, match="rng"):
        sample_route(city, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distance"):
        sample_route(city, rng, distance=(300.0, 100.0))
    with pytest.raises(ValueError, match="radius"):
        city.landmark_near(40.73, -73.99, -1.0)
