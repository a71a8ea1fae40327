"""A paired generalisation report across evaluation runs (``oodgym report``).

Each run is an ``oodgym eval --out`` folder. For every family the report
shows, per run, each split's metric (success, pooled per-step accuracy,
recognition accuracy) with its standard error and the change from the
in-distribution split to each OOD split; between runs, the difference per split
with a 95% interval, paired by episode seed where the runs played the same
episodes (with the exact McNemar test of paired success), unpaired otherwise.
Evaluations with different settings are flagged. See ``docs/report.md``.

Modules: :mod:`~oodgym.report.runs` (reading run folders),
:mod:`~oodgym.report.stats` (differences, intervals, McNemar),
:mod:`~oodgym.report.build` (rows, changes, comparisons, flags),
:mod:`~oodgym.report.render` (terminal, Markdown, HTML, JSON),
:mod:`~oodgym.report.figures` (matplotlib figures).

Example::

    from oodgym.report import build_report, load_run, write_report

    report = build_report([load_run("runs/base", "base"), load_run("runs/rl", "rl")])
    print(report.table())
    write_report(report, "report")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from oodgym.atomic import write_text_atomic
from oodgym.report.build import (
    SEED_PAIRED_IDS,
    Cell,
    Change,
    Comparison,
    Family,
    Flag,
    Report,
    Row,
    RunInfo,
    build_report,
)
from oodgym.report.render import html_page, json_text, markdown
from oodgym.report.runs import METRICS, Episode, IdResult, Run, load_run, load_runs
from oodgym.report.stats import Difference, McNemar, mcnemar_exact

__all__ = [
    "FIGURES",
    "METRICS",
    "SEED_PAIRED_IDS",
    "Cell",
    "Change",
    "Comparison",
    "Difference",
    "Episode",
    "Family",
    "Flag",
    "IdResult",
    "McNemar",
    "Report",
    "Row",
    "Run",
    "RunInfo",
    "Written",
    "build_report",
    "load_run",
    "load_runs",
    "mcnemar_exact",
    "write_report",
]

#: The figures, by file stem: their captions.
FIGURES = {
    "shift": "In-distribution vs OOD per run (± standard error)",
    "splits": "Each split per run (± standard error)",
}


@dataclass(frozen=True)
class Written:
    """What :func:`write_report` wrote.

    Attributes:
        files: Every file written, in order.
        figures_skipped: Why no figure was written (``None`` if they were, or
            if none was asked for).
    """

    files: tuple[Path, ...]
    figures_skipped: str | None = None


def write_report(report: Report, out: str | os.PathLike[str], *, figures: bool = True) -> Written:
    """Write ``report.md``, ``report.json``, ``report.html`` and the figures to ``out``.

    Every file is written atomically (a reader never sees half a file). The
    figures are ``shift.png``/``.svg`` and ``splits.png``/``.svg``, embedded in
    the HTML page as PNG. Without matplotlib (``ood-gym[plot]``) they are
    skipped and ``figures_skipped`` says so.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    embedded: dict[str, tuple[bytes, str]] = {}
    linked: dict[str, str] = {}
    skipped = None
    if figures:
        try:
            from oodgym.report.figures import save_figure, shift_figure, splits_figure

            made = {"shift": shift_figure(report), "splits": splits_figure(report)}
        except ImportError as exc:
            skipped = str(exc)
            made = {}
        for stem, figure in made.items():
            if figure is None:
                continue
            png_path, svg_path, png = save_figure(figure, root / stem)
            files += [png_path, svg_path]
            embedded[FIGURES[stem]] = (png, svg_path.name)
            linked[FIGURES[stem]] = svg_path.name
    targets = {
        "report.json": json_text(report),
        "report.md": markdown(report, linked),
        "report.html": html_page(report, embedded),
    }
    for name, text in targets.items():
        write_text_atomic(root / name, text)
        files.append(root / name)
    return Written(tuple(files), skipped)
