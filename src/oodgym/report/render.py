"""The report as text: a terminal table, Markdown, HTML (figures embedded) and JSON.

All four show the same tables, built once by :func:`tables`: per family, the
runs' values (% ± standard error) with each run's change from in-distribution
to the OOD splits, then the comparisons between runs.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oodgym.report.build import Report, Row
from oodgym.report.stats import CONFIDENCE, Difference

__all__ = [
    "HOW_TO_READ",
    "METRIC_NAMES",
    "Table",
    "html_page",
    "json_text",
    "markdown",
    "tables",
    "terminal",
]

#: How each metric is named in the tables.
METRIC_NAMES = {
    "success_rate": "success",
    "step_accuracy": "step acc.",
    "recognition_accuracy": "recog. acc.",
}

_PERCENT = round(100 * CONFIDENCE)

#: The notes printed under the tables.
HOW_TO_READ = (
    "Values: % ± standard error (success: binomial; step and recognition accuracy: pooled "
    "over attempts, clustered by episode).",
    "Δ vs in-dist.: within one run, the OOD split minus its in-distribution split, in "
    "percentage points ± standard error; unpaired (other episodes) unless marked paired "
    "(same seeds, same hands).",
    f"Between runs: second − first in percentage points with a {_PERCENT}% interval "
    "(normal approximation); paired by seed where both runs played the same episodes with "
    "the same environment arguments, unpaired otherwise. McNemar: exact two-sided p-value of "
    "paired success (b/c: episodes solved by the first run only / by the second run only).",
)
_FLAG_NOTE = "⚠: the evaluations differ in a setting; see the flags."


def _notes(report: Report) -> list[str]:
    return [*HOW_TO_READ, _FLAG_NOTE] if report.flags else list(HOW_TO_READ)


@dataclass(frozen=True)
class Table:
    """A titled table of text cells (the first ``left`` columns are left-aligned)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    left: int = 3


def _percent(value: float, stderr: float) -> str:
    return f"{100 * value:.1f} ± {100 * stderr:.1f}"


def _signed(value: float) -> str:
    shown = f"{100 * value:+.1f}"
    return "0.0" if shown in ("+0.0", "-0.0") else shown


def _change(difference: Difference, flagged: bool) -> str:
    text = f"{_signed(difference.value)} ± {100 * difference.stderr:.1f}"
    if difference.paired:
        text += " (paired)"
    return text + (" ⚠" if flagged else "")


def _pairing(difference: Difference) -> str:
    one, two = difference.episodes
    if difference.paired:
        return f"paired, N={one}"
    return f"unpaired, N={one}/{two}"


def _mcnemar(difference: Difference) -> str:
    test = difference.mcnemar
    if test is None:
        return "-"
    return f"{test.p_value:.3g} ({test.first_only}/{test.second_only})"


def _short(env_id: str, family: str) -> str:
    prefix = f"{family}/"
    return env_id[len(prefix) :] if env_id.startswith(prefix) else env_id


def _episodes(row: Row, labels: Sequence[str]) -> str:
    counts = [row.cells[label].episodes if label in row.cells else None for label in labels]
    known = {c for c in counts if c is not None}
    if len(known) == 1:
        return str(known.pop())
    return "/".join("-" if c is None else str(c) for c in counts)


def tables(report: Report) -> list[tuple[str, list[Table]]]:
    """Per family: its per-run table and (with two runs or more) its comparison table."""
    labels = [r.label for r in report.runs]
    out: list[tuple[str, list[Table]]] = []
    for family in report.families:
        header = ["id", "split", "metric", "N"]
        for label in labels:
            header += [label, f"Δ vs in-dist. ({label})"]
        body: list[tuple[str, ...]] = []
        for row in family.rows:
            line = [
                _short(row.env_id, family.name),
                row.split,
                METRIC_NAMES.get(row.metric, row.metric),
                _episodes(row, labels),
            ]
            for label in labels:
                cell = row.cells.get(label)
                change = row.changes.get(label)
                line.append("-" if cell is None else _percent(cell.value, cell.stderr))
                line.append(
                    "" if change is None else _change(change.difference, bool(change.flags))
                )
            body.append(tuple(line))
        made = [Table(f"{family.name}: per run", tuple(header), tuple(body))]
        compared = [(row, c) for row in family.rows for c in row.comparisons]
        if report.comparisons:
            made.append(
                Table(
                    f"{family.name}: between runs",
                    (
                        "id",
                        "split",
                        "metric",
                        "runs",
                        "difference (pp)",
                        f"{_PERCENT}% CI",
                        "pairing",
                        "McNemar p (b/c)",
                        "flags",
                    ),
                    tuple(
                        (
                            _short(row.env_id, family.name),
                            row.split,
                            METRIC_NAMES.get(row.metric, row.metric),
                            f"{c.second} − {c.first}",
                            f"{_signed(c.difference.value)} ± {100 * c.difference.stderr:.1f}",
                            f"[{_signed(c.difference.low)}, {_signed(c.difference.high)}]",
                            _pairing(c.difference),
                            _mcnemar(c.difference),
                            ("⚠ " + ", ".join(c.flags)) if c.flags else "",
                        )
                        for row, c in compared
                    ),
                    left=4,
                )
            )
        out.append((family.name, made))
    return out


