"""The library's fast spaces answer ``contains`` exactly as Gymnasium's own classes do."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

import cardenvs  # noqa: F401
from oodgym.textspace import (
    OBSERVATION_CHARSET,
    CharsetText,
    ImageBox,
    action_space,
    observation_space,
)

SPACE = observation_space(64, extra_chars="éß")
PLAIN = spaces.Text(max_length=64, min_length=0, charset=SPACE.characters)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(OBSERVATION_CHARSET + "éß\r\x00€→"), max_size=80))
def test_charset_text_agrees_with_gymnasium(text: str) -> None:
    assert SPACE.contains(text) == PLAIN.contains(text)


@pytest.mark.parametrize("value", [None, 3, b"abc", ["a"], "x" * 65, ""])
def test_charset_text_rejects_what_text_rejects(value: object) -> None:
    assert SPACE.contains(value) == PLAIN.contains(value)


def test_charset_text_is_a_text_space() -> None:
    assert isinstance(SPACE, spaces.Text)
    assert SPACE == PLAIN  # Text's equality: same lengths and characters
    assert pickle.loads(pickle.dumps(SPACE)).contains("abc")
    assert isinstance(action_space(10), CharsetText)
    assert "×" in action_space(10).character_set


BOX = ImageBox(0, 255, (4, 5, 3), dtype=np.uint8)
REFERENCE = spaces.Box(0, 255, (4, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((4, 5, 3), np.uint8),
        np.full((4, 5, 3), 255, np.uint8),
        np.zeros((4, 5, 3), bool),
        np.zeros((4, 5, 3), np.int16),
        np.zeros((4, 5, 3), np.float32),
        np.zeros((5, 4, 3), np.uint8),
        np.zeros((4, 5), np.uint8),
    ],
)
def test_image_box_agrees_with_box(value: np.ndarray) -> None:
    assert BOX.contains(value) == REFERENCE.contains(value)


def test_image_box_with_narrower_bounds_checks_values() -> None:
    narrow = ImageBox(10, 200, (2, 2), dtype=np.uint8)
    assert not narrow.contains(np.zeros((2, 2), np.uint8))
    assert narrow.contains(np.full((2, 2), 100, np.uint8))
    clone = pickle.loads(pickle.dumps(BOX))
    assert clone == REFERENCE and clone.contains(np.zeros((4, 5, 3), np.uint8))


def test_image_ids_use_the_fast_spaces() -> None:
    env = gym.make("cardenvs/GeneralPoints-Image-v0", image_size=224)
    space = env.observation_space
    assert isinstance(space, spaces.Dict)
    assert isinstance(space["image"], ImageBox)
    assert isinstance(space["text"], CharsetText)
    obs, _ = env.reset(seed=0)
    assert space.contains(obs)


def test_image_box_leaves_masked_arrays_to_box() -> None:
    masked = np.ma.masked_all((4, 5, 3), dtype=np.uint8)
    assert BOX.contains(masked) == REFERENCE.contains(masked)
