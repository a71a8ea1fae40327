"""``oodgym play``: play an environment in the terminal.

``oodgym play ENV_ID [--seed S] [--env KEY=VALUE ...] [--image-dir DIR]``
prints the observation, reads one answer per line from standard input and
prints the verdict, reward and feedback, until the episode ends. Special
lines: ``:expert`` prints the expert's answer (a hint), ``:quit`` ends,
``:help`` lists these. End of input ends cleanly, so the command also works
with piped input. Image observations are saved as PNG files (in a new
temporary folder, or ``--image-dir``) and their paths printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import gymnasium as gym
import numpy as np

from oodgym.commands._common import USAGE_ERRORS, add_env_option, env_kwargs, error

__all__ = ["add_arguments", "play", "run"]

_HELP = "Type your answer on one line. ':expert' shows the expert's answer, ':quit' ends."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym play``."""
    parser.add_argument("env_id", metavar="ENV_ID", help="registered id (or module:id)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (default 0)")
    parser.add_argument(
        "--image-dir", metavar="DIR", help="where to save observation images (default: a temp dir)"
    )
    add_env_option(parser)


def run(args: argparse.Namespace) -> int:
    """Play one episode."""
    from oodgym.families import load_families

    load_families()
    try:
        env = gym.make(args.env_id, **env_kwargs(args.env))
    except USAGE_ERRORS as err:
        return error("play", err)
    try:
        return play(env, args.env_id, args.seed, image_dir=args.image_dir)
    finally:
        env.close()


class _Images:
    """Saves observation images as PNG files, in a folder created on first use."""

    def __init__(self, folder: str | None) -> None:
        self._given = folder
        self._folder: Path | None = None
        self._last: tuple[np.ndarray, Path] | None = None

    def save(self, image: np.ndarray, name: str) -> Path:
        """Write ``image`` as ``name`` (or return the previous file if the image is unchanged)."""
        from oodgym.atomic import write_bytes_atomic
        from oodgym.conversation import image_to_png

        if self._last is not None and np.array_equal(self._last[0], image):
            return self._last[1]
        if self._folder is None:
            if self._given:
                self._folder = Path(self._given)
                self._folder.mkdir(parents=True, exist_ok=True)
            else:
                self._folder = Path(tempfile.mkdtemp(prefix="oodgym-play-"))
        path = self._folder / name
        write_bytes_atomic(path, image_to_png(image))
        self._last = (np.array(image), path)
        return path


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def play(
    env: gym.Env[Any, Any],
    env_id: str,
    seed: int,
    *,
    image_dir: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Play one episode of ``env`` with answers read from ``stdin``; return the exit status."""
    from oodgym.conversation import observation_text

    read = stdin if stdin is not None else sys.stdin
    out = stdout if stdout is not None else sys.stdout
    images = _Images(image_dir)
    echo = not _isatty(read)  # piped answers: show them, so that the transcript reads well

    def say(text: str = "", end: str = "\n") -> None:
        out.write(text + end)
        out.flush()

    def show(observation: Any, step: int) -> None:
        say(f"--- observation (step {step}) ---")
        say(observation_text(observation).rstrip("\n"))
        if isinstance(observation, Mapping) and isinstance(observation.get("image"), np.ndarray):
            say(f"[image: {images.save(observation['image'], f'{seed}-{step}.png')}]")

    obs, _ = env.reset(seed=seed)
    say(f"== {env_id}  seed={seed}")
    say(_HELP)
    step = 0
    total = 0.0
    show(obs, step)
    while True:
        say("answer> ", end="")
        line = read.readline()
        if not line:
            say()
            say("(end of input) bye")
            return 0
        answer = line.rstrip("\r\n")
        if echo:
            say(answer)
        command = answer.strip()
        if not command:
            continue
        if command == ":quit":
            say("bye")
            return 0
        if command == ":help":
            say(_HELP)
            continue
        if command == ":expert":
            expert = getattr(env.unwrapped, "expert_action", None)
            say(f"expert: {expert()}" if callable(expert) else "(this environment has no expert)")
            continue
        obs, reward, terminated, truncated, info = env.step(answer)
        step += 1
        total += float(reward)
        say(f"verdict: {info.get('verdict', '-')}  reward: {float(reward):+g}")
        if info.get("feedback"):
            say(f"feedback: {info['feedback']}")
        if terminated or truncated:
            solved = bool(info.get("is_success", terminated))
            outcome = "solved" if solved else "not solved"
            say(f"episode over ({outcome}) after {step} steps, return {total:+g}")
            return 0
        show(obs, step)
