"""Navigation measures what V-IRL measures: route files read right, the reference's rail.

The fixtures follow ``VIRL_DATA.md``: block k of ``milestone_info`` is the leg that
starts at point k (P0 is the start), its heading is the turn made there, its
landmark sentence is seen on arriving at P(k+1).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import navenvs  # noqa: F401
from navenvs import geo
from navenvs.city import build_city, sample_route
from navenvs.data import dump_routes, load_routes
from navenvs.routes import build_rail

EXAMPLE = Path(__file__).parent / "data" / "virl_route_example.json"


def place(name: str, lat: float, lng: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "geocode": [lat, lng],
        "rating": 4.5,
        "place_id": f"id-{name}",
        "distance": 10,
        "n_reviews": 100,
        "heading": 0,
        "photo_reference": "",
        "place_types": ["store"],
        "plus_code": None,
        "vicinity": "SoHo",
        **extra,
    }


def block(idx: int, landmarks: str, distance: int, human: int, to_next: str) -> str:
    return (
        "{\n"
        f'"intersection_idx": "{idx}",\n'
        f'"landmarks": "{landmarks}",\n'
        f'"distance": "{distance} meters",\n'
        f'"human_heading": "{human}",\n'
        f'"to_next_intersection_heading": "{to_next}",\n'
        "}\n"
    )


def soho_route() -> dict[str, Any]:
    """The worked real example of VIRL_DATA.md (a three-leg route in SoHo, New York)."""
    start = (40.724162, -73.997626)
    points = [[40.724229, -73.997790], [40.723023, -73.998800], [40.722715, -73.998098]]
    return {
        "start_place": place("Start", *start, relocated_geocode=list(start)),
        "dest_place": place("MoMA Design Store", *points[2], relocated_geocode=points[2]),
        "route_results": {
            "geocode_list": points,
            "landmark_list": [place("Prince St", *points[0]), place("Aritzia", *points[1])],
            "polyline": ["abc"],
            "instructions": [""],
            "distance_list": [16, 159, 70],
            "time_list": [12, 114, 50],
            "time": 176,
            "distance": 245,
            "n_landmarks": 2,
        },
        "init_heading": 0,
        "instruction": "free prose",
        "milestone_info": "\n".join(
            [
                block(1, "Prince St is on your front", 16, 0, "298 (northwest)"),
                block(2, "Aritzia is on your left front", 159, 298, "212 (southwest)"),
                block(
                    3,
                    "The destination MoMA Design Store is on your left",
                    70,
                    212,
                    "120 (southeast)",
                ),
            ]
        ),
    }


@pytest.fixture
def soho(tmp_path: Path) -> Path:
    path = tmp_path / "route_infos.json"
    path.write_text(json.dumps([[soho_route()], 1]), encoding="utf-8")
    return path


def play_expert(env: gym.Env[Any, Any], **reset: Any) -> list[dict[str, Any]]:
    """The expert's episode: one entry per step (action, observation, info)."""
    _, info = env.reset(**reset)
    steps = []
    while True:
        action = info["expert_action"]
        observation = info["observation"]
        _, reward, terminated, truncated, after = env.step(env.unwrapped.expert_action())
        assert reward == 1.0 and not truncated
        steps.append({"action": action, "observation": observation, "info": info})
        info = after
        if terminated:
            return steps


def turns(steps: list[dict[str, Any]]) -> list[str]:
    return [s["action"] for s in steps if s["action"] != "forward()"]


# --------------------------------------------------------------------------- the worked example


@pytest.mark.parametrize("seed", range(6))
def test_worked_real_example_absolute(soho: Path, seed: int) -> None:
    env = gym.make("navenvs/Navigation-v0", routes=str(soho), drop_rate=0.0)
    steps = play_expert(env, seed=seed)
    assert turns(steps) == [
        "turn_direction(northwest)",
        "turn_direction(southwest)",
        "turn_direction(southeast)",
        "stop()",
    ]
    # The observations on arriving agree with the file's sentences (and the instruction).
    at_milestones = [s["observation"] for s in steps if s["info"]["at_intersection"]]
    assert at_milestones == [
        "Prince St is on your front; You observe an intersection",
        "Aritzia is on your left front; You observe an intersection",
    ]
    assert steps[-1]["observation"] == "The destination MoMA Design Store is on your left"
    instruction = steps[0]["info"]["instruction"]
    for sentence in ("Prince St is on your front", "Aritzia is on your left front"):
        assert sentence in instruction
    assert "to face northwest" in instruction and "to face southeast" in instruction
    # Every leg is longer than 5 m: N - 1 = 4 forwards per leg with nothing dropped.
    actions = [s["action"] for s in steps]
    assert actions[1:5] == ["forward()"] * 4 and actions[5] == "turn_direction(southwest)"
    assert len(actions) == 1 + 3 * 5


