import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardenvs.cards import deck
from cardenvs.expression import evaluate, parse
from cardenvs.rules import RULES, Rule
from cardenvs.solver import (
    HandSampler,
    _compute_table,
    all_solutions,
    canonical_form,
    hand_sampler,
    solution_table,
    solve,
    table_payload,
)
from cardenvs.verifier import Verifier


def brute_force_solvable(values: list[int], hands: np.ndarray, target: int, ops: str) -> np.ndarray:
    """Independent check: every order x every operator triple x every bracketing,
    vectorised over all hands with exact integer (numerator, denominator) pairs."""

    def combine(x, y, op):
        (n1, d1, v1), (n2, d2, v2) = x, y
        if op == "+":
            return n1 * d2 + n2 * d1, d1 * d2, v1 & v2
        if op == "-":
            return n1 * d2 - n2 * d1, d1 * d2, v1 & v2
        if op == "*":
            return n1 * n2, d1 * d2, v1 & v2
        return n1 * d2, d1 * n2, v1 & v2 & (n2 != 0)

    solvable = np.zeros(len(hands), dtype=bool)
    ones = np.ones(len(hands), dtype=np.int64)
    valid = np.ones(len(hands), dtype=bool)
    for perm in itertools.permutations(range(4)):
        a, b, c, d = ((hands[:, i].astype(np.int64), ones, valid) for i in perm)
        for o1, o2, o3 in itertools.product(ops, repeat=3):
            shapes = [
                combine(combine(combine(a, b, o1), c, o2), d, o3),
                combine(combine(a, combine(b, c, o1), o2), d, o3),
                combine(combine(a, b, o1), combine(c, d, o3), o2),
                combine(a, combine(combine(b, c, o1), d, o2), o3),
                combine(a, combine(b, combine(c, d, o1), o2), o3),
            ]
            for n, den, ok in shapes:
                solvable |= ok & (den != 0) & (n == target * den)
    return solvable


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (RULES.resolve("face-10"), 566),  # facts from the paper's reference material
        (RULES.resolve("face-11-12-13"), 1362),
        (Rule(target=10, operators="+-*"), None),
        (Rule(target=1, face_values=(11, 12, 13), operators="-/"), None),
    ],
    ids=["face-10", "face-11-12-13", "make-10-no-division", "make-1-minus-divide"],
)
def test_solvability_table_matches_independent_brute_force(
    rule: Rule, expected: int | None
) -> None:
    hands = np.array(list(itertools.combinations_with_replacement(rule.values, 4)))
    truth = brute_force_solvable(rule.values, hands, rule.target, rule.operators)
    table = _compute_table(rule)
    ours = np.array([tuple(h) in table for h in hands.tolist()])
    assert (ours == truth).all(), [tuple(h) for h in hands[ours != truth][:5]]
    if expected is not None:
        assert int(truth.sum()) == expected
    verifier = Verifier(rule)
    for hand, formula in itertools.islice(table.items(), 0, None, 7):
        assert verifier.judge_formula(formula, list(hand)).category == "correct", (hand, formula)


@pytest.mark.parametrize("name", ["face-10", "face-11-12-13"])
def test_shipped_tables_are_current(name: str) -> None:
    rule = RULES.resolve(name)
    payload = table_payload(rule)
    table = solution_table(rule)
    assert {",".join(map(str, k)): v for k, v in sorted(table.items())} == payload["solutions"]


def test_known_unique_solutions() -> None:
    rule = RULES.resolve("face-10")
    assert solve([3, 3, 8, 8], rule) == ["8/(3-8/3)"]
    assert solve([1, 5, 5, 5], rule) == ["(5-1/5)*5"]
    assert solve([1, 1, 1, 1], rule) == []


def test_solutions_are_distinct_up_to_commutativity_and_associativity() -> None:
    rule = RULES.resolve("face-10")
    solutions = solve([1, 2, 3, 4], rule)
    forms = [canonical_form(parse(s).root) for s in solutions]
    assert len(set(forms)) == len(forms)
    assert canonical_form(parse("4*(1+2+3)").root) in forms
    # commuted and re-associated variants of a listed solution are the same solution
    assert canonical_form(parse("(3+2+1)*4").root) == canonical_form(parse("4*(1+(2+3))").root)
    assert canonical_form(parse("8-(3-1)").root) == canonical_form(parse("8+1-3").root)
    assert canonical_form(parse("8/(4/2)").root) == canonical_form(parse("8*2/4").root)
    assert canonical_form(parse("2*3").root) != canonical_form(parse("2+3").root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 13), min_size=4, max_size=4))
def test_everything_the_solver_emits_verifies(values: list[int]) -> None:
    rule = RULES.resolve("face-11-12-13")
    solutions = solve(values, rule)
    assert bool(solutions) == (tuple(sorted(values)) in solution_table(rule))
    verifier = Verifier(rule)
    for formula in solutions:
        verdict = verifier.judge_formula(formula, values)
        assert verdict.category == "correct", (values, formula, verdict)
        assert Counter(parse(formula).numbers) == Counter(values)
        assert evaluate(parse(formula).root) == 24


