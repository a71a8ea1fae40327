r"""Read and write the V-IRL route data format (``route_infos.json``, ``gps_pano_mapping.pkl``).

The format is described in the project's ``VIRL_DATA.md``. Real V-IRL routes and
procedural routes share it: :func:`load_routes` turns a file into
:class:`~navenvs.model.Route` objects and :func:`dump_routes` writes routes back
so that :func:`load_routes` reads them again.

Everything read here is data. ``route_infos.json`` is read with :mod:`json` and
its ``milestone_info`` blob (pseudo-JSON blocks with trailing commas) with a
small hand-written scanner, :func:`parse_milestone_info`. The pano mapping
pickle is read with an unpickler that refuses every global, so a pickle from
the internet cannot run code.

The convention (``VIRL_DATA.md``): the rail points are ``P0`` (the start's
``relocated_geocode``) and ``geocode_list`` (``P1 .. Pn``, ``Pn`` the
destination); ``milestone_info`` holds one block per leg, and block ``k`` is the
leg that *starts* at ``Pk``: its ``to_next_intersection_heading`` is the turn
made at ``Pk`` (the last block's is the last leg's heading), its ``distance``
the leg's length and its ``landmarks`` the sentence seen on *arriving* at
``P(k+1)``. That sentence is kept verbatim (:attr:`Milestone.landmark_text`) and
is what the agent observes there, so instruction and observations agree.

Choices where the format is loose:

* The top level is ``[routes, count]`` (``count`` is ignored) or one route object.

* ``init_heading`` 0 means "random" (``None``). A route whose initial heading
  really is north is written as 360, which reads back as 0.0.
* The start and destination are placed at ``relocated_geocode`` when present;
  their original ``geocode`` is kept in ``Place.extra["geocode"]`` and written back.
* ``milestone_info`` strings may contain ``\"`` escapes. Quotes that real files
  leave unescaped are tolerated too: inside a value, a ``"`` only closes the
  string when a ``,``, ``}``, a line break or the end of the text follows it.
* Landmark relations are normalised (lower case, single spaces, "front left"
  -> "left front") but not restricted to :data:`navenvs.geo.RELATIONS`.
* Legs are straight segments between rail points, as in the reference. A
  procedural route whose streets bend is written with an extra
  ``route_results.leg_polylines`` (one ``[[lat, lng], ...]`` per leg; other
  readers ignore it) so that it reads back with the same rail.
* ``human_heading`` of block ``k + 1`` is the heading faced on arriving at
  ``P(k+1)``; the one of block 0 (the initial heading) is not used:
  ``init_heading`` is.
* The compass word in ``to_next_intersection_heading`` names the expert's turn
  when it is one of the 8 words; otherwise the word is computed from the number.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from navenvs import files, geo
from navenvs.files import PANO_MAPPING_FILE, RouteDataError
from navenvs.model import Milestone, Place, Route
from oodgym.atomic import write_text_atomic

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_ROUTE_LEGS",
    "MAX_SENTENCE_CHARS",
    "PANO_MAPPING_FILE",
    "ROUTE_FILE",
    "RouteDataError",
    "clean_text",
    "dump_routes",
    "format_milestone_info",
    "load_pano_mapping",
    "load_routes",
    "nearest_pano",
    "parse_milestone_info",
]

#: File name of the route list inside a V-IRL route folder.
ROUTE_FILE: Final = "route_infos.json"

_NO_LANDMARK: Final = "No landmark nearby"
#: Place record keys that map onto :class:`Place` attributes (everything else goes to ``extra``).
_PLACE_ATTRS: Final = frozenset(
    {"name", "geocode", "rating", "place_id", "n_reviews", "place_types"}
)
_WALKING_SPEED: Final = 1.4  # metres per second, for the written time_list
# Sane ranges: numbers outside them are refused (a heading is a bearing, a leg is
# at most 10,000 km, ratings are on a 0-5 scale with room to spare).
_MAX_HEADING: Final = 1_000_000.0
_MAX_DISTANCE: Final = 1e7
_MAX_RATING: Final = 100
_MAX_REVIEWS: Final = 10**12

#: Most legs (points of ``geocode_list``) a loaded route may have. V-IRL routes have
#: 2-3 (the mini benchmark) to about 10 (NYC training routes); 32 keeps the
#: instruction (2 sentences per leg) well inside the prompt's 32,768 characters.
MAX_ROUTE_LEGS: Final = 32
#: Longest place name (characters) a loaded route may hold: far above any real shop
#: or street name, small enough that a full instruction fits the prompt.
MAX_NAME_CHARS: Final = 160
#: Longest landmark sentence of a block ("<name> is on your <relation>", the
#: destination's with "The destination " before it).
MAX_SENTENCE_CHARS: Final = MAX_NAME_CHARS + 60
#: Characters removed from names and sentences: controls (C0, C1, DEL) and the
#: bidirectional overrides/isolates/marks that can make a prompt or a terminal
#: show text in another order than it is read.
_UNSAFE_CHARS: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def clean_text(text: str) -> str:
    """``text`` without control or bidi-control characters, whitespace runs made one space.

    Example:
        >>> clean_text("Tea " + chr(0x202E) + "Room" + chr(10) + " 2")
        'Tea Room 2'
    """
    return " ".join(_UNSAFE_CHARS.sub(" ", text).split())


# ---------------------------------------------------------------------------
# milestone_info: pseudo-JSON blocks
# ---------------------------------------------------------------------------

_WS: Final = frozenset(" \t\r\n\ufeff")
_STRING_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "'": "'",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def _closes_value(text: str, pos: int) -> bool:
    """Whether the quote at ``pos`` ends a value: a ``,``, ``}``, line break or the end follows."""
    n = len(text)
    j = pos + 1
    while j < n and text[j] in " \t":
        j += 1
    return j >= n or text[j] in ",}\r\n"


def _read_hex4(text: str, pos: int) -> int | None:
    digits = text[pos : pos + 4]
    if len(digits) == 4 and all(c in _HEX for c in digits):
        return int(digits, 16)
    return None


def _read_string(text: str, pos: int, *, is_key: bool) -> tuple[str, int]:
    """Read the double-quoted string whose opening quote is at ``pos``.

    Returns the unescaped string and the position after its closing quote.
    """
    n = len(text)
    start = pos
    pos += 1
    out: list[str] = []
    while pos < n:
        ch = text[pos]
        if ch == '"':
            if is_key or _closes_value(text, pos):
                return "".join(out), pos + 1
            out.append(ch)  # an unescaped quote inside a value
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 >= n:
                break
            nxt = text[pos + 1]
            if nxt == "u":
                code = _read_hex4(text, pos + 2)
                if code is not None:
                    pos += 6
                    if 0xD800 <= code < 0xDC00 and text.startswith("\\u", pos):
                        low = _read_hex4(text, pos + 2)
                        if low is not None and 0xDC00 <= low < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            pos += 6
                    out.append(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd")
                    continue
            escaped = _STRING_ESCAPES.get(nxt)
            out.append(escaped if escaped is not None else "\\" + nxt)
            pos += 2
            continue
        out.append(ch)
        pos += 1
    raise RouteDataError(f"milestone_info: unterminated string starting at character {start}")


_BARE_KEY_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- "
)


def _normalize_key(key: str) -> str:
    return "_".join(key.strip().lower().replace("-", " ").split())


def parse_milestone_info(text: str) -> list[dict[str, str]]:
    """Parse the ``milestone_info`` blob: concatenated ``{ "key": "value", ... }`` blocks.

    Trailing commas, missing commas and whitespace anywhere are tolerated;
    values are double-quoted strings (with JSON-style backslash escapes) or bare
    tokens that run to the next ``,``, ``}`` or line break. Keys are normalised
    to lower case with underscores.

    Args:
        text: The blob.

    Returns:
        One dict of strings per block, in order.

    Raises:
        RouteDataError: if the blob is not a string or not made of such blocks.
    """
    if not isinstance(text, str):
        raise RouteDataError(f"milestone_info must be a string, got {type(text).__name__}")
    blocks: list[dict[str, str]] = []
    n = len(text)
    pos = 0
    while True:
        while pos < n and (text[pos] in _WS or text[pos] == ","):
            pos += 1
        if pos >= n:
            return blocks
        if text[pos] != "{":
            raise RouteDataError(
                f"milestone_info: expected '{{' at character {pos}, found {text[pos : pos + 20]!r}"
            )
        pos += 1
        block: dict[str, str] = {}
        while True:
            pos = _skip_ws(text, pos)
            if pos >= n:
                raise RouteDataError(f"milestone_info: block {len(blocks)} is not closed")
            ch = text[pos]
            if ch == "}":
                pos += 1
                break
            if ch == ",":
                pos += 1
                continue
            if ch == '"':
                key, pos = _read_string(text, pos, is_key=True)
            elif ch.isalpha() or ch == "_":
                key_start = pos
                while pos < n and text[pos] in _BARE_KEY_CHARS:
                    pos += 1
                key = text[key_start:pos]
            else:
                raise RouteDataError(
                    f"milestone_info: block {len(blocks)}: expected a key at character {pos}, "
                    f"found {text[pos : pos + 20]!r}"
                )
            pos = _skip_ws(text, pos)
            if pos >= n or text[pos] != ":":
                raise RouteDataError(
                    f"milestone_info: block {len(blocks)}: expected ':' after key {key!r}"
                )
            pos = _skip_ws(text, pos + 1)
            if pos < n and text[pos] == '"':
                value, pos = _read_string(text, pos, is_key=False)
            else:
                value_start = pos
                while pos < n and text[pos] not in ",}\r\n":
                    pos += 1
                value = text[value_start:pos].strip()
                if not value:
                    raise RouteDataError(
                        f"milestone_info: block {len(blocks)}: key {key!r} has no value"
                    )
            block[_normalize_key(key)] = value
        blocks.append(block)


def _quote(text: str) -> str:
    """A double-quoted string that :func:`parse_milestone_info` reads back as ``text``."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or 0xD800 <= ord(ch) < 0xE000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_milestone_info(blocks: Sequence[Mapping[str, str]]) -> str:
    """Write blocks in the V-IRL style (one ``"key": "value",`` per line, trailing commas).

    Example:
        >>> print(format_milestone_info([{"human_heading": "90"}]))
        {
        "human_heading": "90",
        }
    """
    parts = []
    for block in blocks:
        lines = ["{"]
        lines.extend(f"{_quote(str(key))}: {_quote(str(value))}," for key, value in block.items())
        lines.append("}")
        parts.append("\n".join(lines))
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# field parsers (raise RouteDataError with a context; the caller adds file and route)
# ---------------------------------------------------------------------------

