"""``oodgym demo``: play one seeded episode of every registered id and print what happened.

The policy is scripted: one garbage answer (it gets a verdict and a penalty),
then the environment's expert (``env.unwrapped.expert_action()``) until the
episode ends. The exit status is non-zero if the expert fails anywhere.
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym

from oodgym.families import presets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym demo``."""
    parser.add_argument("--seed", type=int, default=0, help="episode seed (default 0)")


def run(args: argparse.Namespace) -> int:
    """Run the demo."""
    return _demo(args.seed)


def _expert(env: gym.Env[Any, Any]) -> str | None:
    expert = getattr(env.unwrapped, "expert_action", None)
    return expert() if callable(expert) else None


def _first_line(text: object, width: int = 96) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _demo(seed: int, max_steps: int = 200, shown: int = 6) -> int:
    found = presets()
    if not found:
        print("no environments registered (is ood-gym installed?)")
        return 1
    failures = 0
    for preset in found:
        env = gym.make(preset.id)
        obs, info = env.reset(seed=seed)
        text = obs["text"] if isinstance(obs, dict) else obs
        print(f"== {preset.id}  [{preset.split}]  seed={seed}")
        for line in [ln for ln in str(text).splitlines() if ln.strip()][:2]:
            print(f"   prompt | {_first_line(line)}")
        # One bad answer (it gets a verdict and a penalty), then the environment's expert.
        answer: str | None = "I think the answer is 42"
        solved = False
        total = 0.0
        for step in range(max_steps):
            if answer is None:
                break
            _, reward, terminated, truncated, info = env.step(answer)
            total += float(reward)
            if step < shown:
                print(f"   answer | {_first_line(answer, 60)}")
                print(
                    f"          -> {info.get('verdict')} reward={float(reward):+.1f} "
                    f"| {_first_line(info.get('feedback', ''), 80)}"
                )
            elif step == shown:
                print("   ...    | (further expert steps not shown)")
            if terminated or truncated:
                solved = bool(info.get("is_success"))
                break
            answer = _expert(env)
        status = "solved by the expert" if solved else "NOT solved"
        print(f"   result | {status} after {step + 1} steps, return {total:+.1f}")
        failures += 0 if solved else 1
        env.close()
    return 1 if failures else 0
