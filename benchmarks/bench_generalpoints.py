"""Median reset/step times of GeneralPoints through gym.make.

Usage: python benchmarks/bench_generalpoints.py [--id ID] [--repeats N] [--kw KEY=JSON ...]

Prints medians in microseconds for:
* reset()            unseeded reset (what a training loop does between episodes)
* reset(seed=s)      seeded reset (a new Generator per call)
* step <category>    steps answering with a correct / wrong-value / wrong-numbers / garbage /
                     JSON-ish / long-prose answer
* step mix           the mix of all of those
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import gymnasium as gym

import cardenvs  # noqa: F401  (registers the ids)


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def answers(env: gym.Env[Any, Any], info: dict[str, Any]) -> dict[str, str]:
    numbers = info["numbers"]
    solution = info["solution"]
    wrong_value = "+".join(map(str, numbers))
    wrong_numbers = "*".join(["1"] * len(numbers))
    return {
        "correct": env.unwrapped.expert_action(),
        "correct-jsonish": (
            f"{{'cards': {info['cards']!r}, 'number': {numbers!r}, 'formula': '{solution}=24',}}"
        ),
        "wrong_value": json.dumps({"formula": wrong_value}),
        "wrong_numbers": json.dumps({"formula": wrong_numbers}),
        "garbage": "I am not sure, maybe 42? Let me think about it again.",
        "prose+fence": "Let me think.\nThe cards are small.\n```json\n"
        + json.dumps({"cards": info["cards"], "number": numbers, "formula": wrong_value})
        + "\n```\nThat is my answer.",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default="cardenvs/GeneralPoints-v0")
    parser.add_argument("--repeats", type=int, default=3000)
    parser.add_argument("--kw", action="append", default=[], help="env kwarg KEY=JSON")
    args = parser.parse_args()
    kwargs = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.kw)}
    env = gym.make(args.id, **kwargs)
    env.reset(seed=0)
    for _ in range(200):  # warm-up: caches, first-call checks
        env.reset()

    samples: list[float] = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        env.reset()
        samples.append(time.perf_counter() - t0)
    print(f"{args.id} {kwargs or ''}")
    print(f"  reset()          median {median_us(samples):8.1f} us")

    samples = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        env.reset(seed=i)
        samples.append(time.perf_counter() - t0)
    print(f"  reset(seed=s)    median {median_us(samples):8.1f} us")

    per_kind: dict[str, list[float]] = {}
    mix: list[float] = []
    for i in range(args.repeats // 3):
        _, info = env.reset(seed=10_000 + i)
        for kind, answer in answers(env, info).items():
            env.reset(seed=10_000 + i)
            t0 = time.perf_counter()
            env.step(answer)
            elapsed = time.perf_counter() - t0
            per_kind.setdefault(kind, []).append(elapsed)
            mix.append(elapsed)
    for kind, values in per_kind.items():
        print(f"  step {kind:<15} median {median_us(values):8.1f} us")
    print(f"  step mix         median {median_us(mix):8.1f} us  (n={len(mix)})")


if __name__ == "__main__":
    main()