_HEADING_RE: Final = re.compile(
    r"(-?\d{1,9}(?:\.\d{1,9})?)(?:[ \t]{0,4}(?:°|deg|degrees))?"
    r"(?:[ \t]{0,4}\([ \t]{0,4}([A-Za-z][A-Za-z \-]{0,20})\))?",
    re.IGNORECASE,
)
_DISTANCE_RE: Final = re.compile(
    r"(\d{1,12}(?:\.\d{1,9})?)[ \t]{0,4}(m|meters?|metres?|km|kilometers?|kilometres?)?",
    re.IGNORECASE,
)
_IS_ON_YOUR: Final = re.compile(r"\bis\s{1,8}on\s{1,8}your\b", re.IGNORECASE)
_NO_LANDMARK_RE: Final = re.compile(r"no\s{1,8}landmarks?\s{1,8}nearby[\s.;]{0,8}", re.IGNORECASE)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _heading(value: object, context: str) -> float:
    """A heading in ``[0, 360)`` from a number or a string like ``"212 (southwest)"``."""
    if _is_number(value):
        number = float(value)  # type: ignore[arg-type]
    elif isinstance(value, str):
        match = _HEADING_RE.fullmatch(value.strip())
        if match is None:
            raise RouteDataError(f"{context}: cannot read heading {value[:40]!r}")
        number = float(match.group(1))
    else:
        raise RouteDataError(f"{context}: heading must be a string, got {type(value).__name__}")
    if not math.isfinite(number) or abs(number) > _MAX_HEADING:
        raise RouteDataError(f"{context}: heading {str(value)[:40]!r} is not a bearing")
    return number % 360.0


