import copy
import json
import math
import os
import pickle
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from navenvs import geo
from navenvs.data import (
    RouteDataError,
    clean_text,
    dump_routes,
    format_milestone_info,
    load_pano_mapping,
    load_routes,
    nearest_pano,
    parse_milestone_info,
)
from navenvs.model import Milestone, Place, Route

EXAMPLE = Path(__file__).parent / "data" / "virl_route_example.json"


def example_data() -> Any:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: Any, name: str = "route_infos.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# the example file
# ---------------------------------------------------------------------------


def test_example_routes() -> None:
    routes = load_routes(EXAMPLE)
    assert len(routes) == 2  # the file's count (7) is not the number of routes
    first, second = routes

    assert first.start.name == "Start Cafe"
    assert first.destination.name == "Maple Books"
    assert first.start_heading == 0.0
    assert [m.arrival_heading for m in first.milestones] == [0.0, 90.0, 0.0]
    assert [m.next_heading for m in first.milestones] == [90.0, 0.0, None]
    assert [m.landmark.name if m.landmark else None for m in first.milestones] == [
        "Blue Door Bakery",
        "Harbor Pharmacy",
        "Maple Books",
    ]
    assert [m.relation for m in first.milestones] == ["left front", "right", "front"]
    assert [m.distance for m in first.milestones] == [133.0, 152.0, 145.0]
    assert first.milestones[-1].landmark == first.destination
    assert first.init_heading is None
    assert first.city == "data"  # no region: the folder name

    assert second.destination.name == "Riverside Gym"
    assert second.start_heading == 90.0
    assert [m.arrival_heading for m in second.milestones] == [90.0, 180.0]
    assert [m.next_heading for m in second.milestones] == [180.0, None]
    assert [m.relation for m in second.milestones] == ["right front", "left"]
    assert second.milestones[0].landmark is not None
    assert second.milestones[0].landmark.name == "Corner Deli"
    assert second.init_heading is None


def test_example_geometry_and_places() -> None:
    route = load_routes(EXAMPLE)[0]
    assert route.legs[0] == ((40.725, -73.998), (40.7262, -73.998))
    assert route.legs[1] == ((40.7262, -73.998), (40.7262, -73.9962))
    assert route.legs[2][1] == (route.milestones[-1].lat, route.milestones[-1].lng)
    # the recorded headings agree with the geometry of the legs
    for leg, milestone in zip(route.legs, route.milestones, strict=True):
        (lat1, lng1), (lat2, lng2) = leg
        turn = geo.signed_turn(milestone.arrival_heading, geo.bearing(lat1, lng1, lat2, lng2))
        assert abs(turn) < 1.0
    bakery = route.milestones[0].landmark
    assert bakery is not None
    assert bakery.types == ("store",) and bakery.n_reviews == 120 and bakery.rating == 4.3
    assert bakery.place_id == "synthetic-blue-door-bakery"
    assert bakery.extra["vicinity"] == "synthetic"
    assert bakery.extra["plus_code"] is None
    assert bakery.extra["distance"] == 12


def test_folder_path_and_region(tmp_path: Path) -> None:
    data = example_data()
    data[0][1]["start_place"]["region"] = "New York"
    write(tmp_path, data)
    routes = load_routes(tmp_path)
    assert routes[0].city == tmp_path.name
    assert routes[1].city == "New York"


def test_example_round_trip(tmp_path: Path) -> None:
    routes = load_routes(EXAMPLE)
    dump_routes(routes, tmp_path / "out.json")
    again = load_routes(tmp_path / "out.json")
    assert_same_routes(routes, again)
    written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert written[1] == 2
    first = written[0][0]
    original = example_data()[0][0]
    # all keys of the original records survive
    assert set(original["start_place"]) <= set(first["start_place"])
    assert set(original["route_results"]) <= set(first["route_results"])
    assert set(original) <= set(first)
    assert (
        first["route_results"]["landmark_list"][0] == original["route_results"]["landmark_list"][0]
    )
    assert first["route_results"]["distance_list"] == [133, 152, 145]
    assert first["init_heading"] == 0
    assert parse_milestone_info(first["milestone_info"]) == parse_milestone_info(
        original["milestone_info"]
    )
    assert [entry.get("geocode") for entry in first["route_results"]["landmark_list"]] == [
        [40.7262, -73.998],
        [40.7262, -73.9962],
    ]


