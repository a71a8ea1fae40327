r"""Pull the answer fields out of a model's raw text.

Models answer in many shapes: strict JSON, the reference code's JSON-ish form
(single quotes, trailing commas, unquoted keys), JSON inside a Markdown code
fence or surrounded by prose, ``key: value`` lines, or just a bare
formula/action line. Reasoning models add wrappers: ``<think>...</think>``
before the answer, ``<answer>...</answer>``, ``\boxed{...}``, or a sentence
such as "The answer is (8-4)*(9-3) = 24." :func:`extract_fields` handles all
of them with a hand-written scanner.

Where it looks, in this order (the first rule that yields the wanted field wins):

1. **Reasoning is never searched.** Everything up to the last closing
   reasoning tag (``</think>``, ``</thinking>`` or ``</reasoning>``) is
   dropped. A reasoning tag opened after that and never closed means the model
   was cut off while reasoning: there is no answer (form ``"cut-off"``).
2. **``<answer>`` is preferred.** If the rest holds ``<answer>``, only the
   last ``<answer>`` block is searched, up to its ``</answer>`` (or to the end:
   trainers often stop generation on ``</answer>`` and drop it).
3. **Objects and fields.** The last object holding a wanted key (strict JSON,
   then JSON-ish; form ``"json"``/``"json-ish"``), else ``key: value`` lines
   (``"fields"``).
4. Only with ``bare_key`` and ``is_bare`` (GeneralPoints' formula; navigation
   applies its own stricter whole-answer rule to :attr:`Extraction.answer`):

   a. the content of the last ``\boxed{...}``, if ``is_bare`` accepts it
      (``"boxed"``);
   b. the last line ``is_bare`` accepts, with that ``\boxed{X}`` read as
      ``X`` (``"bare"``);
   c. with ``in_sentence``: what it finds in one of the last
      :data:`MAX_SENTENCES` sentences, the latest first (``"sentence"``);
   d. the content of the last ``\boxed{...}`` if it holds a digit, else the
      whole ``<answer>`` content if it is one line holding a digit
      (``"boxed"`` / ``"answer"``): the wrapper says it is the answer, so the
      caller judges it as it would the same text in a JSON field.

Guarantees:

* It never raises on a ``str`` (a non-``str`` raises ``TypeError``: that is a
  trainer bug, not model output).
* Its work is bounded: texts longer than :data:`MAX_RESPONSE_CHARS` (reasoning
  included) are not scanned at all, tags are found with plain string searches,
  nesting deeper than :data:`MAX_NESTING` is rejected, and each candidate
  object or ``\boxed{}`` is read within a window of :data:`MAX_OBJECT_CHARS`.
* Nothing is evaluated: values are strings, numbers, booleans, ``None`` and
  lists/dicts of those.

When a response holds several objects (for example a restated template and
then the answer), the *last* object that contains one of the wanted keys wins.

Example:
    >>> extract_fields("Sure! {'formula': '3*8', }", ["cards", "formula"]).fields
    {'formula': '3*8'}
    >>> extract_fields("<think>{'formula': '1+1'}</think>{'formula': '3*8'}", ["formula"]).fields
    {'formula': '3*8'}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

__all__ = [
    "MAX_NESTING",
    "MAX_OBJECT_CHARS",
    "MAX_RESPONSE_CHARS",
    "MAX_SENTENCES",
    "REASONING_TAGS",
    "AnswerScope",
    "Extraction",
    "boxed_content",
    "extract_fields",
    "locate_answer",
    "normalize_key",
    "reasoning_end",
]

#: Longest response that is scanned at all, reasoning included (characters). Longer texts get
#: form ``"too-long"``.
MAX_RESPONSE_CHARS = 65_536
#: Largest window parsed as one JSON-ish object (characters).
MAX_OBJECT_CHARS = 8_192
#: Deepest nesting of objects/lists accepted inside an answer object.
MAX_NESTING = 16
#: How many candidate key occurrences / opening braces are tried before giving up.
_MAX_CANDIDATES = 6
#: How many sentences, counted from the end, the ``in_sentence`` rule looks at.
MAX_SENTENCES = 3
#: Tags whose content is the model's reasoning, never searched for fields.
REASONING_TAGS: Final = ("think", "thinking", "reasoning")

JsonValue = Any


class Extraction(NamedTuple):
    r"""What was found in a response (an immutable named tuple).

    Attributes:
        fields: Wanted keys (spelled as requested) mapped to their parsed values.
        form: How the fields were found: ``"json"`` (a strict JSON object),
            ``"json-ish"`` (an object with single quotes, trailing commas or
            unquoted keys/values), ``"fields"`` (``key: value`` without a
            complete object), ``"boxed"`` (a ``\boxed{}`` content),
            ``"bare"`` (a bare line accepted by the caller's predicate),
            ``"sentence"`` (found in a closing sentence by ``in_sentence``),
            ``"answer"`` (the whole one-line ``<answer>`` content), ``"none"``
            (nothing found), ``"too-long"`` or ``"cut-off"`` (the response
            ends inside an unclosed reasoning tag, so it has no answer).
        length: Length of the response in characters.
        answer: The part of the response that was searched (see
            :func:`locate_answer`); empty for ``"too-long"`` and ``"cut-off"``.
    """

    fields: dict[str, JsonValue]
    form: str = "none"
    length: int = 0
    answer: str = ""

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
    line = line.rstrip(".").strip()
    if line.startswith("$") and line.endswith("$") and len(line) > 2:
        line = line.strip("$").strip()
    return line.rstrip(".").strip()


class AnswerScope(NamedTuple):
    """The part of a response that holds the answer (see :func:`locate_answer`).

    Attributes:
        text: The text to search.
        scope: ``"response"`` (no tags: the whole response), ``"after-reasoning"``
            (what follows the last closing reasoning tag), ``"answer-tag"`` (the
            content of the last ``<answer>`` block) or ``"cut-off"`` (the
            response ends inside a reasoning tag; ``text`` is empty).
    """

    text: str
    scope: str


_REASONING_CLOSE: Final = tuple(f"</{tag}>" for tag in REASONING_TAGS)
_REASONING_OPEN: Final = tuple(f"<{tag}>" for tag in REASONING_TAGS)
_ANSWER_OPEN: Final = "<answer>"
_ANSWER_CLOSE: Final = "</answer>"


def reasoning_end(text: str) -> int:
    """The offset just after the last closing reasoning tag (``</think>``...), or 0 if none."""
    end = 0
    if "</" not in text:
        return end
    for tag in _REASONING_CLOSE:
        at = text.rfind(tag)
        if at >= 0 and at + len(tag) > end:
            end = at + len(tag)
    return end


def locate_answer(text: str) -> AnswerScope:
    r"""Where the answer of a response is: rules 1 and 2 of the module docstring.

    Only plain string searches (``find``/``rfind``), so the time is linear in
    the text at C speed whatever the tags' nesting or count.

    Example:
        >>> locate_answer("<think>maybe 1+1</think>\n<answer>3*8</answer>")
        AnswerScope(text='3*8', scope='answer-tag')
        >>> locate_answer("<think>still thinking about 3*8").scope
        'cut-off'
    """
    if "<" not in text:
        return AnswerScope(text, "response")
    start = reasoning_end(text)
    rest = text[start:] if start else text
    if any(tag in rest for tag in _REASONING_OPEN):
        return AnswerScope("", "cut-off")
    opened = rest.rfind(_ANSWER_OPEN)
    if opened >= 0:
        begin = opened + len(_ANSWER_OPEN)
        closed = rest.find(_ANSWER_CLOSE, begin)
        return AnswerScope(rest[begin:] if closed < 0 else rest[begin:closed], "answer-tag")
    closed = rest.rfind(_ANSWER_CLOSE)
    if closed >= 0:  # the opening tag was in the prompt
        return AnswerScope(rest[:closed], "answer-tag")
    return AnswerScope(rest, "after-reasoning" if start else "response")


_BOXED: Final = "\\boxed{"
_BRACE: Final = re.compile(r"[{}]")


def _last_boxed(text: str) -> tuple[int, int, int, int] | None:
    r"""Offsets (start, content start, content end, end) of the last complete ``\boxed{...}``."""
    at = text.rfind(_BOXED)
    if at < 0:
        return None
    begin = at + len(_BOXED)
    depth = 1
    for brace in _BRACE.finditer(text, begin, min(len(text), begin + MAX_OBJECT_CHARS)):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            return at, begin, brace.start(), brace.end()
    return None


def boxed_content(text: str) -> str | None:
    r"""The content of the last complete ``\boxed{...}`` in ``text`` (braces balanced), or ``None``.

    Example:
        >>> boxed_content(r"so $\boxed{(8-4)*(9-3)}$.")
        '(8-4)*(9-3)'
    """
    box = _last_boxed(text) if _BOXED in text else None
    return None if box is None else text[box[1] : box[2]]


_SENTENCE_END: Final = re.compile(r"[.!?](?=\s|$)|\n")


def _in_closing_sentences(text: str, find: Callable[[str], str | None]) -> str | None:
    """What ``find`` returns for the latest of the last few sentences where it finds something."""
    tail = text[-MAX_OBJECT_CHARS:]
    seen = 0
    for sentence in reversed(_SENTENCE_END.split(tail)):
        sentence = sentence.strip()
        if not sentence:
            continue
        value = find(sentence)
        if value is not None:
            return value
        seen += 1
        if seen >= MAX_SENTENCES:
            break
    return None


def extract_fields(
    text: str,
    keys: Sequence[str],
    *,
    bare_key: str | None = None,
    is_bare: Callable[[str], bool] | None = None,
    in_sentence: Callable[[str], str | None] | None = None,
    max_chars: int = MAX_RESPONSE_CHARS,
) -> Extraction:
    r"""Extract ``keys`` from a model response, in the order the module docstring gives.

    Args:
        text: The raw model output.
        keys: Field names to look for (matched case-insensitively; ``_``, ``-``
            and spaces are interchangeable).
        bare_key: If given with ``is_bare``, the field that a ``\boxed{}``
            content, a bare line, a closing sentence or a one-line ``<answer>``
            provides when no object or ``key: value`` line did.
        is_bare: Predicate on a cleaned line (code fences, bullets, bold,
            ``$`` and a trailing full stop removed).
        in_sentence: Finds the ``bare_key`` value in one sentence (the last
            :data:`MAX_SENTENCES` are tried, latest first), or returns ``None``.
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
    body, scope = (text, "response") if "<" not in text else locate_answer(text)
    if scope == "cut-off":
        return Extraction({}, "cut-off", length)
    wanted = _wanted_for(keys)

    whole = _whole_object(body, wanted)
    if whole is not None:
        return Extraction(whole[0], whole[1], length, body)

    fields: dict[str, JsonValue] = {}
    form = "none"
    matches = list(_pattern_for(keys).finditer(body)) if keys else []
    if matches:
        found = _object_around(body, matches[-1].start(1), wanted)
        if found is None and len(matches) > 1:
            found = _object_around(body, matches[0].start(1), wanted)
        if found is not None:
            fields, jsonish = found
            form = "json-ish" if jsonish else "json"
        else:
            fields = _loose_fields(body, matches, wanted)
            form = "fields" if fields else "none"

    if bare_key is None or is_bare is None or bare_key in fields:
        return Extraction(fields, form, length, body)
    value, bare_form = _bare_value(body, scope, is_bare, in_sentence)
    if value is not None:
        fields = {**fields, bare_key: value}
        form = form if form != "none" else bare_form
    return Extraction(fields, form, length, body)


def _bare_value(
    body: str,
    scope: str,
    is_bare: Callable[[str], bool],
    in_sentence: Callable[[str], str | None] | None,
) -> tuple[str | None, str]:
    """Rule 4 of the module docstring: the bare value and its form, or ``(None, "none")``."""
    box = _last_boxed(body) if _BOXED in body else None
    search = body
    boxed = ""
    if box is not None:
        boxed = _clean_line(body[box[1] : box[2]])
        if boxed and is_bare(boxed):
            return boxed, "boxed"
        search = body[: box[0]] + body[box[1] : box[2]] + body[box[3] :]
    for line in reversed(search.splitlines()):
        cleaned = _clean_line(line)
        if cleaned and is_bare(cleaned):
            return cleaned, "bare"
    if in_sentence is not None:
        found = _in_closing_sentences(search, in_sentence)
        if found is not None:
            return found, "sentence"
    if _has_digit(boxed):
        return boxed, "boxed"
    if scope == "answer-tag":
        content = body.strip()
        if "\n" not in content and "\r" not in content:
            content = _clean_line(content)
            if _has_digit(content):
                return content, "answer"
    return None, "none"


_DIGIT: Final = re.compile(r"[0-9]")


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None