def _distance(value: object, context: str) -> float | None:
    """Metres from ``"159 meters"``/``"0.2 km"``/a number; ``None`` if unreadable."""
    if _is_number(value):
        number = float(value)  # type: ignore[arg-type]
    elif isinstance(value, str):
        match = _DISTANCE_RE.fullmatch(value.strip())
        if match is None:
            return None
        number = float(match.group(1))
        if (match.group(2) or "m").lower().startswith("k"):
            number *= 1000.0
    else:
        return None
    return number if math.isfinite(number) and 0 <= number <= _MAX_DISTANCE else None


def _normalize_relation(text: str) -> str:
    words = text.strip().rstrip(".;!").lower().replace("-", " ").replace("_", " ").split()
    relation = " ".join(words)
    if relation not in geo.RELATIONS and len(words) == 2:
        swapped = f"{words[1]} {words[0]}"
        if swapped in geo.RELATIONS:
            return swapped
    return relation


def _landmark_relation(text: object, context: str) -> str | None:
    """The relation of a ``landmarks`` text, ``None`` for "No landmark nearby"."""
    if not isinstance(text, str):
        raise RouteDataError(f"{context}: landmarks must be a string")
    stripped = text.strip()
    if _NO_LANDMARK_RE.fullmatch(stripped):
        return None
    last = None
    for last in _IS_ON_YOUR.finditer(stripped):  # noqa: B007 - the last match is wanted
        pass
    if last is None:
        raise RouteDataError(
            f"{context}: cannot read landmarks {stripped[:60]!r} "
            "(expected '<name> is on your <relation>' or 'No landmark nearby')"
        )
    relation = _normalize_relation(stripped[last.end() :])
    if not relation:
        raise RouteDataError(f"{context}: landmarks {stripped[:60]!r} has no relation")
    return relation


