"""Evaluation throughput, local threads vs Ray workers, against a fixed-latency model server.

Usage: python benchmarks/bench_ray.py [--episodes N] [--latency S] [--rounds R] [--in-flight K ...]

A fake OpenAI-compatible server on 127.0.0.1 (tests/oodgym/fake_chat_server.py) answers every
request after ``--latency`` seconds, correctly, so a GeneralPoints text episode is one request.
For each K of ``--in-flight`` (default 2) the script runs ``oodgym.evaluation.evaluate`` with the
``openai`` policy on N episodes of cardenvs/GeneralPoints-v0:

* threads   ``concurrency=K`` in this process;
* ray       a local Ray with 2 CPUs, ``RayBackend(cpus_per_task=2/K)``: K worker processes,
            one episode each at a time (K=2: one per CPU).

and prints, per setting, the median episodes per second over R rounds with the spread
(min..max). Each round is a whole ``evaluate`` call into a fresh folder (making the
environments, the lock, the summary), as a user runs it; Ray's start-up (once, before the
rounds) and a warm-up round per setting (workers starting, importing ood-gym) are not timed.
The ideal is K / latency episodes per second.
"""

from __future__ import annotations

import argparse
import http.server
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.oodgym.fake_chat_server

import ray
from tests.oodgym.fake_chat_server import FakeChatServer

from oodgym.distributed import RayBackend
from oodgym.evaluation import evaluate

GP = "cardenvs/GeneralPoints-v0"
RAY_CPUS = 2

# The fake server writes headers and body separately: without TCP_NODELAY, Nagle's algorithm
# and the client's delayed ACK add ~40 ms to every answer, on top of --latency.
http.server.BaseHTTPRequestHandler.disable_nagle_algorithm = True


def episodes_per_second(server: FakeChatServer, episodes: int, **options: Any) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = evaluate(
            GP,
            "openai",
            base_url=server.base_url,
            model="fake",
            episodes=episodes,
            out=out,
            progress=False,
            **options,
        )
        elapsed = time.perf_counter() - start
    if summary.results[GP].successes != episodes:
        raise RuntimeError(f"expected {episodes} solved episodes, got {summary.results[GP]}")
    return episodes / elapsed


def measure(server: FakeChatServer, episodes: int, rounds: int, **options: Any) -> list[float]:
    episodes_per_second(server, episodes, **options)  # warm-up (Ray: workers start)
    return [episodes_per_second(server, episodes, **options) for _ in range(rounds)]


def report(name: str, rates: list[float]) -> None:
    median = statistics.median(rates)
    print(f"{name:<34} {median:8.1f} eps/s   (min {min(rates):.1f} .. max {max(rates):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[2], metavar="K")
    args = parser.parse_args()
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"  # the workers inherit it
    print(
        f"{args.episodes} episodes of {GP}, one request each, {args.latency * 1000:.0f} ms per "
        f"answer, {args.rounds} rounds, {os.cpu_count()} cores"
    )
    with FakeChatServer(delay=args.latency) as server:
        ray.init(
            num_cpus=RAY_CPUS,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
        try:
            for k in args.in_flight:
                ideal = k / args.latency
                print(f"-- {k} episodes in flight (ideal {ideal:.0f} eps/s)")
                threads = measure(server, args.episodes, args.rounds, concurrency=k)
                report(f"threads, concurrency={k}", threads)
                backend = RayBackend(cpus_per_task=RAY_CPUS / k)
                on_ray = measure(server, args.episodes, args.rounds, backend=backend)
                report(f"ray, {k} workers ({RAY_CPUS / k:g} CPU each)", on_ray)
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