def test_worked_real_example_relative(soho: Path) -> None:
    env = gym.make("navenvs/Navigation-RuleOOD-v0", routes=str(soho), drop_rate=0.0)
    for seed in range(4):
        steps = play_expert(env, seed=seed)
        later = turns(steps)[1:]
        # 298 -> 212 and 212 -> 120 are turns of more than 45 degrees to the left.
        assert later == ["turn_direction(left)", "turn_direction(left)", "stop()"]
        first = turns(steps)[0]
        heading = steps[0]["info"]["heading"]
        assert first == f"turn_direction({geo.relative_turn_word(heading, 298)})"


def test_zero_init_heading_is_random_and_non_zero_is_honoured(tmp_path: Path) -> None:
    route = soho_route()
    path = tmp_path / "route_infos.json"
    path.write_text(json.dumps([[route], 1]), encoding="utf-8")
    env = gym.make("navenvs/Navigation-v0", routes=str(path))
    headings = {env.reset(seed=s)[1]["heading"] for s in range(20)}
    assert len(headings) > 10 and all(float(h).is_integer() and 0 <= h < 360 for h in headings)
    route["init_heading"] = 45
    path.write_text(json.dumps(route), encoding="utf-8")  # one route object at the top
    env = gym.make("navenvs/Navigation-v0", routes=str(path))
    assert {env.reset(seed=s)[1]["heading"] for s in range(5)} == {45.0}


def test_info_carries_position_heading_and_observation(soho: Path) -> None:
    env = gym.make("navenvs/Navigation-v0", routes=str(soho), drop_rate=0.0)
    obs, info = env.reset(seed=0)
    assert info["position"] == pytest.approx((40.724162, -73.997626))
    assert f"Current observation O_1: {info['observation']}" in obs
    positions = [info["position"]]
    while True:
        obs, _, terminated, _, info = env.step(env.unwrapped.expert_action())
        if terminated:
            break
        assert f": {info['observation']}\n" in obs
        positions.append(info["position"])
    assert positions[-1] == pytest.approx((40.722715, -73.998098))
    assert all(a != b for a, b in itertools.pairwise(positions))


# --------------------------------------------------------------------------- the example file


def test_corrected_example_file_in_both_vocabularies() -> None:
    raw = json.loads(EXAMPLE.read_text(encoding="utf-8"))[0]
    for index, record in enumerate(raw):
        words = re.findall(
            r'"to_next_intersection_heading": "\d+ \((\w+)\)"', record["milestone_info"]
        )
        expected = [f"turn_direction({w})" for w in words] + ["stop()"]
        env = gym.make("navenvs/Navigation-v0", routes=str(EXAMPLE), drop_rate=0.0)
        assert turns(play_expert(env, seed=1, options={"route": index})) == expected
        rel = gym.make("navenvs/Navigation-RuleOOD-v0", routes=str(EXAMPLE), drop_rate=0.0)
        steps = play_expert(rel, seed=1, options={"route": index})
        headings = [
            int(h)
            for h in re.findall(r'"to_next_intersection_heading": "(\d+)', record["milestone_info"])
        ]
        relative = [
            f"turn_direction({geo.relative_turn_word(a, b)})"
            for a, b in itertools.pairwise(headings)
        ]
        assert turns(steps)[1:] == [*relative, "stop()"]


def test_route_option_is_validated() -> None:
    env = gym.make("navenvs/Navigation-v0", routes=str(EXAMPLE))
    for bad in ({"route": 2}, {"route": -1}, {"route": "0"}, {"colour": 1}):
        with pytest.raises(ValueError, match="options"):
            env.reset(seed=0, options=bad)
    with pytest.raises(ValueError, match="options"):
        gym.make("navenvs/Navigation-v0").reset(seed=0, options={"route": 0})


# --------------------------------------------------------------------------- writing


def independent_blocks(blob: str) -> list[dict[str, str]]:
    """This test's own reader of the blocks V-IRL writes (one "key": "value", per line)."""
    blocks = []
    for chunk in re.findall(r"\{(.*?)\n\}", blob, re.DOTALL):
        pairs = re.findall(r'^"([a-z_]+)": "(.*)",$', chunk, re.MULTILINE)
        blocks.append({k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in pairs})
    return blocks


