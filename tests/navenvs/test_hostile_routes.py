"""Route folders from strangers through the public entry points (load_routes, gym.make).

Each hostile case is built at run time and must end, within a second, in a
RouteDataError (a ValueError) naming the file: nothing blocks, nothing is read
outside the folder, nothing runs.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import navenvs  # noqa: F401
from navenvs.data import RouteDataError, load_pano_mapping, load_routes
from tests.navenvs.test_files import FAST, nested_tuple_bomb, within

EXAMPLE = Path(__file__).parent / "data" / "virl_route_example.json"
posix_only = pytest.mark.skipif(os.name != "posix", reason="links and FIFOs are POSIX")


def example() -> Any:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def refused(call: Any, *, names: object, match: str | None = None) -> str:
    with pytest.raises(RouteDataError, match=match) as info:
        within(FAST, call)
    message = str(info.value)
    assert str(names) in message and len(message) < 1000
    return message


@posix_only
def test_route_file_linked_to_dev_zero(tmp_path: Path) -> None:
    (tmp_path / "route_infos.json").symlink_to("/dev/zero")
    refused(lambda: load_routes(tmp_path), names="route_infos.json")
    refused(lambda: gym.make("navenvs/Navigation-v0", routes=str(tmp_path)), names=tmp_path)


@posix_only
def test_route_file_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "route_infos.json")
    refused(lambda: load_routes(tmp_path), names="route_infos.json")
    refused(lambda: load_routes(tmp_path / "route_infos.json"), names="route_infos.json")


def test_a_folder_in_the_file_s_place(tmp_path: Path) -> None:
    (tmp_path / "route_infos.json").mkdir()
    refused(lambda: load_routes(tmp_path), names="route_infos.json")


@posix_only
def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    shutil.copy(EXAMPLE, outside)
    folder = tmp_path / "routes"
    folder.mkdir()
    (folder / "route_infos.json").symlink_to(outside)
    refused(lambda: load_routes(folder), names="route_infos.json")


def test_an_oversized_route_file_is_refused_without_reading_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from navenvs import files

    monkeypatch.setattr(files, "MAX_ROUTE_FILE_BYTES", 1000)
    (tmp_path / "route_infos.json").write_text(" " * 5000 + "[]", encoding="utf-8")
    refused(lambda: load_routes(tmp_path), names="route_infos.json")


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("init_heading", 10**400),
        ("rating", 10**400),
        ("geocode", [10**400, 1]),
        ("init_heading", 1e308 * 10),
        ("rating", -3),
        ("n_reviews", 10**15),
    ],
)
def test_huge_and_insane_numbers(tmp_path: Path, where: str, value: Any) -> None:
    data = example()
    route = data[0][0]
    if where == "init_heading":
        route["init_heading"] = value
    elif where == "geocode":
        route["start_place"]["relocated_geocode"] = value
    else:
        route["dest_place"][where] = value
    text = json.dumps(data).replace("Infinity", "1e999")
    (tmp_path / "route_infos.json").write_text(text, encoding="utf-8")
    refused(lambda: load_routes(tmp_path), names="route_infos.json")


def test_huge_heading_text_in_a_block(tmp_path: Path) -> None:
    data = example()
    route = data[0][0]
    route["milestone_info"] = route["milestone_info"].replace(
        '"0 (north)"', '"9' * 1 + "9" * 400 + ' (north)"', 1
    )
    (tmp_path / "route_infos.json").write_text(json.dumps(data), encoding="utf-8")
    message = refused(lambda: load_routes(tmp_path), names="route_infos.json")
    assert "route 0" in message and "heading" in message


def test_pickle_with_a_huge_length_and_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    code = pickle.dumps(_Evil(str(marker)))
    (tmp_path / "gps_pano_mapping.pkl").write_bytes(code)
    refused(lambda: load_pano_mapping(tmp_path), names="gps_pano_mapping.pkl")
    assert not marker.exists()
    # BINUNICODE8 claiming 2**62 bytes
    (tmp_path / "gps_pano_mapping.pkl").write_bytes(
        b"\x80\x04\x8d" + (2**62).to_bytes(8, "little") + b"x"
    )
    refused(lambda: load_pano_mapping(tmp_path), names="gps_pano_mapping.pkl")


def test_hash_bomb_pickle_does_not_hang_gym_make(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "route_infos.json")
    # a dict key of 60 nested tuples sharing references: hashing it takes 2**60 steps
    (tmp_path / "gps_pano_mapping.pkl").write_bytes(nested_tuple_bomb(4))
    (tmp_path / "street_views").mkdir()
    refused(
        lambda: gym.make("navenvs/Navigation-Image-v0", routes=str(tmp_path)),
        names="gps_pano_mapping.pkl",
    )


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))
