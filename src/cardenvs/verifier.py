"""Judging one attempt: response text -> :class:`Verdict` (category, reward, message).

Categories, checked in this order (the first that applies wins, so each
attempt gets exactly one verdict):

==================== ======= ===========================================================
category             reward  when
==================== ======= ===========================================================
``wrong_recognition`` -1.5   image mode: the answer has fields but its ``cards`` are missing
                             or differ from the dealt ones (an answer with no fields at all
                             is ``illegal_formula``)
``illegal_formula``   -3     no formula, not a string, cannot be parsed, banned operator,
                             too long or too deep, division by zero
``wrong_numbers``     -2     a number that is not a card's, a card's number used twice,
                             a card left out, digits of two cards glued together ("12")
``wrong_value``       -1     legal, exactly the dealt numbers, but not the target (or a
                             false ``= N`` claim)
``correct``           +5     exactly the dealt numbers, value equals the target; confirmed
                             by sympy from the parse tree
==================== ======= ===========================================================

Rewards are the paper's values and can be overridden per category; ``exhausted``
(default -1, the paper's) is added to the last failed attempt of an episode, on
top of that attempt's own penalty.

Feedback levels (``feedback=``), the message of a failed attempt:

* ``"detailed"``: specific and helpful: the value reached (``evaluates to 23,
  not 24``), the position of a syntax error, digits glued together, the
  misread ranks.
* ``"paper"``: what the paper's reference code tells the model, in our words:
  the category and, for numbers, which numbers are not the cards', used too
  often or left out; never the value reached, a position, a misread rank or a
  hint toward a solution.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from cardenvs.cards import RANKS, rank_from_name
from cardenvs.expression import ExpressionError, pair_value, parse, sympy_value
from cardenvs.rules import Rule
from oodgym.responses import MAX_RESPONSE_CHARS, Extraction, extract_fields
from oodgym.rewards import merge_rewards
from oodgym.textspace import ascii_safe

__all__ = [
    "ANSWER_KEYS",
    "CATEGORIES",
    "DEFAULT_REWARDS",
    "FEEDBACK_LEVELS",
    "Verdict",
    "Verifier",
    "formula_in_sentence",
    "looks_like_formula",
    "resolve_rewards",
]

CATEGORIES: Final = (
    "correct",
    "wrong_value",
    "wrong_numbers",
    "illegal_formula",
    "wrong_recognition",
)
DEFAULT_REWARDS: Final[Mapping[str, float]] = {
    "correct": 5.0,
    "wrong_value": -1.0,
    "wrong_numbers": -2.0,
    "illegal_formula": -3.0,
    "wrong_recognition": -1.5,
    "exhausted": -1.0,
}
#: Feedback levels (see the module docstring).
FEEDBACK_LEVELS: Final = ("paper", "detailed")

# feedback="paper": what an illegal formula is told, by ExpressionError kind.
_PAPER_ILLEGAL: Final[Mapping[str, str]] = {
    "empty": "the formula is empty",
    "too_long": "the formula is too long",
    "too_deep": "its parentheses are nested too deeply",
    "bad_character": "it holds a character that is not allowed",
    "name": "it holds a name or a letter",
    "power": "powers are not allowed",
    "decimal": "decimal numbers are not allowed",
    "leading_zero": "a number has a leading zero",
    "number_too_long": "a number has too many digits",
    "unary": "a sign stands before a number (no unary minus or plus)",
    "banned_operator": "it uses an operator that the rule does not allow",
    "syntax": "its operators, numbers and parentheses are not in a valid order",
    "division_by_zero": "it divides by zero",
}
#: Keys of the paper's answer shape.
ANSWER_KEYS: Final = ("cards", "number", "formula")

_RANK_ORDER: Final = list(RANKS)
#: Reported names that are already canonical ranks (the common case, looked up at once).
_CANONICAL: Final[Mapping[str, str]] = {rank: rank for rank in RANKS}
_PAPER_MISREAD: Final = "The cards you reported are not the cards shown in the image."
# A formula line: numbers, operators, parentheses, "=" and the near misses that the parser
# names precisely (^ for a power, x for times, a decimal point), so that a bare line gets the
# message the same formula gets in a JSON field.
_FORMULA_LINE: Final = re.compile(r"[0-9()= \t.+\-*/×÷−–·∗∕^xX]+")
_LINE_OPERATOR: Final = re.compile(r"[+\-*/×÷−–·∗∕^xX]")
# A formula in prose: such a run ("." only as a decimal point, no "x": it starts words).
_SPAN: Final = re.compile(r"(?:[-−–](?=[0-9(]))?[0-9(](?:[0-9()= \t^+\-*/×÷−–·∗∕]|\.(?=[0-9]))*")
_SPAN_OPERATOR: Final = re.compile(r"[+\-*/×÷−–·∗∕^]")
_NUMBER_RUN: Final = re.compile(r"[0-9]+")
# LaTeX that models write inside \boxed{} or $...$: operators, sizing and spacing commands.
_LATEX: Final = re.compile(r"\\(?:(times|cdot|ast)|(div)|left|right|[,;:! ()\[\]])")


def _from_latex(text: str) -> str:
    r"""``\times``/``\cdot`` as ``*``, ``\div`` as ``/``; sizing, spacing, delimiters dropped."""
    return _LATEX.sub(lambda m: "*" if m.group(1) else "/" if m.group(2) else " ", text)


def looks_like_formula(line: str) -> bool:
    r"""True for a bare line made only of numbers, operators, parentheses and ``=``.

    Near misses count too (``^``, ``x`` for times, decimals, LaTeX such as
    ``\times``), so that they are judged and told what is wrong.
    """
    if len(line) > 512:
        return False
    if "\\" in line:
        line = _from_latex(line)
    if _FORMULA_LINE.fullmatch(line) is None or _NUMBER_RUN.search(line) is None:
        return False
    return _LINE_OPERATOR.search(line) is not None


def formula_in_sentence(sentence: str) -> str | None:
    """The last formula stated in a sentence of prose, or ``None``.

    A formula is a run of numbers, operators, parentheses and ``=`` that holds
    at least two numbers and an operator; a trailing ``=`` and unmatched
    closing parentheses are left out.

    Example:
        >>> formula_in_sentence("The answer is (8-4)*(9-3) = 24")
        '(8-4)*(9-3) = 24'
    """
    if _NUMBER_RUN.search(sentence) is None or (
        _SPAN_OPERATOR.search(sentence) is None and "\\" not in sentence
    ):
        return None  # the common case in prose, decided at C speed
    if "\\" in sentence:
        sentence = _from_latex(sentence)
    for match in reversed(list(_SPAN.finditer(sentence))):
        span = match.group().strip().rstrip("=").rstrip()
        excess = span.count(")") - span.count("(")
        end = len(span)
        while excess > 0 and end and span[end - 1] in ") \t":
            excess -= span[end - 1] == ")"
            end -= 1
        span = span[:end]
        if len(_NUMBER_RUN.findall(span)) >= 2 and _SPAN_OPERATOR.search(span.lstrip("-−–")):
            return span
    return None


def resolve_rewards(rewards: Mapping[str, float] | None) -> dict[str, float]:
    """Defaults overridden by ``rewards``.

    Raises:
        ValueError: naming an unknown category or a non-numeric reward.
    """
    return merge_rewards(DEFAULT_REWARDS, rewards)


class Verdict(NamedTuple):
    """The judgement of one attempt (an immutable named tuple).

    Attributes:
        category: One of :data:`CATEGORIES`.
        reward: The reward for this category.
        message: A specific, ASCII-only explanation shown to the model.
        formula: The formula that was judged, if one was found.
        value: Its exact value as text (``"24"``, ``"47/2"``), if it was evaluated.
    """

    category: str
    reward: float
    message: str
    formula: str | None = None
    value: str | None = None

    @property
    def is_success(self) -> bool:
        """True for ``correct``."""
        return self.category == "correct"


def _value_text(num: int, den: int) -> str:
    """Reduced ``num/den`` as text ("24", "-47/2"), without building a Fraction."""
    divisor = math.gcd(num, den)
    if den < 0:
        divisor = -divisor
    num, den = num // divisor, den // divisor
    return str(num) if den == 1 else f"{num}/{den}"


def _show(text: str) -> str:
    if len(text) <= 40:
        return text
    digits = len(text.split("/")[0].lstrip("-"))
    return f"a number with {digits} digits"


def _list(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _few(values: Sequence[int], limit: int = 8) -> str:
    """At most ``limit`` numbers, then how many more (a formula may hold 100 numbers)."""
    if len(values) <= limit:
        return _list(values)
    return f"{_list(values[:limit])} and {len(values) - limit} more"


def _glued_parts(literal: int, available: Counter[int]) -> list[int] | None:
    """Split ``literal``'s digits into 2+ available card numbers, if possible."""
    digits = str(literal)

    def split(rest: str, pool: Counter[int]) -> list[int] | None:
        if not rest:
            return []
        for end in range(1, len(rest) + 1):
            head = rest[:end]
            if len(head) > 1 and head[0] == "0":
                break
            value = int(head)
            if pool[value] > 0:
                pool[value] -= 1
                tail = split(rest[end:], pool)
                pool[value] += 1
                if tail is not None:
                    return [value, *tail]
        return None

    if len(digits) < 2 or len(digits) > 12:
        return None
    parts = split(digits, Counter(available))
    return parts if parts is not None and len(parts) >= 2 else None


