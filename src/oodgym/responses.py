"""Pull the answer fields out of a model's raw text.

Models answer in many shapes: strict JSON, the reference code's JSON-ish form
(single quotes, trailing commas, unquoted keys), JSON inside a Markdown code
fence or surrounded by reasoning prose, ``key: value`` lines, or just a bare
formula/action line. :func:`extract_fields` handles all of them with a
hand-written scanner:

* It never raises on a ``str`` (a non-``str`` raises ``TypeError``: that is a
  trainer bug, not model output).
* Its work is bounded: texts longer than :data:`MAX_RESPONSE_CHARS` are not
  scanned at all, nesting deeper than :data:`MAX_NESTING` is rejected, and each
  candidate object is parsed within a window of :data:`MAX_OBJECT_CHARS`.
* Nothing is evaluated: values are strings, numbers, booleans, ``None`` and
  lists/dicts of those.

When a response holds several objects (for example a restated template and
then the answer), the *last* object that contains one of the wanted keys wins.

Example:
    >>> extract_fields("Sure! {'formula': '3*8', }", ["cards", "formula"]).fields
    {'formula': '3*8'}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

__all__ = [
    "MAX_NESTING",
    "MAX_OBJECT_CHARS",
    "MAX_RESPONSE_CHARS",
    "Extraction",
    "extract_fields",
    "normalize_key",
]

#: Longest response that is scanned at all (characters). Longer texts get form ``"too-long"``.
MAX_RESPONSE_CHARS = 65_536
#: Largest window parsed as one JSON-ish object (characters).
MAX_OBJECT_CHARS = 8_192
#: Deepest nesting of objects/lists accepted inside an answer object.
MAX_NESTING = 16
#: How many candidate key occurrences / opening braces are tried before giving up.
_MAX_CANDIDATES = 6

JsonValue = Any


class Extraction(NamedTuple):
    """What was found in a response (an immutable named tuple).

    Attributes:
        fields: Wanted keys (spelled as requested) mapped to their parsed values.
        form: How the fields were found: ``"json"`` (a strict JSON object),
            ``"json-ish"`` (an object with single quotes, trailing commas or
            unquoted keys/values), ``"fields"`` (``key: value`` without a
            complete object), ``"bare"`` (a bare line accepted by the caller's
            predicate), ``"none"`` (nothing found) or ``"too-long"``.
        length: Length of the response in characters.
    """

    fields: dict[str, JsonValue]
    form: str = "none"
    length: int = 0

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        """Return a field's value, or ``default`` if it was not found."""
        return self.fields.get(key, default)


def normalize_key(key: str) -> str:
    """Canonical spelling of a key: lower case, ``_``/``-``/runs of spaces as one space."""
    return " ".join(re.split(r"[\s_\-]+", key.strip().lower()))


class _ParseError(Exception):
    """Internal: a candidate is not a JSON-ish value."""


_LITERALS: dict[str, JsonValue] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_ESCAPES["t"] = "\t"
_NUMBER = re.compile(r"-?\d{1,300}(?:\.\d{1,300})?(?:[eE][+-]?\d{1,4})?")
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_ \-]{0,63}")
_RAW_END = frozenset(",}]\n")
_QUOTES = "\"'“”‘’"
_CLOSING_QUOTE = {'"': '"', "'": "'", "“": "”", "”": "”", "‘": "’", "’": "’"}