def assert_same_routes(expected: list[Route], actual: list[Route]) -> None:
    assert len(expected) == len(actual)
    for a, b in zip(expected, actual, strict=True):
        assert (a.start.name, a.destination.name) == (b.start.name, b.destination.name)
        assert (a.start.lat, a.start.lng) == (b.start.lat, b.start.lng)
        assert (a.destination.lat, a.destination.lng) == (b.destination.lat, b.destination.lng)
        assert round(a.start_heading) % 360 == b.start_heading
        assert a.init_heading == b.init_heading
        assert len(a.milestones) == len(b.milestones)
        for k, (m, n) in enumerate(zip(a.milestones, b.milestones, strict=True)):
            last = k == len(a.milestones) - 1
            assert (m.lat, m.lng) == (n.lat, n.lng)
            assert round(m.arrival_heading) % 360 == n.arrival_heading
            if last:
                assert n.next_heading is None
            else:
                assert m.next_heading is not None
                assert round(m.next_heading) % 360 == n.next_heading
            assert round(m.distance) == n.distance
            if last:
                assert n.landmark == b.destination
            else:
                assert (m.landmark.name if m.landmark else None) == (
                    n.landmark.name if n.landmark else None
                )
            assert m.relation == n.relation
        assert b.legs == tuple(
            ((p.lat, p.lng) if k else (b.start.lat, b.start.lng), (m.lat, m.lng))
            for k, (p, m) in enumerate(
                zip((b.milestones[0], *b.milestones[:-1]), b.milestones, strict=True)
            )
        )


# ---------------------------------------------------------------------------
# synthetic routes with nasty names
# ---------------------------------------------------------------------------

NASTY = [
    'Café "Le {Coin}"',
    "Joe's Pizza, Inc.: {best}",
    'back\\slash \\" tricky\\',
    "Zoë's } { ] [ ,",
    "The Shop is on your left",
    "No landmark nearby",
    "東京タワー",
    'quote at end"',
    "emoji \U0001f355 pizza",
    "Ünïcødé Straße ٣ مقهى",
]


def make_route(
    names: list[str],
    *,
    headings: list[int] | None = None,
    relations: list[str | None] | None = None,
    init_heading: float | None = None,
    city: str = "Testville",
    dest_name: str = 'Dest {"x"}',
) -> Route:
    count = len(names) + 1
    headings = headings or [(90 * k) % 360 for k in range(count)]
    relations = relations or [geo.RELATIONS[k % 8] for k in range(count)]
    lat, lng = 40.7, -74.0
    start = Place('Start "S" {0}', lat, lng, ("cafe",), 10, 4.0, "s-id")
    points = []
    for k in range(count):
        lat, lng = geo.offset(lat, lng, headings[k], 100.0 + k)
        points.append((lat, lng))
    destination = Place(dest_name, *points[-1], ("book_store",), 99, 4.5, "d-id")
    milestones = []
    for k, (plat, plng) in enumerate(points):
        last = k == count - 1
        if last:
            landmark, relation = destination, relations[k]
        elif relations[k] is None:
            landmark, relation = None, None
        else:
            llat, llng = geo.offset(plat, plng, 45.0, 12.0)
            landmark = Place(names[k], llat, llng, ("store",), 100 + k, 3.5, f"id-{k}")
            relation = relations[k]
        milestones.append(
            Milestone(
                plat,
                plng,
                float(headings[k]),
                None if last else float(headings[k + 1]),
                landmark,
                relation,
                100.0 + k,
            )
        )
    legs = []
    previous = (start.lat, start.lng)
    for point in points:
        legs.append((previous, point))
        previous = point
    return Route(
        start, destination, float(headings[0]), tuple(milestones), tuple(legs), init_heading, city
    )


