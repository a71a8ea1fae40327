"""Instruction and observation text in the V-IRL style (our own wording).

Instructions are numbered sentences, two per milestone::

    1. First, turn left to face east.
    2. Move forward until you reach the next intersection where Blue Door Bakery is on
       your left front.
    3. Turn right to face south.
    4. Move forward until you reach the destination where The destination Maple Books is
       on your front.

(each sentence is one line in the prompt).

Observations name the visible landmark and whether the agent stands at an
intersection: ``"Blue Door Bakery is on your left; You observe an intersection"``
or ``"No landmarks nearby"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from navenvs.geo import COMPASS_WORDS, RELATIVE_WORDS, compass_word, relative_turn_word
from navenvs.model import Route
from navenvs.routes import RailStep

__all__ = [
    "ANSWER_SHAPE",
    "INTERSECTION_TEXT",
    "action_space_text",
    "instruction_lines",
    "observation_text",
    "prompt_text",
]

INTERSECTION_TEXT = "You observe an intersection"
ANSWER_SHAPE = (
    '{"current observation": "<what you observe now>", '
    '"current instruction": "<the instruction sentence you are carrying out>", '
    '"action": "<one action>"}'
)


def instruction_lines(route: Route, init_heading: float) -> list[str]:
    """The numbered route instruction (2 sentences per milestone)."""
    first = route.start_heading
    lines = [
        f"First, turn {relative_turn_word(init_heading, first)} to face {compass_word(first)}."
    ]
    last = len(route.milestones) - 1
    for index, milestone in enumerate(route.milestones):
        if index == last:
            name = (milestone.landmark or route.destination).name
            relation = milestone.relation or "front"
            lines.append(
                "Move forward until you reach the destination where The destination "
                f"{name} is on your {relation}."
            )
            break
        where = (
            f" where {milestone.landmark.name} is on your {milestone.relation}"
            if milestone.landmark is not None and milestone.relation
            else ""
        )
        lines.append(f"Move forward until you reach the next intersection{where}.")
        target = milestone.next_heading
        if target is None:
            target = milestone.arrival_heading
        lines.append(
            f"Turn {relative_turn_word(milestone.arrival_heading, target)} to face "
            f"{compass_word(target)}."
        )
    return [f"{n}. {line}" for n, line in enumerate(lines, start=1)]


def observation_text(step: RailStep) -> str:
    """What the agent observes at a rail step."""
    relation = step.landmark_relation()
    if step.landmark is None or relation is None:
        sentence = "No landmarks nearby"
    elif step.milestone is not None and not step.at_intersection:
        sentence = f"The destination {step.landmark.name} is on your {relation}"
    else:
        sentence = f"{step.landmark.name} is on your {relation}"
    if step.at_intersection:
        sentence += f"; {INTERSECTION_TEXT}"
    return sentence


def action_space_text(vocabulary: str) -> str:
    """One sentence describing the allowed actions."""
    words = COMPASS_WORDS if vocabulary == "absolute" else RELATIVE_WORDS
    return (
        "Actions: forward() moves to the next point; turn_direction(x) turns in place, with x one "
        f"of {', '.join(words)}; stop() ends the route at the destination."
    )


def prompt_text(
    instruction: Sequence[str],
    vocabulary_sentence: str,
    history: Sequence[str],
    current: str,
    feedback: str = "",
) -> str:
    """The full prompt of one step."""
    parts = [
        "You are walking through a city street by street, following a route instruction.",
        "Route instruction:",
        *instruction,
        vocabulary_sentence,
    ]
    if history:
        parts.append("History:")
        parts.extend(history)
    step = len(history) // 2 + 1
    parts.append(f"Current observation O_{step}: {current}")
    if feedback:
        parts.append(feedback)
    parts.append(f"Answer with one JSON object: {ANSWER_SHAPE}")
    return "\n".join(parts) + "\n"
