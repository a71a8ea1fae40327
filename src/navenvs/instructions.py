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

from collections.abc import Mapping, Sequence
from typing import Final

from navenvs.geo import COMPASS_WORDS, RELATIVE_WORDS, compass_word, relative_turn_word
from navenvs.model import Route
from navenvs.routes import RailStep
from oodgym.registry import Registry
from oodgym.templates import PromptTemplate, parse_template, resolve_template, substitute

__all__ = [
    "ANSWER_FORMAT",
    "ANSWER_RULE",
    "ANSWER_SHAPE",
    "FEEDBACK_LEVELS",
    "FIELDS",
    "FIELD_DOCS",
    "IMAGE_OBSERVATION",
    "INTERSECTION_TEXT",
    "TEMPLATES",
    "PromptRenderer",
    "action_space_text",
    "instruction_lines",
    "observation_text",
    "paper_feedback",
    "prompt_text",
    "register_template",
    "resolve_prompt",
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
    """The full prompt of one step with the default template.

    Args:
        instruction: The numbered instruction lines.
        vocabulary_sentence: The action-space sentence(s).
        history: ``O_k``/``A_k`` lines of the steps done, in pairs.
        current: The current observation sentence.
        feedback: Feedback on the last failed attempt, if any.
        max_chars: If given, the oldest history pairs are left out (with a line
            saying how many) so that the prompt has at most this many characters.
    """
    renderer = PromptRenderer(TEMPLATES.resolve("default"))
    return renderer.render(
        "\n".join(instruction),
        vocabulary_sentence,
        history,
        current,
        feedback,
        max_chars=max_chars,
    )


# --------------------------------------------------------------------------- templates

#: Every field a navigation template may name. The reference's are ``instruction``,
#: ``action_space`` and ``obs_act_seq``; the others are ours.
FIELDS: Final = (
    "instruction",
    "action_space",
    "obs_act_seq",
    "observation",
    "step",
    "history",
    "feedback",
    "answer_format",
)
#: What each field holds (shown by the docs).
FIELD_DOCS: Final = {
    "instruction": "the numbered route instruction, one sentence per line",
    "action_space": "the allowed actions (and, in image mode, the layout of the four views)",
    "obs_act_seq": "the observation/action sequence as the reference writes it: lines "
    "'O_1: ...', 'A_1: ...', ..., then the current 'O_n: ...' and an empty 'A_n:'",
    "observation": "the current observation sentence",
    "step": "the number n of the current step (1 at the start)",
    "history": "'History:' and the O/A lines of the steps done, ending with a newline "
    "(empty at the first step)",
    "feedback": "the feedback line after a failed attempt, ending with a newline (else empty)",
    "answer_format": "the answer shape and what is accepted",
}
#: The prompt templates, by name: ``default`` (ood-gym's wording) and ``sectioned``.
TEMPLATES: Registry[PromptTemplate] = Registry("prompt template", value_type=PromptTemplate)
_SEQUENCE_FIELDS: Final = frozenset({"history", "obs_act_seq"})
_OMITTED_RESERVE: Final = 64


def register_template(
    name: str,
    template: str | PromptTemplate,
    *,
    fields: Mapping[str, str] | None = None,
    description: str = "",
    overwrite: bool = False,
) -> PromptTemplate:
    """Register a navigation prompt template (checked against :data:`FIELDS`).

    Example:
        >>> t = register_template("terse", "{instruction} {obs_act_seq} {answer_format}")
        >>> TEMPLATES.unregister("terse")
    """
    if isinstance(template, str):
        template = PromptTemplate(name, template, dict(fields or {}), description)
    template.checked(FIELDS, argument=f"template {name!r}")
    TEMPLATES.register(name, template, description=description, overwrite=overwrite)
    return template


def resolve_prompt(spec: object) -> PromptTemplate:
    """Turn ``prompt=...`` into a checked navigation template.

    Raises:
        ValueError: naming the unknown template, file or field, a lookup such as
            ``{instruction.__class__}``, or a control character.
    """
    template = resolve_template(spec, TEMPLATES, FIELDS)
    bad = sorted({c for c in template.chars() if not c.isprintable()} - {"\n", "\t"})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(f"prompt: the template holds control characters ({shown})")
    return template


class PromptRenderer:
    """A checked template, parsed once, rendering the prompt of each step.

    The history is bounded: when the prompt would exceed ``max_chars``, the
    oldest O/A pairs are left out (a line says how many), so that every
    observation stays inside the environment's space.

    Attributes:
        name: The template's name.
        extra_chars: The template's characters (for the observation charset).
    """

    def __init__(self, template: PromptTemplate) -> None:
        self.name = template.name
        self._pieces = parse_template(template.text, FIELDS)
        self._overrides = {
            key: parse_template(value, FIELDS) for key, value in template.fields.items()
        }
        uses = sum(1 for _, field in self._pieces if field in _SEQUENCE_FIELDS)
        uses += sum(
            1 for pieces in self._overrides.values() for _, f in pieces if f in _SEQUENCE_FIELDS
        )
        self._sequence_uses = max(uses, 1)
        self.extra_chars = template.chars()

    def _fill(self, values: dict[str, str]) -> str:
        for key, pieces in self._overrides.items():
            values[key] = substitute(pieces, values)
        return substitute(self._pieces, values)

    def render(
        self,
        instruction: str,
        action_space: str,
        history: Sequence[str],
        current: str,
        feedback: str = "",
        *,
        max_chars: int | None = None,
    ) -> str:
        """The prompt of one step (see :data:`FIELD_DOCS` for the fields)."""
        step = len(history) // 2 + 1
        base = {
            "instruction": instruction,
            "action_space": action_space,
            "observation": current,
            "step": str(step),
            "feedback": f"{feedback}\n" if feedback else "",
            "answer_format": ANSWER_FORMAT,
        }
        prompt = self._fill({**base, **_sequences(history, step, current)})
        if max_chars is None or len(prompt) <= max_chars or not history:
            return prompt
        fixed = len(self._fill({**base, **_sequences((), step, current)}))
        budget = (max_chars - fixed - _OMITTED_RESERVE) // self._sequence_uses
        keep, used = 0, 0
        for k in range(len(history) - 2, -1, -2):  # whole O/A pairs, newest first
            size = len(history[k]) + len(history[k + 1]) + 2
            if used + size > budget:
                break
            used += size
            keep += 2
        omitted = f"(the first {(len(history) - keep) // 2} steps are not shown)"
        shown = history[len(history) - keep :]
        return self._fill({**base, **_sequences(shown, step, current, omitted)})


def _sequences(
    history: Sequence[str], step: int, current: str, omitted: str = ""
) -> dict[str, str]:
    lines = [omitted, *history] if omitted else list(history)
    past = "\n".join(lines)
    return {
        "history": f"History:\n{past}\n" if lines else "",
        "obs_act_seq": (f"{past}\n" if lines else "") + f"O_{step}: {current}\nA_{step}:",
    }


#: The ``answer_format`` field: the answer shape and what the parser accepts.
ANSWER_FORMAT: Final = f"Answer with one JSON object: {ANSWER_SHAPE}\n{ANSWER_RULE}"

register_template(
    "default",
    "You are walking through a city street by street, following a route instruction.\n"
    "Route instruction:\n{instruction}\n{action_space}\n"
    "{history}Current observation O_{step}: {observation}\n{feedback}{answer_format}\n",
    description="ood-gym's own wording (the default)",
)
register_template(
    "sectioned",
    "## Task description\n"
    "You are a pedestrian in a city. Follow the route instruction below, one decision per "
    "step: walk on, turn to face a direction, or stop once you reach the destination.\n\n"
    "## Route instruction\n{instruction}\n\n"
    "## Action space\n{action_space}\n\n"
    "## Observations and actions so far\n{obs_act_seq}\n\n"
    "## Output format\n{feedback}{answer_format}\n",
    description="task description, instruction, action space, observation/action sequence "
    "and output format sections, in our own words",
)


# --------------------------------------------------------------------------- feedback

#: Feedback levels: ``detailed`` says what went wrong and how to fix the form;
#: ``paper`` gives only what the reference gives.
FEEDBACK_LEVELS: Final = ("paper", "detailed")


def paper_feedback(verdict: str, claim: bool | None) -> str:
    """The reference's information, in our words: wrong action, or wrong about the intersection.

    Never lists the allowed words nor hints at the right action; repeats the
    answer format.
    """
    if verdict == "wrong_intersection":
        what = "You are not at an intersection." if claim else "You are at an intersection."
    elif verdict == "invalid_action":
        what = "Your answer holds no valid action."
    else:
        what = "Your action is not correct."
    return f"{what} Try again, answering in the same format: {ANSWER_SHAPE}"
