"""Median reset/step times of the navigation ids through gym.make (text).

Usage: python benchmarks/bench_navigation.py [--id ID] [--repeats N] [--rounds R]

Reset samples a procedural route (cities are built once, at construction) and
builds the expert rail and the prompt (image ids also render the street-view
grid; a correct step renders a new one, since the agent moved or turned).
Steps answer with a mix of the expert's answer (correct), a wrong action, a
wrong intersection claim and garbage.
Each figure is the median of R rounds' medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import gymnasium as gym

import navenvs  # noqa: F401  (registers the ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default="navenvs/Navigation-v0")
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kw", action="append", default=[], help="env kwarg KEY=JSON")
    args = parser.parse_args()
    kwargs = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.kw)}
    env = gym.make(args.id, **kwargs)
    for i in range(100):
        env.reset(seed=i)
    reset_medians: list[float] = []
    step_medians: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        resets = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            env.reset(seed=i)
            resets.append(time.perf_counter() - t0)
        reset_medians.append(statistics.median(resets))
        per_kind: dict[str, list[float]] = {}
        for i in range(args.repeats // 4):
            _, info = env.reset(seed=i)
            expert = info["expert_action"]
            wrong = "stop()" if expert != "stop()" else "forward()"
            answers = {
                "correct": env.unwrapped.expert_action(),
                "wrong_action": json.dumps({"current observation": "", "action": wrong}),
                # a wrong action whose intersection claim is also wrong (-1.5)
                "wrong_intersection": json.dumps(
                    {
                        "current observation": "There is no intersection here"
                        if info["at_intersection"]
                        else "You observe an intersection",
                        "action": wrong,
                    }
                ),
                "garbage": "I am lost, sorry.",
            }
            for kind, answer in answers.items():
                env.reset(seed=i)
                t0 = time.perf_counter()
                env.step(answer)
                per_kind.setdefault(kind, []).append(time.perf_counter() - t0)
        for kind, values in per_kind.items():
            step_medians.setdefault(kind, []).append(statistics.median(values))
        step_medians.setdefault("mix", []).append(
            statistics.median([v for values in per_kind.values() for v in values])
        )
    print(args.id, kwargs or "", f"({args.rounds} rounds; spread = min..max of round medians)")
    print(
        f"  reset(seed=s)            median {statistics.median(reset_medians) * 1e3:8.3f} ms"
        f"  ({min(reset_medians) * 1e3:.3f}..{max(reset_medians) * 1e3:.3f})"
    )
    for kind, values in step_medians.items():
        print(
            f"  step {kind:<19} median {statistics.median(values) * 1e6:8.1f} us"
            f"  ({min(values) * 1e6:.1f}..{max(values) * 1e6:.1f})"
        )


if __name__ == "__main__":
    main()