class _JsonishParser:
    """Recursive-descent parser for one JSON-ish value inside ``text[pos:end]``.

    Depth is capped at :data:`MAX_NESTING`, so recursion is bounded; every loop
    advances ``pos``, so time is linear in the window.
    """

    def __init__(self, text: str, pos: int, end: int) -> None:
        self.text = text
        self.pos = pos
        self.end = end
        self.jsonish = False  # set when anything non-JSON was accepted

    def _ws(self) -> None:
        text, end = self.text, self.end
        while self.pos < end and text[self.pos] in " \t\r\n":
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def value(self, depth: int, raw_ok: bool) -> JsonValue:
        if depth > MAX_NESTING:
            raise _ParseError("too deep")
        self._ws()
        ch = self._peek()
        if ch == "{":
            return self.obj(depth + 1)
        if ch == "[":
            return self.array(depth + 1)
        if ch and ch in _QUOTES:
            return self.string()
        start = self.pos
        if ch == "-" or ch.isdigit():
            match = _NUMBER.match(self.text, self.pos, self.end)
            if match:
                after = match.end()
                probe = after
                while probe < self.end and self.text[probe] in " \t\r":
                    probe += 1
                if probe >= self.end or self.text[probe] in ",}]\n":
                    self.pos = after
                    token = match.group()
                    if "." in token or "e" in token or "E" in token:
                        return float(token)
                    return int(token)
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.pos) and self.pos + len(word) <= self.end:
                after = self.pos + len(word)
                if after >= self.end or not (self.text[after].isalnum() or self.text[after] == "_"):
                    self.pos = after
                    if word[0].isupper():
                        self.jsonish = True
                    return literal
        if not raw_ok:
            raise _ParseError("unexpected character")
        # An unquoted value such as  formula: 3*8=24  runs to the next , } ] or newline.
        while self.pos < self.end and self.text[self.pos] not in _RAW_END:
            self.pos += 1
        raw = self.text[start : self.pos].strip()
        if not raw:
            raise _ParseError("empty value")
        self.jsonish = True
        return raw

    def string(self) -> str:
        quote = self.text[self.pos]
        if quote != '"':
            self.jsonish = True
        closing = _CLOSING_QUOTE[quote]
        self.pos += 1
        out: list[str] = []
        text, end = self.text, self.end
        close_at = text.find(closing, self.pos, end)
        if close_at >= 0 and text.find("\\", self.pos, close_at) < 0:
            value = text[self.pos : close_at]  # no escapes: one slice
            self.pos = close_at + 1
            return value
        while self.pos < end:
            ch = text[self.pos]
            if ch == closing:
                self.pos += 1
                return "".join(out)
            if ch == "\\" and self.pos + 1 < end:
                nxt = text[self.pos + 1]
                if nxt == "u" and self.pos + 6 <= end:
                    digits = text[self.pos + 2 : self.pos + 6]
                    try:
                        out.append(chr(int(digits, 16)))
                        self.pos += 6
                        continue
                    except ValueError:
                        pass
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        raise _ParseError("unterminated string")

    def key(self) -> str:
        ch = self._peek()
        if ch and ch in _QUOTES:
            return self.string()
        match = _BARE_KEY.match(self.text, self.pos, self.end)
        if not match:
            raise _ParseError("bad key")
        self.pos = match.end()
        self.jsonish = True
        return match.group().strip()

    def obj(self, depth: int) -> dict[str, JsonValue]:
        self.pos += 1  # "{"
        result: dict[str, JsonValue] = {}
        while True:
            self._ws()
            ch = self._peek()
            if ch == "}":
                self.pos += 1
                return result
            if not ch:
                raise _ParseError("unterminated object")
            name = self.key()
            self._ws()
            if self._peek() not in (":", "="):
                raise _ParseError("expected ':'")
            if self._peek() == "=":
                self.jsonish = True
            self.pos += 1
            result[name] = self.value(depth, raw_ok=True)
            self._ws()
            ch = self._peek()
            if ch == ",":
                self.pos += 1
                self._ws()
                if self._peek() == "}":
                    self.jsonish = True  # trailing comma
            elif ch == "\n":
                self.jsonish = True
            elif ch != "}":
                raise _ParseError("expected ',' or '}'")

    def array(self, depth: int) -> list[JsonValue]:
        self.pos += 1  # "["
        items: list[JsonValue] = []
        while True:
            self._ws()
            ch = self._peek()
            if ch == "]":
                self.pos += 1
                return items
            if not ch:
                raise _ParseError("unterminated array")
            items.append(self.value(depth, raw_ok=False))
            self._ws()
            ch = self._peek()
            if ch == ",":
                self.pos += 1
                self._ws()
                if self._peek() == "]":
                    self.jsonish = True
            elif ch != "]":
                raise _ParseError("expected ',' or ']'")


