"""navenvs.files: strangers' route folders are read defensively.

Every hostile case is built at run time in tmp_path, and each must end in a
RouteDataError naming the file, fast, without reading outside the folder or
running anything.
"""

import io
import json
import os
import pickle
import random
import re
import socket
import stat
import struct
import sys
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image, ImageFile

from navenvs import files
from navenvs.files import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    PANO_MAPPING_FILE,
    RouteDataError,
    check_pano_id,
    load_pano_mapping,
    open_image,
    parse_json,
    parse_pano_mapping,
    read_bytes,
    read_json,
    read_text,
    resolve_inside,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="links, FIFOs and devices are POSIX")

FAST = 1.0  # seconds: every hostile case must be refused well within this


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """Run ``call`` in a daemon thread; fail if it takes longer than ``seconds``.

    Returns what it returns or re-raises what it raises, so a hang (a FIFO that
    blocks, a hash bomb) fails the test instead of stalling the suite.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    start = time.perf_counter()
    thread.start()
    thread.join(timeout=max(10.0, seconds * 5))
    elapsed = time.perf_counter() - start
    assert not thread.is_alive(), f"still running after {elapsed:.1f} s"
    assert elapsed < seconds, f"took {elapsed:.2f} s, more than {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def refused(call: Callable[[], Any], *, names: object, match: str | None = None) -> str:
    """Assert ``call`` raises a RouteDataError, fast, naming ``names``; return the message."""
    with pytest.raises(RouteDataError, match=match) as err:
        within(FAST, call)
    message = str(err.value)
    assert str(names) in message
    assert len(message) < 1000
    assert isinstance(err.value, ValueError)
    return message


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------


@posix_only
def test_resolve_inside(tmp_path: Path) -> None:
    root = tmp_path / "route"
    (root / "street_views").mkdir(parents=True)
    (root / "street_views" / "a.jpg").write_bytes(b"x")
    (root / "alias.jpg").symlink_to(root / "street_views" / "a.jpg")  # a link inside: fine
    assert resolve_inside(root, "street_views/a.jpg") == (root / "street_views/a.jpg").resolve()
    assert resolve_inside(root, "alias.jpg") == (root / "street_views/a.jpg").resolve()
    assert resolve_inside(root, "street_views/../alias.jpg").name == "a.jpg"
    assert resolve_inside(root, "not-yet.json") == root.resolve() / "not-yet.json"
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (root / "out.json").symlink_to(secret)
    (root / "street_views" / "up").symlink_to("../..")
    for relative in ("../secret.txt", "out.json", "street_views/up/secret.txt", str(secret)):
        refused(lambda r=relative: resolve_inside(root, r), names=root, match="leads out")
    refused(lambda: resolve_inside(tmp_path / "none", "a"), names="none", match="folder is missing")
    refused(lambda: resolve_inside(secret, "a"), names=secret, match="not a folder")


# ---------------------------------------------------------------------------
# bounded reads of regular files
# ---------------------------------------------------------------------------


def test_read_bytes_and_limits(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"0123456789")
    assert read_bytes("a.bin", limit=10, folder=tmp_path) == b"0123456789"
    assert read_bytes(tmp_path / "a.bin", limit=10) == b"0123456789"
    message = refused(
        lambda: read_bytes("a.bin", limit=9, folder=tmp_path, what="pano mapping"),
        names=tmp_path / "a.bin",
        match="more than the limit of 9 bytes",
    )
    assert "pano mapping" in message
    refused(lambda: read_bytes("b.bin", limit=9, folder=tmp_path), names="b.bin", match="missing")
    with pytest.raises(ValueError, match="limit"):
        read_bytes("a.bin", limit=-1, folder=tmp_path)


def test_directory_in_a_files_place(tmp_path: Path) -> None:
    (tmp_path / "route_infos.json").mkdir()
    for folder in (tmp_path, None):
        path = "route_infos.json" if folder else tmp_path / "route_infos.json"
        refused(
            lambda p=path, f=folder: read_json(p, limit=100, folder=f),
            names=tmp_path / "route_infos.json",
            match="is a directory",
        )


@posix_only
def test_fifo_fails_fast(tmp_path: Path) -> None:
    fifo = tmp_path / "route_infos.json"
    os.mkfifo(fifo)
    for folder in (tmp_path, None):
        path = "route_infos.json" if folder else fifo
        refused(
            lambda p=path, f=folder: read_json(p, limit=100, folder=f), names=fifo, match="FIFO"
        )


@posix_only
def test_links_to_devices_and_outside(tmp_path: Path) -> None:
    root = tmp_path / "route"
    root.mkdir()
    (root / "route_infos.json").symlink_to("/dev/zero")
    link = root / "route_infos.json"
    refused(lambda: read_json("route_infos.json", limit=1 << 20, folder=root), names=link)
    # Named directly (no folder), the link is followed but the device is still refused.
    refused(lambda: read_bytes(link, limit=1 << 20), names=link, match="character device")
    secret = tmp_path / "secret.json"
    secret.write_text('{"rotation": 1}')
    (root / "meta.json").symlink_to(secret)
    refused(
        lambda: read_json("meta.json", limit=100, folder=root),
        names=root / "meta.json",
        match="leads out of the route folder",
    )


@posix_only
def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.jpg"
    if len(str(path)) > 100:
        pytest.skip("socket path too long for AF_UNIX")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        refused(lambda: read_bytes("s.jpg", limit=10, folder=tmp_path), names=path, match="socket")
    finally:
        server.close()


@posix_only
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("{}")
    path.chmod(0)
    try:
        refused(lambda: read_json("a.json", limit=10, folder=tmp_path), names=path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_read_text_names_bad_utf8(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b'{"name": "caf\xe9"}')
    refused(
        lambda: read_text("a.json", limit=100, folder=tmp_path, what="route file"),
        names=tmp_path / "a.json",
        match=r"route file is not UTF-8 text \(bad byte at offset 13\)",
    )


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def test_read_json_plain(tmp_path: Path) -> None:
    data = {"rotation": 12.5, "n": 12345678901234567890, "s": "[[[{{{", "l": [1, [2, [3]]]}
    (tmp_path / "m.json").write_text("\ufeff" + json.dumps(data), encoding="utf-8")
    assert read_json("m.json", limit=1000, folder=tmp_path) == data


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        ("[" + str(10**400) + "]", "more than 20 digits"),
        ('{"heading": -' + "9" * 25 + "}", "more than 20 digits"),
        ("[1e400]", "overflows a float"),
        ("[-1.5E+309]", "overflows a float"),
        ("[1." + "0" * 200 + "]", "more than 100"),
        ("[NaN]", "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ("[-Infinity]", "Infinity"),
        ("[" * 65 + "]" * 65, "deeper than 64"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "deeper than 64"),
        ("[" * 200_000, "deeper than 64"),
        ('{"a": 1', "invalid JSON"),
        ('"\\"\\"' + '\\"' * 100_000, "invalid JSON"),
        ("[" * 70 + '"' + '\\"' * 100_000 + "]" * 70, "deeper than 64"),
        ("[" * 65 + '"\\"' * 100_000, "deeper than 64"),
    ],
)
def test_json_numbers_and_depth_are_bounded(tmp_path: Path, text: str, snippet: str) -> None:
    path = tmp_path / "route_infos.json"
    path.write_text(text, encoding="utf-8")
    refused(lambda: read_json(path, limit=1 << 20), names=path, match=snippet)


def test_json_edges_accepted() -> None:
    assert parse_json("[" * 64 + "]" * 64, source="s") is not None
    assert parse_json('["' + "[" * 1000 + '"]', source="s") == ["[" * 1000]
    assert parse_json("[-99999999999999999999, 1e308, 1e-400]", source="s") == [
        -99999999999999999999,
        1e308,
        0.0,
    ]
    assert parse_json("[1" + "0" * 19 + "]", source="s") == [10**19]


def test_large_json_is_linear(tmp_path: Path) -> None:
    record = '{"name": "Caf\\u00e9 [x] {y}", "geocode": [40.1, -73.2], "n": 12}'
    text = "[" + ",".join([record] * 20_000) + "]"
    start = time.perf_counter()
    assert len(parse_json(text, source="s")) == 20_000
    assert time.perf_counter() - start < FAST


# ---------------------------------------------------------------------------
# gps_pano_mapping.pkl
# ---------------------------------------------------------------------------

MAPPING = {
    (40.1, -73.9): "abc",
    (40.724162, -73.997626): "CAoSLEFGMVFpcE_x-9",
    (-33.5, 151.25): "abc",  # a repeated id: the pickle refers to it through the memo
    (1, 2): "int-key",
    (-90, 180.0): "pole",
}
EXPECTED = {(float(a), float(b)): v for (a, b), v in MAPPING.items()}


@pytest.mark.parametrize("protocol", range(6))
def test_pano_mapping_every_protocol(tmp_path: Path, protocol: int) -> None:
    (tmp_path / PANO_MAPPING_FILE).write_bytes(pickle.dumps(MAPPING, protocol=protocol))
    for path in (tmp_path, tmp_path / PANO_MAPPING_FILE):
        loaded = load_pano_mapping(path)
        assert loaded == EXPECTED
        assert all(type(c) is float for key in loaded for c in key)
    # More than one SETITEMS batch (the pickle module batches by 1000), memo gets included.
    rng = random.Random(protocol)
    big = {(rng.uniform(-90, 90), rng.uniform(-180, 180)): f"id{i % 700}" for i in range(2500)}
    assert parse_pano_mapping(pickle.dumps(big, protocol=protocol), source="m") == big


def test_pano_mapping_python2_strings() -> None:
    py2 = [
        b"(dp0\n(F40.1\nF-73.9\ntp1\nS'abc'\np2\ns(I1\nL2L\ntp3\ng2\ns.",
        b"\x80\x02}q\x00(G@D\x0c\xcc\xcc\xcc\xcc\xcdG\xc0Ry\x99\x99\x99\x99\x9a\x86q\x01"
        b"U\x03abcq\x02K\x01K\x02\x86q\x03h\x02u.",
    ]
    for data in py2:
        assert parse_pano_mapping(data, source="m") == {(40.1, -73.9): "abc", (1.0, 2.0): "abc"}


@pytest.mark.parametrize(
    ("payload", "snippet"),
    [
        (pickle.dumps([1, 2]), "expected a dict"),
        (pickle.dumps(None), "expected a dict"),
        (pickle.dumps(1.5), "expected a dict"),
        (pickle.dumps({(1.0,): "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({(1.0, 2.0, 3.0): "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({"x": "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({("1", "2"): "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({(1.0, 2.0): 3}), "must be a string"),
        (pickle.dumps({(1.0, 2.0): b"abc"}), "bytes"),
        (pickle.dumps({(1.0, 2.0): None}), "None"),
        (pickle.dumps({(1.0, 2.0): [1]}), "a list"),
        (pickle.dumps({(1.0, 2.0): {}}), "nested containers"),
        (pickle.dumps({(1.0, 2.0): (1.0, 2.0)}), "must be a string"),
        (pickle.dumps({(True, 2.0): "a"}), "a bool"),
        (pickle.dumps({(True, 2.0): "a"}, protocol=0), "a bool"),
        (pickle.dumps({(float("nan"), 2.0): "a"}), "not a (lat, lng) pair"),
        (pickle.dumps({(float("inf"), 2.0): "a"}, protocol=0), "not a (lat, lng) pair"),
        (pickle.dumps({(91.0, 2.0): "a"}), "latitude must be in"),
        (pickle.dumps({(1.0, -180.5): "a"}), "longitude in"),
        (pickle.dumps({(10**30, 2.0): "a"}), "longer than 8 bytes"),
        (pickle.dumps({(10**30, 2.0): "a"}, protocol=0), "at most 20 digits"),
        (pickle.dumps({(1.0, 2.0): "../secret"}), "not a safe file name"),
        (pickle.dumps({(1.0, 2.0): "a/b"}), "not a safe file name"),
        (pickle.dumps({(1.0, 2.0): ""}), "not a safe file name"),
        (pickle.dumps({(1.0, 2.0): "x" * 129}), "not a safe file name"),
        (pickle.dumps({(1.0, 2.0): "x" * 5000}), "longer than 256 bytes"),
        (pickle.dumps({(1.0, 2.0): "a"})[:-3], "not a readable pickle"),
        (pickle.dumps({(1.0, 2.0): "a"}, protocol=0)[:-1], "not a readable pickle"),
        (b"", "not a readable pickle"),
        (b"garbage", "not a readable pickle"),
        (b"\x80\x06}.", "unsupported pickle protocol 6"),
        (pickle.dumps(OrderedDict(a=1)), "refused global collections.OrderedDict"),
        (pickle.dumps(OrderedDict(a=1), protocol=0), "refused global collections.OrderedDict"),
        (pickle.dumps({(1.0, 2.0): {1}}), "a set"),
        (pickle.dumps({(1.0, 2.0): "a"}, protocol=5)[:-1] + b"0.", "POP"),
    ],
)
def test_pano_mapping_shape_errors(tmp_path: Path, payload: bytes, snippet: str) -> None:
    path = tmp_path / "map.pkl"
    path.write_bytes(payload)
    refused(lambda: load_pano_mapping(path), names=path, match=re.escape(snippet))


def nested_tuple_bomb(protocol: int, depth: int = 60) -> bytes:
    """``{t: "x"}`` with ``t = (t', t')`` nested ``depth`` times, written without hashing t.

    Hashing the key takes 2**depth steps; the pickle is under a kilobyte. The dict
    opcodes are spliced around the pickle of the tuple alone (building the dict
    itself would hash the key).
    """
    key = ()
    for _ in range(depth):
        key = (key, key)
    body = pickle.dumps(key, protocol=protocol)
    if protocol == 0:
        return b"(d" + body[:-1] + b"Vx\ns."
    if protocol == 1:
        return b"}" + body[:-1] + b"X\x01\x00\x00\x00xs."
    head = 11 if protocol >= 4 else 2  # PROTO, and FRAME from protocol 4
    assert body[head - 9 : head - 8] == b"\x95" or protocol < 4
    return bytes([0x80, protocol]) + b"}" + body[head:-1] + b"\x8c\x01xs."


@pytest.mark.parametrize("protocol", range(6))
def test_nested_tuple_hash_bomb_fails_fast(tmp_path: Path, protocol: int) -> None:
    # The construction is the real thing: a shallow one unpickles to the nested-key dict.
    shallow = pickle.loads(nested_tuple_bomb(protocol, depth=12))  # our own bytes
    (key,) = shallow
    assert shallow[key] == "x" and key[0] is key[1]
    bomb = nested_tuple_bomb(protocol)
    assert len(bomb) < 1300
    path = tmp_path / PANO_MAPPING_FILE
    path.write_bytes(bomb)
    # Protocols 0 and 1 open 60 MARKs before the first tuple; later ones nest TUPLE2s.
    refused(lambda: load_pano_mapping(tmp_path), names=path, match="nested")


@pytest.mark.parametrize("protocol", range(6))
def test_frozenset_bomb_fails_fast(tmp_path: Path, protocol: int) -> None:
    bomb_set: frozenset[Any] = frozenset()
    for index in range(40):
        bomb_set = frozenset([bomb_set, frozenset([bomb_set, index])])
    payload = pickle.dumps({(1.0, 2.0): bomb_set}, protocol=protocol)
    assert len(payload) < 3000
    path = tmp_path / PANO_MAPPING_FILE
    path.write_bytes(payload)
    refused(lambda: load_pano_mapping(path), names=path)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"abc",  # BINUNICODE8
        b"\x80\x04}\x8e" + struct.pack("<Q", 2**62) + b"abc",  # BINBYTES8
        b"\x80\x05}\x96" + struct.pack("<Q", 2**62) + b"abc",  # BYTEARRAY8
        b"\x80\x04\x95" + struct.pack("<Q", 2**62) + b"}.",  # FRAME
        b"\x80\x02X" + struct.pack("<I", 2**32 - 1) + b"abc",  # BINUNICODE
        b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"abc",  # LONG4
        b"\x80\x02\x8b" + struct.pack("<i", -5) + b"abc",  # LONG4, negative
        b"T" + struct.pack("<i", -(2**31)) + b"abc",  # BINSTRING, negative
        b"\x80\x02r" + struct.pack("<I", 2**32 - 1),  # LONG_BINPUT of nothing
        b"\x80\x02}j" + struct.pack("<I", 2**32 - 1) + b".",  # LONG_BINGET of nothing
    ],
)
def test_huge_lengths_fail_fast_without_memory(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / PANO_MAPPING_FILE
    path.write_bytes(payload)
    refused(lambda: load_pano_mapping(path), names=path)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x80\x04}" + b"q\x00" * 500_000 + b".",  # memo puts that build nothing
        b"\x80\x04}" + b"\x94" * 1_000_000 + b".",
        b"\x80\x04}" + b"(u" * 500_000 + b".",  # empty batches
        b"\x80\x04}" + b"\x95\x00\x00\x00\x00\x00\x00\x00\x00" * 200_000 + b".",  # empty frames
        b"\x80\x04}" + b"\x80\x04" * 500_000 + b".",
        b"\x80\x04}" + b"(" * 1000 + b"u" * 1000 + b".",  # deep marks
        b"\x80\x04}K\x01\x94" + b"h\x00" * 500_000 + b".",  # a pile of memo gets
        b"\x80\x04}" + b")" * 500_000 + b".",  # a pile of empty tuples
    ],
)
def test_spinning_or_piling_opcodes_fail_fast(payload: bytes) -> None:
    refused(lambda: parse_pano_mapping(payload, source="spin.pkl"), names="spin.pkl")


def test_entry_and_size_caps(tmp_path: Path) -> None:
    mapping = {(float(i) / 100, 1.0): f"p{i}" for i in range(50)}
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(mapping))
    assert load_pano_mapping(path) == mapping
    refused(lambda: load_pano_mapping(path, max_entries=49), names=path, match="more than 49")
    refused(lambda: load_pano_mapping(path, limit=100), names=path, match="limit of 100 bytes")
    # Duplicate keys count as insertions: re-setting one key forever is bounded too.
    one = b"\x80\x04}\x94G@D\x00\x00\x00\x00\x00\x00G@D\x00\x00\x00\x00\x00\x00\x86\x94"
    one += b"\x8c\x03abc\x94s" + b"h\x01h\x02s" * 200 + b"."
    assert parse_pano_mapping(one, source="m") == {(40.0, 40.0): "abc"}
    refused(lambda: parse_pano_mapping(one, source="m", max_entries=100), names="m")
    assert files.MAX_PANO_ENTRIES == 1_000_000
    assert files.MAX_PANO_MAPPING_BYTES == 64 * 2**20


def test_code_in_a_pickle_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    command = f"touch {marker}".encode()
    payloads = [
        b"cos\nsystem\n(S'" + command + b"'\ntR.",  # protocol 0: GLOBAL + REDUCE
        b"\x80\x02cposix\nsystem\nq\x00X"
        + struct.pack("<I", len(command))
        + command
        + b"q\x01\x85q\x02Rq\x03.",
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c"
        + bytes([len(command)])
        + command
        + b"\x94\x85\x94R\x94.",  # STACK_GLOBAL
        b"(cos\nsystem\nS'" + command + b"'\no.",  # OBJ
        b"(S'" + command + b"'\nios\nsystem\n.",  # INST
        b"\x80\x02}(G@D\x00\x00\x00\x00\x00\x00G@D\x00\x00\x00\x00\x00\x00\x86cos\nsystem\nu.",
        b"\x80\x02\x82\x01.",  # EXT1
        b"\x80\x02}(K\x01K\x02\x86Pabc\nu.",  # PERSID
    ]
    path = tmp_path / PANO_MAPPING_FILE
    for payload in payloads:
        path.write_bytes(payload)
        message = refused(lambda: load_pano_mapping(tmp_path), names=path)
        assert (
            "refused global" in message
            or "not a readable pickle" in message
            or ("found" in message)
        )
    assert "refused global os.system" in refused(
        lambda: parse_pano_mapping(payloads[0], source="m"), names="m"
    )
    assert "refused global posix.system" in refused(
        lambda: parse_pano_mapping(payloads[1], source="m"), names="m"
    )
    assert "refused global os.system" in refused(
        lambda: parse_pano_mapping(payloads[2], source="m"), names="m"
    )
    assert calls == []
    assert not marker.exists()


def test_mutated_pickles_never_escape() -> None:
    """Random corruptions of real pickles: a dict or a RouteDataError, nothing else."""
    rng = random.Random(11)
    seeds = [pickle.dumps(MAPPING, protocol=p) for p in range(6)]
    start = time.perf_counter()
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            index = rng.randrange(len(data))
            if choice < 0.5:
                data[index] = rng.randrange(256)
            elif choice < 0.75:
                del data[index]
            else:
                data.insert(index, rng.randrange(256))
        try:
            result = parse_pano_mapping(bytes(data), source="fuzz")
        except RouteDataError as err:
            assert str(err).startswith("fuzz: ")
            outcomes["refused"] += 1
        else:
            assert type(result) is dict
            for key, value in result.items():
                assert type(key) is tuple and all(type(c) is float for c in key)
                check_pano_id(value, source="fuzz")
            outcomes["ok"] += 1
    assert outcomes["refused"] > 1000
    assert time.perf_counter() - start < 5.0


def test_pano_mapping_file_errors(tmp_path: Path) -> None:
    refused(lambda: load_pano_mapping(tmp_path), names=PANO_MAPPING_FILE, match="missing")
    (tmp_path / PANO_MAPPING_FILE).mkdir()
    refused(lambda: load_pano_mapping(tmp_path), names=PANO_MAPPING_FILE, match="directory")


@posix_only
def test_pano_mapping_link_out_of_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "route"
    root.mkdir()
    outside = tmp_path / "elsewhere.pkl"
    outside.write_bytes(pickle.dumps(MAPPING))
    (root / PANO_MAPPING_FILE).symlink_to(outside)
    refused(lambda: load_pano_mapping(root), names=root / PANO_MAPPING_FILE, match="leads out")
    (root / PANO_MAPPING_FILE).unlink()
    (root / PANO_MAPPING_FILE).symlink_to("/dev/zero")
    refused(lambda: load_pano_mapping(root), names=root / PANO_MAPPING_FILE)


def test_check_pano_id() -> None:
    assert check_pano_id("AbC_-09", source="s") == "AbC_-09"
    for bad in ("", ".", "..", "a b", "a\x00", "é", "x" * 129, 12, None):
        with pytest.raises(RouteDataError, match=r"^s: pano id"):
            check_pano_id(bad, source="s")


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------


def png_bytes(width: int, height: int) -> bytes:
    """A real 1-bit PNG of zeros, compressed as it is written (small, fast to build)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = 1 + (width + 7) // 8
    compressor = zlib.compressobj(9)
    block = bytes(row * 4096)
    parts = []
    left = height
    while left > 0:
        rows = min(left, 4096)
        parts.append(compressor.compress(block[: rows * row]))
        left -= rows
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every call of Pillow's decoder entry point."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> Any:
        calls.append(str(self.format))
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


