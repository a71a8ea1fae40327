"""Read files from strangers' route folders: nothing runs, nothing hangs, nothing leaves the folder.

V-IRL route folders (``route_infos.json``, ``gps_pano_mapping.pkl``,
``street_views/{pano_id}.jpg`` and ``.metadata.json``) are downloaded from the
internet, so every byte the navigation package reads from one goes through this
module:

* **Paths stay inside the folder.** :func:`resolve_inside` resolves a path
  (symbolic links and ``..`` included) and refuses one that ends outside the
  route folder, so a link cannot turn a file elsewhere on the machine into an
  observation.
* **Regular files only, bounded reads.** :func:`read_bytes` refuses FIFOs,
  devices, sockets and directories *before* reading (a FIFO is opened
  non-blocking, so it never hangs), and reads at most ``limit + 1`` bytes: a
  link to ``/dev/zero`` or a huge file is an error, not an out-of-memory kill.
* **Expected formats only.** :func:`read_json` refuses NaN, Infinity, integers
  of more than :data:`MAX_JSON_INT_DIGITS` digits, floats that overflow and
  nesting deeper than :data:`MAX_JSON_DEPTH`. :func:`load_pano_mapping` reads the
  pickle's opcodes itself and builds exactly ``{(lat, lng): pano_id}``: no
  general unpickling, so no code runs and no hash or memory bomb goes off.
  :func:`open_image` opens only JPEG and PNG (a PostScript file named ``.jpg``
  never reaches Ghostscript) and checks the dimensions from the header before
  decoding.
* **One error type.** Every problem is a :class:`RouteDataError` (a
  :class:`ValueError`) whose message starts with the file's path and names the
  field or byte at fault; no ``OSError``, ``OverflowError``, ``MemoryError`` or
  ``RecursionError`` escapes for a bad file.

The caps below are module constants; each says why it has its value. Functions
take them as keyword arguments, so a caller with unusual (trusted) data can
raise one for one call without touching global state.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import os
import pickletools
import re
import stat
import struct
from pathlib import Path
from typing import Any, Final, TypeAlias

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT_DIGITS",
    "MAX_JSON_NUMBER_CHARS",
    "MAX_METADATA_BYTES",
    "MAX_PANORAMA_BYTES",
    "MAX_PANO_ENTRIES",
    "MAX_PANO_ID_CHARS",
    "MAX_PANO_MAPPING_BYTES",
    "MAX_ROUTE_FILE_BYTES",
    "PANO_ID_PATTERN",
    "PANO_MAPPING_FILE",
    "RouteDataError",
    "check_pano_id",
    "load_pano_mapping",
    "open_image",
    "parse_json",
    "parse_pano_mapping",
    "read_bytes",
    "read_json",
    "read_text",
    "resolve_inside",
]

StrPath: TypeAlias = "str | os.PathLike[str]"

_MIB: Final = 1 << 20

# ---------------------------------------------------------------------------
# caps
# ---------------------------------------------------------------------------

MAX_ROUTE_FILE_BYTES: Final = 64 * _MIB
"""Largest ``route_infos.json`` read: 64 MiB.

A V-IRL route record (places, landmarks, polylines, milestone text) takes about
2 KB for a short route (the reference example) and rarely more than 20 KB, so
this admits thousands of routes, more than any published set; :mod:`json` builds
objects of up to about ten times the text's size, so the cap also bounds the
memory of a load to well under a gigabyte.
"""

MAX_METADATA_BYTES: Final = 1 * _MIB
"""Largest ``street_views/{pano_id}.metadata.json`` read: 1 MiB.

Real metadata files hold a pano id, a position, a date and ``rotation``: a few
hundred bytes. One MiB leaves room for extra fields without letting one of the
thousands of small files cost real memory.
"""

MAX_PANO_MAPPING_BYTES: Final = 64 * _MIB
"""Largest ``gps_pano_mapping.pkl`` read: 64 MiB.

An entry takes 35 (protocol 4) to 70 (protocol 0) bytes of pickle (two floats, a
22-character Street View id, memo opcodes), so 64 MiB holds about
:data:`MAX_PANO_ENTRIES` entries at the most verbose protocol.
"""

MAX_PANO_ENTRIES: Final = 1_000_000
"""Most entries (``SETITEM`` insertions, duplicates included) in a pano mapping: one million.

A million panoramas is hundreds of gigabytes of images, beyond any route set.
The loaded dict costs about 230 bytes an entry (twice that while reading, for the
memo), so about 230 MB at the cap, and reading takes about 5 microseconds an entry
(a few seconds at the cap). A hostile file cannot do worse: every opcode must
build part of an entry (see :func:`parse_pano_mapping`).
"""

MAX_PANO_ID_CHARS: Final = 128
"""Longest pano id: 128 characters.

Google Street View ids are 22 characters; other id styles (user photospheres)
are longer but well under 128.
"""

PANO_ID_PATTERN: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_PANO_ID_CHARS}}}")
"""What a pano id may be (matched whole): letters, digits, ``_`` and ``-``.

That is the alphabet of Street View ids, and it makes every id a plain, safe
file name on every system (no separator, no ``..``, no control character).
"""

MAX_PANORAMA_BYTES: Final = 64 * _MIB
"""Largest panorama file read: 64 MiB.

