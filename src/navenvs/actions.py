r"""Navigation actions and the parser that reads them from model text.

Actions are ``forward()``, ``turn_direction(x)`` and ``stop()``. The direction
words form the rule split: the *absolute* vocabulary (in distribution) uses the
8 compass words, the *relative* one (rule OOD) uses left / right / slightly
left / slightly right.

:func:`parse_action` accepts the shapes models produce: the paper's JSON
(``{"current observation": ..., "current instruction": ..., "action": ...}``),
JSON-ish objects, ``key: value`` lines and code fences, whose ``action`` value
must be exactly one action; or an answer that is exactly one action (wrapped in
whitespace, quotes, a code fence or an ``action:`` label at most), with
spelling variants (``Forward()``, ``TURN_DIRECTION(North)``,
``turn_direction('slightly left')``, ``turn_direction(slightly_left)``,
``forward`` without parentheses). Prose that merely mentions actions ("I
should not do forward()"), or several actions, is no answer. It never raises
on a ``str``.

Reasoning models: where the answer is follows :mod:`oodgym.responses`. What
``<think>...</think>`` (or ``<thinking>``, ``<reasoning>``) holds is never
searched, and a response cut off inside it has no answer; when ``<answer>`` is
present only its content is read. In that answer, in this order: the
``action`` field; else the content of the last ``\boxed{...}``, which must be
exactly one action; else the whole answer, which must be exactly one action.
There is deliberately no "final sentence" rule here (GeneralPoints has one for
formulas): telling "The action is forward()." from "I should not do
forward()." needs reading the sentence, and a pattern that accepted the first
would accept the second.

Example:
    >>> parsed = parse_action('{"action": "TURN_DIRECTION(North)"}', ABSOLUTE)
    >>> str(parsed.action)
    'turn_direction(north)'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from navenvs import geo
from oodgym.responses import MAX_RESPONSE_CHARS, boxed_content, extract_fields, reasoning_end
from oodgym.textspace import ascii_safe

__all__ = [
    "ABSOLUTE",
    "ACTION_KEYS",
    "FORWARD",
    "RELATIVE",
    "STOP",
    "VOCABULARIES",
    "Action",
    "ActionKind",
    "ActionVocabulary",
    "ParsedAction",
    "looks_like_action",
    "parse_action",
    "vocabulary",
]

ActionKind = Literal["forward", "turn", "stop"]
_KINDS: Final = ("forward", "turn", "stop")
#: Keys of the paper's answer shape.
ACTION_KEYS: Final = ("current observation", "current instruction", "action")
#: Most action calls listed in an "ambiguous" error.
_MAX_LISTED = 4


@dataclass(frozen=True)
class Action:
    """One navigation action.

    Attributes:
        kind: ``"forward"``, ``"turn"`` or ``"stop"``.
        direction: The direction word of a turn (``None`` for forward/stop).
    """

    kind: ActionKind
    direction: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}; allowed: {list(_KINDS)}")
        if self.kind == "turn":
            if not isinstance(self.direction, str) or not self.direction:
                raise ValueError("a turn needs a direction word")
        elif self.direction is not None:
            raise ValueError(f"{self.kind}() takes no direction")

    def __str__(self) -> str:
        if self.kind == "turn":
            return f"turn_direction({self.direction})"
        return f"{self.kind}()"


#: ``forward()``.
FORWARD: Final = Action("forward")
#: ``stop()``.
STOP: Final = Action("stop")


@dataclass(frozen=True)
class ActionVocabulary:
    """The direction words ``turn_direction`` accepts.

    Attributes:
        name: ``"absolute"`` or ``"relative"``.
        directions: The allowed direction words, in canonical spelling.
    """

    name: str
    directions: tuple[str, ...]

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action of the vocabulary: forward, one turn per direction, stop."""
        return (FORWARD, *(Action("turn", d) for d in self.directions), STOP)

    def describe(self) -> str:
        """The allowed actions as a phrase for prompts and error messages."""
        return f"forward(), turn_direction(x) with x one of {', '.join(self.directions)}, or stop()"

    def canonical_direction(self, word: str) -> str | None:
        """The canonical spelling of a direction word, or ``None`` if not in the vocabulary.

        Case, ``_``/``-``/spaces between words and missing spaces are forgiven:
        ``"Slightly_Left"``, ``"slightlyleft"``, ``"North-East"`` all resolve.
        """
        words = _WORD_SPLIT.split(word.strip().lower())
        spaced = " ".join(w for w in words if w)
        if spaced in self.directions:
            return spaced
        compact = spaced.replace(" ", "")
        for direction in self.directions:
            if direction.replace(" ", "") == compact:
                return direction
        return None


#: The compass vocabulary (training, in distribution).
ABSOLUTE: Final = ActionVocabulary("absolute", tuple(geo.COMPASS_WORDS))
#: The relative vocabulary (rule OOD).
RELATIVE: Final = ActionVocabulary("relative", tuple(geo.RELATIVE_WORDS))
#: Vocabularies by name.
VOCABULARIES: Final = {ABSOLUTE.name: ABSOLUTE, RELATIVE.name: RELATIVE}


