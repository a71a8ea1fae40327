"""Prompt and feedback text of GeneralPoints (our own wording of the paper's task).

All text is ASCII so that it stays inside the observation space.
"""

from __future__ import annotations

from collections.abc import Sequence

from cardenvs.rules import Rule

__all__ = ["TextPrompt", "answer_example", "feedback_text", "image_prompt"]

_OPERATOR_WORDS = {"+": "+", "-": "-", "*": "*", "/": "/"}


def _rules_sentence(rule: Rule) -> str:
    ops = " ".join(_OPERATOR_WORDS[o] for o in rule.operators)
    return (
        f"Rules: {rule.describe()}. Use each card's number exactly once, only the operators "
        f"{ops} and parentheses, whole numbers only; no unary minus, and never join the digits "
        "of two cards into one number."
    )


def answer_example(rule: Rule) -> str:
    """The answer shape the model is asked for."""
    return (
        '{"cards": [the cards, e.g. "Q"], "number": [their numbers], '
        f'"formula": "a formula = {rule.target}"}}'
    )


class TextPrompt:
    """The text-mode prompt of one rule, split around the card list (built once per env)."""

    def __init__(self, rule: Rule) -> None:
        self.head = "You are playing GeneralPoints, a card game.\nCards: ["
        self.tail = (
            "]\n"
            f"Goal: write one formula that uses the number of every card exactly once and "
            f"evaluates to {rule.target}.\n"
            f"{_rules_sentence(rule)}\n"
            f"Answer with one JSON object:\n{answer_example(rule)}\n"
        )

    def __call__(self, ranks: Sequence[str]) -> str:
        """The prompt for a hand of ``ranks``."""
        return self.head + ", ".join(["'" + r + "'" for r in ranks]) + self.tail


def image_prompt(rule: Rule, hand_size: int) -> str:
    """Prompt for the image observation: the cards are only in the picture."""
    return (
        "You are playing GeneralPoints, a card game.\n"
        f"The image shows {hand_size} playing cards. First report the cards you see (their ranks: "
        'A, 2-10, J, Q, K) in the "cards" field, then solve.\n'
        f"Goal: write one formula that uses the number of every card exactly once and "
        f"evaluates to {rule.target}.\n"
        f"{_rules_sentence(rule)}\n"
        f"Answer with one JSON object:\n{answer_example(rule)}\n"
    )


def feedback_text(attempt: int, max_attempts: int, category: str, message: str) -> str:
    """What the next observation adds after a judged attempt."""
    if category == "correct":
        return f"\nAttempt {attempt} of {max_attempts}: correct. {message}\n"
    left = max_attempts - attempt
    tail = (
        f"You have {left} attempt{'s' if left != 1 else ''} left. Try again."
        if left
        else "No attempts left."
    )
    return (
        f"\nAttempt {attempt} of {max_attempts} failed ({category.replace('_', ' ')}): "
        f"{message}\n{tail}\n"
    )