def _mapping(value: object, context: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RouteDataError(f"{context} must be an object, got {type(value).__name__}")
    return value


def _require(record: Mapping[str, Any], key: str, context: str) -> Any:
    if key not in record:
        raise RouteDataError(f"{context} has no {key!r}")
    return record[key]


def _latlng(value: object, context: str) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(_is_number(v) and math.isfinite(v) for v in value)
    ):
        raise RouteDataError(f"{context} is not two numbers: {str(value)[:60]}")
    lat, lng = float(value[0]), float(value[1])
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        raise RouteDataError(f"{context} is out of range: {[lat, lng]}")
    return lat, lng


def _place(value: object, context: str, *, relocate: bool = False) -> Place:
    record = _mapping(value, context)
    name = _require(record, "name", context)
    if not isinstance(name, str):
        raise RouteDataError(f"{context}.name must be a string, got {type(name).__name__}")
    name = clean_text(name)
    if not name:
        raise RouteDataError(f"{context}.name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise RouteDataError(
            f"{context}.name has {len(name)} characters; the limit is {MAX_NAME_CHARS}"
        )
    lat, lng = _latlng(_require(record, "geocode", context), f"{context}.geocode")
    extra = {key: val for key, val in record.items() if key not in _PLACE_ATTRS}
    if relocate:
        relocated = extra.pop("relocated_geocode", None)
        if relocated is not None:
            extra["geocode"] = [lat, lng]
            lat, lng = _latlng(relocated, f"{context}.relocated_geocode")
    rating = record.get("rating")
    if rating is not None and not (_is_number(rating) and 0 <= rating <= _MAX_RATING):
        raise RouteDataError(
            f"{context}.rating must be a number in 0..{_MAX_RATING}, got {str(rating)[:40]!r}"
        )
    n_reviews = record.get("n_reviews")
    if n_reviews is not None and not (_is_number(n_reviews) and 0 <= n_reviews <= _MAX_REVIEWS):
        raise RouteDataError(
            f"{context}.n_reviews must be a number in 0..{_MAX_REVIEWS}, "
            f"got {str(n_reviews)[:40]!r}"
        )
    place_id = record.get("place_id")
    types = record.get("place_types")
    if types is None:
        types = []
    elif isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise RouteDataError(f"{context}.place_types must be a list of strings")
    return Place(
        name=name,
        lat=lat,
        lng=lng,
        types=tuple(types),
        n_reviews=int(n_reviews) if n_reviews is not None else 0,
        rating=float(rating) if rating is not None else 0.0,
        place_id="" if place_id is None else str(place_id),
        extra=extra,
    )


def _landmark_entry(value: object, context: str) -> Place | None:
    if value is None:
        return None
    if isinstance(value, str) and _NO_LANDMARK_RE.fullmatch(value.strip()):
        return None
    return _place(value, context)


