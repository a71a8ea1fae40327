"""Tiny environments for testing the conformance kit (``oodgym check``).

Importing this module registers:

* ``brokenenvs/SeedIgnoring-v0``: deals its number with Python's global ``random``
  in ``reset``, ignoring the seed (the determinism check must fail);
* ``brokenenvs/Fine-v0``: the same game done right (every check passes);
* ``brokenenvs/LeakyVisuals-v0``: announces a visual variant that changes the text
  (the visual-variants check must fail);
* ``brokenenvs/NoExpert-v0``: correct, but without ``expert_action()``.

Use them as ``tests.oodgym.broken_envs:brokenenvs/Fine-v0`` with the repository
root on ``PYTHONPATH``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from gymnasium import spaces

CHARSET = string.ascii_letters + string.digits + " .,:"
MODULE = __name__


class _GuessEnv(gym.Env[str, str]):
    """Say the number shown in the prompt; three attempts."""

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
        return self._prompt, 1.0 if correct else -1.0, correct, self._attempts >= 3, info

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


for _name, _cls in (
    ("SeedIgnoring", SeedIgnoringEnv),
    ("Fine", FineEnv),
    ("LeakyVisuals", LeakyVisualsEnv),
    ("NoExpert", NoExpertEnv),
):
    if f"brokenenvs/{_name}-v0" not in gym.registry:
        gym.register(id=f"brokenenvs/{_name}-v0", entry_point=f"{MODULE}:{_cls.__name__}")
