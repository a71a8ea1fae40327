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
or ``"No landmarks nearby"``; in image mode they never name a landmark
(``"You see the four street views in the image; You observe an intersection"``).
"""

from __future__ import annotations

from collections.abc import Sequence

from navenvs.geo import COMPASS_WORDS, RELATIVE_WORDS, compass_word, relative_turn_word
from navenvs.model import Route
from navenvs.routes import RailStep

__all__ = [
    "ANSWER_RULE",
    "ANSWER_SHAPE",
    "IMAGE_OBSERVATION",
    "INTERSECTION_TEXT",
    "action_space_text",
    "instruction_lines",
    "observation_text",
    "prompt_text",
]

INTERSECTION_TEXT = "You observe an intersection"
#: The current observation in image mode (the landmark is only in the image).
IMAGE_OBSERVATION = "You see the four street views in the image"
ANSWER_SHAPE = (
    '{"current observation": "<what you observe now>", '
    '"current instruction": "<the instruction sentence you are carrying out>", '
    '"action": "<one action>"}'
)


def _has_landmark(sentence: str) -> bool:
    return not sentence.strip().lower().startswith("no landmark")


#: What the parser accepts, said in every prompt.
ANSWER_RULE = (
    'Its "action" value must be exactly one action; an answer that is only the action '
    "(for example forward()) is accepted too. Text that merely mentions actions is not "
    "an answer."
)


def instruction_lines(route: Route, init_heading: float) -> list[str]:
    """The numbered route instruction (2 sentences per milestone).

    The landmark clauses are the milestones' sentences, the same text the agent
    observes on arriving there (verbatim from a route file for real routes).
    """
    first = route.start_heading
    lines = [
        f"First, turn {relative_turn_word(init_heading, first)} to face "
        f"{route.start_word or compass_word(first)}."
    ]
    last = len(route.milestones) - 1
    for index, milestone in enumerate(route.milestones):
        if index == last:
            sentence = milestone.sentence(destination=route.destination)
            lines.append(f"Move forward until you reach the destination where {sentence}.")
            break
        sentence = milestone.sentence()
        where = f" where {sentence}" if _has_landmark(sentence) else ""
        lines.append(f"Move forward until you reach the next intersection{where}.")
        target = milestone.next_heading
        if target is None:
            target = milestone.arrival_heading
        lines.append(
            f"Turn {relative_turn_word(milestone.arrival_heading, target)} to face "
            f"{milestone.next_word or compass_word(target)}."
        )
    return [f"{n}. {line}" for n, line in enumerate(lines, start=1)]


def observation_text(step: RailStep, *, image: bool = False) -> str:
    """What the agent is told it observes at a rail step.

    Text mode: the landmark sentence (``"Aritzia is on your left front"``,
    ``"No landmarks nearby"``), plus ``"; You observe an intersection"`` at
    intersections. Image mode never names a landmark: the sentence says the agent
    sees the four street views (the landmark is only in the image), plus the
    intersection sentence where there is one.
    """
    sentence = IMAGE_OBSERVATION if image else step.sentence
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
    *,
    max_chars: int | None = None,
) -> str:
    """The full prompt of one step.

    Args:
        instruction: The numbered instruction lines.
        vocabulary_sentence: The action-space sentence(s).
        history: ``O_k``/``A_k`` lines of the steps done, in pairs.
        current: The current observation sentence.
        feedback: Feedback on the last failed attempt, if any.
        max_chars: If given, the oldest history pairs are left out (with a line
            saying how many) so that the prompt has at most this many characters.
    """
    head = [
        "You are walking through a city street by street, following a route instruction.",
        "Route instruction:",
        *instruction,
        vocabulary_sentence,
    ]
    step = len(history) // 2 + 1
    tail = [f"Current observation O_{step}: {current}"]
    if feedback:
        tail.append(feedback)
    tail.append(f"Answer with one JSON object: {ANSWER_SHAPE}")
    tail.append(ANSWER_RULE)
    shown = list(history)
    omitted = ""
    if max_chars is not None and history:
        fixed = sum(len(line) + 1 for line in head) + sum(len(line) + 1 for line in tail)
        budget = max_chars - fixed - len("History:\n") - 64  # 64: the "omitted" line
        keep, used = 0, 0
        for k in range(len(history) - 2, -1, -2):  # whole O/A pairs, newest first
            size = len(history[k]) + len(history[k + 1]) + 2
            if used + size > budget:
                break
            used += size
            keep += 2
        if keep < len(history):
            shown = list(history[len(history) - keep :])
            omitted = f"(the first {(len(history) - keep) // 2} steps are not shown)"
    parts = head
    if shown or omitted:
        parts.append("History:")
        if omitted:
            parts.append(omitted)
        parts.extend(shown)
    parts.extend(tail)
    return "\n".join(parts) + "\n"