def _init_heading(value: object) -> float | None:
    if value is None:
        return None
    heading = _heading(value, "init_heading")
    if isinstance(value, str):
        match = _HEADING_RE.fullmatch(value.strip())
        raw = float(match.group(1)) if match else heading
    else:
        raw = float(value)  # type: ignore[arg-type]
    return None if raw == 0 else heading


def _heading_word(value: object) -> str | None:
    """The compass word in parentheses of a heading string (``"212 (southwest)"``), if valid."""
    if not isinstance(value, str):
        return None
    match = _HEADING_RE.fullmatch(value.strip())
    if match is None or match.group(2) is None:
        return None
    word = " ".join(match.group(2).lower().replace("-", " ").split()).replace(" ", "")
    return word if word in geo.COMPASS_WORDS else None


def _leg_polylines(
    results: Mapping[str, Any], points: Sequence[tuple[float, float]]
) -> list[tuple[tuple[float, float], ...]] | None:
    """The ``leg_polylines`` of a file written by :func:`dump_routes`, when present and valid.

    One polyline per leg, from ``P(k)`` to ``P(k+1)``; the end points must be the
    rail points themselves (within a metre). Anything else means "straight legs".
    """
    raw = results.get("leg_polylines")
    if not isinstance(raw, list) or len(raw) != len(points) - 1:
        return None
    legs = []
    for k, polyline in enumerate(raw):
        if not isinstance(polyline, list) or not 2 <= len(polyline) <= 1000:
            return None
        leg = tuple(
            _latlng(point, f"route_results.leg_polylines[{k}][{i}]")
            for i, point in enumerate(polyline)
        )
        a, b = points[k], points[k + 1]
        if geo.haversine(*leg[0], *a) > 1.0 or geo.haversine(*leg[-1], *b) > 1.0:
            return None
        legs.append((a, *leg[1:-1], b))
    return legs


