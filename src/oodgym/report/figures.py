"""The report's figures (need matplotlib: ``ood-gym[plot]``).

* :func:`shift_figure`, the paper's view: one panel per OOD split, each run a
  point at (in-distribution value, OOD value) with standard-error bars in both
  directions, arrows from the baseline run to the others, and the diagonal
  where OOD performance equals in-distribution performance.
* :func:`splits_figure`: per family, a bar per run and id (± standard error).

Both plot each id's headline metric (the paper's: per-step accuracy for
navigation's in-distribution and rule-OOD splits, success otherwise).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from oodgym.atomic import write_bytes_atomic
from oodgym.report.build import Report, Row
from oodgym.report.render import METRIC_NAMES

__all__ = ["figure_bytes", "save_figure", "shift_figure", "splits_figure"]

_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _import() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "the report's figures need matplotlib: pip install 'ood-gym[plot]'"
        ) from exc
    return Figure, FigureCanvasAgg


def _short(env_id: str) -> str:
    return env_id.split("/", 1)[-1]


def _baseline(report: Report) -> str | None:
    firsts = {first for first, _ in report.comparisons}
    if len(firsts) == 1:
        return firsts.pop()
    return report.runs[0].label if report.runs else None


def _panels(report: Report) -> list[tuple[Row, Row]]:
    """``(reference row, OOD row)`` of each OOD id's headline metric with a reference row."""
    out: list[tuple[Row, Row]] = []
    for row in report.rows():
        if not row.headline or row.reference is None:
            continue
        try:
            reference = report.row(row.reference, row.metric)
        except KeyError:
            continue
        if any(label in reference.cells for label in row.cells):
            out.append((reference, row))
    return out


def shift_figure(report: Report) -> Any | None:
    """In-distribution vs OOD per run (a ``matplotlib.figure.Figure``); ``None`` if no OOD row.

    Raises:
        ImportError: matplotlib is missing.
    """
    panels = _panels(report)
    if not panels:
        return None
    figure_class, canvas = _import()
    labels = [r.label for r in report.runs]
    columns = min(3, len(panels))
    lines = math.ceil(len(panels) / columns)
    figure = figure_class(figsize=(4.2 * columns, 4.4 * lines + 0.8), dpi=110)
    canvas(figure)
    baseline = _baseline(report)
    for index, (reference, row) in enumerate(panels):
        axes = figure.add_subplot(lines, columns, index + 1)
        axes.plot([0, 100], [0, 100], linestyle="--", color="#999999", linewidth=0.8)
        points: dict[str, tuple[float, float]] = {}
        for number, label in enumerate(labels):
            x, y = reference.cells.get(label), row.cells.get(label)
            if x is None or y is None:
                continue
            points[label] = (100 * x.value, 100 * y.value)
            axes.errorbar(
                100 * x.value,
                100 * y.value,
                xerr=100 * x.stderr,
                yerr=100 * y.stderr,
                fmt=_MARKERS[number % len(_MARKERS)],
                color=_COLOURS[number % len(_COLOURS)],
                capsize=3,
                markersize=7,
                label=label,
            )
            axes.annotate(
                label,
                points[label],
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
        if baseline in points:
            for label, end in points.items():
                if label != baseline:
                    axes.annotate(
                        "",
                        xy=end,
                        xytext=points[baseline],
                        arrowprops={"arrowstyle": "->", "color": "#777777", "lw": 0.8},
                    )
        axes.set_xlim(-5, 105)
        axes.set_ylim(-5, 105)
        metric = METRIC_NAMES.get(row.metric, row.metric)
        axes.set_title(f"{_short(row.env_id)}\n{metric}", fontsize=9)
        axes.set_xlabel(f"in-distribution: {_short(reference.env_id)} (%)", fontsize=8)
        axes.set_ylabel(f"{row.split} (%)", fontsize=8)
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
    handles, names = figure.axes[0].get_legend_handles_labels()
    height = figure.get_figheight()
    figure.suptitle("in-distribution vs OOD per run (± standard error)", fontsize=11, y=0.99)
    figure.legend(
        handles,
        names,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.3 / height),
        ncol=max(1, len(names)),
        frameon=False,
        fontsize=9,
    )
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))
    return figure


def splits_figure(report: Report) -> Any | None:
    """Per family, each id's headline metric per run (bars ± standard error); ``None`` if empty.

    Raises:
        ImportError: matplotlib is missing.
    """
    families = [(f.name, [r for r in f.rows if r.headline]) for f in report.families]
    families = [(name, rows) for name, rows in families if rows]
    if not families:
        return None
    figure_class, canvas = _import()
    labels = [r.label for r in report.runs]
    widest = max(len(rows) for _, rows in families)
    figure = figure_class(
        figsize=(max(5.0, 0.9 * widest * max(1, len(labels)) + 2.0), 3.8 * len(families)),
        dpi=110,
    )
    canvas(figure)
    width = 0.8 / max(1, len(labels))
    for index, (name, rows) in enumerate(families):
        axes = figure.add_subplot(len(families), 1, index + 1)
        for number, label in enumerate(labels):
            xs: list[float] = []
            heights: list[float] = []
            errors: list[float] = []
            for position, row in enumerate(rows):
                cell = row.cells.get(label)
                if cell is None:
                    continue
                xs.append(position - 0.4 + width * (number + 0.5))
                heights.append(100 * cell.value)
                errors.append(100 * cell.stderr)
            if not xs:  # the run has none of the family's ids
                continue
            axes.bar(
                xs,
                heights,
                width=width,
                yerr=errors,
                capsize=3,
                color=_COLOURS[number % len(_COLOURS)],
                edgecolor="black",
                linewidth=0.5,
                label=label,
            )
            for x, height, error in zip(xs, heights, errors, strict=True):
                axes.text(
                    x,
                    min(height + error + 1.5, 104.0),
                    f"{height:.0f}",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
        axes.set_xticks(list(range(len(rows))))
        axes.set_xticklabels(
            [
                f"{_short(r.env_id)}\n{r.split} · {METRIC_NAMES.get(r.metric, r.metric)}"
                for r in rows
            ],
            fontsize=7,
        )
        axes.set_ylim(0, 115)
        axes.set_yticks([0, 20, 40, 60, 80, 100])
        axes.set_ylabel("%")
        axes.set_title(name, fontsize=10)
        axes.grid(axis="y", alpha=0.3)
        axes.legend(fontsize=8, loc="upper right", ncol=max(1, len(labels)), frameon=False)
    figure.tight_layout()
    return figure


def figure_bytes(figure: Any) -> tuple[bytes, bytes]:
    """The figure as PNG and SVG bytes (the SVG without a date, so reruns give the same file)."""
    from matplotlib import rc_context

    png = io.BytesIO()
    figure.savefig(png, format="png")
    svg = io.BytesIO()
    with rc_context({"svg.hashsalt": "oodgym-report"}):
        figure.savefig(svg, format="svg", metadata={"Date": None})
    return png.getvalue(), svg.getvalue()


def save_figure(figure: Any, stem: str | Path) -> tuple[Path, Path, bytes]:
    """Write ``STEM.png`` and ``STEM.svg`` atomically; their paths and the PNG bytes."""
    png, svg = figure_bytes(figure)
    stem = Path(stem)
    png_path, svg_path = stem.with_suffix(".png"), stem.with_suffix(".svg")
    write_bytes_atomic(png_path, png)
    write_bytes_atomic(svg_path, svg)
    return png_path, svg_path, png
