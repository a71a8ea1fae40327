"""Median reset/step times of GeneralPoints (text) through gym.make.

Usage: python benchmarks/bench_generalpoints.py [--id ID] [--repeats N] [--rounds R]

Prints, in microseconds, the median over R rounds of each round's median for:
* reset()            unseeded reset (what a training loop does between episodes)
* reset(seed=s)      seeded reset (Gymnasium builds a new Generator per call)
* step <kind>        the first step of an episode (after an unseeded reset, as in a training
                     loop), answering with a correct answer (strict JSON, or the reference's
                     JSON-ish form), a wrong value, wrong numbers, garbage, or a wrong answer
                     in a code fence inside prose; kinds rotate over successive deals
* step mix           all of those together
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import gymnasium as gym

import cardenvs  # noqa: F401  (registers the ids)


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


def one_round(env: gym.Env[Any, Any], repeats: int, offset: int) -> dict[str, float]:
    medians: dict[str, float] = {}
    samples: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        env.reset()
        samples.append(time.perf_counter() - t0)
    medians["reset()"] = statistics.median(samples)
    samples = []
    for i in range(repeats):
        t0 = time.perf_counter()
        env.reset(seed=offset + i)
        samples.append(time.perf_counter() - t0)
    medians["reset(seed=s)"] = statistics.median(samples)
    per_kind: dict[str, list[float]] = {}
    kinds = list(answers(env, env.reset(seed=offset)[1]))
    for i in range(repeats * 2):
        # As in a training loop: unseeded resets; the answer is built (untimed) between
        # reset and step, where a model would generate it; kinds rotate over the deals.
        _, info = env.reset()
        kind = kinds[i % len(kinds)]
        answer = answers(env, info)[kind]
        t0 = time.perf_counter()
        env.step(answer)
        per_kind.setdefault(kind, []).append(time.perf_counter() - t0)
    for kind, values in per_kind.items():
        medians[f"step {kind}"] = statistics.median(values)
    medians["step mix"] = statistics.median([v for vs in per_kind.values() for v in vs])
    return medians


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default="cardenvs/GeneralPoints-v0")
    parser.add_argument("--repeats", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kw", action="append", default=[], help="env kwarg KEY=JSON")
    args = parser.parse_args()
    kwargs = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.kw)}
    env = gym.make(args.id, **kwargs)
    env.reset(seed=0)
    for _ in range(200):  # warm-up: caches, first-call checks
        env.reset()
    rounds = [one_round(env, args.repeats, 10_000 * (r + 1)) for r in range(args.rounds)]
    print(f"{args.id} {kwargs or ''} (median of {args.rounds} round medians)")
    for key in rounds[0]:
        value = statistics.median(r[key] for r in rounds) * 1e6
        print(f"  {key:<22} {value:8.1f} us")


if __name__ == "__main__":
    main()
