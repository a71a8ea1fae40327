"""``oodgym report``: a paired generalisation report across evaluation runs.

Examples::

    oodgym report runs/base runs/rl                     # labelled base and rl
    oodgym report base=runs/qwen sft=runs/sft-1k rl=runs/rl-1k --out report
    oodgym report base=runs/a rl=runs/b sft=runs/c --baseline base --no-plot

Prints the tables and writes ``report.md``, ``report.json``, ``report.html``
and the figures (``shift``/``splits`` as PNG and SVG; need ``ood-gym[plot]``,
skipped with a note without it) to ``--out``. Exit status: 0 done, 2 bad
arguments or a folder without evaluation results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oodgym.commands._common import USAGE_ERRORS, error

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym report``."""
    parser.description = (
        "Compare evaluation runs: per family, each split's metrics with standard errors, the "
        "change from in-distribution to OOD, and paired differences between runs."
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="an `oodgym eval --out` folder, or LABEL=FOLDER (default label: the folder's name)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        help="folder for report.md, report.json, report.html and the figures (default: report)",
    )
    parser.add_argument(
        "--baseline",
        metavar="LABEL",
        help="compare every other run with this one (default: every pair of runs, later "
        "minus earlier)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no figures")
    parser.add_argument("--quiet", action="store_true", help="print only the files written")


def run(args: argparse.Namespace) -> int:
    """Build and write the report; return the exit status."""
    from oodgym.report import build_report, load_runs, write_report

    try:
        runs = load_runs(args.runs)
        report = build_report(runs, baseline=args.baseline)
        written = write_report(report, args.out, figures=not args.no_plot)
    except USAGE_ERRORS as exc:
        return error("report", exc)
    if not args.quiet:
        print(report.table())
    if written.figures_skipped:
        print(f"oodgym report: figures skipped: {written.figures_skipped}", file=sys.stderr)
    print("wrote " + ", ".join(str(path) for path in written.files))
    return 0
