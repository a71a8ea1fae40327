"""Prompt templates as data: default wording unchanged, built-ins, files, fields, refusals."""

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

import cardenvs  # noqa: F401  (registers the ids)
from cardenvs import prompts
from cardenvs.prompts import TEMPLATES, register_template
from oodgym.templates import PromptTemplate

TEXT_ID = "cardenvs/GeneralPoints-v0"
IMAGE_ID = "cardenvs/GeneralPoints-Image-v0"
HAND = {"cards": ["3S", "3C", "8S", "8C"]}
OOD_HAND = {"cards": ["QS", "3C", "8S", "KC"]}

# The text prompt ood-gym has always shown (pinned: prompt=None must not change it).
DEFAULT_TEXT = (
    "You are playing GeneralPoints, a card game.\n"
    "Cards: ['3', '3', '8', '8']\n"
    "Goal: write one formula that uses the number of every card exactly once and evaluates "
    "to 24.\n"
    "Rules: 'J', 'Q' and 'K' count as 10, and 'A' counts as 1. Use each card's number exactly "
    "once, only the operators + - * / and parentheses, whole numbers only; no unary minus, and "
    "never join the digits of two cards into one number.\n"
    "Answer with one JSON object:\n"
    '{"cards": [the cards, e.g. "Q"], "number": [their numbers], "formula": "a formula = 24"}\n'
)
DEFAULT_IMAGE = (
    "You are playing GeneralPoints, a card game.\n"
    "The image shows 4 playing cards. First report the cards you see (their ranks: A, 2-10, J, "
    'Q, K) in the "cards" field, then solve.\n'
    "Goal: write one formula that uses the number of every card exactly once and evaluates "
    "to 24.\n"
    "Rules: 'J', 'Q' and 'K' count as 10, and 'A' counts as 1. Use each card's number exactly "
    "once, only the operators + - * / and parentheses, whole numbers only; no unary minus, and "
    "never join the digits of two cards into one number.\n"
    "Answer with one JSON object:\n"
    '{"cards": [the cards, e.g. "Q"], "number": [their numbers], "formula": "a formula = 24"}\n'
)


def text_prompt(env_id: str = TEXT_ID, options: dict | None = None, **kwargs: object) -> str:
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=0, options=options or HAND)
    assert obs in env.observation_space
    return obs["text"] if isinstance(obs, dict) else obs


def test_the_default_prompt_is_unchanged() -> None:
    assert text_prompt() == DEFAULT_TEXT
    assert text_prompt(prompt="default") == DEFAULT_TEXT
    assert text_prompt(IMAGE_ID) == DEFAULT_IMAGE
    assert text_prompt(IMAGE_ID, prompt="default") == DEFAULT_IMAGE
    ood = text_prompt("cardenvs/GeneralPoints-RuleOOD-v0", options=OOD_HAND)
    assert "Cards: ['Q', '3', '8', 'K']\n" in ood
    assert (
        "Rules: 'J', 'Q' and 'K' count as 11, 12 and 13, and 'A' counts as 1; every hand holds "
        "at least 1 of J, Q, K. Use each" in ood
    )


def test_the_sectioned_template_has_the_references_sections_in_both_modes() -> None:
    text = text_prompt("cardenvs/GeneralPoints-RuleOOD-v0", options=OOD_HAND, prompt="sectioned")
    heads = ["## Task description", "## Input", "## Output format"]
    assert [text.index(h) for h in heads] == sorted(text.index(h) for h in heads)
    assert "Cards: ['Q', '3', '8', 'K']" in text
    assert "'J', 'Q' and 'K' count as 11, 12 and 13" in text and "exactly 24" in text
    assert '"formula": "your formula = 24"}' in text
    image = text_prompt(
        "cardenvs/GeneralPoints-Image-RuleOOD-v0", options=OOD_HAND, prompt="sectioned"
    )
    assert "## Task description" in image and "## Output format" in image
    assert "## Input" not in image and "'Q', '3'" not in image  # the cards stay in the picture
    assert "The image shows 4 playing cards" in image


def test_a_file_with_the_reference_field_names_renders(tmp_path: Path) -> None:
    path = tmp_path / "gp_l.txt"
    path.write_text(
        "[Rules of play]\nThis is a game about {target_number}. Remember: {face_card_msg}.\n\n"
        "[Hand]\nCards: {cards}\n\n[Reply]\n{{\n  \"formula\": 'reaching {target_number}',\n}}\n",
        encoding="utf-8",
    )
    prompt = text_prompt("cardenvs/GeneralPoints-RuleOOD-v0", options=OOD_HAND, prompt=str(path))
    assert prompt == (
        "[Rules of play]\nThis is a game about 24. Remember: 'J', 'Q' and 'K' count as 11, 12 "
        "and 13, and 'A' counts as 1.\n\n[Hand]\nCards: ['Q', '3', '8', 'K']\n\n[Reply]\n"
        "{\n  \"formula\": 'reaching 24',\n}\n"
    )