class Verifier:
    """Judges attempts for one rule.

    Args:
        rule: The active rule (target, operators).
        rewards: Per-category overrides of :data:`DEFAULT_REWARDS`.
        feedback: ``"detailed"`` (default) or ``"paper"``: how much a failure's
            message says (see the module docstring).

    Raises:
        ValueError: an unknown reward category or feedback level.
    """

    def __init__(
        self, rule: Rule, rewards: Mapping[str, float] | None = None, feedback: str = "detailed"
    ) -> None:
        if feedback not in FEEDBACK_LEVELS:
            raise ValueError(f"feedback must be one of {list(FEEDBACK_LEVELS)}; got {feedback!r}")
        self.rule = rule
        self.rewards = resolve_rewards(rewards)
        self.feedback = feedback
        self._paper = feedback == "paper"
        # Load sympy (it confirms every success; importing it takes ~0.2 s) and run a
        # success's first-call paths (pattern compilation, sympy's number arithmetic) now,
        # not at the first correct answer of the process.
        target = rule.target
        for one in range(1, 9):  # a few rounds: the interpreter specialises hot paths
            answer = f'{{"cards": ["A"], "number": [{target}, {one}], "formula": '
            answer += f'"({target}+{one}-{one})*{one}/{one}={target}"}}'
            self.judge(answer, [target, one, one, one, one], ranks=["A"])
        self._sympy_confirms(parse("(1+2)*8/3-1").root)

    def _verdict(self, category: str, message: str, **extra: Any) -> Verdict:
        return Verdict(category, self.rewards[category], message, **extra)

    def extract(self, response: str) -> Extraction:
        r"""The answer fields of a raw response (never raises for a ``str``).

        The precedence is :mod:`oodgym.responses`': reasoning is never searched,
        ``<answer>`` content is preferred, then the ``formula`` field of an
        object or a ``formula:`` line, a ``\boxed{}`` formula, a bare formula
        line, a formula in one of the closing sentences, and last a whole
        ``\boxed{}`` or one-line ``<answer>`` content.
        """
        return extract_fields(
            response,
            ANSWER_KEYS,
            bare_key="formula",
            is_bare=looks_like_formula,
            in_sentence=formula_in_sentence,
        )

    def judge(
        self,
        response: str,
        numbers: Sequence[int],
        *,
        ranks: Sequence[str] | None = None,
    ) -> Verdict:
        """Judge a raw model response.

        Args:
            response: The model's text.
            numbers: The values of the dealt cards.
            ranks: The dealt ranks, to check the reported ``cards`` (image mode);
                ``None`` skips the recognition check.

        Raises:
            TypeError: if ``response`` is not a ``str``.
        """
        fields = self.extract(response)
        if fields.form == "too-long":
            return self._verdict(
                "illegal_formula",
                "The answer is too long."
                if self._paper
                else f"The response has {fields.length} characters; the limit is "
                f"{MAX_RESPONSE_CHARS}. Answer briefly with the JSON object.",
            )
        if fields.form == "cut-off":
            return self._verdict(
                "illegal_formula",
                "No formula was found in the answer."
                if self._paper
                else "No formula found: the response ends inside its reasoning (an unclosed "
                "<think>), so it has no answer. Close the reasoning with </think>, then answer "
                "with the JSON object.",
            )
        if ranks is not None and fields.fields:
            # An answer with no fields at all is illegal (-3), not merely misread (-1.5):
            # otherwise leaving the cards out would be a cheaper way to fail.
            recognition = self._check_recognition(fields, ranks)
            if recognition is not None:
                return recognition
        if "formula" not in fields.fields:
            return self._verdict(
                "illegal_formula",
                "No formula was found in the answer."
                if self._paper
                else 'No formula found. Answer with a JSON object such as {"cards": ["A", "2", '
                '"3", "4"], "number": [1, 2, 3, 4], "formula": "(1+2+3)*4=24"}.',
            )
        return self.judge_formula(fields.fields["formula"], numbers)

    def judge_formula(self, formula: object, numbers: Sequence[int]) -> Verdict:
        r"""Judge a formula field (any JSON value) against the dealt card values.

        Whatever carried it (a JSON field, a bare line, ``\boxed{}``...), the
        same formula gets the same verdict and message. LaTeX operators
        (``\times``, ``\cdot``, ``\div``) are read as ``*`` and ``/``.
        """
        if isinstance(formula, str) and "\\" in formula:
            formula = _from_latex(formula)
        if formula is None or (self._paper and not isinstance(formula, str)):
            return self._verdict(
                "illegal_formula",
                "The formula is not a string."
                if self._paper
                else 'The formula is null; give it as a string such as "(1+2+3)*4".',
            )
        if not isinstance(formula, str):
            kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list"}.get(
                type(formula), "an object"
            )
            shown = ascii_safe(repr(formula), 30) if isinstance(formula, (int, float)) else ""
            detail = f" ({shown})" if shown else ""
            return self._verdict(
                "illegal_formula",
                f'The formula must be a string, got {kind}{detail}; write it like "(1+2+3)*4".',
            )
        try:
            expression = parse(formula, operators=self.rule.operators)
            num, den = pair_value(expression.root)
        except ExpressionError as err:
            if self._paper:
                reason = _PAPER_ILLEGAL.get(err.kind, "it cannot be read")
                return self._verdict(
                    "illegal_formula", f"The formula is illegal: {reason}.", formula=formula
                )
            if err.position is None and err.kind == "division_by_zero":
                err = self._precise_error(formula, err)
            return self._verdict("illegal_formula", f"Illegal formula: {err}.", formula=formula)

        if sorted(expression.numbers) != sorted(numbers):
            problem = (
                self._paper_numbers_problem(expression.numbers, numbers)
                if self._paper
                else self._numbers_problem(expression.numbers, numbers)
            )
            return self._verdict(
                "wrong_numbers", problem, formula=formula, value=_value_text(num, den)
            )

        target = self.rule.target
        if num != target * den:
            value = _value_text(num, den)
            return self._verdict(
                "wrong_value",
                f"The formula does not evaluate to {target}."
                if self._paper
                else f"The formula uses your cards correctly but evaluates to {_show(value)}, "
                f"not {target}.",
                formula=formula,
                value=value,
            )
        if expression.claimed is not None and expression.claimed != target:
            return self._verdict(
                "wrong_value",
                f"The number after '=' must be {target}."
                if self._paper
                else f"The formula evaluates to {target}, but it claims = {expression.claimed}.",
                formula=formula,
                value=str(target),
            )
        if not self._sympy_confirms(expression.root):
            # Cannot happen unless the exact evaluator is wrong; never reward it.
            warnings.warn(
                f"sympy disagrees with the exact evaluator on {formula!r}; not rewarded",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._verdict(
                "wrong_value",
                f"The formula does not evaluate to {target}."
                if self._paper
                else "The formula could not be confirmed by the symbolic check.",
                formula=formula,
                value=str(target),
            )
        return self._verdict(
            "correct", f"Correct: the formula reaches {target}.", formula=formula, value=str(target)
        )

    def _precise_error(self, formula: str, err: ExpressionError) -> ExpressionError:
        """Re-read a formula with positions to word an evaluation error precisely."""
        try:
            pair_value(parse(formula, operators=self.rule.operators, precise=True).root)
        except ExpressionError as precise:
            return precise
        return err

    def _sympy_confirms(self, root: Any) -> bool:
        import sympy

        value = sympy_value(root)
        return bool(value.is_Integer and value == sympy.Integer(self.rule.target))

    @staticmethod
    def _numbers_problem(used: Sequence[int], dealt: Sequence[int]) -> str:
        used_count = Counter(used)
        dealt_count = Counter(dealt)
        cards = _list(dealt)
        for literal in used:
            if literal not in dealt_count:
                parts = _glued_parts(literal, dealt_count)
                if parts is not None:
                    joined = " and ".join(map(str, parts))
                    return (
                        f"{literal} is not one of your cards {cards}: digits of different cards "
                        f"cannot be joined ({literal} is {joined} written together)."
                    )
                return f"{literal} is not one of your cards {cards}."
        for value, count in sorted(used_count.items()):
            have = dealt_count[value]
            if count > have:
                times = "once" if have == 1 else f"{have} times"
                return (
                    f"{value} is used {count} times but your cards {cards} have it only {times}; "
                    "each card is used exactly once."
                )
        missing = sorted((dealt_count - used_count).elements())
        return (
            f"The formula does not use {_list(missing)}; every card ({cards}) "
            "must be used exactly once."
        )

    @staticmethod
    def _paper_numbers_problem(used: Sequence[int], dealt: Sequence[int]) -> str:
        """The reference's information: numbers not dealt, else overused; and those left out."""
        used_count = Counter(used)
        dealt_count = Counter(dealt)
        sentences = []
        invalid = [n for n in used_count if n not in dealt_count]
        overused = [n for n in used_count if n in dealt_count and used_count[n] > dealt_count[n]]
        missing = sorted(n for n in dealt_count if used_count[n] < dealt_count[n])
        if invalid:
            sentences.append(
                f"The formula uses numbers that are not the cards' numbers: {_few(invalid)}."
            )
        elif overused:
            sentences.append(
                f"The formula uses numbers more often than the cards hold them: {_few(overused)}."
            )
        if missing:
            sentences.append(f"The formula leaves out card numbers: {_list(missing)}.")
        return " ".join(sentences)

    def _check_recognition(self, fields: Extraction, ranks: Sequence[str]) -> Verdict | None:
        if self._paper:  # one sentence for every misreading: the details are not worded
            if self._misread(fields, ranks) is None:
                return None
            return self._verdict("wrong_recognition", _PAPER_MISREAD)
        return self._check_recognition_detailed(fields, ranks)

    def _misread(self, fields: Extraction, ranks: Sequence[str]) -> bool | None:
        """``None`` when the reported cards are the dealt ranks; else ``True`` (paper mode)."""
        reported = fields.fields.get("cards")
        if isinstance(reported, list):
            seen: list[str] = []
            for item in reported:
                rank = _CANONICAL.get(item) if item.__class__ is str else None
                if rank is None:
                    if isinstance(item, bool) or not isinstance(item, (str, int)):
                        return True
                    rank = rank_from_name(str(item))
                    if rank is None:
                        return True
                seen.append(rank)
            dealt = list(ranks)
            try:
                same = sorted(seen) == sorted(dealt)
            except TypeError:  # ranks that do not sort: count them
                same = Counter(seen) == Counter(dealt)
            return None if same else True
        # No list: the detailed check words the case (a string of names, or nothing).
        return None if self._check_recognition_detailed(fields, ranks) is None else True

    def _check_recognition_detailed(
        self, fields: Extraction, ranks: Sequence[str]
    ) -> Verdict | None:
        reported = fields.fields.get("cards")
        if reported is None:
            return self._verdict(
                "wrong_recognition",
                'The answer has no "cards" field: report the cards you see, e.g. '
                '"cards": ["Q", "10", "A", "3"].',
            )
        if isinstance(reported, str):
            reported = [p for p in reported.replace(",", " ").split() if p]
        if not isinstance(reported, list):
            return self._verdict(
                "wrong_recognition", '"cards" must be a list of card names such as ["Q", "10"].'
            )
        seen: list[str] = []
        for item in reported:
            rank = rank_from_name(str(item)) if isinstance(item, (str, int)) else None
            if rank is None or isinstance(item, bool):
                return self._verdict(
                    "wrong_recognition",
                    f"'{ascii_safe(str(item), 20)}' is not a card name; use A, 2-10, J, Q or K.",
                )
            seen.append(rank)
        dealt = Counter(ranks)
        got = Counter(seen)
        if got == dealt:
            return None
        # Name what was misread, never the true cards: that would give the answer away.
        misread = sorted((got - dealt).elements(), key=_RANK_ORDER.index)
        if misread:
            verb = "is" if len(misread) == 1 else "are"
            detail = f"{_list(misread)} {verb} not on the table as you reported"
        else:
            detail = "some cards on the table are missing from your list"
        return self._verdict(
            "wrong_recognition",
            f"Wrong cards: {detail} (you reported {len(seen)} cards; {len(ranks)} are shown). "
            "Look at the image again.",
        )