def test_round_trip_nasty_names(tmp_path: Path) -> None:
    routes = [
        make_route(NASTY, init_heading=135.0),
        make_route(["A", "B"], relations=[None, "left", "behind"], init_heading=0.0),
        make_route([], dest_name='Dest "only" {milestone}'),
    ]
    dump_routes(routes, tmp_path)
    again = load_routes(tmp_path)
    expected = [routes[0], routes[1], routes[2]]
    # init heading 0.0 (north) is written as 360 so that it does not read back as "random"
    assert again[1].init_heading == 0.0
    assert again[0].init_heading == 135.0
    assert_same_routes(expected, again)
    assert [m.landmark.name for m in again[0].milestones if m.landmark] == [
        *NASTY,
        'Dest {"x"}',
    ]
    assert again[1].milestones[0].landmark is None and again[1].milestones[0].relation is None
    assert all(r.city == "Testville" for r in again)
    assert again[0].start.types == ("cafe",) and again[0].start.n_reviews == 10
    raw = json.loads((tmp_path / "route_infos.json").read_text(encoding="utf-8"))
    assert raw[0][1]["route_results"]["landmark_list"][0] is None
    assert raw[0][1]["init_heading"] == 360
    assert "No landmark nearby" in raw[0][1]["milestone_info"]
    assert not [p for p in tmp_path.iterdir() if p.name != "route_infos.json"]  # no temp files


names = st.text(max_size=25).filter(lambda n: bool(n) and clean_text(n) == n)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(names, max_size=4),
    names,
    st.lists(st.integers(0, 359), min_size=5, max_size=5),
    st.lists(st.sampled_from([*geo.RELATIONS, None]), min_size=5, max_size=5),
)
def test_round_trip_random_names(
    landmark_names: list[str], dest: str, headings: list[int], relations: list[str | None]
) -> None:
    relations = [*relations[: len(landmark_names)], relations[-1] or "front"]
    route = make_route(
        landmark_names, headings=headings, relations=relations, dest_name=dest, city="c"
    )
    with tempfile.TemporaryDirectory() as folder:
        dump_routes([route], Path(folder) / "r.json")
        (again,) = load_routes(Path(folder) / "r.json")
    assert_same_routes([route], [again])
    assert again.destination.name == dest


def test_names_are_cleaned_and_bounded(tmp_path: Path) -> None:
    data = example_data()
    route = data[0][0]
    route["dest_place"]["name"] = "Maple\u202e skooB\n\x00 Books\x1b[31m"
    route["route_results"]["landmark_list"][0]["name"] = "  Blue\tDoor  "
    write(tmp_path, data)
    first = load_routes(tmp_path)[0]
    assert first.destination.name == "Maple skooB Books [31m"
    assert first.milestones[0].landmark is not None
    assert first.milestones[0].landmark.name == "Blue Door"
    for name, snippet in (("", "name is empty"), ("x" * 161, "161 characters; the limit is 160")):
        data = example_data()
        data[0][1]["dest_place"]["name"] = name
        path = write(tmp_path, data)
        with pytest.raises(RouteDataError, match=snippet) as info:
            load_routes(path)
        assert str(info.value).startswith(f"{path}: route 1: dest_place.name")


def test_relocated_geocode(tmp_path: Path) -> None:
    data = example_data()
    data[0][0]["start_place"]["relocated_geocode"] = [40.7251, -73.9981]
    write(tmp_path, data)
    route = load_routes(tmp_path)[0]
    assert (route.start.lat, route.start.lng) == (40.7251, -73.9981)
    assert route.legs[0][0] == (40.7251, -73.9981)
    assert route.start.extra["geocode"] == [40.725, -73.998]
    dump_routes([route], tmp_path / "again.json")
    written = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))[0][0]
    assert written["start_place"]["geocode"] == [40.725, -73.998]
    assert written["start_place"]["relocated_geocode"] == [40.7251, -73.9981]