def _key_pattern(keys: Sequence[str]) -> re.Pattern[str]:
    alternatives = []
    for key in sorted({normalize_key(k) for k in keys}, key=len, reverse=True):
        words = [re.escape(w) for w in key.split(" ")]
        alternatives.append(r"[ _\-]{1,3}".join(words))
    # A key, optionally quoted (straight or typographic) or wrapped in Markdown bold, then ':'.
    return re.compile(
        r"[\"'“‘*]{0,2}\b(" + "|".join(alternatives) + r")\b[\"'”’*]{0,2}[ \t]{0,8}[:=]",
        re.IGNORECASE,
    )


_PATTERN_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}
_WANTED_CACHE: dict[tuple[str, ...], dict[str, str]] = {}


def _wanted_for(keys: Sequence[str]) -> dict[str, str]:
    """Spellings to look up -> requested key (exact spellings first, then normalised)."""
    cache_key = tuple(keys)
    wanted = _WANTED_CACHE.get(cache_key)
    if wanted is None:
        wanted = {normalize_key(k): k for k in keys}
        wanted.update({k: k for k in keys})
        if len(_WANTED_CACHE) < 64:
            _WANTED_CACHE[cache_key] = wanted
    return wanted


def _pattern_for(keys: Sequence[str]) -> re.Pattern[str]:
    cache_key = tuple(keys)
    pattern = _PATTERN_CACHE.get(cache_key)
    if pattern is None:
        pattern = _key_pattern(keys)
        if len(_PATTERN_CACHE) < 64:
            _PATTERN_CACHE[cache_key] = pattern
    return pattern


def _pick(obj: dict[str, JsonValue], wanted: dict[str, str]) -> dict[str, JsonValue]:
    found: dict[str, JsonValue] = {}
    for name, value in obj.items():
        canonical = wanted.get(name)
        if canonical is None and isinstance(name, str):
            canonical = wanted.get(normalize_key(name))
        if canonical is not None and canonical not in found:
            found[canonical] = value
    return found


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _loads_dict(candidate: str) -> dict[str, JsonValue] | None:
    try:
        obj = json.loads(candidate)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _whole_object(text: str, wanted: dict[str, str]) -> tuple[dict[str, JsonValue], str] | None:
    """Fast path (C speed): one object spanning the first ``{`` to the last ``}``.

    Tries it as strict JSON, then, if it only uses single quotes, as the
    reference's JSON-ish form (quotes swapped, trailing commas dropped).
    """
    first = text.find("{")
    last = text.rfind("}")
    if first < 0 or last <= first:
        return None
    candidate = text[first : last + 1]
    has_double = '"' in candidate
    obj = _loads_dict(candidate) if has_double else None
    if obj is not None:
        found = _pick(obj, wanted)
        return (found, "json") if found else None
    if not has_double and "'" in candidate and "\\" not in candidate:
        obj = _loads_dict(_TRAILING_COMMA.sub(r"\1", candidate.replace("'", '"')))
        if obj is not None:
            found = _pick(obj, wanted)
            return (found, "json-ish") if found else None
    return None


def _object_around(
    text: str, key_pos: int, wanted: dict[str, str]
) -> tuple[dict[str, JsonValue], bool] | None:
    """Parse the innermost object that encloses the key at ``key_pos``."""
    floor = max(0, key_pos - MAX_OBJECT_CHARS)
    search_end = key_pos + 1
    for _ in range(_MAX_CANDIDATES):
        start = text.rfind("{", floor, search_end)
        if start < 0:
            return None
        search_end = start
        end = min(len(text), start + MAX_OBJECT_CHARS)
        parser = _JsonishParser(text, start, end)
        try:
            obj = parser.obj(1)
        except _ParseError:
            continue
        if parser.pos <= key_pos:
            continue  # an earlier, closed object: the key is not inside it
        found = _pick(obj, wanted)
        if found:
            return found, parser.jsonish
    return None