def vocabulary(name: str) -> ActionVocabulary:
    """The vocabulary called ``name`` (``"absolute"`` or ``"relative"``).

    Raises:
        ValueError: naming the allowed names.
    """
    found = VOCABULARIES.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        raise ValueError(
            f"unknown action vocabulary {name!r}; allowed: {', '.join(map(repr, VOCABULARIES))}"
        )
    return found


@dataclass(frozen=True)
class ParsedAction:
    r"""What :func:`parse_action` read from a response.

    Attributes:
        action: The action, or ``None`` if the response holds no valid action.
        error: Why there is no action (ASCII, specific), ``None`` when ``action`` is set.
        observation: The model's ``current observation`` field, if given.
        instruction: The model's ``current instruction`` field, if given.
        form: How the action was found: the :class:`oodgym.responses.Extraction`
            form (``"json"``, ``"json-ish"``, ``"fields"``, ``"none"``,
            ``"too-long"``, ``"cut-off"``), ``"boxed"`` (the content of a
            ``\boxed{}``) or ``"bare"`` (the whole answer).
    """

    action: Action | None
    error: str | None = None
    observation: str | None = None
    instruction: str | None = None
    form: str = "none"

    @property
    def ok(self) -> bool:
        """Whether a valid action was found."""
        return self.action is not None


# Linear patterns: bounded quantifiers, no nesting, the argument class excludes the parentheses.
_WORD_SPLIT: Final = re.compile(r"[\s_\-]+")
_FLAGS: Final = re.IGNORECASE | re.ASCII
#: A whole value that is one action (parentheses optional on forward/stop).
_WHOLE: Final = re.compile(
    r"(forward|stop)(?:[ \t]{0,8}\([ \t]{0,8}\))?"
    r"|turn[ _]?direction[ \t]{0,8}\(([^()\r\n]{0,64})\)",
    _FLAGS,
)
#: An explicit action call somewhere in a text.
_CALL: Final = re.compile(
    r"\b(?:(forward|stop)[ \t]{0,8}\([ \t]{0,8}\)"
    r"|turn[ _]?direction[ \t]{0,8}\(([^()\r\n]{0,64})\))",
    _FLAGS,
)
#: A call cut short by a nested quote: ``turn_direction(`` or ``turn_direction('``.
_CUT_CALL: Final = re.compile(r"turn[ _]?direction[ \t]{0,8}\([^()\r\n]{0,8}", _FLAGS)
_MAX_BLANKS: Final = 32
_BLANK_RUN: Final = re.compile(r"[^\S\r\n]{33,}")  # more than _MAX_BLANKS
_WRAPPERS: Final = "`'\"*“”‘’"
_ARG_QUOTES: Final = " \t'\"`“”‘’"
_ARG_CHARS: Final = re.compile(r"[A-Za-z _\-]{1,40}")


def _clean(value: str) -> str:
    """Strip whitespace, wrapping quotes/backticks/bold and a trailing full stop."""
    text = value.strip()
    for _ in range(4):
        stripped = text.strip(_WRAPPERS).rstrip(".;!").strip()
        if stripped == text:
            break
        text = stripped
    return text


def looks_like_action(line: str) -> bool:
    """Whether a (cleaned) line is exactly one action, e.g. ``forward()`` or ``Stop``."""
    return _WHOLE.fullmatch(_clean(line)) is not None


def _from_match(match: re.Match[str], vocab: ActionVocabulary) -> tuple[Action | None, str | None]:
    simple = match.group(1)
    if simple is not None:
        return (FORWARD if simple.lower() == "forward" else STOP), None
    argument = match.group(2).strip(_ARG_QUOTES)
    allowed = ", ".join(vocab.directions)
    if not argument:
        return None, f"turn_direction() needs a direction; use one of {allowed}"
    direction = vocab.canonical_direction(argument) if _ARG_CHARS.fullmatch(argument) else None
    if direction is not None:
        return Action("turn", direction), None
    shown = ascii_safe(" ".join(_WORD_SPLIT.split(argument.lower())).strip() or argument, 40)
    message = (
        f"'turn_direction({shown})' is not in the {vocab.name} vocabulary; use one of {allowed}"
    )
    for other in VOCABULARIES.values():
        if other is not vocab and _ARG_CHARS.fullmatch(argument):
            word = other.canonical_direction(argument)
            if word is not None:
                message += f" ({word} is a {other.name} direction)"
    return None, message


def _from_calls(
    calls: list[re.Match[str]], vocab: ActionVocabulary, where: str
) -> tuple[Action | None, str | None]:
    if len(calls) == 1:
        return _from_match(calls[0], vocab)
    listed = ", ".join(ascii_safe(m.group(0), 40) for m in calls[:_MAX_LISTED])
    more = ", ..." if len(calls) > _MAX_LISTED else ""
    return None, (
        f"found {len(calls)} actions in {where} ({listed}{more}); answer with exactly one action"
    )


def _find_calls(text: str) -> list[re.Match[str]]:
    calls = []
    for match in _CALL.finditer(text):
        calls.append(match)
        if len(calls) > _MAX_LISTED:
            break
    return calls