def test_open_image_jpeg_and_png(tmp_path: Path) -> None:
    Image.new("RGB", (64, 32), (10, 200, 30)).save(tmp_path / "a.jpg", quality=95)
    Image.new("P", (16, 8), 3).save(tmp_path / "b.png")
    image = open_image("a.jpg", folder=tmp_path, mode="RGB")
    assert image.size == (64, 32) and image.mode == "RGB"
    assert np.abs(np.asarray(image).astype(int) - (10, 200, 30)).max() < 6
    png = open_image(tmp_path / "b.png", mode="RGB")
    assert png.size == (16, 8) and png.mode == "RGB"
    assert open_image("b.png", folder=tmp_path).mode == "P"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("width", "height", "snippet"),
    [
        (13000, 13000, "169000000 pixels to decode"),
        (8, 11_000_000, "each side must be"),
        (20000, 10000, "too many pixels|each side"),
        (9000, 4000, "more than the limit of 33554432"),
    ],
)
def test_png_bombs_are_refused_before_decoding(
    tmp_path: Path, no_decoding: list[str], width: int, height: int, snippet: str
) -> None:
    path = tmp_path / "bomb.jpg"
    payload = png_bytes(width, height)
    assert len(payload) < 200_000
    path.write_bytes(payload)
    pixels_before = Image.MAX_IMAGE_PIXELS
    refused(lambda: open_image(path), names=path, match=snippet)
    assert no_decoding == []
    assert Image.MAX_IMAGE_PIXELS == pixels_before  # nothing global was changed
    assert (MAX_IMAGE_SIDE, MAX_IMAGE_PIXELS) == (16384, 8192 * 4096)