def _route_from_record(value: object, default_city: str) -> Route:
    """One route record -> :class:`Route`, following ``VIRL_DATA.md``.

    The rail points are ``P0`` (the start's relocated geocode) and
    ``geocode_list`` (``P1 .. Pn``, ``Pn`` the destination). ``milestone_info``
    holds ``n`` blocks; block ``k`` is the leg ``Pk -> P(k+1)``: the turn made at
    ``Pk`` (``to_next_intersection_heading``), the leg's length and the landmark
    sentence seen on arriving at ``P(k+1)``.
    """
    record = _mapping(value, "the route")
    start = _place(_require(record, "start_place", "the route"), "start_place", relocate=True)
    destination = _place(_require(record, "dest_place", "the route"), "dest_place", relocate=True)
    results = _mapping(_require(record, "route_results", "the route"), "route_results")
    geocodes = _require(results, "geocode_list", "route_results")
    if not isinstance(geocodes, list) or not geocodes:
        raise RouteDataError("route_results.geocode_list must be a non-empty list")
    if len(geocodes) > MAX_ROUTE_LEGS:
        raise RouteDataError(
            f"route_results.geocode_list has {len(geocodes)} points; the limit is "
            f"{MAX_ROUTE_LEGS} legs per route"
        )
    points = [_latlng(g, f"route_results.geocode_list[{k}]") for k, g in enumerate(geocodes)]
    count = len(points)
    raw_landmarks = _require(results, "landmark_list", "route_results")
    if not isinstance(raw_landmarks, list):
        raise RouteDataError("route_results.landmark_list must be a list")
    if len(raw_landmarks) not in (count - 1, count):
        raise RouteDataError(
            f"route_results.landmark_list has {len(raw_landmarks)} entries for {count} "
            f"points (expected {count - 1}: one per point but the destination)"
        )
    landmarks = [
        _landmark_entry(entry, f"route_results.landmark_list[{k}]")
        for k, entry in enumerate(raw_landmarks[: count - 1])
    ]
    distance_list = results.get("distance_list")
    if not isinstance(distance_list, list):
        distance_list = []
    blocks = parse_milestone_info(_require(record, "milestone_info", "the route"))
    if len(blocks) != count:
        raise RouteDataError(
            f"milestone_info has {len(blocks)} blocks for {count} legs "
            "(one block per point of geocode_list)"
        )
    rail = [(start.lat, start.lng), *points]
    polylines = _leg_polylines(results, rail)

    # Block k: the turn at Pk (to_next_intersection_heading), the leg Pk -> P(k+1).
    turns: list[float] = []
    words: list[str | None] = []
    for k, block in enumerate(blocks):
        context = f"milestone_info block {k}"
        if k == count - 1 and "to_next_intersection_heading" not in block:
            # Lenient: a last block without its heading walks straight to the destination.
            turns.append(geo.bearing(*rail[k], *rail[k + 1]))
            words.append(None)
            continue
        raw = _require(block, "to_next_intersection_heading", context)
        turns.append(_heading(raw, f"{context}.to_next_intersection_heading"))
        words.append(_heading_word(raw))

    milestones = []
    for k, ((lat, lng), block) in enumerate(zip(points, blocks, strict=True)):
        context = f"milestone_info block {k}"
        last = k == count - 1
        # Arriving at P(k+1): the heading of leg k, which is what the next block's
        # human_heading says the agent faces there (V-IRL writes the two alike).
        arrival = turns[k]
        if not last and "human_heading" in blocks[k + 1]:
            arrival = _heading(
                blocks[k + 1]["human_heading"], f"milestone_info block {k + 1}.human_heading"
            )
        elif polylines is not None:
            leg = polylines[k]
            arrival = geo.bearing(*leg[-2], *leg[-1])
        text = _require(block, "landmarks", context)
        relation = _landmark_relation(text, f"{context}.landmarks")
        sentence = clean_text(str(text))
        if len(sentence) > MAX_SENTENCE_CHARS:
            raise RouteDataError(
                f"{context}.landmarks has {len(sentence)} characters; the limit is "
                f"{MAX_SENTENCE_CHARS}"
            )
        landmark: Place | None
        if last:
            landmark = destination
        else:
            landmark = landmarks[k] if relation is not None else None
            if landmark is None:
                relation = None
        distance = _distance(block.get("distance"), context)
        if distance is None and k < len(distance_list):
            distance = _distance(distance_list[k], context)
        if distance is None:
            raise RouteDataError(
                f"{context}: no readable distance (block {block.get('distance')!r}, "
                "no distance_list entry)"
            )
        milestones.append(
            Milestone(
                lat,
                lng,
                arrival,
                None if last else turns[k + 1],
                landmark,
                relation,
                distance,
                landmark_text=sentence,
                next_word=None if last else words[k + 1],
            )
        )

    legs = polylines or [(rail[k], rail[k + 1]) for k in range(count)]
    region = start.extra.get("region")
    return Route(
        start=start,
        destination=destination,
        start_heading=turns[0],
        milestones=tuple(milestones),
        legs=tuple(legs),
        init_heading=_init_heading(record.get("init_heading")),
        city=region if isinstance(region, str) and region else default_city,
        start_word=words[0],
    )


def _top_level_routes(data: object, label: str) -> list[Any]:
    """The route records of a file: ``[routes, count]``, or one route object (V-IRL platform)."""
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list) and len(data) == 2 and isinstance(data[0], list):
        return data[0]
    shape = f"a list of {len(data)} items" if isinstance(data, list) else type(data).__name__
    raise RouteDataError(
        f"{label}: the top level must be [routes, count] or one route object (got {shape})"
    )


