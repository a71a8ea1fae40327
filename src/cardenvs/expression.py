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

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

from oodgym.textspace import ascii_safe

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_FORMULA_CHARS",
    "MAX_TOKENS",
    "BinOp",
    "Expression",
    "ExpressionError",
    "Node",
    "Num",
    "evaluate",
    "parse",
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


class Num:
    """A number literal."""

    __slots__ = ("pos", "value")

    def __init__(self, value: int, pos: int) -> None:
        self.value = value
        self.pos = pos

    def __repr__(self) -> str:
        return f"Num({self.value})"


class BinOp:
    """A binary operation ``left op right`` with ``op`` in ``+ - * /``."""

    __slots__ = ("left", "op", "pos", "right")

    def __init__(self, op: str, left: Node, right: Node, pos: int) -> None:
        self.op = op
        self.left = left
        self.right = right
        self.pos = pos

    def __repr__(self) -> str:
        return f"BinOp({self.op!r}, {self.left!r}, {self.right!r})"


Node = Num | BinOp


@dataclass(frozen=True)
class Expression:
    """A parsed formula.

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
                    "number_too_long", f"number at position {i} has more than {MAX_DIGITS} digits", i
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
                raise ExpressionError(
                    "power", f"'**' (power) is not allowed (at position {i})", i
                )
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


class _Parser:
    __slots__ = ("numbers", "pos", "tokens")

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.numbers: list[int] = []

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self) -> Node:
        node = self.term()
        tok = self._peek()
        while tok is not None and tok[0] == "o" and tok[1] in "+-":
            self.pos += 1
            node = BinOp(tok[1], node, self.term(), tok[2])
            tok = self._peek()
        return node

    def term(self) -> Node:
        node = self.factor()
        tok = self._peek()
        while tok is not None and tok[0] == "o" and tok[1] in "*/":
            self.pos += 1
            node = BinOp(tok[1], node, self.factor(), tok[2])
            tok = self._peek()
        return node

    def factor(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise ExpressionError("syntax", "the formula ends where a number was expected")
        kind, value, pos = tok
        if kind == "n":
            self.pos += 1
            self.numbers.append(value)
            return Num(value, pos)
        if kind == "(":
            self.pos += 1
            node = self.expr()
            close = self._peek()
            if close is None or close[0] != ")":
                where = f"at position {close[2]}" if close else "at the end"
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
            raise ExpressionError("syntax", f"'=' at position {pos} where a number was expected", pos)
        raise ExpressionError("syntax", f"'{value}' at position {pos} where a number was expected", pos)


def parse(text: str, *, operators: str = "+-*/") -> Expression:
    """Parse a formula.

    Args:
        text: The formula, e.g. ``"(10 - 4) × 4 = 24"``.
        operators: Allowed operators; others are ``banned_operator`` errors.

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
    tokens = _tokenize(text, operators)
    if not tokens:
        raise ExpressionError("empty", "the formula is empty")
    parser = _Parser(tokens)
    root = parser.expr()
    claimed: int | None = None
    tok = parser._peek()
    if tok is not None and tok[0] == "=":
        parser.pos += 1
        rhs = parser._peek()
        if rhs is None or rhs[0] != "n":
            raise ExpressionError(
                "syntax", f"'=' at position {tok[2]} must be followed by a single number", tok[2]
            )
        claimed = rhs[1]
        parser.pos += 1
        tok = parser._peek()
        if tok is not None:
            raise ExpressionError(
                "syntax",
                f"unexpected '{tok[1]}' at position {tok[2]}: after '=' only one number may follow",
                tok[2],
            )
    elif tok is not None:
        if tok[0] == ")":
            raise ExpressionError("syntax", f"unmatched ')' at position {tok[2]}", tok[2])
        raise ExpressionError(
            "syntax", f"missing operator before '{tok[1]}' at position {tok[2]}", tok[2]
        )
    return Expression(root, tuple(parser.numbers), claimed, text)


def evaluate(node: Node) -> Fraction:
    """Exact value of a tree.

    Raises:
        ExpressionError: ``division_by_zero`` when a divisor evaluates to 0.
    """
    if isinstance(node, Num):
        return Fraction(node.value)
    left = evaluate(node.left)
    right = evaluate(node.right)
    op = node.op
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        raise ExpressionError(
            "division_by_zero",
            f"division by zero: the divisor of the '/' at position {node.pos} is 0",
            node.pos,
        )
    return left / right


def to_sympy(node: Node) -> Any:
    """Build the sympy expression of a tree (no string is ever parsed by sympy)."""
    import sympy  # local: keeps ``import cardenvs`` light; sympy is only needed to confirm

    if isinstance(node, Num):
        return sympy.Integer(node.value)
    left = to_sympy(node.left)
    right = to_sympy(node.right)
    if node.op == "+":
        return sympy.Add(left, right)
    if node.op == "-":
        return sympy.Add(left, sympy.Mul(sympy.Integer(-1), right))
    if node.op == "*":
        return sympy.Mul(left, right)
    return sympy.Mul(left, sympy.Pow(right, -1))


_PRECEDENCE: Final[dict[str, int]] = {"+": 1, "-": 1, "*": 2, "/": 2}


def to_text(node: Node) -> str:
    """Render a tree with the fewest parentheses that keep its meaning."""
    if isinstance(node, Num):
        return str(node.value)
    prec = _PRECEDENCE[node.op]
    left = to_text(node.left)
    if isinstance(node.left, BinOp) and _PRECEDENCE[node.left.op] < prec:
        left = f"({left})"
    right = to_text(node.right)
    if isinstance(node.right, BinOp):
        right_prec = _PRECEDENCE[node.right.op]
        # a-(b+c), a/(b*c) and a*(b+c) need the parentheses; a+(b*c) does not.
        if right_prec < prec or (right_prec == prec and node.op in "-/"):
            right = f"({right})"
    return f"{left}{node.op}{right}"
