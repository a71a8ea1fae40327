"""``oodgym export``: write an SFT dataset from an environment's expert.

``oodgym export ENV_ID --episodes N --out DIR [--format jsonl|hf] [--seed S]
[--conversation paper|full] [--layout messages|prompt-completion] [--env KEY=VALUE ...]
[--overwrite] [--ray [ADDRESS]]``;
see :mod:`oodgym.export` for the layout (``--ray``: shards of seeds played on a
Ray cluster, the same bytes). ``--seed`` defaults to 1,000,000, so the
data never comes from the evaluation seeds ``0 .. N-1``; a range that overlaps
them is exported with a note on stderr.
"""

from __future__ import annotations

import argparse
import sys

from oodgym.commands._common import (
    USAGE_ERRORS,
    add_env_option,
    add_ray_option,
    env_kwargs,
    error,
    ray_backend,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym export``."""
    from oodgym.conversation import PROTOCOLS
    from oodgym.export import FORMATS
    from oodgym.integrations.rollout import TRAINING_SEED_START

    parser.add_argument("env_id", metavar="ENV_ID", help="registered id (or module:id)")
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes")
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create")
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="jsonl (+ PNGs) or hf (datasets)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=TRAINING_SEED_START,
        help=f"first seed; episode i uses seed+i (default {TRAINING_SEED_START}: "
        "disjoint from the evaluation seeds 0..N-1)",
    )
    parser.add_argument(
        "--conversation",
        choices=PROTOCOLS,
        default="paper",
        help="protocol of the records' messages: paper (one prompt and its answer per record; "
        "default) or full (a navigation record holds the episode so far)",
    )
    parser.add_argument(
        "--layout",
        choices=("messages", "prompt-completion"),
        default="messages",
        help="messages (one conversational column; default) or prompt-completion (TRL's "
        "conversational prompt/completion columns: the loss covers the answer only)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    add_env_option(parser)
    add_ray_option(parser, tasks="episodes (in shards of seeds; the output is the same)")


def _evaluation_overlap(env_id: str, first: int, count: int) -> str | None:
    """A note if seeds ``first .. first + count - 1`` include evaluation seeds of ``env_id``."""
    from oodgym.families import presets

    episodes = next((p.episodes for p in presets() if p.id == env_id), None)
    if episodes is None or first >= episodes or count < 1:
        return None
    last = min(first + count, episodes) - 1
    return (
        f"oodgym export: note: seeds {first}..{last} are evaluation seeds of {env_id} "
        f"(oodgym eval plays 0..{episodes - 1}); train on other seeds (the default "
        "--seed is 1000000)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the export."""
    from oodgym.distributed import WorkerLostError
    from oodgym.export import export

    try:
        report = export(
            args.env_id,
            episodes=args.episodes,
            out=args.out,
            seed=args.seed,
            format=args.format,
            env_kwargs=env_kwargs(args.env),
            conversation=args.conversation,
            layout=args.layout,
            overwrite=args.overwrite,
            backend=ray_backend(args.ray),
        )
    except WorkerLostError as err:
        print(f"oodgym export: {err}; nothing was written", file=sys.stderr)
        return 1
    except USAGE_ERRORS as err:
        return error("export", err)
    note = _evaluation_overlap(args.env_id, args.seed, report.episodes)
    if note:
        print(note, file=sys.stderr)
    last = args.seed + report.episodes - 1
    images = f", {report.images} images" if report.images else ""
    print(
        f"wrote {report.records} records{images} from {report.episodes} episodes "
        f"(seeds {args.seed}..{last}, {report.solved} solved) of {report.env_id} "
        f"to {report.path} [{report.format}]"
    )
    return 0
