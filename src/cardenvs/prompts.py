"""Prompt and feedback text of GeneralPoints (our own wording of the paper's task).

Prompts are data: each is rendered from a :class:`~oodgym.templates.PromptTemplate`
(``str.format`` syntax, named fields only) chosen with ``gym.make(...,
prompt=...)``. The built-in templates are ASCII, so observations stay plain text.

Templates (:data:`TEMPLATES`):

* ``"default"`` / ``"default-image"``: the wording ood-gym has always used
  (``prompt=None`` selects it);
* ``"sectioned"`` / ``"sectioned-image"``: the reference's layout in our own
  words: a task description, the input (text mode only) and the output format.

In image mode a registered name ``X`` selects ``X-image`` when that is
registered (so ``prompt="sectioned"`` works for every id), else ``X`` itself.

Fields (:data:`FIELDS`; the first three are the reference code's names, so its
template text can be pasted into a file and used as is):

* ``cards``: the dealt ranks as a list, ``['Q', '3', '8', '8']`` (text mode
  only: in image mode the cards are only in the picture, and a template naming
  ``{cards}`` is refused);
* ``face_card_msg``: how J, Q, K and A count, ``'J', 'Q' and 'K' count as 10,
  and 'A' counts as 1`` (no final full stop);
* ``target_number``: the target, ``24``;
* ``rules``: ``face_card_msg`` plus the rule's face-card minimum, if any
  (``...; every hand holds at least 1 of J, Q, K``);
* ``operators``: the allowed operators, ``+ - * /``;
* ``hand_size``: cards per hand, ``4``.

Register your own (no library edit)::

    import cardenvs.prompts

    cardenvs.prompts.register_template(
        "terse",
        "Cards {cards}. Reach {target_number}; {face_card_msg}. Reply with JSON.",
        image="The image shows {hand_size} cards. Reach {target_number}. Reply with JSON.",
    )
    env = gym.make("cardenvs/GeneralPoints-v0", prompt="terse")

or pass a file: ``prompt="my_prompt.txt"`` (the whole text is the template) or
``prompt="my_prompt.json"`` holding ``{"template": "...", "fields":
{"face_card_msg": "..."}}``, where ``fields`` overrides the text of a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from cardenvs.rules import Rule
from oodgym.registry import Registry
from oodgym.templates import PromptTemplate, resolve_template

__all__ = [
    "FIELDS",
    "IMAGE_SUFFIX",
    "TEMPLATES",
    "PromptRenderer",
    "answer_example",
    "cards_text",
    "feedback_text",
    "paper_feedback",
    "prompt_fields",
    "register_template",
    "resolve_prompt",
]

#: Every field a GeneralPoints template may name.
FIELDS: Final = ("cards", "face_card_msg", "target_number", "rules", "operators", "hand_size")
#: Suffix of a template's image-mode companion in :data:`TEMPLATES`.
IMAGE_SUFFIX: Final = "-image"

#: The prompt templates, by name (see the module docstring).
TEMPLATES: Registry[PromptTemplate] = Registry("prompt template", value_type=PromptTemplate)

# Stands for the card list while a template is pre-rendered; it cannot occur in a
# template because control characters are refused.
_SLOT: Final = "\x00cards\x00"
_ALLOWED_CONTROLS: Final = frozenset("\n\t")


def cards_text(ranks: Sequence[str]) -> str:
    """The ``cards`` field: ranks as a list, ``['Q', '3', '8', '8']`` (the reference's form)."""
    return "[" + ", ".join(["'" + r + "'" for r in ranks]) + "]"


def prompt_fields(rule: Rule) -> dict[str, str]:
    """The values of every field but ``cards`` for ``rule``."""
    return {
        "face_card_msg": rule.card_values_text(),
        "target_number": str(rule.target),
        "rules": rule.describe(),
        "operators": " ".join(rule.operators),
        "hand_size": str(rule.hand_size),
    }


def answer_example(rule: Rule) -> str:
    """The answer shape the default prompt asks for."""
    return (
        '{"cards": [the cards, e.g. "Q"], "number": [their numbers], '
        f'"formula": "a formula = {rule.target}"}}'
    )


def _check_template(template: PromptTemplate, allowed: Sequence[str], argument: str) -> None:
    template.checked(allowed, argument=argument)
    bad = sorted({c for c in template.chars() if not c.isprintable()} - _ALLOWED_CONTROLS)
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(
            f"{argument}: the template holds control characters ({shown}); "
            "only newlines and tabs are allowed"
        )


def register_template(
    name: str,
    template: str | PromptTemplate,
    *,
    image: str | PromptTemplate | None = None,
    fields: Mapping[str, str] | None = None,
    description: str = "",
    overwrite: bool = False,
) -> PromptTemplate:
    """Register a prompt template under ``name`` (and its image-mode text as ``name-image``).

    Args:
        name: The name for ``gym.make(..., prompt=name)``.
        template: The text-mode template (or a :class:`PromptTemplate`).
        image: The image-mode template, registered as ``name + "-image"``;
            without it image ids render ``template`` itself, which must then not
            name ``{cards}``.
        fields: Overrides of field texts for both templates.
        description: One line for listings.
        overwrite: Replace existing entries of the same names.

    Returns:
        The registered text-mode template.

    Raises:
        ValueError: an unknown or disallowed field, ``{cards}`` in the image
            template, control characters, or a name already taken.
    """
    overrides = dict(fields or {})

    def build(spec: str | PromptTemplate, label: str, allowed: Sequence[str]) -> PromptTemplate:
        if isinstance(spec, PromptTemplate):
            built = PromptTemplate(label, spec.text, {**spec.fields, **overrides}, description)
        else:
            built = PromptTemplate(label, spec, overrides, description)
        _check_template(built, allowed, f"template {label!r}")
        return built

    text_template = build(template, name, FIELDS)
    image_template = None
    if image is not None:
        image_template = build(image, name + IMAGE_SUFFIX, FIELDS)
        _refuse_cards(image_template, f"template {name + IMAGE_SUFFIX!r}")
    if not overwrite:
        for taken in (name, name + IMAGE_SUFFIX if image_template else None):
            if taken is not None and taken in TEMPLATES:
                raise ValueError(
                    f"prompt template {taken!r} is already registered; pass overwrite=True"
                )
    TEMPLATES.register(name, text_template, description=description, overwrite=overwrite)
    if image_template is not None:
        TEMPLATES.register(
            name + IMAGE_SUFFIX,
            image_template,
            description=description and description + " (image mode)",
            overwrite=overwrite,
        )
    return text_template


def _refuse_cards(template: PromptTemplate, argument: str) -> None:
    values = dict.fromkeys(FIELDS, "")
    values["cards"] = _SLOT
    if _SLOT in template.render(values):
        raise ValueError(
            f"{argument}: field {{cards}} is not available in image mode (the cards are "
            f"shown only in the image); use an image template such as 'default{IMAGE_SUFFIX}'"
        )


def resolve_prompt(spec: object, observation: str = "text") -> PromptTemplate:
    """Turn ``prompt=...`` into a checked template for an observation mode.

    Args:
        spec: ``None`` or ``"default"`` (today's wording), a registered name, a
            path to a template file, a mapping ``{"template": ..., "fields":
            ...}`` or a :class:`PromptTemplate`.
        observation: ``"text"`` or ``"image"``; in image mode a name ``X``
            selects ``X-image`` when registered.

    Raises:
        ValueError: naming the unknown template, file or field, a lookup such as
            ``{cards.__class__}``, a control character, or ``{cards}`` in image mode.
    """
    if spec is None:
        spec = "default"
    if observation == "image" and isinstance(spec, str) and spec + IMAGE_SUFFIX in TEMPLATES:
        spec = spec + IMAGE_SUFFIX
    template = resolve_template(spec, TEMPLATES, FIELDS)
    _check_template(template, FIELDS, "prompt")
    if observation == "image":
        _refuse_cards(template, "prompt")
    return template


class PromptRenderer:
    """A template bound to a rule: renders the prompt of a hand with one string join.

    Every field but ``cards`` is filled once, at construction; the renderer holds
    plain strings only (environments pickle without ``oodgym`` classes).

    Args:
        template: A checked template (see :func:`resolve_prompt`).
        rule: The active rule.

    Attributes:
        name: The template's name.
        max_length: The longest prompt this renderer can produce.
        extra_chars: Characters of the template beyond printable ASCII.
    """

    def __init__(self, template: PromptTemplate, rule: Rule) -> None:
        values = prompt_fields(rule)
        values["cards"] = _SLOT
        self.name = template.name
        self._parts = tuple(template.render(values).split(_SLOT))
        longest_cards = len(cards_text(["10"] * rule.hand_size))
        self.max_length = sum(map(len, self._parts)) + (len(self._parts) - 1) * longest_cards
        self.extra_chars = "".join(sorted({c for c in template.chars() if ord(c) > 126}))

    def __call__(self, ranks: Sequence[str]) -> str:
        """The prompt for a hand of ``ranks``."""
        if len(self._parts) == 1:
            return self._parts[0]
        return cards_text(ranks).join(self._parts)


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


def paper_feedback(category: str, message: str, attempts_left: int) -> str:
    """The short message of an attempt under ``feedback="paper"`` (``info["feedback"]``).

    It reads well on its own: the paper's conversation sends it as the whole
    user message after a failure. It names the category, repeats the verdict's
    reason and, while attempts are left, asks for another answer in the same format.
    """
    if category == "correct":
        return message
    text = f"Your answer failed ({category.replace('_', ' ')}). {message}"
    if attempts_left:
        text += " Try again, answering in the same format."
    return text


# --------------------------------------------------------------------------- built-ins

_RULES_LINE = (
    "Rules: {rules}. Use each card's number exactly once, only the operators {operators} and "
    "parentheses, whole numbers only; no unary minus, and never join the digits of two cards "
    "into one number.\n"
)
_GOAL_LINE = (
    "Goal: write one formula that uses the number of every card exactly once and evaluates to "
    "{target_number}.\n"
)
_ANSWER_LINES = (
    "Answer with one JSON object:\n"
    '{{"cards": [the cards, e.g. "Q"], "number": [their numbers], '
    '"formula": "a formula = {target_number}"}}\n'
)

register_template(
    "default",
    "You are playing GeneralPoints, a card game.\nCards: {cards}\n"
    + _GOAL_LINE
    + _RULES_LINE
    + _ANSWER_LINES,
    image="You are playing GeneralPoints, a card game.\n"
    "The image shows {hand_size} playing cards. First report the cards you see (their ranks: "
    'A, 2-10, J, Q, K) in the "cards" field, then solve.\n'
    + _GOAL_LINE
    + _RULES_LINE
    + _ANSWER_LINES,
    description="ood-gym's own wording (the default)",
)

_SECTIONED_VALUES = (
    "Card values: {face_card_msg}; every other card counts as the number printed on it.\n"
    "Every card's number goes into the formula exactly once; the allowed operators are "
    "{operators}, and parentheses may group them.\n"
)


def _sectioned_output(cards_hint: str) -> str:
    return (
        "\n## Output format\n"
        "Reply with a single JSON object and nothing else:\n"
        '{{"cards": [' + cards_hint + '], "number": [the value of each card], '
        '"formula": "your formula = {target_number}"}}\n'
    )


register_template(
    "sectioned",
    "## Task description\n"
    "You are playing GeneralPoints, a card game. Combine the numbers of the {hand_size} cards "
    "below into one arithmetic formula whose value is exactly {target_number}.\n"
    + _SECTIONED_VALUES
    + "\n## Input\nCards: {cards}\n"
    + _sectioned_output("the cards as listed"),
    image="## Task description\n"
    "You are playing GeneralPoints, a card game. The image shows {hand_size} playing cards: "
    "read them, then combine their numbers into one arithmetic formula whose value is exactly "
    "{target_number}.\n"
    + _SECTIONED_VALUES
    + _sectioned_output("the ranks you see: A, 2-10, J, Q or K"),
    description="task description, input and output format sections, in our own words",
)
