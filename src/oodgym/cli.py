"""The ``oodgym`` command: ``oodgym <subcommand> ...`` (``oodgym`` alone runs ``demo``).

Subcommands live in :mod:`oodgym.commands`, one module each, imported only
when they run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from oodgym._version import __version__
from oodgym.commands import COMMANDS

__all__ = ["main"]

# One-line help per subcommand, kept here so that ``oodgym --help`` imports nothing heavy.
_HELP = {
    "demo": "play one seeded episode of every registered id (garbage, then the expert)",
    "list": "list registered ids with their split",
    "eval": "evaluate a policy on registered ids; resumable; paper-style table",
    "export": "export an SFT dataset from the expert (JSONL + PNG, or a HF datasets folder)",
    "play": "play an environment in the terminal",
    "render": "render an episode's image to a PNG",
    "check": "run the conformance kit on environment ids or served addresses (for your CI)",
    "serve": "serve an environment id as an OpenEnv server (WebSocket sessions)",
    "report": "compare eval runs: splits, in-distribution -> OOD change, paired differences",
}


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"oodgym.commands.{COMMANDS[name]}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``oodgym`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="oodgym", description="ood-gym: GeneralPoints and V-IRL-style navigation environments"
    )
    parser.add_argument("--version", action="version", version=f"ood-gym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = args_list[0] if args_list and args_list[0] in COMMANDS else None
    for name in COMMANDS:
        command_parser = sub.add_parser(name, help=_HELP.get(name, ""))
        if name == chosen:
            _module(name).add_arguments(command_parser)
    if chosen is None and not any(a in ("-h", "--help", "--version") for a in args_list):
        args_list = ["demo", *args_list]
        chosen = "demo"
        _module("demo").add_arguments(sub.choices["demo"])
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = _module(args.command).run(args)
    except BrokenPipeError:
        # `oodgym list | head`: the reader went away; exit quietly like other CLI tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