def _runs_line(report: Report) -> str:
    parts = []
    for run in report.runs:
        who = run.model or run.policy or "?"
        parts.append(f"{run.label} ({who}, {run.path})")
    return "runs: " + "; ".join(parts)


def _flag_lines(report: Report) -> list[str]:
    return [f"[{f.kind}] {f.message}: {', '.join(f.env_ids)}" for f in report.flags]


def _grid(table: Table) -> str:
    lines = [table.header, *table.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(table.header))]

    def fmt(line: Sequence[str]) -> str:
        cells = [
            cell.ljust(widths[i]) if i < table.left else cell.rjust(widths[i])
            for i, cell in enumerate(line)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(table.header), rule, *(fmt(line) for line in table.rows)])


def terminal(report: Report) -> str:
    """The report as plain text for the terminal."""
    out = ["ood-gym generalisation report", _runs_line(report)]
    for _, made in tables(report):
        for table in made:
            out += ["", f"== {table.title} ==", _grid(table)]
    if report.flags:
        out += ["", "flags:", *(f"  ⚠ {line}" for line in _flag_lines(report))]
    out += ["", *_notes(report)]
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    align = ["---" if i < table.left else "---:" for i in range(len(table.header))]
    lines = [
        "| " + " | ".join(_md_cell(c) for c in table.header) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows),
    ]
    return "\n".join(lines)


def _run_rows(report: Report) -> Table:
    return Table(
        "runs",
        ("label", "folder", "policy", "model", "protocol", "ids"),
        tuple(
            (
                r.label,
                r.path,
                r.policy or "-",
                r.model or "-",
                ", ".join(r.conversations) or "-",
                str(len(r.env_ids)),
            )
            for r in report.runs
        ),
        left=6,
    )


def markdown(report: Report, figures: Mapping[str, str] | None = None) -> str:
    """The report as Markdown; ``figures`` maps a caption to an image path to link."""
    out = ["# ood-gym generalisation report", "", _md_table(_run_rows(report))]
    for family, made in tables(report):
        out += ["", f"## {family}"]
        for table in made:
            out += ["", f"### {table.title.split(': ', 1)[-1].capitalize()}", "", _md_table(table)]
    if report.flags:
        out += ["", "## Flags", ""]
        out += [f"- ⚠ {_md_cell(line)}" for line in _flag_lines(report)]
    if figures:
        out += ["", "## Figures", ""]
        out += [f"![{caption}]({path})" for caption, path in figures.items()]
    out += ["", "## How to read it", "", *(f"- {note}" for note in _notes(report))]
    return "\n".join(out) + "\n"


def _html_table(table: Table) -> str:
    def cells(tag: str, row: Sequence[str]) -> str:
        return "".join(
            f'<{tag} class="{"l" if i < table.left else "r"}">{html.escape(c)}</{tag}>'
            for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in table.rows)
    return (
        f"<table><thead><tr>{cells('th', table.header)}</tr></thead><tbody>{body}</tbody></table>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; white-space: nowrap; }
th { background: #f4f4f4; }
.l { text-align: left; } .r { text-align: right; font-variant-numeric: tabular-nums; }
.flags li { color: #8a4b00; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
"""


def html_page(report: Report, figures: Mapping[str, tuple[bytes, str]] | None = None) -> str:
    """The report as one HTML page; ``figures`` maps a caption to ``(PNG bytes, SVG link)``.

    The PNGs are embedded (``data:`` URLs), so the page stands alone.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>ood-gym generalisation report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>ood-gym generalisation report</h1>",
        _html_table(_run_rows(report)),
    ]
    for family, made in tables(report):
        parts.append(f"<h2>{html.escape(family)}</h2>")
        for table in made:
            title = table.title.split(": ", 1)[-1].capitalize()
            parts += [f"<h3>{html.escape(title)}</h3>", _html_table(table)]
    if report.flags:
        items = "".join(f"<li>⚠ {html.escape(line)}</li>" for line in _flag_lines(report))
        parts += ["<h2>Flags</h2>", f'<ul class="flags">{items}</ul>']
    if figures:
        parts.append("<h2>Figures</h2>")
        for caption, (png, svg) in figures.items():
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                f'<figcaption>{html.escape(caption)} (<a href="{html.escape(svg)}">SVG</a>)'
                "</figcaption></figure>"
            )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in _notes(report))
    parts += ["<h2>How to read it</h2>", f"<ul>{notes}</ul>", "</body></html>"]
    return "\n".join(parts) + "\n"


def json_text(report: Report) -> str:
    """``report.json``: :meth:`Report.to_dict` as indented JSON."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