def _loose_fields(
    text: str, matches: list[re.Match[str]], wanted: dict[str, str]
) -> dict[str, JsonValue]:
    """``key: value`` pairs without an enclosing object, last occurrence of each key first."""
    found: dict[str, JsonValue] = {}
    tries: dict[str, int] = {}
    for match in reversed(matches):
        canonical = wanted.get(normalize_key(match.group(1)))
        if canonical is None or canonical in found:
            continue
        if tries.get(canonical, 0) >= _MAX_CANDIDATES:
            continue
        tries[canonical] = tries.get(canonical, 0) + 1
        end = min(len(text), match.end() + MAX_OBJECT_CHARS)
        parser = _JsonishParser(text, match.end(), end)
        try:
            value = parser.value(1, raw_ok=True)
        except _ParseError:
            continue
        if isinstance(value, str):
            value = value.strip().strip("`*").strip()
        found[canonical] = value
    return found


_BULLET = re.compile(r"(?:[-*>]\s|\d{1,2}[.)]\s)")
_FENCES = ("```", "~~~")


def _clean_line(line: str) -> str:
    # Plain string operations only: regexes with a leading or trailing \s* rescan long
    # blank runs from every position (quadratic on hostile input).
    line = line.strip()
    if line.startswith(_FENCES):
        line = line[3:].lstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ").strip()
    if line.endswith(_FENCES):
        line = line[:-3].strip()
    bullet = _BULLET.match(line)
    if bullet:
        line = line[bullet.end() :].strip()
    line = line.strip("`").strip()
    if line.startswith("**") and line.endswith("**") and len(line) > 4:
        line = line[2:-2].strip()
    if line.startswith("$") and line.endswith("$") and len(line) > 2:
        line = line.strip("$").strip()
    return line.rstrip(".").strip()


def extract_fields(
    text: str,
    keys: Sequence[str],
    *,
    bare_key: str | None = None,
    is_bare: Callable[[str], bool] | None = None,
    max_chars: int = MAX_RESPONSE_CHARS,
) -> Extraction:
    """Extract ``keys`` from a model response.

    Args:
        text: The raw model output.
        keys: Field names to look for (matched case-insensitively; ``_``, ``-``
            and spaces are interchangeable).
        bare_key: If given with ``is_bare``, a bare line for which ``is_bare``
            is true becomes this field when no object provided it.
        is_bare: Predicate on a cleaned line (code fences, bullets, bold and
            a trailing full stop removed).
        max_chars: Responses longer than this are not scanned.

    Returns:
        An :class:`Extraction`. It never raises for a ``str`` input.

    Raises:
        TypeError: if ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"the action must be the model's text (str), got {type(text).__name__}")
    length = len(text)
    if length > max_chars:
        return Extraction({}, "too-long", length)
    wanted = _wanted_for(keys)

    whole = _whole_object(text, wanted)
    if whole is not None:
        return Extraction(whole[0], whole[1], length)

    fields: dict[str, JsonValue] = {}
    form = "none"
    matches = list(_pattern_for(keys).finditer(text)) if keys else []
    if matches:
        found = _object_around(text, matches[-1].start(1), wanted)
        if found is None and len(matches) > 1:
            found = _object_around(text, matches[0].start(1), wanted)
        if found is not None:
            fields, jsonish = found
            form = "json-ish" if jsonish else "json"
        else:
            fields = _loose_fields(text, matches, wanted)
            form = "fields" if fields else "none"

    if bare_key is not None and is_bare is not None and bare_key not in fields:
        for line in reversed(text.splitlines()):
            cleaned = _clean_line(line)
            if cleaned and is_bare(cleaned):
                fields = {**fields, bare_key: cleaned}
                form = form if form != "none" else "bare"
                break
    return Extraction(fields, form, length)