def _from_value(value: Any, vocab: ActionVocabulary) -> tuple[Action | None, str | None]:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None:
        return None, f"the action field is empty; answer with {vocab.describe()}"
    if not isinstance(value, str):
        return None, (
            f"the action must be text such as forward(), got {ascii_safe(str(value), 40)}; "
            f"answer with {vocab.describe()}"
        )
    text = _clean(value)
    if not text:
        return None, f"the action field is empty; answer with {vocab.describe()}"
    match = _WHOLE.fullmatch(text)
    if match is not None:
        return _from_match(match, vocab)
    if _find_calls(text):
        return None, (
            f"the action field must hold exactly one action, not '{ascii_safe(text, 40)}'; "
            f"answer with {vocab.describe()}"
        )
    return None, f"'{ascii_safe(text, 40)}' is not an action; answer with {vocab.describe()}"


_FENCE: Final = re.compile(r"```[A-Za-z0-9_+-]{0,20}[ \t]*\r?\n?(.*?)\r?\n?[ \t]*```", re.DOTALL)
_LABEL: Final = re.compile(r"(?:\*\*|__)?action(?:\*\*|__)?[ \t]{0,8}[:=][ \t]{0,8}", _FLAGS)


def _whole_answer(text: str) -> re.Match[str] | None:
    """The action when the whole answer is exactly one action.

    Whitespace, case, wrapping quotes or backticks, one code fence and an
    ``action:`` label around it are tolerated; nothing else may surround it.
    """
    body = text.strip()
    if len(body) > 200:  # far longer than any action with its wrappers
        return None
    fenced = _FENCE.fullmatch(body)
    if fenced is not None:
        body = fenced.group(1).strip()
    label = _LABEL.match(body)
    if label is not None:
        body = body[label.end() :]
    return _WHOLE.fullmatch(_clean(body))


def _text_field(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_action(text: str, vocab: ActionVocabulary) -> ParsedAction:
    """Read the action (and the reported observation/instruction) from a model response.

    Args:
        text: The raw model output.
        vocab: The direction words ``turn_direction`` may use.

    Returns:
        A :class:`ParsedAction`; ``action`` is ``None`` and ``error`` says why
        when no valid action is found. It never raises for a ``str``.

    Raises:
        TypeError: if ``text`` is not a ``str`` (a trainer bug, not model output).
    """
    if not isinstance(text, str):
        raise TypeError(f"the response must be the model's text (str), got {type(text).__name__}")
    if len(text) <= MAX_RESPONSE_CHARS:
        # Long runs of blanks inside a line make the shared line cleaner quadratic; a run is
        # cut to _MAX_BLANKS characters (it carries no meaning for the answer). The reasoning
        # is never searched, so it is left as it is (the regex costs ~13 ns per character).
        cut = reasoning_end(text)
        text = text[:cut] + _BLANK_RUN.sub(lambda m: m.group()[:_MAX_BLANKS], text[cut:])
    found = extract_fields(text, ACTION_KEYS)
    observation = _text_field(found.get("current observation"))
    instruction = _text_field(found.get("current instruction"))
    form = found.form
    if form == "too-long":
        too_long = (
            f"the response is too long ({found.length} characters; the limit is "
            f"{MAX_RESPONSE_CHARS}); answer with {vocab.describe()}"
        )
        return ParsedAction(None, too_long, None, None, form)
    if form == "cut-off":
        cut_off = (
            "the response ends inside its reasoning (an unclosed <think>), so it has no "
            f"answer; close the reasoning with </think>, then answer with {vocab.describe()}"
        )
        return ParsedAction(None, cut_off, None, None, form)
    answer = found.answer  # reasoning left out, <answer> content only when present
    action: Action | None
    error: str | None
    if "action" in found.fields:
        value = found.fields["action"]
        action, error = _from_value(value, vocab)
        if action is None and isinstance(value, str) and _CUT_CALL.fullmatch(_clean(value)):
            # {'action': 'turn_direction('north')'}: the inner quote ended the value early.
            calls = _find_calls(answer)
            if len(calls) == 1:
                action, error = _from_match(calls[0], vocab)
    elif (boxed := boxed_content(answer)) is not None:
        form = "boxed"
        whole = _whole_answer(boxed)
        if whole is not None:
            action, error = _from_match(whole, vocab)
        else:
            action, error = (
                None,
                f"\\boxed{{}} must hold exactly one action, not '{ascii_safe(boxed, 40)}'; "
                f"answer with {vocab.describe()}",
            )
    else:
        whole = _whole_answer(answer)
        if whole is not None:
            form = "bare"
            action, error = _from_match(whole, vocab)
        elif _find_calls(answer):
            action, error = (
                None,
                (
                    'actions mentioned in prose are not an answer; give the "action" field or '
                    f"answer with exactly one action: {vocab.describe()}"
                ),
            )
        else:
            action, error = None, f"no action found; answer with {vocab.describe()}"
    return ParsedAction(action, error, observation, instruction, form)