def test_dump_follows_the_convention_and_reads_back_the_same_episodes(tmp_path: Path) -> None:
    city = build_city("grid", 0)
    rng = np.random.default_rng(7)
    routes = [sample_route(city, rng, milestones=(1, 4)) for _ in range(12)]
    path = tmp_path / "route_infos.json"
    dump_routes(routes, path)
    written = json.loads(path.read_text(encoding="utf-8"))[0]
    for route, record in zip(routes, written, strict=True):
        rail = [
            record["start_place"]["relocated_geocode"],
            *record["route_results"]["geocode_list"],
        ]
        blocks = independent_blocks(record["milestone_info"])
        assert len(blocks) == len(rail) - 1
        for k, blk in enumerate(blocks):
            a, b = rail[k], rail[k + 1]
            heading = int(blk["to_next_intersection_heading"].split(" ")[0])
            # block k: the turn at Pk faces P(k+1), the leg's length, the landmark at P(k+1)
            leg = record["route_results"].get("leg_polylines", [[a, b]] * len(blocks))[k]
            assert leg[0] == a and leg[-1] == b
            assert abs(geo.signed_turn(heading, geo.bearing(*leg[0], *leg[1]))) < 1.0
            walked = sum(geo.haversine(*p, *q) for p, q in itertools.pairwise(leg))
            assert int(blk["distance"].split(" ")[0]) == pytest.approx(walked, abs=1.0)
            milestone = route.milestones[k]
            if k == len(blocks) - 1:
                assert blk["landmarks"].startswith(
                    f"The destination {route.destination.name} is on your"
                )
            elif milestone.landmark is not None:
                assert (
                    blk["landmarks"] == f"{milestone.landmark.name} is on your {milestone.relation}"
                )
            else:
                assert blk["landmarks"] == "No landmark nearby"
    again = load_routes(path)
    for route, loaded in zip(routes, again, strict=True):
        for seed in range(3):
            init = float(np.random.default_rng(seed).integers(360))
            one = build_rail(route, init, np.random.default_rng(seed), drop_rate=0.3)
            two = build_rail(loaded, init, np.random.default_rng(seed), drop_rate=0.3)
            assert [(s.absolute, s.relative, s.sentence, s.at_intersection) for s in one] == [
                (s.absolute, s.relative, s.sentence, s.at_intersection) for s in two
            ]
            for s, t in zip(one, two, strict=True):
                assert (s.lat, s.lng) == pytest.approx((t.lat, t.lng), abs=1e-9)


def test_procedural_bent_legs_round_trip(tmp_path: Path) -> None:
    city = build_city("irregular", 1)
    rng = np.random.default_rng(3)
    routes = [sample_route(city, rng, milestones=(2, 3)) for _ in range(20)]
    assert any(len(leg) > 2 for r in routes for leg in r.legs)
    dump_routes(routes, tmp_path / "r.json")
    for route, loaded in zip(routes, load_routes(tmp_path / "r.json"), strict=True):
        one = build_rail(route, 10.0, np.random.default_rng(0))
        two = build_rail(loaded, 10.0, np.random.default_rng(0))
        assert [(s.absolute, s.sentence) for s in one] == [(s.absolute, s.sentence) for s in two]
        for s, t in zip(one, two, strict=True):
            assert (s.lat, s.lng) == pytest.approx((t.lat, t.lng), abs=1e-9)


# --------------------------------------------------------------------------- the rail's shape


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    points=st.integers(0, 8),
    layout=st.sampled_from(["grid", "perturbed-grid", "irregular"]),
)
def test_rail_shape_without_drops(seed: int, points: int, layout: str) -> None:
    city = build_city(layout, seed % 3)
    route = sample_route(city, np.random.default_rng(seed), milestones=(1, 4))
    rail = build_rail(
        route, 33.0, np.random.default_rng(seed), forward_points=points, drop_rate=0.0
    )
    # turns at P0 and at each milestone but the last, which stops
    decisions = [s for s in rail if s.absolute != "forward()"]
    assert len(decisions) == len(route.milestones) + 1 and rail[-1].is_final
    # exactly N - 1 forwards on every leg longer than 5 m, none on shorter ones
    counts, run = [], 0
    for step in rail[1:]:
        if step.absolute == "forward()":
            run += 1
        else:
            counts.append(run)
            run = 0
    lengths = [sum(geo.haversine(*a, *b) for a, b in itertools.pairwise(leg)) for leg in route.legs]
    assert counts == [max(points - 1, 0) if n > 5.0 else 0 for n in lengths]
    # no forward() on the spot: every correct action moves the agent
    for a, b in itertools.pairwise(rail):
        assert (a.lat, a.lng) != (b.lat, b.lng)
    # the rail ends where the route does (in front of the destination)
    assert (rail[-1].lat, rail[-1].lng) == route.legs[-1][-1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), drop=st.floats(0.0, 0.99))
