from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardenvs.expression import (
    MAX_DEPTH,
    MAX_FORMULA_CHARS,
    ExpressionError,
    evaluate,
    parse,
    sympy_value,
    to_sympy,
    to_text,
)

from .strategies import formula_trees


@pytest.mark.parametrize(
    ("text", "value", "numbers", "claimed"),
    [
        ("8/(3-8/3)", Fraction(24), (8, 3, 8, 3), None),
        ("8 / ( 3 - 8 / 3 ) = 24", Fraction(24), (8, 3, 8, 3), 24),
        ("\t(1+2+3)\n*4", Fraction(24), (1, 2, 3, 4), None),
        ("10 × 2 + 4", Fraction(24), (10, 2, 4), None),
        ("48 ÷ 2", Fraction(24), (48, 2), None),
        ("30 − 6", Fraction(24), (30, 6), None),
        ("7-3-2", Fraction(2), (7, 3, 2), None),  # left associative
        ("8/4/2", Fraction(1), (8, 4, 2), None),
        ("1/3+1/3", Fraction(2, 3), (1, 3, 1, 3), None),
        ("0", Fraction(0), (0,), None),
    ],
)
def test_parse_and_evaluate(
    text: str, value: Fraction, numbers: tuple[int, ...], claimed: int | None
) -> None:
    expression = parse(text)
    assert evaluate(expression.root) == value
    assert expression.numbers == numbers
    assert expression.claimed == claimed


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-3+27", "unary"),
        ("3*-8", "unary"),
        ("+3", "unary"),
        ("2**3", "power"),
        ("2 * * 3", "power"),
        ("2^3", "power"),
        ("2.5*4", "decimal"),
        ("sqrt(16)", "name"),
        ("3x8", "name"),
        ("__import__('os')", "name"),
        ("08+16", "leading_zero"),
        ("1234567890", "number_too_long"),
        ("(1+2", "syntax"),
        ("1+2)", "syntax"),
        ("1 2", "syntax"),
        ("1+", "syntax"),
        ("=24", "syntax"),
        ("3*8=24=24", "syntax"),
        ("3*8=", "syntax"),
        ("6//2", "syntax"),
        ("[1+2]*8", "bad_character"),
        ("１+２", "bad_character"),  # full-width digits are not ASCII
        ("1+2;", "bad_character"),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "too_deep"),
        ("1+" * 300 + "1", "too_long"),
        ("1" + " " * MAX_FORMULA_CHARS, "too_long"),
    ],
)
def test_illegal_formulas(text: str, kind: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert info.value.kind == kind
    assert str(info.value)


def test_banned_operator() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("6/2*8", operators="+-*")
    assert info.value.kind == "banned_operator"
    assert "division" in str(info.value)


def test_division_by_zero_is_an_error_not_a_crash() -> None:
    expression = parse("8/(3-3)")
    with pytest.raises(ExpressionError) as info:
        evaluate(expression.root)
    assert info.value.kind == "division_by_zero"
    precise = parse("8/(3-3)", precise=True)
    with pytest.raises(ExpressionError) as info:
        evaluate(precise.root)
    assert info.value.position == 1


def test_5000_deep_parentheses_do_not_recurse() -> None:
    text = "(" * 5000 + "1" + ")" * 5000
    with pytest.raises(ExpressionError):
        parse(text)
    with pytest.raises(ExpressionError):
        parse(text[: MAX_FORMULA_CHARS // 2 - 1] + "1" + text[-(MAX_FORMULA_CHARS // 2 - 1) :])


def test_sympy_is_built_from_the_tree() -> None:
    import sympy

    root = parse("8/(3-8/3)").root
    assert to_sympy(root) == sympy.Integer(24)
    assert sympy_value(root) == sympy.Integer(24)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_text_never_raises_anything_but_expression_error(text: str) -> None:
    try:
        expression = parse(text)
        evaluate(expression.root)
    except ExpressionError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/()= ×÷−.^x", max_size=60))
def test_formula_like_noise_never_raises_anything_but_expression_error(text: str) -> None:
    try:
        evaluate(parse(text).root)
    except ExpressionError:
        pass


@settings(max_examples=300, deadline=None)
@given(formula_trees())
def test_exact_value_agrees_with_sympy_and_survives_printing(text: str) -> None:
    root = parse(text).root
    try:
        value = evaluate(root)
    except ExpressionError as err:
        assert err.kind == "division_by_zero"
        return
    assert sympy_value(root) == value
    assert to_sympy(root) == value
    reprinted = parse(to_text(root))
    assert evaluate(reprinted.root) == value
    assert sorted(reprinted.numbers) == sorted(parse(text).numbers)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        formula_trees(),
        st.text(alphabet="0123456789+-*/() =×÷", max_size=40),
    )
)
def test_fast_and_precise_parsers_agree(text: str) -> None:
    def outcome(precise: bool) -> object:
        try:
            expression = parse(text, precise=precise)
        except ExpressionError as err:
            return ("error", err.kind if precise else "any")
        try:
            value = evaluate(expression.root)
        except ExpressionError:
            value = None
        return (value, expression.numbers, expression.claimed)

    fast, precise = outcome(False), outcome(True)
    if isinstance(precise, tuple) and precise[0] == "error":
        assert isinstance(fast, tuple) and fast[0] == "error"
    else:
        assert fast == precise
