"""Tiny environments for testing the conformance kit (``oodgym check``).

Importing this module registers:

* ``brokenenvs/SeedIgnoring-v0``: deals its number with Python's global ``random``
  in ``reset``, ignoring the seed (the determinism check must fail);
* ``brokenenvs/Fine-v0``: the same game done right (every check passes);
* ``brokenenvs/LeakyVisuals-v0``: announces a visual variant that changes the text
  (the visual-variants check must fail);
* ``brokenenvs/NoExpert-v0``: correct, but without ``expert_action()``;
* ``brokenenvs/LeavesSpace-v0``: its observation at step 3 is longer than its
  space allows (the rollout check must name step 3);
* ``brokenenvs/NanReward-v0``: rewards NaN at step 2 (the kit must say so, not
  call it non-determinism);
* ``brokenenvs/ReusedImage-v0``: writes every image observation into one buffer;
* ``brokenenvs/MutatesImage-v0``: returns fresh images but scribbles on the one
  it returned before.

Use them as ``tests.oodgym.broken_envs:brokenenvs/Fine-v0`` with the repository
root on ``PYTHONPATH``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

CHARSET = string.ascii_letters + string.digits + " .,:"
MODULE = __name__


class _GuessEnv(gym.Env[str, str]):
    """Say the number shown in the prompt; ``max_attempts`` attempts."""

    max_attempts = 3
    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.observation_space = spaces.Text(max_length=64, charset=CHARSET)
        self.action_space = spaces.Text(max_length=8, charset=CHARSET)
        self._number = 0
        self._attempts = 0
        self._prompt = ""

    def _deal(self) -> int:
        raise NotImplementedError

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._number = self._deal()
        self._attempts = 0
        self._prompt = f"Say the number {self._number}."
        return self._prompt, {"number": self._number}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self._attempts += 1
        correct = action.strip() == str(self._number)
        verdict = "correct" if correct else "wrong"
        info = {"number": self._number, "verdict": verdict, "is_success": correct}
        truncated = self._attempts >= self.max_attempts
        return self._prompt, 1.0 if correct else -1.0, correct, truncated, info

    def render(self) -> str | None:
        return self._prompt if self.render_mode == "ansi" else None


class NoExpertEnv(_GuessEnv):
    """Correct, but without ``expert_action()`` (cannot be exported)."""

    def _deal(self) -> int:
        return int(self.np_random.integers(1000))


class FineEnv(NoExpertEnv):
    """Correct: the deal comes from ``self.np_random``; has an expert."""

    def expert_action(self) -> str:
        return str(self._number)


class SeedIgnoringEnv(FineEnv):
    """Broken: the deal comes from the global ``random`` module, whatever the seed."""

    def _deal(self) -> int:
        return random.randint(0, 999)


class LeakyVisualsEnv(FineEnv):
    """Broken: its announced visual variant changes the prompt."""

    def __init__(
        self, visuals: Sequence[str] | None = None, render_mode: str | None = None
    ) -> None:
        super().__init__(render_mode=render_mode)
        self.visuals = list(visuals or [])

    @staticmethod
    def conformance_variants() -> list[dict[str, Any]]:
        return [{"visuals": ["shout"]}]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        if "shout" in self.visuals:
            self._prompt = obs.upper()
        return self._prompt, info


class LeavesSpaceEnv(FineEnv):
    """Broken: the observation of step 3 is longer than ``max_length`` (64)."""

    max_attempts = 5

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        if self._attempts == 3:
            obs = f"{obs} Hint: {self._number}. This prompt is now longer than its space allows."
        return obs, reward, terminated, truncated, info


class NanRewardEnv(FineEnv):
    """Broken: the reward of step 2 is NaN, whatever the answer."""

    max_attempts = 5

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, float("nan") if self._attempts == 2 else reward, terminated, truncated, info


class _ImageGuessEnv(gym.Env[dict[str, Any], str]):
    """``{"text", "image"}`` observations: the image is grey at the level of the number."""

    metadata: dict[str, Any] = {"render_modes": [], "render_fps": 1}  # noqa: RUF012

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.observation_space = spaces.Dict(
            {
                "text": spaces.Text(max_length=64, charset=CHARSET),
                "image": spaces.Box(0, 255, (8, 8, 3), dtype=np.uint8),
            }
        )
        self.action_space = spaces.Text(max_length=8, charset=CHARSET)
        self._number = 0
        self._attempts = 0
        self._image = np.zeros((8, 8, 3), dtype=np.uint8)

    def _frame(self) -> np.ndarray:
        self._image = np.full((8, 8, 3), (self._number + self._attempts) % 256, dtype=np.uint8)
        return self._image

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._number = int(self.np_random.integers(256))
        self._attempts = 0
        return {"text": "Say the grey level.", "image": self._frame()}, {}

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._attempts += 1
        correct = action.strip() == str(self._number)
        obs = {"text": "Say the grey level.", "image": self._frame()}
        return obs, 1.0 if correct else -1.0, correct, self._attempts >= 3, {}

    def expert_action(self) -> str:
        return str(self._number)


class ReusedImageEnv(_ImageGuessEnv):
    """Broken: every image observation is the same buffer, overwritten in place."""

    def _frame(self) -> np.ndarray:
        self._image[...] = (self._number + self._attempts) % 256
        return self._image


class MutatesImageEnv(_ImageGuessEnv):
    """Broken: a fresh image each time, but the previous one is scribbled on first."""

    def _frame(self) -> np.ndarray:
        self._image[0, 0] = 255 - self._image[0, 0]
        return super()._frame()


for _name, _cls in (
    ("SeedIgnoring", SeedIgnoringEnv),
    ("Fine", FineEnv),
    ("LeakyVisuals", LeakyVisualsEnv),
    ("NoExpert", NoExpertEnv),
    ("LeavesSpace", LeavesSpaceEnv),
    ("NanReward", NanRewardEnv),
    ("ReusedImage", ReusedImageEnv),
    ("MutatesImage", MutatesImageEnv),
):
    if f"brokenenvs/{_name}-v0" not in gym.registry:
        gym.register(id=f"brokenenvs/{_name}-v0", entry_point=f"{MODULE}:{_cls.__name__}")
