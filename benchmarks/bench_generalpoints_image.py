"""Median reset/step times of the GeneralPoints image ids through gym.make.

Usage: python benchmarks/bench_generalpoints_image.py [--sizes 512 1200] [--repeats N]

Reset renders the table (sprites cached per style and size); steps reuse the
frame (one copy per returned observation, as Gymnasium requires). Steps are the
first of an episode after an unseeded reset, answer kinds rotating over deals.
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


def run(env_id: str, size: int, repeats: int, visuals: list[Any] | None) -> None:
    env = gym.make(env_id, image_size=size, visuals=visuals)
    for i in range(30):
        env.reset(seed=i)  # warm-up: sprite and background caches
    resets: list[float] = []
    for i in range(repeats):
        t0 = time.perf_counter()
        env.reset(seed=100 + i)
        resets.append(time.perf_counter() - t0)
    steps: dict[str, list[float]] = {}
    kinds = ["correct", "wrong_recognition", "wrong_value", "garbage"]
    for i in range(repeats * 2):
        # As in a training loop: unseeded resets, the answer built (untimed) in between.
        _, info = env.reset()
        ranks = [c[:-1] for c in info["cards"]]
        total = "+".join(map(str, info["numbers"]))
        answers = {
            "correct": env.unwrapped.expert_action(),
            "wrong_recognition": json.dumps({"cards": ["K", "K", "K", "K"], "formula": "1"}),
            "wrong_value": json.dumps({"cards": ranks, "formula": total}),
            "garbage": "I cannot read the cards.",
        }
        kind = kinds[i % len(kinds)]
        t0 = time.perf_counter()
        env.step(answers[kind])
        steps.setdefault(kind, []).append(time.perf_counter() - t0)
    mix = [t for values in steps.values() for t in values]
    label = f"{env_id} image_size={size}" + (f" visuals={visuals}" if visuals else "")
    print(label)
    print(f"  reset(seed=s)          median {median_us(resets) / 1000:8.3f} ms")
    for kind, values in steps.items():
        print(f"  step {kind:<17} median {median_us(values):8.1f} us")
    print(f"  step mix               median {median_us(mix):8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default="cardenvs/GeneralPoints-Image-v0")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1200])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--visuals", default=None, help="JSON list, e.g. '[\"rotate\"]'")
    args = parser.parse_args()
    visuals = json.loads(args.visuals) if args.visuals else None
    for size in args.sizes:
        run(args.id, size, args.repeats, visuals)


if __name__ == "__main__":
    main()
