r"""``oodgym eval``: evaluate a policy on registered ids (resumable; paper-style table).

Examples::

    oodgym eval 'cardenvs/GeneralPoints-*' --policy oracle --episodes 100 --out runs/oracle
    oodgym eval navenvs/Navigation-v0 navenvs/Navigation-RuleOOD-v0 --policy openai \
        --base-url http://127.0.0.1:8000/v1 --model my-model --concurrency 8 --out runs/m --plot \
        --conversation paper --timeout 60 --max-retries 3
    oodgym eval cardenvs/GeneralPoints-Image-v0 --policy my_pkg.agents:answer \
        --env image_size=336 --env visuals='["rotate"]' --episodes 50 --out runs/img
    oodgym eval 'cardenvs/GeneralPoints-*' --policy oracle --out runs/oracle --ray auto

Rerunning the same command into the same ``--out`` resumes: completed seeds are
skipped, and episodes that did not run (the server gave no usable answer after
``--max-retries``) are played again. One evaluation at a time writes to an
``--out`` folder: a second one fails at once. Exit status: 0 done, 1 an episode
failed or did not run (records so far are kept), 2 bad arguments or ``--out``
in use by another evaluation, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

from oodgym.commands._common import add_ray_option, parse_env_options, ray_backend

__all__ = ["add_arguments", "parse_env_options", "run"]


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def _number(expected: str, accept: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse ``type`` accepting a finite float for which ``accept`` holds."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not math.isfinite(value) or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_seconds = _number("seconds > 0", lambda v: v > 0)
_temperature = _number("a number >= 0", lambda v: v >= 0)
_cpus = _number("a number of CPUs > 0", lambda v: v > 0)
_probability = _number("a number in (0, 1]", lambda v: 0 < v <= 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym eval``."""
    from oodgym.conversation import PROTOCOLS
    from oodgym.evaluation import DEFAULT_EPISODES
    from oodgym.policies import DEFAULT_MAX_TOKENS

    parser.description = (
        "Evaluate a policy on registered ids (glob patterns allowed). Rerun the same command "
        "to resume an interrupted run."
    )
    parser.add_argument(
        "env_ids",
        nargs="+",
        metavar="ENV_ID",
        help="registered ids or glob patterns, e.g. 'cardenvs/GeneralPoints-*'",
    )
    parser.add_argument(
        "--policy",
        required=True,
        help="random, oracle, openai, or MODULE:CALLABLE (a function messages -> answer)",
    )
    parser.add_argument(
        "--episodes",
        type=_positive,
        help="episodes per id (seeds S..S+N-1); default: each id's preset count (the paper's "
        f"count for its split), else {DEFAULT_EPISODES}",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (reuse to resume)")
    parser.add_argument("--seed", type=_non_negative, default=0, help="first seed (default 0)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (policy openai)")
    parser.add_argument("--model", help="model name (policy openai)")
    parser.add_argument(
        "--conversation",
        choices=PROTOCOLS,
        default="full",
        help="how episodes become chat messages: full (one growing conversation, the whole "
        "observation after each step; default) or paper (the reference's: the prompt once, "
        "short failure messages, a fresh single prompt per navigation step)",
    )
    parser.add_argument(
        "--max-tokens",
        type=_positive,
        help=f"longest answer in tokens (policy openai; default {DEFAULT_MAX_TOKENS}, "
        "the reference's cap)",
    )
    parser.add_argument(
        "--temperature",
        type=_temperature,
        help="sampling temperature (policy openai; default 0, greedy)",
    )
    parser.add_argument(
        "--top-p",
        type=_probability,
        metavar="P",
        help="nucleus sampling mass in (0, 1] (policy openai; default: not sent)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="seconds to wait for the server per request (policy openai; default 120)",
    )
    parser.add_argument(
        "--max-retries",
        type=_non_negative,
        metavar="N",
        help="retries of a failed request before the episode is recorded as not run "
        "(policy openai; default 5)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="gym.make argument for every id; VALUE is JSON when it parses (repeatable)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=1,
        help="episodes played at once (for HTTP policies; results do not depend on it)",
    )
    parser.add_argument(
        "--max-steps", type=_positive, default=500, help="safety cap on steps per episode"
    )
    add_ray_option(parser, tasks="episodes")
    parser.add_argument(
        "--ray-cpus-per-episode",
        type=_cpus,
        metavar="CPUS",
        help="with --ray: CPUs each episode asks Ray for (default 1; 0.25 plays four episodes "
        "per CPU, for policies that mostly wait for a model server)",
    )
    parser.add_argument(
        "--plot", action="store_true", help="also write OUT/summary.png (needs ood-gym[plot])"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress and no table")


def _error(message: str) -> int:
    print(f"oodgym eval: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; return the exit status."""
    from oodgym.evaluation import (
        EvaluationError,
        IncompleteEvaluationError,
        OutputInUseError,
        evaluate,
        plot,
    )

    try:
        env_kwargs = parse_env_options(args.env)
    except ValueError as exc:
        return _error(str(exc))
    given = {
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "timeout": args.timeout,
        "max_retries": args.max_retries,
    }
    options = {key: value for key, value in given.items() if value is not None}
    if args.ray is None and args.ray_cpus_per_episode is not None:
        return _error("--ray-cpus-per-episode needs --ray")
    if args.ray is not None and args.concurrency != 1:
        return _error(
            "--concurrency is for a local run; with --ray every episode is a Ray task "
            "(use --ray-cpus-per-episode 0.25 to play four episodes per CPU)"
        )
    extra = {"cpus_per_task": args.ray_cpus_per_episode} if args.ray_cpus_per_episode else {}
    try:
        summary = evaluate(
            args.env_ids,
            args.policy,
            episodes=args.episodes,
            out=args.out,
            seed=args.seed,
            env_kwargs=env_kwargs,
            conversation=args.conversation,
            concurrency=args.concurrency,
            progress=not args.quiet,
            base_url=args.base_url,
            model=args.model,
            max_steps=args.max_steps,
            policy_options=options,
            backend=ray_backend(args.ray, **extra),
        )
    except KeyboardInterrupt:
        print(
            f"\noodgym eval: interrupted; finished episodes are saved in {args.out}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    except (ValueError, ImportError, ConnectionError, OutputInUseError) as exc:
        return _error(str(exc))
    except IncompleteEvaluationError as exc:
        print(f"oodgym eval: {exc}", file=sys.stderr)
        return 1
    except EvaluationError as exc:
        print(
            f"oodgym eval: {exc}\nFinished episodes are saved in {args.out}; "
            "fix the problem and run the same command again to resume.",
            file=sys.stderr,
        )
        return 1
    if args.plot:
        target = Path(args.out) / "summary.png"
        try:
            plot(summary, target)
        except ImportError as exc:
            return _error(str(exc))
        if not args.quiet:
            print(f"plot: {target}")
    return 0