def test_a_json_template_file_overrides_a_field(tmp_path: Path) -> None:
    path = tmp_path / "custom.json"
    path.write_text(
        json.dumps(
            {
                "template": "Make {target_number}. Note that {face_card_msg}. Cards: {cards}",
                "fields": {"face_card_msg": "picture cards are worth ten ({hand_size} cards)"},
            }
        ),
        encoding="utf-8",
    )
    assert text_prompt(prompt=str(path)) == (
        "Make 24. Note that picture cards are worth ten (4 cards). Cards: ['3', '3', '8', '8']"
    )
    inline = {"template": "{rules} / {operators}", "fields": {"operators": "plus and times"}}
    assert text_prompt(prompt=inline) == (
        "'J', 'Q' and 'K' count as 10, and 'A' counts as 1 / plus and times"
    )


def test_every_field_has_a_value() -> None:
    template = " | ".join("{" + name + "}" for name in prompts.FIELDS)
    assert text_prompt(prompt={"template": template}) == (
        "['3', '3', '8', '8'] | 'J', 'Q' and 'K' count as 10, and 'A' counts as 1 | 24 | "
        "'J', 'Q' and 'K' count as 10, and 'A' counts as 1 | + - * / | 4"
    )


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{cards.__class__}", "cards.__class__"),
        ("{cards[0]}", "cards[0]"),
        ("Cards: {hand}", "{hand}"),
        ("{}", "positional"),
        ("{0}", "positional"),
        ("{cards!r}", "cards!r"),
        ("{cards:>40}", "cards:>40"),
        ("{cards", "malformed"),
    ],
)
def test_templates_that_are_not_plain_named_fields_are_refused(template: str, named: str) -> None:
    with pytest.raises(ValueError, match="prompt") as err:
        gym.make(TEXT_ID, prompt={"template": template})
    assert named in str(err.value)


def test_an_override_of_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown field 'valid_ops'"):
        gym.make(TEXT_ID, prompt={"template": "{cards}", "fields": {"valid_ops": "+-*/"}})


def test_unknown_names_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown prompt template 'fancy'.*'sectioned'"):
        gym.make(TEXT_ID, prompt="fancy")
    with pytest.raises(ValueError, match="is not a regular file"):
        gym.make(TEXT_ID, prompt=str(tmp_path / "missing.txt"))


def test_the_cards_field_is_refused_in_image_mode(tmp_path: Path) -> None:
    path = tmp_path / "leaky.txt"
    path.write_text("Solve {cards} to {target_number}.", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\{cards\} is not available in image mode"):
        gym.make(IMAGE_ID, prompt=str(path))
    sneaky = {"template": "{face_card_msg}", "fields": {"face_card_msg": "see {cards}"}}
    with pytest.raises(ValueError, match="image mode"):
        gym.make(IMAGE_ID, prompt=sneaky)


def test_control_characters_are_refused() -> None:
    with pytest.raises(ValueError, match="U\\+0000"):
        gym.make(TEXT_ID, prompt={"template": "Cards: {cards}\x00"})


def test_observations_stay_in_the_space_with_unicode_and_long_templates() -> None:
    env = gym.make(TEXT_ID, prompt={"template": "Karten \u2013 {cards} \u2192 {target_number}"})
    obs, _ = env.reset(seed=1)
    assert obs.startswith("Karten \u2013 [") and obs in env.observation_space
    obs, *_ = env.step("no idea")
    assert obs in env.observation_space

    long_text = "x" * 7000 + " {cards}"
    env = gym.make(TEXT_ID, prompt={"template": long_text, "fields": {"rules": "y" * 5000}})
    assert env.observation_space.max_length >= 7000 + len("['10', '10', '10', '10']")
    obs, _ = env.reset(seed=2)
    for _ in range(5):
        assert obs in env.observation_space
        obs, _, terminated, truncated, _ = env.step("(1+2" * 100)
        if terminated or truncated:
            break
    assert obs in env.observation_space


@pytest.fixture
def terse() -> Iterator[None]:
    register_template(
        "test-terse",
        "Cards {cards}; reach {target_number}.",
        image="Read the {hand_size} cards; reach {target_number}.",
        description="a short template for the tests",
    )
    yield
    TEMPLATES.unregister("test-terse")
    TEMPLATES.unregister("test-terse-image")


@pytest.mark.usefixtures("terse")
def test_authors_register_their_own_templates() -> None:
    assert text_prompt(prompt="test-terse") == "Cards ['3', '3', '8', '8']; reach 24."
    # image ids pick the image companion of the same name
    assert text_prompt(IMAGE_ID, prompt="test-terse") == "Read the 4 cards; reach 24."
    with pytest.raises(ValueError, match="already registered"):
        register_template("test-terse", "{cards}")
    with pytest.raises(ValueError, match="unknown field"):
        register_template("test-bad", "{card}")
    with pytest.raises(ValueError, match="image mode"):
        register_template("test-bad", "{cards}", image="{cards}")
    assert "test-bad" not in TEMPLATES


def test_a_prompt_template_object_and_pickling() -> None:
    template = PromptTemplate("mine", "{target_number} from {cards}")
    env = gym.make(TEXT_ID, prompt=template)
    obs, _ = env.reset(seed=0, options=HAND)
    assert obs == "24 from ['3', '3', '8', '8']"
    clone = pickle.loads(pickle.dumps(env.unwrapped))
    assert clone.reset(seed=0, options=HAND)[0] == obs


def test_a_named_prompt_survives_spec_to_json() -> None:
    env = gym.make(TEXT_ID, prompt="sectioned")
    assert json.loads(env.spec.to_json())["kwargs"]["prompt"] == "sectioned"