@pytest.mark.parametrize("rule_name", ["face-10", "face-11-12-13"])
def test_sampler_lists_exactly_the_solvable_hands(rule_name: str) -> None:
    rule = RULES.resolve(rule_name)
    sampler = hand_sampler(rule, "black")
    cards = deck("black")
    table = solution_table(rule)
    expected = 0
    for combo in itertools.combinations(cards, 4):
        faces = sum(c.is_face for c in combo)
        if (
            faces >= rule.min_face_cards
            and tuple(sorted(rule.value_of(c.rank) for c in combo)) in table
        ):
            expected += 1
    assert len(sampler) == expected
    seen = set()
    for draw in range(0, sampler.draw_bound, max(1, sampler.draw_bound // 500)):
        hand = sampler.hand(draw)
        assert len(set(hand)) == 4  # without replacement
        assert sum(c.is_face for c in hand) >= rule.min_face_cards
        assert sampler.solution(hand) is not None
        seen.add(frozenset(hand))
    assert len(seen) > 100


def test_black_and_red_decks_are_paired() -> None:
    rule = RULES.resolve("face-10")
    black, red = hand_sampler(rule, "black"), hand_sampler(rule, "red")
    assert black.draw_bound == red.draw_bound
    swap = {"S": "H", "C": "D"}
    for draw in range(0, black.draw_bound, 997):
        b, r = black.hand(draw), red.hand(draw)
        assert [c.rank for c in b] == [c.rank for c in r]
        assert [swap[c.suit] for c in b] == [c.suit for c in r]


def test_custom_rule_with_five_cards_is_built_lazily() -> None:
    rule = Rule(target=24, operators="+*", hand_size=5)
    table = solution_table(rule)
    assert (1, 1, 1, 1, 1) not in table and (1, 1, 2, 2, 6) in table
    assert table[(1, 1, 1, 1, 10)]  # (10+1+1)*(1+1)


# --------------------------------------------------------------------------- deal="paper"


def face_counts(sampler: HandSampler) -> np.ndarray:
    is_face = np.array([c.is_face for c in sampler.deck])
    return is_face[sampler.hands].sum(axis=1)


def test_paper_deal_counts_each_hand_once_per_forced_face_card() -> None:
    rule = RULES.resolve("face-11-12-13")
    uniform, paper = hand_sampler(rule, "black"), hand_sampler(rule, "black", "paper")
    weights = Counter(map(tuple, paper.hands.tolist()))
    assert set(weights) == set(map(tuple, uniform.hands.tolist()))
    faces = dict(zip(map(tuple, uniform.hands.tolist()), face_counts(uniform), strict=True))
    assert all(weights[hand] == faces[hand] for hand in weights)
    assert paper.draw_bound == len(paper) * 24  # every row can be dealt


def test_paper_deal_matches_a_simulation_of_the_papers_procedure() -> None:
    # Force one face card, draw three more from the rest of the deck, redraw unsolvable hands.
    rule = RULES.resolve("face-11-12-13")
    sampler = hand_sampler(rule, "black", "paper")
    cards = sampler.deck
    face_idx = [i for i, c in enumerate(cards) if c.is_face]
    rng = np.random.default_rng(0)
    simulated: Counter[int] = Counter()
    while sum(simulated.values()) < 20_000:
        first = int(rng.choice(face_idx))
        rest = rng.choice([i for i in range(len(cards)) if i != first], 3, replace=False)
        hand = [cards[first], *(cards[int(i)] for i in rest)]
        if sampler.solution(hand) is not None:
            simulated[sum(c.is_face for c in hand)] += 1
    exact = Counter(face_counts(sampler).tolist())
    for faces in range(1, 5):
        p_exact = exact[faces] / len(sampler)
        p_sim = simulated[faces] / 20_000
        assert abs(p_exact - p_sim) < 0.015, (faces, p_exact, p_sim)


@pytest.mark.parametrize(("suits", "low", "high"), [("all", 1.55, 1.61), ("black", 1.5, 1.57)])
def test_paper_rule_ood_hands_average_one_and_a_half_face_cards(
    suits: str, low: float, high: float
) -> None:
    rule = RULES.resolve("face-11-12-13")
    paper = face_counts(hand_sampler(rule, suits, "paper"))
    uniform = face_counts(hand_sampler(rule, suits))
    assert low < paper.mean() < high and 0.45 < (paper >= 2).mean() < 0.5
    assert 1.3 < uniform.mean() < 1.36 and 0.28 < (uniform >= 2).mean() < 0.32


def test_paper_and_uniform_deals_agree_without_a_face_card_minimum() -> None:
    rule = RULES.resolve("face-10")
    assert np.array_equal(
        hand_sampler(rule, "black").hands, hand_sampler(rule, "black", "paper").hands
    )


def test_paper_deals_stay_paired_across_black_and_red() -> None:
    rule = RULES.resolve("face-11-12-13")
    black, red = hand_sampler(rule, "black", "paper"), hand_sampler(rule, "red", "paper")
    assert black.draw_bound == red.draw_bound
    for draw in range(0, black.draw_bound, 499):
        assert [c.rank for c in black.hand(draw)] == [c.rank for c in red.hand(draw)]


def test_an_unknown_deal_is_refused() -> None:
    with pytest.raises(ValueError, match=r"deal must be one of \['paper', 'uniform'\]"):
        HandSampler(RULES.resolve("face-10"), "black", "fair")


def test_all_solutions_is_solve_cached_by_multiset() -> None:
    rule = RULES.resolve("face-10")
    assert all_solutions([4, 3, 2, 1], rule) == tuple(solve([1, 2, 3, 4], rule))
    assert all_solutions([1, 2, 3, 4], rule) is all_solutions([4, 3, 2, 1], rule)
