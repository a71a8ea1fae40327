"""Per-step overhead of a served environment (oodgym serve) over the in-process one.

Usage: python benchmarks/bench_serve.py [--id ID] [--steps N] [--rounds R] [--image-encoding E]

Starts `oodgym serve ID --port 0` in a subprocess (127.0.0.1, a free port), connects one
oodgym.serve.ServedEnv, and plays the very same episodes locally and served: each round
records an action list on the local environment (the expert's answer two steps in three, a
wrong answer otherwise; a reset with the next seed when an episode ends) and replays it on both.
Only step() calls are timed. Per round: the median step time locally and served; the overhead
is served minus local. Printed: the median over rounds, and the spread (min..max of the
rounds' medians). The server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import gymnasium as gym

from oodgym.families import load_families
from oodgym.serve import ServedEnv, connect


def start_server(env_id: str, image_encoding: str) -> tuple[subprocess.Popen[str], str]:
    command = ["oodgym", "serve", env_id, "--port", "0", "--image-encoding", image_encoding]
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if " at ws://" in line:
            return process, line.split(" at ", 1)[1].split()[0]
    process.kill()
    raise SystemExit(f"oodgym serve exited with {process.wait()}")


def script(env: gym.Env[Any, Any], first_seed: int, steps: int) -> list[tuple[str, Any]]:
    """("reset", seed) / ("step", action) events: the expert two steps in three."""
    events: list[tuple[str, Any]] = [("reset", first_seed)]
    seed = first_seed
    env.reset(seed=seed)
    for i in range(steps):
        action = env.unwrapped.expert_action() if i % 3 else "turn_direction(north) 1+1"
        events.append(("step", action))
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            seed += 1
            events.append(("reset", seed))
            env.reset(seed=seed)
    return events


def replay(env: gym.Env[Any, Any] | ServedEnv, events: list[tuple[str, Any]]) -> list[float]:
    times = []
    for kind, value in events:
        if kind == "reset":
            env.reset(seed=value)
            continue
        start = time.perf_counter()
        env.step(value)
        times.append(time.perf_counter() - start)
    return times


def spread(values: list[float]) -> str:
    ms = [v * 1e3 for v in values]
    return f"{statistics.median(ms):7.3f} ms  (rounds {min(ms):.3f}..{max(ms):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default="navenvs/Navigation-v0")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--image-encoding", default="png", choices=["png", "raw"])
    args = parser.parse_args()
    load_families()
    local = gym.make(args.id)
    process, address = start_server(args.id, args.image_encoding)
    try:
        served = connect(address)
        warm = script(local, 10_000, 100)
        replay(local, warm)
        replay(served, warm)
        local_medians, served_medians, overheads = [], [], []
        for round_ in range(args.rounds):
            events = script(local, 1000 * round_, args.steps)
            local_time = statistics.median(replay(local, events))
            served_time = statistics.median(replay(served, events))
            local_medians.append(local_time)
            served_medians.append(served_time)
            overheads.append(served_time - local_time)
        served.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"{args.id} ({args.steps} steps x {args.rounds} rounds; server at {address})")
    print(f"  step in-process  {spread(local_medians)}")
    print(f"  step served      {spread(served_medians)}")
    print(f"  overhead         {spread(overheads)}   (target <= 2 ms on 127.0.0.1 for text ids)")


if __name__ == "__main__":
    main()
