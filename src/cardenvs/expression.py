"""Arithmetic formulas: tokenizer, parser, exact evaluation, sympy confirmation.

Model output is data, never code: this module reads a formula with a
hand-written tokenizer and recursive-descent parser into a small tree, evaluates
the tree with :class:`fractions.Fraction`, and builds sympy expressions from the
tree (``Integer``, ``Add``, ``Mul``, ``Pow(x, -1)``), never from a string.

Grammar (whitespace allowed anywhere between tokens)::

    formula := expr [ "=" integer ]
    expr    := term { ("+" | "-") term }
    term    := factor { ("*" | "/") factor }
    factor  := integer | "(" expr ")"
    integer := ASCII digits, no leading zero, at most MAX_DIGITS digits

``×`` and ``·`` are read as ``*``, ``÷`` as ``/``, ``−`` (minus sign) and
``–`` (en dash) as ``-``. There is no unary minus, no power, no decimal point
and no names.

Work is bounded: formulas longer than :data:`MAX_FORMULA_CHARS` characters,
with more than :data:`MAX_TOKENS` tokens, or with parentheses nested deeper
than :data:`MAX_DEPTH` are rejected before parsing, so no input can cause a
``RecursionError`` or unbounded time.

Example:
    >>> expr = parse("8 / (3 - 8/3) = 24")
    >>> evaluate(expr.root), expr.numbers, expr.claimed
    (Fraction(24, 1), (8, 3, 8, 3), 24)
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Final, NamedTuple

from oodgym.textspace import ascii_safe

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_FORMULA_CHARS",
    "MAX_TOKENS",
    "Expression",
    "ExpressionError",
    "Node",
    "evaluate",
    "pair_value",
    "parse",
    "sympy_value",
    "to_sympy",
    "to_text",
]

#: Longest formula accepted, in characters (whitespace included).
MAX_FORMULA_CHARS: Final = 512
#: Most tokens (numbers, operators, parentheses) in one formula.
MAX_TOKENS: Final = 200
#: Deepest nesting of parentheses.
MAX_DEPTH: Final = 32
#: Most digits in one number.
MAX_DIGITS: Final = 9

_OPERATOR_ALIASES: Final[dict[str, str]] = {
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "×": "*",
    "·": "*",
    "∗": "*",
    "÷": "/",
    "∕": "/",
    "−": "-",
    "–": "-",
}
_OPERATOR_NAMES: Final[dict[str, str]] = {
    "+": "addition (+)",
    "-": "subtraction (-)",
    "*": "multiplication (*)",
    "/": "division (/)",
}


class ExpressionError(ValueError):
    """A formula that cannot be judged legal.

    Attributes:
        kind: Machine-readable reason: ``empty``, ``too_long``, ``too_deep``,
            ``bad_character``, ``name``, ``power``, ``decimal``, ``leading_zero``,
            ``number_too_long``, ``unary``, ``banned_operator``, ``syntax`` or
            ``division_by_zero``.
        position: 0-based character offset in the formula, when known.
    """

    def __init__(self, kind: str, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.position = position


#: A formula tree: an ``int`` leaf, or ``(op, left, right, position)`` with ``op`` in ``+-*/``.
Node = Any


class Expression(NamedTuple):
    """A parsed formula (an immutable named tuple).

    Attributes:
        root: The tree of the left-hand side.
        numbers: The integer literals of the left-hand side, in reading order.
        claimed: The number after ``=``, or ``None`` when there is no suffix.
        text: The formula as given.
    """

    root: Node
    numbers: tuple[int, ...]
    claimed: int | None
    text: str


# Token kinds: "n" number, "o" operator, "(" and ")", "=".
_Token = tuple[str, Any, int]


def _tokenize(text: str, operators: str) -> list[_Token]:
    tokens: list[_Token] = []
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if "0" <= ch <= "9":
            j = i
            while j < n and "0" <= text[j] <= "9":
                j += 1
            digits = text[i:j]
            if j < n and text[j] in ".," and j + 1 < n and "0" <= text[j + 1] <= "9":
                raise ExpressionError(
                    "decimal",
                    f"decimal numbers are not allowed (at position {i}); use whole numbers",
                    i,
                )
            if len(digits) > MAX_DIGITS:
                raise ExpressionError(
                    "number_too_long",
                    f"number at position {i} has more than {MAX_DIGITS} digits",
                    i,
                )
            if len(digits) > 1 and digits[0] == "0":
                raise ExpressionError(
                    "leading_zero", f"number {digits} at position {i} has a leading zero", i
                )
            tokens.append(("n", int(digits), i))
            i = j
        elif ch in _OPERATOR_ALIASES:
            op = _OPERATOR_ALIASES[ch]
            nxt = i + 1
            while nxt < n and text[nxt].isspace():
                nxt += 1
            if op == "*" and nxt < n and _OPERATOR_ALIASES.get(text[nxt]) == "*":
                raise ExpressionError("power", f"'**' (power) is not allowed (at position {i})", i)
            if op == "/" and nxt < n and text[nxt] == "/":
                raise ExpressionError(
                    "syntax", f"'//' is not an operator (at position {i}); use '/'", i
                )
            if op not in operators:
                allowed = " ".join(operators)
                raise ExpressionError(
                    "banned_operator",
                    f"{_OPERATOR_NAMES[op]} is not allowed by this rule (allowed: {allowed})",
                    i,
                )
            tokens.append(("o", op, i))
            i += 1
        elif ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    "too_deep", f"parentheses are nested deeper than {MAX_DEPTH} levels", i
                )
            tokens.append(("(", ch, i))
            i += 1
        elif ch == ")":
            depth -= 1
            tokens.append((")", ch, i))
            i += 1
        elif ch == "=":
            tokens.append(("=", ch, i))
            i += 1
        elif ch == "^":
            raise ExpressionError("power", f"'^' (power) is not allowed (at position {i})", i)
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_") and j - i < 24:
                j += 1
            name = text[i:j]
            hint = "; use * for multiplication" if name in ("x", "X") else ""
            raise ExpressionError(
                "name",
                f"names such as '{ascii_safe(name, 24)}' are not allowed (at position {i}){hint}",
                i,
            )
        else:
            raise ExpressionError(
                "bad_character",
                f"unexpected character '{ascii_safe(ch)}' at position {i}; "
                "use only whole numbers, + - * / and parentheses",
                i,
            )
        if len(tokens) > MAX_TOKENS:
            raise ExpressionError(
                "too_long", f"the formula has more than {MAX_TOKENS} numbers/operators", i
            )
    return tokens


_FAST_TOKEN: Final = re.compile(r"[0-9]+|\S")


_PREC: Final[dict[str, int]] = {"+": 1, "-": 1, "*": 2, "/": 2}


def _parse_fast(text: str, operators: str) -> Expression | None:
    """Single-loop operator-precedence parse of a well-formed formula.

    Returns ``None`` for anything irregular (bad characters, syntax errors,
    caps exceeded): :func:`parse` then re-reads the formula with the detailed
    tokenizer and recursive-descent parser, which words the error precisely.
    Both parsers build the same tree; a property test holds them to it.
    """
    pieces = _FAST_TOKEN.findall(text)
    count = len(pieces)
    if count > MAX_TOKENS or count == 0:
        return None
    out: list[Node] = []
    stack: list[str] = []
    numbers: list[int] = []
    expect_operand = True
    depth = 0
    claimed: int | None = None
    aliases = _OPERATOR_ALIASES
    prec = _PREC
    i = 0
    while i < count:
        piece = pieces[i]
        first = piece[0]
        if expect_operand:
            if "0" <= first <= "9":
                if len(piece) > MAX_DIGITS or (first == "0" and len(piece) > 1):
                    return None
                value = int(piece)
                out.append(value)
                numbers.append(value)
                expect_operand = False
            elif piece == "(":
                depth += 1
                if depth > MAX_DEPTH:
                    return None
                stack.append("(")
            else:
                return None
        elif piece in aliases:
            op = aliases[piece]
            if op not in operators:
                return None
            level = prec[op]
            while stack and stack[-1] != "(" and prec[stack[-1]] >= level:
                right = out.pop()
                out.append((stack.pop(), out.pop(), right, -1))
            stack.append(op)
            expect_operand = True
        elif piece == ")":
            depth -= 1
            if depth < 0:
                return None
            while stack[-1] != "(":
                right = out.pop()
                out.append((stack.pop(), out.pop(), right, -1))
            stack.pop()
        elif piece == "=" and i + 2 == count:
            rhs = pieces[i + 1]
            if (
                not ("0" <= rhs[0] <= "9")
                or len(rhs) > MAX_DIGITS
                or (rhs[0] == "0" and len(rhs) > 1)
            ):
                return None
            claimed = int(rhs)
            break
        else:
            return None
        i += 1
    if expect_operand or depth != 0:
        return None
    while stack:
        right = out.pop()
        out.append((stack.pop(), out.pop(), right, -1))
    return Expression(out[0], tuple(numbers), claimed, text)


class _Parser:
    """Recursive descent over a token list; depth is bounded by the tokenizer's caps."""

    __slots__ = ("n", "numbers", "pos", "tokens")

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.n = len(tokens)
        self.pos = 0
        self.numbers: list[int] = []

    def expr(self) -> Node:
        node = self.term()
        tokens, n = self.tokens, self.n
        while self.pos < n:
            kind, op, pos = tokens[self.pos]
            if kind != "o" or (op != "+" and op != "-"):
                break
            self.pos += 1
            node = (op, node, self.term(), pos)
        return node

    def term(self) -> Node:
        node = self.factor()
        tokens, n = self.tokens, self.n
        while self.pos < n:
            kind, op, pos = tokens[self.pos]
            if kind != "o" or (op != "*" and op != "/"):
                break
            self.pos += 1
            node = (op, node, self.factor(), pos)
        return node

    def factor(self) -> Node:
        if self.pos >= self.n:
            raise ExpressionError("syntax", "the formula ends where a number was expected")
        kind, value, pos = self.tokens[self.pos]
        if kind == "n":
            self.pos += 1
            self.numbers.append(value)
            return value
        if kind == "(":
            self.pos += 1
            node = self.expr()
            if self.pos >= self.n or self.tokens[self.pos][0] != ")":
                where = (
                    f"at position {self.tokens[self.pos][2]}" if self.pos < self.n else "at the end"
                )
                raise ExpressionError(
                    "syntax", f"missing ')' for the '(' at position {pos} ({where})", pos
                )
            self.pos += 1
            return node
        if kind == "o" and value in "+-":
            raise ExpressionError(
                "unary",
                f"unary '{value}' is not allowed (at position {pos}); every operator needs "
                "a number on both sides",
                pos,
            )
        if kind == ")":
            raise ExpressionError("syntax", f"unexpected ')' at position {pos}", pos)
        if kind == "=":
            raise ExpressionError(
                "syntax", f"'=' at position {pos} where a number was expected", pos
            )
        raise ExpressionError(
            "syntax", f"'{value}' at position {pos} where a number was expected", pos
        )


