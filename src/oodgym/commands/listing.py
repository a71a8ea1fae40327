"""``oodgym list``: every registered id with its split and a one-line description."""

from __future__ import annotations

import argparse

from oodgym.families import presets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym list`` (none)."""


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    return _list()


def _list() -> int:
    rows = presets()
    width = max((len(p.id) for p in rows), default=10)
    for p in rows:
        print(f"{p.id:<{width}}  {p.split:<15}  {p.description}")
    return 0