A full-resolution (16384 x 8192) Street View JPEG takes roughly 10 to 40 MB; a
photo PNG at the :data:`MAX_IMAGE_PIXELS` decode cap (100 MB of RGB) usually
compresses below 64 MiB. Bigger files cost memory before any check can run.
"""

MAX_IMAGE_SIDE: Final = 16384
"""Longest side, in pixels, of an image's header: 16384.

The width of a full-resolution Street View panorama (zoom 5). It also stops
strips such as 8 x 11,000,000, whose pixel count alone looks harmless.
"""

MAX_IMAGE_PIXELS: Final = 8192 * 4096
"""Most pixels decoded from one image: 8192 x 4096 (33.5 million).

About 100 MB of RGB and one to two seconds of decoding. It is checked against the
size that will actually be decoded: a JPEG read with ``draft_width`` (as the
panorama reader does) is decoded at 1/2, 1/4 or 1/8 scale, so a full-resolution
16384 x 8192 panorama is accepted when it is reduced on load.
"""

MAX_JSON_DEPTH: Final = 64
"""Deepest nesting of lists and objects in a JSON file: 64.

``route_infos.json`` nests about 7 deep (list, list, route, results, landmark,
place, plus code); 64 is ample and keeps every recursive walk far from Python's
recursion limit.
"""

MAX_JSON_INT_DIGITS: Final = 20
"""Most digits of a JSON integer: 20 (every 64-bit integer fits).

Bigger integers are nonsense in a route file (headings, ratings, counts) and
cost quadratic time to convert and ``OverflowError`` to turn into floats.
"""

MAX_JSON_NUMBER_CHARS: Final = 100
"""Longest JSON number literal: 100 characters.

