"""``oodgym export``: write an SFT dataset from an environment's expert.

``oodgym export ENV_ID --episodes N --out DIR [--format jsonl|hf] [--seed S]
[--env KEY=VALUE ...] [--overwrite]``; see :mod:`oodgym.export` for the layout.

This module also holds the ``--env KEY=VALUE`` option shared by ``export``,
``play``, ``render`` and ``check``: each value is parsed as JSON when it can
be (``max_attempts=3``, ``visuals='["rotate"]'``), else kept as a string
(``rule=face-10``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

__all__ = [
    "USAGE_ERRORS",
    "add_arguments",
    "add_env_option",
    "env_kwargs",
    "error",
    "parse_env_pair",
    "run",
]

#: Errors that mean "bad input" (exit status 2 with a message) rather than a crash.
USAGE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    ImportError,
    OSError,
    gym.error.Error,
)


def parse_env_pair(text: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> ``(KEY, VALUE)``, VALUE parsed as JSON when possible."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (KEY an identifier); got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def add_env_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--env KEY=VALUE ...`` (repeatable) for ``gym.make`` keyword arguments."""
    parser.add_argument(
        "--env",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        type=parse_env_pair,
        default=[],
        help="keyword argument of gym.make; VALUE is JSON if it parses, else a string "
        "(e.g. --env max_attempts=3 'visuals=[\"rotate\"]')",
    )


def env_kwargs(pairs: Sequence[tuple[str, Any]] | None) -> dict[str, Any]:
    """The ``gym.make`` kwargs of parsed ``--env`` pairs (a later key wins)."""
    return dict(pairs or [])


def error(command: str, err: BaseException | str) -> int:
    """Print ``oodgym COMMAND: error: ...`` to stderr; return the exit status 2."""
    print(f"oodgym {command}: error: {err}", file=sys.stderr)
    return 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym export``."""
    from oodgym.export import FORMATS

    parser.add_argument("env_id", metavar="ENV_ID", help="registered id (or module:id)")
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes")
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create")
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="jsonl (+ PNGs) or hf (datasets)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="first seed; episode i uses seed+i (default 0)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    add_env_option(parser)


def run(args: argparse.Namespace) -> int:
    """Run the export."""
    from oodgym.export import export

    try:
        report = export(
            args.env_id,
            episodes=args.episodes,
            out=args.out,
            seed=args.seed,
            format=args.format,
            env_kwargs=env_kwargs(args.env),
            overwrite=args.overwrite,
        )
    except USAGE_ERRORS as err:
        return error("export", err)
    last = args.seed + report.episodes - 1
    images = f", {report.images} images" if report.images else ""
    print(
        f"wrote {report.records} records{images} from {report.episodes} episodes "
        f"(seeds {args.seed}..{last}, {report.solved} solved) of {report.env_id} "
        f"to {report.path} [{report.format}]"
    )
    return 0