def test_lenient_details(tmp_path: Path) -> None:
    data = example_data()
    route = data[0][0]
    route["init_heading"] = 90
    route["route_results"]["landmark_list"][1] = None
    blocks = parse_milestone_info(route["milestone_info"])
    blocks[1]["landmarks"] = "No landmark nearby"
    del blocks[2]["to_next_intersection_heading"]
    del blocks[0]["distance"]  # falls back to distance_list
    blocks[2]["human_heading"] = "360 (north)"
    route["milestone_info"] = format_milestone_info(blocks)
    # the second route: its landmark text says there is none although landmark_list has one
    blocks = parse_milestone_info(data[0][1]["milestone_info"])
    blocks[0]["landmarks"] = "no landmarks nearby"
    data[0][1]["milestone_info"] = "  \n" + format_milestone_info(blocks).replace("\n", "\r\n")
    write(tmp_path, data)
    first, second = load_routes(tmp_path)
    assert first.init_heading == 90.0
    assert first.milestones[0].distance == 133.0
    assert first.milestones[1].landmark is None and first.milestones[1].relation is None
    # no heading in the last block: the last leg's own bearing (P2 -> P3 runs north)
    assert first.milestones[2].arrival_heading == pytest.approx(0.0, abs=1e-6)
    assert first.milestones[2].next_heading is None
    assert second.milestones[0].landmark is None and second.milestones[0].relation is None


# ---------------------------------------------------------------------------
# the milestone_info parser
# ---------------------------------------------------------------------------


def test_parser_strings_with_braces_quotes_and_escapes() -> None:
    blob = (
        '{ "intersection_idx" : "1" ,\n "landmarks": "Café \\"Le {Coin}\\" is on your left",'
        '"distance":"16 meters",}'
        '{"landmarks": "Joe\'s: {a, b} \\\\ end", "human_heading": "298"}'
        '\n\n{\n"landmarks":\n"it\'s \\u00e9\\ud83c\\udf55 \\q",\n}'
    )
    blocks = parse_milestone_info(blob)
    assert blocks == [
        {
            "intersection_idx": "1",
            "landmarks": 'Café "Le {Coin}" is on your left',
            "distance": "16 meters",
        },
        {"landmarks": "Joe's: {a, b} \\ end", "human_heading": "298"},
        {"landmarks": "it's é\U0001f355 \\q"},
    ]


def test_parser_tolerates_unescaped_quotes_and_bare_values() -> None:
    blob = '{\n"landmarks": "Café "Le {Coin}" is on your left",\nhuman_heading: 298\n}'
    assert parse_milestone_info(blob) == [
        {"landmarks": 'Café "Le {Coin}" is on your left', "human_heading": "298"}
    ]
    assert parse_milestone_info("") == []
    assert parse_milestone_info("  \n ") == []


@pytest.mark.parametrize(
    "blob",
    [
        '{"a": "b",',  # unclosed block
        '{"a": "b}',  # unterminated string
        'x{"a": "b"}',  # junk outside blocks
        '{"a" "b"}',  # no colon
        '{"a": }',  # no value
        '{"a": "b\\',  # lone backslash at the end
        "{[}",
    ],
)
def test_parser_errors(blob: str) -> None:
    with pytest.raises(RouteDataError, match="milestone_info"):
        parse_milestone_info(blob)


def test_parser_rejects_non_strings() -> None:
    with pytest.raises(RouteDataError):
        parse_milestone_info(["a"])  # type: ignore[arg-type]


@given(
    st.lists(
        st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10).map(
                lambda s: "k_" + "".join(c for c in s if c.isalnum()).lower()
            ),
            st.text(max_size=30),
            max_size=5,
        ),
        max_size=4,
    )
)
def test_format_parse_round_trip(blocks: list[dict[str, str]]) -> None:
    assert parse_milestone_info(format_milestone_info(blocks)) == blocks


@given(st.text(max_size=200))
def test_parser_never_raises_other_errors(blob: str) -> None:
    try:
        parse_milestone_info(blob)
    except RouteDataError:
        pass


def test_parser_is_fast_on_hostile_blobs() -> None:
    import time

    t0 = time.perf_counter()
    for blob in [
        '{"a": "' + '" ' * 50_000 + '"}',
        "{" + '"a": "b",' * 20_000 + "}",
        '{"a": "' + "\\" * 100_001,
        "{}" * 50_000,
    ]:
        try:
            parse_milestone_info(blob)
        except RouteDataError:
            pass
    assert time.perf_counter() - t0 < 3.0