The exact decimal expansion of a double is at most about 770 characters, but
writers print at most 25; 100 admits any reasonable writer.
"""

#: The only image formats :func:`open_image` opens (Pillow format ids).
IMAGE_FORMATS: Final = ("JPEG", "PNG")

#: File name of the GPS -> panorama id table inside a V-IRL route folder.
PANO_MAPPING_FILE: Final = "gps_pano_mapping.pkl"

_READ_CHUNK: Final = 1 << 20


class RouteDataError(ValueError):
    """A file of a route folder is missing, unreadable, too large or not in the V-IRL format.

    The message starts with the file's path and names the field (or the byte
    offset) at fault.
    """


# ---------------------------------------------------------------------------
# paths and bounded reads
# ---------------------------------------------------------------------------


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)[:200] or type(err).__name__


def resolve_inside(folder: StrPath, relative: StrPath, *, what: str = "file") -> Path:
    """Resolve ``relative`` inside ``folder``; refuse a path that leaves it.

    Symbolic links and ``..`` are resolved; the result must be the folder or
    lie below it (a link between two places inside the folder is fine). The
    target need not exist.

    Args:
        folder: The route folder (it must exist).
        relative: A path relative to ``folder`` (an absolute path must lie inside it).
        what: What the file is, for messages (``"panorama image"``).

    Returns:
        The resolved, absolute path.

    Raises:
        RouteDataError: if the folder is missing or not a folder, or the path
            leads out of it; the message names the path as given.
    """
    root_given = Path(folder)
    given = root_given / relative
    try:
        root = root_given.resolve(strict=True)
    except FileNotFoundError:
        raise RouteDataError(f"{root_given}: route folder is missing") from None
    except (OSError, RuntimeError, ValueError) as err:
        raise RouteDataError(
            f"{root_given}: cannot open the route folder ({_reason(err)})"
        ) from None
    if not root.is_dir():
        raise RouteDataError(f"{root_given}: the route folder is not a folder")
    try:
        resolved = given.resolve(strict=False)
    except (OSError, RuntimeError, ValueError) as err:
        raise RouteDataError(f"{given}: cannot resolve {what} ({_reason(err)})") from None
    if resolved != root and root not in resolved.parents:
        raise RouteDataError(
            f"{given}: {what} leads out of the route folder {root_given} (to {resolved}); "
            "links out of a route folder are refused"
        )
    return resolved


_FILE_KINDS: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _require_regular(mode: int, label: object, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    raise RouteDataError(f"{label}: {what} is {kind}, not a regular file")


def _too_large(label: object, what: str, size: int | str, limit: int) -> RouteDataError:
    return RouteDataError(f"{label}: {what} is {size} bytes, more than the limit of {limit} bytes")


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, got {limit!r}")


def _label(path: StrPath, folder: StrPath | None) -> Path:
    return Path(path) if folder is None else Path(folder) / path


def read_bytes(
    path: StrPath, *, limit: int, folder: StrPath | None = None, what: str = "file"
) -> bytes:
    """Read a whole regular file of at most ``limit`` bytes.

    FIFOs, devices, sockets and directories are refused before any read (a FIFO
    is opened non-blocking, so this never waits for a writer); at most
    ``limit + 1`` bytes are ever read, so a file that grows or a link to
    ``/dev/zero`` costs no more than the cap.

    Args:
        path: The file; relative to ``folder`` when that is given.
        limit: Most bytes accepted (one of the ``MAX_*_BYTES`` caps).
        folder: The route folder: the path must resolve inside it (see
            :func:`resolve_inside`) and is opened without following a final
            link. ``None`` reads ``path`` as the caller named it.
        what: What the file is, for messages.

    Returns:
        The file's bytes.

    Raises:
        RouteDataError: if the file is missing, not a regular file, larger than
            ``limit``, outside ``folder`` or unreadable for any reason (every
            ``OSError`` is turned into one); the message names the file.
        ValueError: for a bad ``limit``.
    """
    _check_limit(limit)
    label = _label(path, folder)
    if folder is None:
        target = Path(path)
        follow = 0
    else:
        target = resolve_inside(folder, path, what=what)
        # The path is resolved: its last part must not become a link in the meantime.
        follow = getattr(os, "O_NOFOLLOW", 0)
    flags = (
        os.O_RDONLY
        | follow
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_NOCTTY", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        # stat first: a device or FIFO is refused without even being opened.
        info = os.stat(target)
        _require_regular(info.st_mode, label, what)
        if info.st_size > limit:
            raise _too_large(label, what, info.st_size, limit)
        fd = os.open(target, flags)
    except RouteDataError:
        raise
    except FileNotFoundError:
        raise RouteDataError(f"{label}: {what} is missing") from None
    except (OSError, ValueError) as err:
        raise RouteDataError(f"{label}: cannot open {what} ({_reason(err)})") from None
    chunks: list[bytes] = []
    try:
        # fstat again: the file opened is the one checked, whatever happened in between.
        info = os.fstat(fd)
        _require_regular(info.st_mode, label, what)
        if info.st_size > limit:
            raise _too_large(label, what, info.st_size, limit)
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as err:
        raise RouteDataError(f"{label}: cannot read {what} ({_reason(err)})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(label, what, f"more than {limit}", limit)
    return data


def read_text(
    path: StrPath, *, limit: int, folder: StrPath | None = None, what: str = "file"
) -> str:
    """Read a UTF-8 text file with :func:`read_bytes` (same arguments and caps).

    Raises:
        RouteDataError: for everything :func:`read_bytes` refuses, or if the
            bytes are not UTF-8 (names the file and the byte offset).
    """
    data = read_bytes(path, limit=limit, folder=folder, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RouteDataError(
            f"{_label(path, folder)}: {what} is not UTF-8 text (bad byte at offset {err.start})"
        ) from None


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


class _NumberRefusedError(Exception):
    """Raised by the JSON number hooks; turned into a RouteDataError by :func:`parse_json`."""


def _parse_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_JSON_INT_DIGITS:
        raise _NumberRefusedError(
            f"integer {text[:24]}... has {len(text)} characters, "
            f"more than {MAX_JSON_INT_DIGITS} digits"
        )
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise _NumberRefusedError(
            f"number {text[:24]}... is {len(text)} characters long, "
            f"more than {MAX_JSON_NUMBER_CHARS}"
        )
    value = float(text)
    if not math.isfinite(value):
        raise _NumberRefusedError(f"number {text[:40]} is out of range (it overflows a float)")
    return value


def _parse_constant(name: str) -> Any:
    raise _NumberRefusedError(f"{name} is not a number JSON allows (NaN and Infinity are refused)")


# Only a text with one of these can hold a number the hooks refuse: an integer of more
# than 20 digits, a float that overflows (its exponent or its digits run past 308) or an
# over-long literal. Without one, the (slower) number hooks are skipped.
_SUSPECT_NUMBER: Final = re.compile(r"[0-9]{21}|[eE][-+]?[0-9]{3}")
# A JSON string, or an unterminated one up to the end (so the scan stays linear on any text).
_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_CHUNK: Final = 1 << 20


def _deeper_than(text: str, max_depth: int) -> bool:
    """Whether the brackets outside strings nest deeper than ``max_depth`` (linear time)."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    structure = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = structure.translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return False
    codes = np.frombuffer(brackets, dtype=np.uint8)
    level = 0
    for start in range(0, codes.size, _DEPTH_CHUNK):
        chunk = codes[start : start + _DEPTH_CHUNK]
        opening = (chunk == ord("[")) | (chunk == ord("{"))
        depth = np.cumsum(opening.astype(np.int64) * 2 - 1) + level
        if int(depth.max()) > max_depth:
            return True
        level = int(depth[-1])
    return False


