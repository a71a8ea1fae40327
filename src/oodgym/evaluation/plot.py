"""A bar chart of the success rates of a summary (needs matplotlib: ``ood-gym[plot]``)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oodgym.atomic import write_bytes_atomic
from oodgym.evaluation.summary import Summary

__all__ = ["plot"]

_SPLIT_ORDER = ("in-distribution", "rule-ood", "visual-ood")
_SPLIT_COLOURS = {
    "in-distribution": "#4C72B0",
    "rule-ood": "#DD8452",
    "visual-ood": "#55A868",
}


def plot(
    summary: Summary | Mapping[str, Any] | str | os.PathLike[str], path: str | os.PathLike[str]
) -> Path:
    """Bar chart (PNG) of the success rate per id, coloured by split, with stderr error bars.

    Args:
        summary: A :class:`Summary`, its ``to_dict()`` data, or a ``summary.json``
            path (or the folder holding it).
        path: The PNG to write (atomically).

    Raises:
        ImportError: matplotlib is missing (``pip install 'ood-gym[plot]'``).
    """
    if isinstance(summary, (str, os.PathLike)):
        summary = Summary.load(summary)
    elif not isinstance(summary, Summary):
        summary = Summary.from_dict(summary)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot() needs matplotlib: pip install 'ood-gym[plot]'") from exc

    rank = {s: i for i, s in enumerate(_SPLIT_ORDER)}
    order = list(summary.results.values())
    rows = sorted(order, key=lambda r: (r.family, rank.get(r.split, len(rank)), order.index(r)))
    figure = Figure(figsize=(max(4.0, 1.1 * len(rows) + 1.5), 4.2), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    xs = list(range(len(rows)))
    heights = [100 * r.success_rate for r in rows]
    errors = [100 * r.success_rate_stderr for r in rows]
    colours = [_SPLIT_COLOURS.get(r.split, "#8C8C8C") for r in rows]
    axes.bar(xs, heights, yerr=errors, capsize=4, color=colours, edgecolor="black", linewidth=0.5)
    for x, height, error in zip(xs, heights, errors, strict=True):
        top = min(height + error + 1.5, 103.0)
        axes.text(x, top, f"{height:.1f}", ha="center", va="bottom", fontsize=8)
    labels = [r.env_id.split("/")[-1] + f"\nN={r.episodes}" for r in rows]
    axes.set_xticks(xs)
    axes.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 122)
    axes.set_yticks([0, 20, 40, 60, 80, 100])
    axes.set_ylabel("success rate (%)")
    policy = summary.settings.get("policy")
    axes.set_title(f"success per split ({policy})" if policy else "success per split")
    seen = [s for s in [*_SPLIT_ORDER, "unknown"] if any(r.split == s for r in rows)]
    seen += sorted({r.split for r in rows} - set(seen))
    from matplotlib.patches import Patch

    axes.legend(
        handles=[Patch(color=_SPLIT_COLOURS.get(s, "#8C8C8C"), label=s) for s in seen],
        fontsize=8,
        loc="upper center",
        ncol=max(1, len(seen)),
        frameon=False,
    )
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    target = Path(path)
    write_bytes_atomic(target, buffer.getvalue())
    return target