# ---------------------------------------------------------------------------
# malformed files
# ---------------------------------------------------------------------------


def set_block(route: dict[str, Any], k: int, key: str, value: str | None) -> None:
    blocks = parse_milestone_info(route["milestone_info"])
    if value is None:
        del blocks[k][key]
    else:
        blocks[k][key] = value
    route["milestone_info"] = format_milestone_info(blocks)


def drop_last_block(route: dict[str, Any]) -> None:
    blocks = parse_milestone_info(route["milestone_info"])
    route["milestone_info"] = format_milestone_info(blocks[:-1])


MUTATIONS = [
    (1, lambda r: drop_last_block(r), "milestone_info has 1 blocks for 2 legs"),
    (0, lambda r: set_block(r, 1, "human_heading", "abc"), "cannot read heading 'abc'"),
    (0, lambda r: set_block(r, 0, "to_next_intersection_heading", "east"), "heading"),
    (
        0,
        lambda r: set_block(r, 0, "to_next_intersection_heading", None),
        "block 0 has no 'to_next_intersection_heading'",
    ),
    (1, lambda r: set_block(r, 0, "landmarks", "Somewhere over there"), "landmarks"),
    (
        0,
        lambda r: r["route_results"]["landmark_list"].pop(),
        "landmark_list has 1 entries for 3 points",
    ),
    (1, lambda r: r.pop("start_place"), "has no 'start_place'"),
    (1, lambda r: r["route_results"].pop("geocode_list"), "geocode_list"),
    (0, lambda r: r["route_results"]["geocode_list"].__setitem__(1, [1.0]), "two numbers"),
    (0, lambda r: r["route_results"]["geocode_list"].__setitem__(1, ["a", 2]), "two numbers"),
    (0, lambda r: r["dest_place"]["geocode"].append(3.0), "dest_place.geocode"),
    (1, lambda r: r["route_results"].__setitem__("geocode_list", []), "geocode_list"),
    (0, lambda r: r.__setitem__("milestone_info", ["x"]), "milestone_info must be a string"),
    (0, lambda r: r.__setitem__("milestone_info", '{"a": "b'), "unterminated"),
    (1, lambda r: r["start_place"].__setitem__("name", 5), "name"),
    (1, lambda r: r["start_place"].__setitem__("rating", "good"), "rating"),
    (1, lambda r: r["route_results"]["landmark_list"].__setitem__(0, 7), "landmark_list[0]"),
    (1, lambda r: r.__setitem__("init_heading", "soon"), "init_heading"),
    (0, lambda r: r.__setitem__("route_results", None), "route_results"),
    (
        0,
        lambda r: (set_block(r, 0, "distance", "far"), r["route_results"].pop("distance_list")),
        "distance",
    ),
]


@pytest.mark.parametrize(("index", "mutate", "snippet"), MUTATIONS)
def test_malformed_routes_name_file_and_route(
    tmp_path: Path, index: int, mutate: Any, snippet: str
) -> None:
    data = example_data()
    mutate(data[0][index])
    path = write(tmp_path, data)
    with pytest.raises(RouteDataError) as info:
        load_routes(path)
    message = str(info.value)
    assert message.startswith(f"{path}: route {index}: ")
    assert snippet in message


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        ('[[{"start_place": ', "invalid JSON"),
        ('{"routes": []}', "route 0: the route has no 'start_place'"),
        ("[[]]", "top level"),
        ('[{"a": 1}, 1]', "top level"),
        ("[[], 0, 1]", "top level"),
        ("7", "top level"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, snippet: str) -> None:
    path = tmp_path / "route_infos.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RouteDataError) as info:
        load_routes(path)
    assert str(path) in str(info.value) and snippet in str(info.value)


def test_route_not_an_object_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "route_infos.json"
    path.write_text("[[5], 1]", encoding="utf-8")
    with pytest.raises(RouteDataError, match="route 0: the route must be an object"):
        load_routes(path)
    path.write_bytes(b"\xff\xfe[")
    with pytest.raises(RouteDataError, match=r"route_infos\.json"):
        load_routes(path)
    assert load_routes(write(tmp_path, [[], 3])) == []