def parse_json(text: str, *, source: StrPath, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text from a stranger's file.

    Like :func:`json.loads`, but NaN and Infinity, integers of more than
    :data:`MAX_JSON_INT_DIGITS` digits, number literals longer than
    :data:`MAX_JSON_NUMBER_CHARS`, floats that overflow and nesting deeper than
    ``max_depth`` are refused. A leading byte-order mark is skipped.

    Args:
        text: The JSON text.
        source: The file it came from, for messages.
        max_depth: Deepest nesting of lists and objects accepted.

    Raises:
        RouteDataError: for invalid or refused JSON; the message starts with ``source``.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if _deeper_than(text, max_depth):
        raise RouteDataError(f"{source}: JSON nests deeper than {max_depth} levels")
    try:
        if _SUSPECT_NUMBER.search(text) is None:
            return json.loads(text, parse_constant=_parse_constant)
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except _NumberRefusedError as err:
        raise RouteDataError(f"{source}: {err}") from None
    except (ValueError, RecursionError) as err:
        raise RouteDataError(f"{source}: invalid JSON ({str(err)[:200]})") from None


def read_json(
    path: StrPath,
    *,
    limit: int,
    folder: StrPath | None = None,
    what: str = "JSON file",
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Read and parse a JSON file: :func:`read_text`, then :func:`parse_json`.

    Args:
        path: The file; relative to ``folder`` when that is given.
        limit: Most bytes accepted (:data:`MAX_ROUTE_FILE_BYTES`,
            :data:`MAX_METADATA_BYTES`, ...).
        folder: The route folder the path must stay in (see :func:`read_bytes`).
        what: What the file is, for messages.
        max_depth: Deepest nesting accepted.

    Raises:
        RouteDataError: if the file cannot be read or is not acceptable JSON
            (names the file).
    """
    text = read_text(path, limit=limit, folder=folder, what=what)
    return parse_json(text, source=_label(path, folder), max_depth=max_depth)


# ---------------------------------------------------------------------------
# gps_pano_mapping.pkl: a pickle read opcode by opcode
# ---------------------------------------------------------------------------


def check_pano_id(pano_id: object, *, source: StrPath) -> str:
    """Return ``pano_id`` if it is a safe id (see :data:`PANO_ID_PATTERN`).

    Raises:
        RouteDataError: otherwise; the message starts with ``source``.
    """
    if not isinstance(pano_id, str) or PANO_ID_PATTERN.fullmatch(pano_id) is None:
        shown = repr(pano_id[:40]) if isinstance(pano_id, str) else type(pano_id).__name__
        raise RouteDataError(
            f"{source}: pano id {shown} is not a safe file name "
            f"(1 to {MAX_PANO_ID_CHARS} letters, digits, '_' or '-')"
        )
    return pano_id


class _RefusedError(Exception):
    """A pickle is refused; the message lacks the file name (added by the caller)."""


# Longest string any string opcode may carry: a pano id (128) with room for the
# module and name of a global we refuse and want to name.
_MAX_PICKLE_STRING: Final = 256
# Longest text line of a protocol-0 opcode (raw-unicode-escape can take 6 bytes a character).
_MAX_PICKLE_LINE: Final = 1024
# The pickle module batches SETITEMS by 1000 pairs; a hand-written pickle may batch more.
_MAX_PICKLE_STACK: Final = 100_000
_MAX_PICKLE_MARKS: Final = 16
# Opcodes per inserted entry or stacked item: the pickle module needs at most 8.
_OPS_PER_ITEM: Final = 12

_FLOAT_LINE: Final = re.compile(
    rb"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)"
)
_INT_LINE: Final = re.compile(rb"[-+]?[0-9]{1,20}")
_LONG_LINE: Final = re.compile(rb"([-+]?[0-9]{1,20})L?")
_INDEX_LINE: Final = re.compile(rb"[0-9]{1,10}")

_FOUND: Final = {
    "EMPTY_LIST": "a list",
    "LIST": "a list",
    "APPEND": "a list",
    "APPENDS": "a list",
    "EMPTY_SET": "a set",
    "ADDITEMS": "a set",
    "FROZENSET": "a frozenset",
    "NONE": "None",
    "NEWTRUE": "a bool",
    "NEWFALSE": "a bool",
    "BINBYTES": "bytes",
    "SHORT_BINBYTES": "bytes",
    "BINBYTES8": "bytes",
    "BYTEARRAY8": "a bytearray",
    "NEXT_BUFFER": "an out-of-band buffer",
    "READONLY_BUFFER": "an out-of-band buffer",
    "PERSID": "a persistent id",
    "BINPERSID": "a persistent id",
    "REDUCE": "a function call (REDUCE)",
    "BUILD": "an object (BUILD)",
    "OBJ": "an object (OBJ)",
    "NEWOBJ": "an object (NEWOBJ)",
    "NEWOBJ_EX": "an object (NEWOBJ_EX)",
    "EXT1": "an extension-registry global",
    "EXT2": "an extension-registry global",
    "EXT4": "an extension-registry global",
}


_OPCODE_NAMES: Final = {ord(op.code): op.name for op in pickletools.opcodes}


def _opcode_name(code: int) -> str:
    return _OPCODE_NAMES.get(code, f"0x{code:02x}")


def _preview(value: object) -> str:
    # Values here are flat: numbers, strings of <= 256 bytes, tuples of <= 2 of those.
    return repr(value)[:80]


def _type_name(value: object) -> str:
    return type(value).__name__


class _PickleReader:
    """A tiny pickle machine that can build only ``{(number, number): str}``.

    The hot opcodes (those :func:`pickle.dump` writes for such a dict) are
    handled inline in :meth:`run`; the rest go through :meth:`rare`.
    """

    def __init__(self, data: bytes, max_entries: int) -> None:
        self.data = data
        self.size = len(data)
        self.pos = 0
        self.max_entries = max_entries
        self.result: dict[tuple[float, float], str] | None = None
        self.inserted = 0
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}

    # -- argument readers (they advance self.pos) ------------------------------

    def truncated(self, kind: str, at: int) -> _RefusedError:
        return _RefusedError(f"not a readable pickle (it ends inside {kind} at byte {at})")

    def take(self, count: int, kind: str) -> bytes:
        pos = self.pos
        if count < 0:
            raise _RefusedError(f"not a readable pickle (negative length of {kind} at byte {pos})")
        end = pos + count
        if end > self.size:
            raise _RefusedError(
                f"not a readable pickle (it ends inside {kind} at byte {pos}: "
                f"{count} bytes announced, {self.size - pos} left)"
            )
        self.pos = end
        return self.data[pos:end]

    def sized(self, count: int, kind: str, cap: int) -> bytes:
        if count > cap:
            raise _RefusedError(
                f"{kind} of {count} bytes at byte {self.pos} is longer than {cap} bytes "
                "(a pano mapping holds only coordinates and short ids)"
            )
        return self.take(count, kind)

    def line(self, kind: str) -> bytes:
        data, pos = self.data, self.pos
        end = data.find(b"\n", pos, pos + _MAX_PICKLE_LINE + 1)
        if end < 0:
            if pos + _MAX_PICKLE_LINE + 1 >= self.size:
                raise self.truncated(kind, pos)
            raise _RefusedError(f"{kind} at byte {pos} is longer than {_MAX_PICKLE_LINE} bytes")
        self.pos = end + 1
        return data[pos:end]

    def uint(self, size: int, kind: str) -> int:
        return int.from_bytes(self.take(size, kind), "little")

    def sint4(self, kind: str) -> int:
        return int.from_bytes(self.take(4, kind), "little", signed=True)

    def index_line(self, kind: str, at: int) -> int:
        raw = self.line(kind)
        if _INDEX_LINE.fullmatch(raw) is None:
            raise _RefusedError(f"not a readable pickle (bad {kind} at byte {at})")
        return int(raw)

    @staticmethod
    def text(raw: bytes, encoding: str, at: int) -> str:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            raise _RefusedError(
                f"not a readable pickle (a string at byte {at} is not {encoding})"
            ) from None

    # -- the dict ----------------------------------------------------------------

    def insert(self, key: object, value: object) -> None:
        if type(key) is not tuple or len(key) != 2:
            raise _RefusedError(f"key {_preview(key)} is not a (lat, lng) pair")
        first, second = type(key[0]), type(key[1])
        if not ((first is float or first is int) and (second is float or second is int)):
            raise _RefusedError(f"key {_preview(key)} is not a (lat, lng) pair")
        lat, lng = float(key[0]), float(key[1])
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            raise _RefusedError(
                f"key {_preview(key)} is not a (lat, lng) pair: latitude must be in "
                "[-90, 90] and longitude in [-180, 180]"
            )
        if type(value) is not str:
            raise _RefusedError(
                f"the pano id of ({lat}, {lng}) must be a string, got {_type_name(value)}"
            )
        if PANO_ID_PATTERN.fullmatch(value) is None:
            raise _RefusedError(
                f"pano id {value[:40]!r} of ({lat}, {lng}) is not a safe file name "
                f"(1 to {MAX_PANO_ID_CHARS} letters, digits, '_' or '-')"
            )
        self.inserted += 1
        if self.inserted > self.max_entries:
            raise _RefusedError(f"holds more than {self.max_entries} entries")
        assert self.result is not None
        # Reuse the key the pickle built when it is already (float, float): one tuple, not two.
        self.result[key if first is float and second is float else (lat, lng)] = value

    def insert_pairs(self, items: list[Any], at: int) -> None:
        if len(items) % 2:
            raise _RefusedError(f"not a readable pickle (a key without a value at byte {at})")
        for index in range(0, len(items), 2):
            self.insert(items[index], items[index + 1])

    def new_dict(self, at: int) -> dict[tuple[float, float], str]:
        if self.result is not None:
            raise _RefusedError(
                f"a second dict at byte {at}: a pano mapping is one flat dict "
                "{(lat, lng): pano_id}, nested containers are refused"
            )
        self.result = {}
        return self.result

    def require_dict(self, at: int) -> None:
        if not self.stack or self.result is None or self.stack[-1] is not self.result:
            raise _RefusedError(f"not a readable pickle (items set on no dict at byte {at})")

    def pop_mark(self, kind: str, at: int) -> list[Any]:
        if not self.marks:
            raise _RefusedError(f"not a readable pickle ({kind} without MARK at byte {at})")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def pop_items(self, count: int, at: int) -> list[Any]:
        start = len(self.stack) - count
        if start < (self.marks[-1] if self.marks else 0):
            raise _RefusedError(f"not a readable pickle (stack underflow at byte {at})")
        items = self.stack[start:]
        del self.stack[start:]
        return items

    @staticmethod
    def tuple_of(items: list[Any], at: int) -> tuple[Any, ...]:
        for item in items:
            if type(item) is tuple or type(item) is dict:
                raise _RefusedError(
                    f"a tuple at byte {at} holds a {_type_name(item)}: a pano mapping's keys "
                    "are flat (lat, lng) pairs, nested containers are refused"
                )
        if len(items) > 2:
            raise _RefusedError(f"key {_preview(tuple(items))} is not a (lat, lng) pair")
        return tuple(items)

    def memo_get(self, index: int, at: int) -> None:
        if index not in self.memo:
            raise _RefusedError(f"not a readable pickle (memo {index} is unset at byte {at})")
        value = self.memo[index]
        if type(value) is dict:
            raise _RefusedError(
                f"the dict refers to itself at byte {at}: a pano mapping is one flat dict"
            )
        self.stack.append(value)

    def memo_put(self, index: int, at: int) -> None:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise _RefusedError(f"not a readable pickle (memo of nothing at byte {at})")
        self.memo[index] = self.stack[-1]
        if len(self.memo) > 4 * self.max_entries + 64:
            raise _RefusedError(f"more than {4 * self.max_entries + 64} memo entries")

    # -- the machine ---------------------------------------------------------------

    def rare(self, code: int, at: int) -> dict[tuple[float, float], str] | None:
        """Run one opcode that :meth:`run` does not inline; the dict at STOP, else None."""
        stack = self.stack
        if code == 0x8D:  # BINUNICODE8
            raw = self.sized(self.uint(8, "a length"), "a string", _MAX_PICKLE_STRING)
            stack.append(self.text(raw, "utf-8", at))
        elif code == 0x4D:  # BININT2
            stack.append(self.uint(2, "BININT2"))
        elif code == 0x4A:  # BININT
            stack.append(self.sint4("BININT"))
        elif code == 0x8A or code == 0x8B:  # LONG1, LONG4
            count = self.uint(1, "a length") if code == 0x8A else self.sint4("a length")
            raw = self.sized(count, "an integer", 8)
            stack.append(int.from_bytes(raw, "little", signed=True))
        elif code == 0x46:  # FLOAT
            raw = self.line("FLOAT")
            if _FLOAT_LINE.fullmatch(raw) is None:
                raise _RefusedError(f"not a readable pickle (bad FLOAT at byte {at})")
            stack.append(float(raw))
        elif code == 0x49:  # INT
            raw = self.line("INT")
            if raw in (b"00", b"01"):
                raise _RefusedError(f"expected numbers and strings, found a bool at byte {at}")
            if _INT_LINE.fullmatch(raw) is None:
                raise _RefusedError(
                    f"not a readable pickle (bad INT at byte {at}; at most 20 digits)"
                )
            stack.append(int(raw))
        elif code == 0x4C:  # LONG
            match = _LONG_LINE.fullmatch(self.line("LONG"))
            if match is None:
                raise _RefusedError(
                    f"not a readable pickle (bad LONG at byte {at}; at most 20 digits)"
                )
            stack.append(int(match.group(1)))
        elif code == 0x56:  # UNICODE
            stack.append(self.text(self.line("UNICODE"), "raw-unicode-escape", at))
        elif code == 0x53:  # STRING (a Python 2 str)
            raw = self.line("STRING")
            if len(raw) < 2 or raw[0] not in b"'\"" or raw[-1] != raw[0]:
                raise _RefusedError(f"not a readable pickle (bad STRING at byte {at})")
            try:
                unescaped = codecs.escape_decode(raw[1:-1])[0]
            except ValueError:
                raise _RefusedError(f"not a readable pickle (bad STRING at byte {at})") from None
            stack.append(self.text(unescaped, "ascii", at))
        elif code == 0x55 or code == 0x54:  # SHORT_BINSTRING, BINSTRING
            count = self.uint(1, "a length") if code == 0x55 else self.sint4("a length")
            raw = self.sized(count, "a string", _MAX_PICKLE_STRING)
            stack.append(self.text(raw, "ascii", at))
        elif code == 0x74:  # TUPLE
            stack.append(self.tuple_of(self.pop_mark("TUPLE", at), at))
        elif code == 0x85 or code == 0x87 or code == 0x29:  # TUPLE1, TUPLE3, EMPTY_TUPLE
            count = {0x85: 1, 0x87: 3, 0x29: 0}[code]
            stack.append(self.tuple_of(self.pop_items(count, at), at))
        elif code == 0x73:  # SETITEM
            key, value = self.pop_items(2, at)
            self.require_dict(at)
            self.insert(key, value)
        elif code == 0x7D:  # EMPTY_DICT
            stack.append(self.new_dict(at))
        elif code == 0x64:  # DICT
            items = self.pop_mark("DICT", at)
            stack.append(self.new_dict(at))
            self.insert_pairs(items, at)
        elif code == 0x72:  # LONG_BINPUT
            self.memo_put(self.uint(4, "LONG_BINPUT"), at)
        elif code == 0x70:  # PUT
            self.memo_put(self.index_line("PUT", at), at)
        elif code == 0x6A:  # LONG_BINGET
            self.memo_get(self.uint(4, "LONG_BINGET"), at)
        elif code == 0x67:  # GET
            self.memo_get(self.index_line("GET", at), at)
        elif code == 0x80:  # PROTO
            protocol = self.uint(1, "PROTO")
            if protocol > 5:
                raise _RefusedError(f"unsupported pickle protocol {protocol}")
        elif code == 0x95:  # FRAME
            length = self.uint(8, "FRAME")
            if length > self.size - self.pos:
                raise _RefusedError(
                    f"not a readable pickle (a frame of {length} bytes at byte {at} "
                    f"overruns the file's {self.size - self.pos} remaining bytes)"
                )
        elif code == 0x2E:  # STOP
            if self.marks or len(stack) != 1:
                raise _RefusedError(f"not a readable pickle (unbalanced stack at STOP, byte {at})")
            top = stack[0]
            if type(top) is not dict:
                raise _RefusedError(
                    f"expected a dict {{(lat, lng): pano_id}}, got {_type_name(top)}"
                )
            assert top is self.result
            return self.result
        else:
            self.refuse(code, at)
        return None

    def refuse(self, code: int, at: int) -> None:
        """Raise the error for an opcode a pano mapping never holds."""
        if code == 0x63 or code == 0x69:  # GLOBAL, INST
            module = self.line("a module name").decode("utf-8", "replace")
            name = self.line("a global name").decode("utf-8", "replace")
            raise _RefusedError(f"refused global {module[:80]}.{name[:80]} at byte {at}")
        stack = self.stack
        if code == 0x93:  # STACK_GLOBAL
            if len(stack) >= 2 and type(stack[-1]) is str and type(stack[-2]) is str:
                raise _RefusedError(
                    f"refused global {stack[-2][:80]}.{stack[-1][:80]} at byte {at}"
                )
            raise _RefusedError(f"refused global (STACK_GLOBAL) at byte {at}")
        name = _opcode_name(code)
        found = _FOUND.get(name)
        if found is not None and self.result is None:
            raise _RefusedError(
                f"expected a dict {{(lat, lng): pano_id}}, found {found} "
                f"(opcode {name} at byte {at})"
            )
        if found is not None:
            raise _RefusedError(
                f"found {found} at byte {at} (opcode {name}): a pano mapping holds "
                "only (lat, lng) pairs and id strings"
            )
        raise _RefusedError(f"not a readable pickle (opcode {name} at byte {at} is refused)")

    def run(self) -> dict[tuple[float, float], str]:
        """Run the opcodes up to STOP and return the dict."""
        data, size = self.data, self.size
        if size == 0:
            raise _RefusedError("not a readable pickle (the file is empty)")
        stack, marks, memo = self.stack, self.marks, self.memo
        push = stack.append
        unpack_double = struct.Struct(">d").unpack_from
        max_string = _MAX_PICKLE_STRING
        pos = 0
        ops = 0
        budget = 64
        while True:
            if pos >= size:
                raise _RefusedError("not a readable pickle (it ends before its STOP opcode)")
            at = pos
            code = data[pos]
            pos += 1
            ops += 1
            if ops > budget:
                # Every opcode the pickle module writes builds part of an entry; a stream
                # that spins (memo puts, frames, empty marks) or piles up items is refused.
                budget = min(64 + _OPS_PER_ITEM * (self.inserted + len(stack)), ops + 4096)
                if ops > budget:
                    raise _RefusedError(
                        f"not a pano mapping: the opcodes before byte {at} build nothing "
                        "(the pickle module never writes such a stream)"
                    )
                if len(stack) > _MAX_PICKLE_STACK:
                    raise _RefusedError(
                        f"more than {_MAX_PICKLE_STACK} items wait on the stack at byte {at}"
                    )
            if code == 0x47:  # BINFLOAT
                if pos + 8 > size:
                    raise self.truncated("BINFLOAT", at)
                push(unpack_double(data, pos)[0])
                pos += 8
            elif code == 0x94:  # MEMOIZE
                if len(stack) <= (marks[-1] if marks else 0):
                    raise _RefusedError(f"not a readable pickle (memo of nothing at byte {at})")
                memo[len(memo)] = stack[-1]
            elif code == 0x86:  # TUPLE2
                if len(stack) - 2 < (marks[-1] if marks else 0):
                    raise _RefusedError(f"not a readable pickle (stack underflow at byte {at})")
                second = stack.pop()
                first = stack[-1]
                kinds = (type(first), type(second))
                if tuple in kinds or dict in kinds:
                    stack.append(second)
                    self.pos = pos
                    self.tuple_of(self.pop_items(2, at), at)  # raises the nesting error
                stack[-1] = (first, second)
            elif code == 0x8C or code == 0x58:  # SHORT_BINUNICODE, BINUNICODE
                width = 1 if code == 0x8C else 4
                if pos + width > size:
                    raise self.truncated("a length", at)
                count = int.from_bytes(data[pos : pos + width], "little")
                pos += width
                if count > max_string:
                    self.pos = pos
                    self.sized(count, "a string", max_string)
                if pos + count > size:
                    raise self.truncated("a string", at)
                push(self.text(data[pos : pos + count], "utf-8", at))
                pos += count
            elif code == 0x71 or code == 0x68 or code == 0x4B:  # BINPUT, BINGET, BININT1
                if pos >= size:
                    raise self.truncated("an argument", at)
                argument = data[pos]
                pos += 1
                if code == 0x4B:
                    push(argument)
                elif code == 0x71:
                    self.memo_put(argument, at)
                else:
                    self.memo_get(argument, at)
            elif code == 0x28:  # MARK
                if len(marks) >= _MAX_PICKLE_MARKS:
                    raise _RefusedError(f"more than {_MAX_PICKLE_MARKS} nested MARKs at byte {at}")
                marks.append(len(stack))
            elif code == 0x75:  # SETITEMS (empty ones happen: the C pickler ends exact batches so)
                items = self.pop_mark("SETITEMS", at)
                self.require_dict(at)
                self.insert_pairs(items, at)
            else:
                self.pos = pos
                result = self.rare(code, at)
                if result is not None:
                    return result
                pos = self.pos


def parse_pano_mapping(
    data: bytes, *, source: StrPath, max_entries: int = MAX_PANO_ENTRIES
) -> dict[tuple[float, float], str]:
    """Build ``{(lat, lng): pano_id}`` from pickle bytes, without unpickling.

    The opcodes are read one by one and only those that build one flat dict of
    ``(number, number)`` keys and string values are accepted (protocols 0 to 5,
    as :func:`pickle.dump` writes such a dict, memo references included). Any
    global, call, object, list, set, bytes, bool, None, nested container or
    over-long string is refused on sight, so nothing runs, no nested key can
    make hashing explode, and time and memory stay proportional to the input.

    Keys must be finite with latitude in ``[-90, 90]`` and longitude in
    ``[-180, 180]``; they are returned as floats. Ids must match
    :data:`PANO_ID_PATTERN` (they become file names).

    Args:
        data: The pickle.
        source: The file it came from, for messages.
        max_entries: Most insertions accepted.

    Raises:
        RouteDataError: for anything else; the message starts with ``source``.
    """
    try:
        return _PickleReader(data, max_entries).run()
    except _RefusedError as err:
        raise RouteDataError(f"{source}: {err}") from None


def load_pano_mapping(
    path: StrPath,
    *,
    limit: int = MAX_PANO_MAPPING_BYTES,
    max_entries: int = MAX_PANO_ENTRIES,
) -> dict[tuple[float, float], str]:
    """Read ``gps_pano_mapping.pkl`` safely (see :func:`parse_pano_mapping`).

    Args:
        path: The pickle file, or a route folder that holds ``gps_pano_mapping.pkl``
            (then the file must resolve inside the folder).
        limit: Most bytes accepted. Default :data:`MAX_PANO_MAPPING_BYTES`.
        max_entries: Most entries accepted. Default :data:`MAX_PANO_ENTRIES`.

    Returns:
        The mapping, with float keys.

    Raises:
        RouteDataError: if the file is missing, unreadable, too large, or not
            exactly a dict of ``(lat, lng)`` -> safe id (names the file).
    """
    given = Path(path)
    what = "pano mapping"
    if given.is_dir():
        data = read_bytes(PANO_MAPPING_FILE, limit=limit, folder=given, what=what)
        source = given / PANO_MAPPING_FILE
    else:
        data = read_bytes(given, limit=limit, what=what)
        source = given
    return parse_pano_mapping(data, source=source, max_entries=max_entries)


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------


def _check_cap(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def open_image(
    path: StrPath,
    *,
    max_side: int = MAX_IMAGE_SIDE,
    max_pixels: int = MAX_IMAGE_PIXELS,
    limit: int = MAX_PANORAMA_BYTES,
    folder: StrPath | None = None,
    what: str = "image",
    draft_width: int | None = None,
    mode: str | None = None,
) -> Image.Image:
    """Open, check and decode a JPEG or PNG file.

    The bytes are read with :func:`read_bytes` (so the file is regular, inside
    ``folder`` and at most ``limit`` bytes); only the JPEG and PNG decoders are
    tried, so a file in any other format (PostScript, which Pillow would hand to
    Ghostscript, among them) is refused whatever its name. The width and height
    are checked against ``max_side`` and the pixels to decode against
    ``max_pixels`` from the header, before any decoding. Pillow's global
    settings are left alone.

    Args:
        path: The image; relative to ``folder`` when that is given.
        max_side: Longest side accepted in the header. Default :data:`MAX_IMAGE_SIDE`.
        max_pixels: Most pixels decoded. Default :data:`MAX_IMAGE_PIXELS`.
        limit: Most bytes read. Default :data:`MAX_PANORAMA_BYTES`.
        folder: The route folder the path must stay in.
        what: What the file is, for messages.
        draft_width: For a JPEG wider than this, decode at the smallest of 1/2,
            1/4 or 1/8 scale that keeps it at least this wide (fast, and the
            pixel cap applies to the reduced size). ``None`` decodes at full size.
        mode: Convert the decoded image to this Pillow mode (``"RGB"``); ``None``
            keeps the file's mode.

    Returns:
        The decoded image (no file stays open).

    Raises:
        RouteDataError: if the file cannot be read, is not a JPEG or PNG, is too
            large, or fails to decode (names the file).
        ValueError: for a bad cap.
    """
    _check_cap("max_side", max_side)
    _check_cap("max_pixels", max_pixels)
    if draft_width is not None:
        _check_cap("draft_width", draft_width)
    data = read_bytes(path, limit=limit, folder=folder, what=what)
    label = _label(path, folder)
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        raise RouteDataError(f"{label}: {what} is not a JPEG or PNG image") from None
    except Image.DecompressionBombError as err:
        raise RouteDataError(f"{label}: {what} declares too many pixels ({err})") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError, struct.error) as err:
        raise RouteDataError(f"{label}: cannot read {what} ({_reason(err)})") from None
    try:
        width, height = image.size
        if not (1 <= width <= max_side and 1 <= height <= max_side):
            raise RouteDataError(
                f"{label}: {what} is {width}x{height} pixels; each side must be "
                f"between 1 and {max_side}"
            )
        if draft_width is not None and image.format in ("JPEG", "MPO") and width > draft_width:
            target = (draft_width, max(1, round(height * draft_width / width)))
            image.draft(mode if mode in ("RGB", "L") else None, target)
            width, height = image.size
        if width * height > max_pixels:
            raise RouteDataError(
                f"{label}: {what} is {width}x{height} = {width * height} pixels to decode, "
                f"more than the limit of {max_pixels}"
            )
        image.load()
        if mode is not None and image.mode != mode:
            image = image.convert(mode)
    except RouteDataError:
        image.close()
        raise
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, EOFError, struct.error) as err:
        image.close()
        raise RouteDataError(f"{label}: cannot decode {what} ({_reason(err)})") from None
    return image
