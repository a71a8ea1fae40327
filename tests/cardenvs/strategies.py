"""Hypothesis strategies shared by the cardenvs tests."""

from __future__ import annotations

from hypothesis import strategies as st


def formula_trees(
    numbers: st.SearchStrategy[int] | None = None, max_leaves: int = 6
) -> st.SearchStrategy[str]:
    """Random fully parenthesised formulas over small numbers."""
    leaves = (numbers if numbers is not None else st.integers(0, 20)).map(str)

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.tuples(children, st.sampled_from("+-*/"), children).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)