def test_dump_rejects_non_finite_without_leaving_files(tmp_path: Path) -> None:
    route = make_route(["A"])
    bad_start = Place("S", math.nan, 0.0)
    bad = Route(bad_start, route.destination, 0.0, route.milestones, route.legs)
    with pytest.raises(RouteDataError, match="route 1"):
        dump_routes([route, bad], tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# gps_pano_mapping.pkl
# ---------------------------------------------------------------------------


def test_pano_mapping_plain_dict(tmp_path: Path) -> None:
    mapping = {(40.7262, -73.998): "pano-a", (40.7262, -73.9962): "pano-b", (1, 2): "int-key"}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        (tmp_path / "gps_pano_mapping.pkl").write_bytes(pickle.dumps(mapping, protocol=protocol))
        loaded = load_pano_mapping(tmp_path)
        assert loaded == {
            (40.7262, -73.998): "pano-a",
            (40.7262, -73.9962): "pano-b",
            (1.0, 2.0): "int-key",
        }
        assert all(isinstance(c, float) for key in loaded for c in key)


def test_pano_mapping_refuses_globals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gps_pano_mapping.pkl"
    path.write_bytes(pickle.dumps(OrderedDict(a=1)))
    with pytest.raises(RouteDataError) as info:
        load_pano_mapping(path)
    assert str(path) in str(info.value) and "collections.OrderedDict" in str(info.value)

    # A reduce payload calling os.system, built by hand (nothing runs while building it).
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    for payload in [
        b"cos\nsystem\n(S'echo pwned'\ntR.",  # protocol 0
        b"\x80\x02cposix\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.",
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
        b"\x8c\x0aecho pwned\x94\x85\x94R\x94.",
    ]:
        path.write_bytes(payload)
        with pytest.raises(RouteDataError, match="refused global"):
            load_pano_mapping(path)
    assert calls == []


@pytest.mark.parametrize(
    ("payload", "snippet"),
    [
        (pickle.dumps([1, 2]), "expected a dict"),
        (pickle.dumps({(1.0,): "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({"x": "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({(1.0, 2.0): 3}), "must be a string"),
        (pickle.dumps({(1.0, 2.0): "a"})[:-3], "not a readable pickle"),
        (b"", "not a readable pickle"),
        (b"garbage", "not a readable pickle"),
    ],
)
def test_pano_mapping_shape_errors(tmp_path: Path, payload: bytes, snippet: str) -> None:
    path = tmp_path / "map.pkl"
    path.write_bytes(payload)
    with pytest.raises(RouteDataError) as info:
        load_pano_mapping(path)
    assert str(path) in str(info.value) and snippet in str(info.value)


def test_nearest_pano() -> None:
    lat, lng = 40.7262, -73.998
    near = geo.offset(lat, lng, 90.0, 10.0)
    nearer = geo.offset(lat, lng, 0.0, 5.0)
    far = geo.offset(lat, lng, 180.0, 30.0)
    mapping = {near: "near", far: "far", nearer: "nearer"}
    assert nearest_pano(mapping, lat, lng) == "nearer"
    assert nearest_pano(mapping, *far) == "far"
    assert nearest_pano({near: "near"}, lat, lng) == "near"
    assert nearest_pano({near: "near"}, lat, lng, max_distance=9.0) is None
    assert nearest_pano({far: "far"}, lat, lng) is None
    assert nearest_pano({far: "far"}, lat, lng, max_distance=31.0) == "far"
    assert nearest_pano({}, lat, lng) is None


def test_example_file_is_the_reference_copy() -> None:
    reference = Path("/work/shared/reference/virl_route_example.json")
    if not reference.exists():
        pytest.skip("reference folder not available")
    assert reference.read_bytes() == EXAMPLE.read_bytes()


def test_loaded_data_is_not_shared(tmp_path: Path) -> None:
    data = example_data()
    kept = copy.deepcopy(data)
    path = write(tmp_path, data)
    load_routes(path)
    assert json.loads(path.read_text(encoding="utf-8")) == kept