def test_the_small_png_bomb_is_small() -> None:
    assert len(png_bytes(13000, 13000)) < 25_000  # 21 KB declaring 169 megapixels


def test_pixel_cap_counts_the_reduced_jpeg(tmp_path: Path) -> None:
    Image.new("RGB", (1024, 512), (200, 20, 20)).save(tmp_path / "p.jpg", quality=90)
    refused(
        lambda: open_image("p.jpg", folder=tmp_path, max_pixels=100_000),
        names=tmp_path / "p.jpg",
        match="1024x512",
    )
    image = open_image("p.jpg", folder=tmp_path, max_pixels=100_000, draft_width=256, mode="RGB")
    assert image.size == (256, 128)
    refused(
        lambda: open_image("p.jpg", folder=tmp_path, max_side=1000),
        names=tmp_path / "p.jpg",
        match="each side",
    )


@posix_only
def test_eps_named_jpg_never_runs_ghostscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "gs-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_gs = bin_dir / "gs"
    fake_gs.write_text(f"#!/bin/sh\necho ran >> '{marker}'\nexit 1\n")
    fake_gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # look gs up again on PATH
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", None, raising=False)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto showpage\n"
    path = tmp_path / "street_views" / "abc.jpg"
    path.parent.mkdir()
    path.write_bytes(eps)
    refused(
        lambda: open_image("street_views/abc.jpg", folder=tmp_path, what="panorama image"),
        names=path,
        match="not a JPEG or PNG",
    )
    assert not marker.exists()
    # Control: plain Pillow takes the file for EPS and would hand it to our fake gs.
    with Image.open(io.BytesIO(eps)) as image:
        assert image.format == "EPS"
        with pytest.raises(Exception):  # noqa: B017 - whatever the fake gs makes Pillow raise
            image.load()
    assert marker.exists()


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "PPM"])
def test_other_formats_are_refused(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "x.jpg"
    Image.new("RGB", (4, 4)).save(path, format=fmt)
    refused(lambda: open_image(path), names=path, match="not a JPEG or PNG")


def test_broken_images(tmp_path: Path) -> None:
    Image.new("RGB", (256, 128), (1, 2, 3)).save(tmp_path / "a.jpg", quality=90)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    refused(
        lambda: open_image("t.jpg", folder=tmp_path), names="t.jpg", match="cannot (read|decode)"
    )
    (tmp_path / "e.jpg").write_bytes(b"")
    refused(lambda: open_image("e.jpg", folder=tmp_path), names="e.jpg")
    (tmp_path / "j.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(64))
    refused(lambda: open_image("j.jpg", folder=tmp_path), names="j.jpg")
    refused(
        lambda: open_image("a.jpg", folder=tmp_path, limit=100),
        names="a.jpg",
        match="limit of 100 bytes",
    )


def test_every_cap_is_documented() -> None:
    source = Path(files.__file__).read_text(encoding="utf-8")
    for name in files.__all__:
        if name.startswith("MAX_"):
            assert f"{name}: Final = " in source
            docstring = source.split(f"{name}: Final = ", 1)[1].split("\n", 2)[1]
            assert docstring.startswith('"""'), name
    assert sys.modules["navenvs.files"] is files