def _parse_tokens(tokens: list[_Token], text: str) -> Expression:
    if not tokens:
        raise ExpressionError("empty", "the formula is empty")
    parser = _Parser(tokens)
    root = parser.expr()
    claimed: int | None = None
    if parser.pos < parser.n:
        kind, value, pos = tokens[parser.pos]
        if kind == "=":
            parser.pos += 1
            if parser.pos >= parser.n or tokens[parser.pos][0] != "n":
                raise ExpressionError(
                    "syntax", f"'=' at position {pos} must be followed by a single number", pos
                )
            claimed = tokens[parser.pos][1]
            parser.pos += 1
            if parser.pos < parser.n:
                _, extra, extra_pos = tokens[parser.pos]
                raise ExpressionError(
                    "syntax",
                    f"unexpected '{extra}' at position {extra_pos}: after '=' only one number "
                    "may follow",
                    extra_pos,
                )
        elif kind == ")":
            raise ExpressionError("syntax", f"unmatched ')' at position {pos}", pos)
        else:
            raise ExpressionError(
                "syntax", f"missing operator before '{value}' at position {pos}", pos
            )
    return Expression(root, tuple(parser.numbers), claimed, text)


def parse(text: str, *, operators: str = "+-*/", precise: bool = False) -> Expression:
    """Parse a formula.

    Args:
        text: The formula, e.g. ``"(10 - 4) × 4 = 24"``.
        operators: Allowed operators; others are ``banned_operator`` errors.
        precise: Always record token positions in the tree (slower; by default a
            fast tokenizer is tried first and positions are only kept on errors).

    Raises:
        ExpressionError: with a ``kind`` and a message naming the problem.
        TypeError: if ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"formula must be a str, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_CHARS:
        raise ExpressionError(
            "too_long",
            f"the formula has {len(text)} characters; the limit is {MAX_FORMULA_CHARS}",
        )
    if not precise:
        fast = _parse_fast(text, operators)
        if fast is not None:
            return fast
    return _parse_tokens(_tokenize(text, operators), text)


def pair_value(node: Node) -> tuple[int, int]:
    """Value of a tree as an unreduced (numerator, denominator) pair; denominator never 0."""
    if node.__class__ is int:
        return node, 1
    op, left, right, pos = node
    a, b = pair_value(left)
    c, d = pair_value(right)
    if op == "+":
        return a * d + c * b, b * d
    if op == "-":
        return a * d - c * b, b * d
    if op == "*":
        return a * c, b * d
    if c == 0:
        raise ExpressionError(
            "division_by_zero",
            f"division by zero: the divisor of the '/' at position {pos} is 0"
            if pos >= 0
            else "division by zero: a divisor evaluates to 0",
            pos if pos >= 0 else None,
        )
    return a * d, b * c


def evaluate(node: Node) -> Fraction:
    """Exact value of a tree.

    Raises:
        ExpressionError: ``division_by_zero`` when a divisor evaluates to 0.
    """
    num, den = pair_value(node)
    return Fraction(num, den)


def to_sympy(node: Node) -> Any:
    """Build the sympy expression of a tree (no string is ever parsed by sympy)."""
    import sympy  # local: keeps ``import cardenvs`` light; sympy is only needed to confirm

    def build(n: Node) -> Any:
        if n.__class__ is int:
            return sympy.Integer(n)
        op, left, right, _ = n
        a, b = build(left), build(right)
        if op == "+":
            return sympy.Add(a, b)
        if op == "-":
            return sympy.Add(a, sympy.Mul(sympy.Integer(-1), b))
        if op == "*":
            return sympy.Mul(a, b)
        return sympy.Mul(a, sympy.Pow(b, -1))

    return build(node)


def sympy_value(node: Node) -> Any:
    """The tree's value computed by sympy's exact number arithmetic.

    Each node combines sympy numbers (``Integer`` leaves; ``+ - * /`` on sympy
    ``Rational`` values, sympy's own exact arithmetic). This is the
    confirmation used for every success: it is
    independent of our own integer-pair arithmetic and, unlike building
    ``Add``/``Mul`` objects (:func:`to_sympy`), cheap enough for every step.
    """
    import sympy

    integer = sympy.Integer

    def build(n: Node) -> Any:
        if n.__class__ is int:
            return integer(n)
        op, left, right, _ = n
        a, b = build(left), build(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b

    return build(node)


_PRECEDENCE: Final[dict[str, int]] = {"+": 1, "-": 1, "*": 2, "/": 2}


def to_text(node: Node) -> str:
    """Render a tree with the fewest parentheses that keep its meaning."""
    if node.__class__ is int:
        return str(node)
    op, left_node, right_node, _ = node
    prec = _PRECEDENCE[op]
    left = to_text(left_node)
    if left_node.__class__ is not int and _PRECEDENCE[left_node[0]] < prec:
        left = f"({left})"
    right = to_text(right_node)
    if right_node.__class__ is not int:
        right_prec = _PRECEDENCE[right_node[0]]
        # a-(b+c), a/(b*c) and a*(b+c) need the parentheses; a+(b*c) does not.
        if right_prec < prec or (right_prec == prec and op in "-/"):
            right = f"({right})"
    return f"{left}{op}{right}"