def _route_file(path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    return file / ROUTE_FILE if file.is_dir() else file


def load_routes(path: str | os.PathLike[str]) -> list[Route]:
    """Read a V-IRL ``route_infos.json``.

    The file is read defensively (:mod:`navenvs.files`): a regular file only (no
    FIFO, device or folder in its place), at most
    :data:`navenvs.files.MAX_ROUTE_FILE_BYTES` bytes, inside the folder when a
    folder is given, JSON without NaN, huge numbers or deep nesting. Routes
    longer than :data:`MAX_ROUTE_LEGS` legs or with names longer than
    :data:`MAX_NAME_CHARS` are refused; control and bidi characters are
    removed from names.

    Args:
        path: The json file, or a folder that holds ``route_infos.json``.

    Returns:
        The routes, in file order.

    Raises:
        RouteDataError: if the file cannot be read, is not valid JSON or a route
            does not follow the format; the message names the file, the route
            index and the field.
    """
    given = Path(path)
    if given.is_dir():
        file = given / ROUTE_FILE
        data = files.read_json(
            ROUTE_FILE, limit=files.MAX_ROUTE_FILE_BYTES, folder=given, what="route file"
        )
    else:
        file = given
        data = files.read_json(given, limit=files.MAX_ROUTE_FILE_BYTES, what="route file")
    label = str(file)
    records = _top_level_routes(data, label)
    default_city = file.resolve().parent.name
    routes = []
    for index, record in enumerate(records):
        try:
            routes.append(_route_from_record(record, default_city))
        except RouteDataError as err:
            raise RouteDataError(f"{label}: route {index}: {err}") from None
        except (
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            ValueError,
            OverflowError,
            RecursionError,
        ) as err:
            raise RouteDataError(f"{label}: route {index}: {type(err).__name__}: {err}") from err
    return routes


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def _int_heading(heading: float) -> int:
    return round(heading) % 360


def _heading_text(heading: int, word: str | None = None) -> str:
    return f"{heading} ({word or geo.compass_word(heading)})"


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _place_record(
    place: Place,
    *,
    relocate: bool,
    distance: float = 0.0,
    region: str = "",
    on_street: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """A Place as a V-IRL record.

    ``on_street``: where the route starts or ends, written as ``relocated_geocode``
    for a place that was not read from a file (a procedural shop stands beside
    the street; its route starts or ends on the street). A place read from a file
    keeps its own ``relocated_geocode``.
    """
    extra = dict(place.extra)
    relocated = [place.lat, place.lng]
    if relocate and on_street is not None and "geocode" not in extra:
        relocated = [on_street[0], on_street[1]]
    geocode: list[float] = [place.lat, place.lng]
    original = extra.pop("geocode", None)
    if relocate and original is not None:
        try:
            geocode = list(_latlng(original, "geocode"))
        except RouteDataError:
            pass
    if relocate:
        extra.pop("relocated_geocode", None)
    record: dict[str, Any] = {
        "name": place.name,
        "geocode": geocode,
        "rating": place.rating,
        "place_id": place.place_id,
        "distance": extra.pop("distance", round(distance)),
        "n_reviews": place.n_reviews,
        "heading": extra.pop("heading", 0),
        "photo_reference": extra.pop("photo_reference", ""),
        "place_types": list(place.types),
        "plus_code": extra.pop("plus_code", None),
        "vicinity": extra.pop("vicinity", ""),
    }
    if region and "region" not in extra:
        record["region"] = region
    for key, value in extra.items():
        record.setdefault(key, value)
    if relocate:
        record["relocated_geocode"] = relocated
    return record


def _route_record(route: Route) -> dict[str, Any]:
    """One route as a V-IRL record; ``milestone_info`` block k is the leg ``Pk -> P(k+1)``."""
    milestones = route.milestones
    count = len(milestones)
    blocks: list[dict[str, str]] = []
    landmark_list: list[dict[str, Any] | None] = []
    init = 0 if route.init_heading is None else _int_heading(route.init_heading)
    for k, milestone in enumerate(milestones):
        last = k == count - 1
        if k == 0:
            facing, turn, word = init, route.start_heading, route.start_word
        else:
            before = milestones[k - 1]
            facing = _int_heading(before.arrival_heading)
            turn = (
                before.next_heading if before.next_heading is not None else before.arrival_heading
            )
            word = before.next_word
        if last:
            text = milestone.sentence(destination=route.destination)
        else:
            text = milestone.sentence()
            if milestone.landmark is not None and milestone.relation is not None:
                landmark = milestone.landmark
                distance = geo.haversine(milestone.lat, milestone.lng, landmark.lat, landmark.lng)
                landmark_list.append(_place_record(landmark, relocate=False, distance=distance))
            else:
                landmark_list.append(None)
        blocks.append(
            {
                "intersection_idx": str(k + 1),
                "landmarks": text,
                "distance": f"{round(milestone.distance)} meters",
                "human_heading": str(facing),
                "to_next_intersection_heading": _heading_text(
                    _int_heading(turn), word or geo.compass_word(turn)
                ),
            }
        )
    distance_list = [round(m.distance) for m in milestones]
    time_list = [max(1, round(d / _WALKING_SPEED)) for d in distance_list]
    if route.init_heading is None:
        init_heading: int | float = 0
    else:
        init_heading = _json_number(route.init_heading % 360.0) or 360
    results: dict[str, Any] = {
        "geocode_list": [[m.lat, m.lng] for m in milestones],
        "landmark_list": landmark_list,
        "polyline": [""],
        "instructions": [""],
        "distance_list": distance_list,
        "time_list": time_list,
        "time": sum(time_list),
        "distance": sum(distance_list),
        "n_landmarks": sum(entry is not None for entry in landmark_list),
    }
    if any(len(leg) > 2 for leg in route.legs):
        # Not in V-IRL files (readers ignore it): the streets' bends, so that a
        # written procedural route reads back with the same rail.
        results["leg_polylines"] = [[list(point) for point in leg] for leg in route.legs]
    return {
        "start_place": _place_record(
            route.start, relocate=True, region=route.city, on_street=route.legs[0][0]
        ),
        "dest_place": _place_record(route.destination, relocate=True, on_street=route.legs[-1][-1]),
        "route_results": results,
        "init_heading": init_heading,
        "instruction": (
            f"Walk from {route.start.name} to {route.destination.name} "
            f"({count} milestone{'s' if count != 1 else ''}, {sum(distance_list)} meters)."
        ),
        "milestone_info": format_milestone_info(blocks),
    }


def dump_routes(routes: Sequence[Route], path: str | os.PathLike[str]) -> None:
    """Write routes as a V-IRL ``route_infos.json`` (atomically: temp file + rename).

    Args:
        routes: The routes (procedural or loaded).
        path: The json file to write, or an existing folder (the file is then
            ``route_infos.json`` inside it).

    Raises:
        RouteDataError: if a route cannot be written (for example a non-finite
            coordinate or an ``extra`` value JSON cannot hold).
        OSError: if the file cannot be written.
    """
    file = _route_file(path)
    label = str(file)
    records = []
    for index, route in enumerate(routes):
        try:
            record = _route_record(route)
            json.dumps(record, allow_nan=False)
        except (TypeError, ValueError, AttributeError) as err:
            raise RouteDataError(f"{label}: route {index}: cannot write it ({err})") from err
        records.append(record)
    text = json.dumps([records, len(records)], ensure_ascii=False, indent=1, allow_nan=False)
    write_text_atomic(file, text)


# ---------------------------------------------------------------------------
# gps_pano_mapping.pkl
# ---------------------------------------------------------------------------


def load_pano_mapping(path: str | os.PathLike[str]) -> dict[tuple[float, float], str]:
    """Read ``gps_pano_mapping.pkl``: ``{(lat, lng): pano_id}``, without unpickling anything.

    The pickle's opcodes are read one by one and only that shape is built
    (:func:`navenvs.files.load_pano_mapping`): no global, no code, bounded time
    and memory, documented size caps.

    Args:
        path: The pickle file, or a folder that holds ``gps_pano_mapping.pkl``.

    Raises:
        RouteDataError: naming the file, for anything but a flat dict of
            ``(lat, lng)`` -> pano id.
    """
    return files.load_pano_mapping(path)


_METRES_PER_DEGREE_LAT: Final = math.pi * geo.EARTH_RADIUS_M / 180.0


def nearest_pano(
    mapping: Mapping[tuple[float, float], str],
    lat: float,
    lng: float,
    max_distance: float = 20.0,
) -> str | None:
    """The pano id of the mapping point nearest to (lat, lng) within ``max_distance`` metres.

    An exact key wins at once; otherwise a linear scan (with a latitude
    pre-filter) over the mapping. Ties go to the first point in mapping order.

    Returns:
        The pano id, or ``None`` if no point is close enough.
    """
    exact = mapping.get((lat, lng))
    if exact is not None:
        return exact
    window = max_distance / _METRES_PER_DEGREE_LAT * 1.001 + 1e-12
    best: str | None = None
    best_distance = max_distance
    for (point_lat, point_lng), pano in mapping.items():
        if abs(point_lat - lat) > window:
            continue
        distance = geo.haversine(lat, lng, point_lat, point_lng)
        if distance < best_distance or (best is None and distance <= best_distance):
            best, best_distance = pano, distance
    return best