def test_dropped_points_are_a_subset_in_order(seed: int, drop: float) -> None:
    city = build_city("grid", 0)
    route = sample_route(city, np.random.default_rng(seed), milestones=(2, 3))
    full = build_rail(route, 0.0, np.random.default_rng(seed), drop_rate=0.0)
    some = build_rail(route, 0.0, np.random.default_rng(seed), drop_rate=drop)
    positions = [(s.lat, s.lng) for s in full]
    kept = [positions.index((s.lat, s.lng)) for s in some]
    assert kept == sorted(kept) and kept[0] == 0 and kept[-1] == len(full) - 1
    assert [s.absolute for s in some if s.absolute != "forward()"] == [
        s.absolute for s in full if s.absolute != "forward()"
    ]


# --------------------------------------------------------------------------- strict answers


@pytest.mark.parametrize("env_id", ["navenvs/Navigation-v0", "navenvs/Navigation-RuleOOD-v0"])
def test_prose_that_mentions_the_action_earns_nothing(env_id: str) -> None:
    env = gym.make(env_id, max_attempts=100)
    _, info = env.reset(seed=0)
    for _ in range(4):
        expert = info["expert_action"]
        for text in (
            f"I should not do {expert}",
            f"Maybe {expert}, or stop()?",
            f"{expert}\n{expert} x",
        ):
            _, reward, _, _, after = env.step(text)
            assert reward == -1.0 and after["verdict"] == "invalid_action"
        _, reward, terminated, _, info = env.step(f"```\naction: {expert}\n```")
        assert reward == 1.0
        if terminated:
            break


# --------------------------------------------------------------------------- long routes


def long_route(legs: int, name_chars: int) -> dict[str, Any]:
    """A zigzag route of ``legs`` legs (80 m each, alternating east and north)."""
    lat, lng = 40.70, -74.00
    start = [lat, lng]
    points, blocks, landmarks = [], [], []
    heading = 0
    for k in range(legs):
        east = k % 2 == 0
        lat, lng = geo.offset(lat, lng, 90.0 if east else 0.0, 80.0)
        points.append([lat, lng])
        name = (f"Ünïcødé Shop {k} " + "x" * name_chars)[:name_chars]
        last = k == legs - 1
        to_next = "90 (east)" if east else "0 (north)"
        text = f"The destination {name} is on your left" if last else f"{name} is on your left"
        blocks.append(block(k + 1, text, 80, heading, to_next))
        heading = 90 if east else 0
        if not last:
            landmarks.append(place(name, lat, lng))
    route = soho_route()
    route["start_place"] = place("Start", *start, relocated_geocode=start)
    route["dest_place"] = place(text[16:-16], *points[-1], relocated_geocode=points[-1])
    route["route_results"]["geocode_list"] = points
    route["route_results"]["landmark_list"] = landmarks
    route["route_results"]["distance_list"] = [80] * legs
    route["milestone_info"] = "\n".join(blocks)
    return route


def test_the_longest_allowed_route_stays_inside_the_observation_space(tmp_path: Path) -> None:
    from navenvs.data import MAX_NAME_CHARS, MAX_ROUTE_LEGS

    path = tmp_path / "route_infos.json"
    path.write_text(json.dumps(long_route(MAX_ROUTE_LEGS, MAX_NAME_CHARS)), encoding="utf-8")
    env = gym.make("navenvs/Navigation-v0", routes=str(path), forward_points=20, drop_rate=0.0)
    obs, _ = env.reset(seed=0)
    longest, omitted = len(obs), False
    steps = 0
    while True:
        assert env.observation_space.contains(obs)
        answer = env.unwrapped.expert_action()
        assert env.action_space.contains(answer)
        obs, reward, terminated, _, _ = env.step(answer)
        assert reward == 1.0
        longest = max(longest, len(obs))
        omitted = omitted or "steps are not shown" in obs
        steps += 1
        if terminated:
            break
    assert env.observation_space.contains(obs)
    assert steps == 1 + MAX_ROUTE_LEGS * 20 and omitted and longest > 30_000
    # a failed attempt (with its feedback) stays inside the space too
    env.reset(seed=0)
    for _ in range(steps - 1):
        env.step(env.unwrapped.expert_action())
    obs, *_ = env.step("x" * 60_000)
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize(
    ("legs", "name_chars", "snippet"),
    [(33, 10, "33 points; the limit is 32 legs"), (3, 161, "161 characters; the limit is 160")],
)
def test_routes_over_the_caps_are_refused_at_load(
    tmp_path: Path, legs: int, name_chars: int, snippet: str
) -> None:
    path = tmp_path / "route_infos.json"
    path.write_text(json.dumps([[long_route(legs, name_chars)], 1]), encoding="utf-8")
    with pytest.raises(ValueError, match=snippet) as info:
        gym.make("navenvs/Navigation-v0", routes=str(path))
    assert str(path) in str(info.value)
