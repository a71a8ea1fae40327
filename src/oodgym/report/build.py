"""The report's content: rows per family, in-distribution -> OOD changes, run comparisons, flags.

One row per id and metric (success, pooled step accuracy, recognition
accuracy: those the id reports), in the order the families announce their
ids. A row holds each run's value and standard error, each run's change from
the id's in-distribution reference to it (OOD rows), and each comparison of
two runs. Statistics: :mod:`oodgym.report.stats`.

**In-distribution reference** of an OOD id: the in-distribution preset of
its family whose ``gym.make`` arguments differ from its own in the fewest
keys (``GeneralPoints-Image-RuleOOD-v0`` -> ``GeneralPoints-Image-v0``).

**Pairing.** Two runs pair on an id when both have its episode records and
played it with the same environment arguments: the episodes with the same
seed are the same hand or route. They pair on the seeds both completed. Across
splits of one run, only the ids in :data:`SEED_PAIRED_IDS` pair (the visual
split deals the training split's hands in red suits); other OOD splits draw
other episodes and are compared unpaired.

**Flags.** Settings that make a comparison something other than "the same
episodes, another model" are reported, never silently absorbed: another
conversation protocol, other environment arguments, other episode seeds, another
step cap or ood-gym version, and (within a run) another policy; also episodes
that did not run and ids missing from some runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from oodgym.families import PresetInfo, presets
from oodgym.report.runs import METRICS, IdResult, Run
from oodgym.report.stats import (
    CONFIDENCE,
    Difference,
    paired_difference,
    unpaired_difference,
)

__all__ = [
    "FORMAT",
    "SEED_PAIRED_IDS",
    "Cell",
    "Change",
    "Comparison",
    "Family",
    "Flag",
    "Report",
    "Row",
    "RunInfo",
    "build_report",
    "difference_dict",
    "references",
]

#: The ``format`` of ``report.json``.
FORMAT = "oodgym.report/1"

#: ``(in-distribution id, OOD id)`` whose episodes with the same seed are the same
#: hand (docs/splits.md, "Seeds are paired"): their within-run change is paired.
SEED_PAIRED_IDS: frozenset[tuple[str, str]] = frozenset(
    {("cardenvs/GeneralPoints-Image-v0", "cardenvs/GeneralPoints-Image-VisualOOD-v0")}
)

_OOD_SPLITS = ("rule-ood", "visual-ood")


@dataclass(frozen=True)
class Cell:
    """One run's value of a row: the metric, its standard error, the episodes counted."""

    value: float
    stderr: float
    episodes: int


@dataclass(frozen=True)
class Change:
    """Within one run: the OOD id's metric minus its in-distribution reference's.

    Attributes:
        difference: ``OOD - in-distribution`` (first = the reference).
        flags: Kinds of setting in which the two ids' evaluations differ.
    """

    difference: Difference
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """Two runs on one row: ``second - first``.

    Attributes:
        first: The first run's label.
        second: The second run's label.
        difference: The difference (paired by seed where the runs pair).
        flags: Kinds of setting in which the two runs' evaluations of the id differ.
    """

    first: str
    second: str
    difference: Difference
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One id and metric.

    Attributes:
        env_id: The id.
        split: Its split.
        metric: ``success_rate``, ``step_accuracy`` or ``recognition_accuracy``.
        reference: The in-distribution id of an OOD row (``None`` otherwise).
        headline: Whether this is the id's metric in the paper (per-step
            accuracy for navigation's in-distribution and rule-OOD splits,
            success otherwise); the figures show it.
        cells: Each run's value, by label (runs without the id are absent).
        changes: Each run's change from the reference, by label.
        comparisons: The comparisons of two runs that both have the row.
    """

    env_id: str
    split: str
    metric: str
    reference: str | None
    headline: bool
    cells: dict[str, Cell]
    changes: dict[str, Change]
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Family:
    """The rows of one family (``cardenvs``, ``navenvs``, or a third party's)."""

    name: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Flag:
    """Something a reader must know before trusting a comparison.

    Attributes:
        kind: ``protocol``, ``env_kwargs``, ``seeds``, ``max_steps``,
            ``version``, ``policy``, ``records``, ``not_run`` or ``missing``.
        runs: The runs concerned (two for a comparison, one within a run).
        env_ids: The ids concerned.
        message: What differs and what the report did about it.
    """

    kind: str
    runs: tuple[str, ...]
    env_ids: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class RunInfo:
    """A run as the report names it."""

    label: str
    path: str
    policy: str | None
    model: str | None
    conversations: tuple[str, ...]
    env_ids: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """A generalisation report over runs (see :func:`build_report`)."""

    runs: tuple[RunInfo, ...]
    comparisons: tuple[tuple[str, str], ...]
    families: tuple[Family, ...]
    flags: tuple[Flag, ...]

    def rows(self) -> list[Row]:
        """Every row, family after family."""
        return [row for family in self.families for row in family.rows]

    def row(self, env_id: str, metric: str = "success_rate") -> Row:
        """The row of ``env_id`` and ``metric``.

        Raises:
            KeyError: No such row.
        """
        for row in self.rows():
            if row.env_id == env_id and row.metric == metric:
                return row
        raise KeyError(f"no row for {env_id} / {metric}")

    def table(self) -> str:
        """The report as plain text (what ``oodgym report`` prints)."""
        from oodgym.report.render import terminal

        return terminal(self)

    def markdown(self) -> str:
        """The report as Markdown (``report.md`` without its figure links)."""
        from oodgym.report.render import markdown

        return markdown(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the content of ``report.json``); rates are fractions."""
        return {
            "format": FORMAT,
            "confidence": CONFIDENCE,
            "runs": [
                {
                    "label": r.label,
                    "path": r.path,
                    "policy": r.policy,
                    "model": r.model,
                    "conversations": list(r.conversations),
                    "env_ids": list(r.env_ids),
                }
                for r in self.runs
            ],
            "comparisons": [{"first": a, "second": b} for a, b in self.comparisons],
            "families": [
                {"family": f.name, "rows": [_row_dict(row) for row in f.rows]}
                for f in self.families
            ],
            "flags": [
                {
                    "kind": f.kind,
                    "runs": list(f.runs),
                    "env_ids": list(f.env_ids),
                    "message": f.message,
                }
                for f in self.flags
            ],
        }


def difference_dict(difference: Difference) -> dict[str, Any]:
    """Plain data of a :class:`~oodgym.report.stats.Difference`."""
    test = difference.mcnemar
    return {
        "first": difference.first,
        "second": difference.second,
        "difference": difference.value,
        "stderr": difference.stderr,
        "ci": [difference.low, difference.high],
        "paired": difference.paired,
        "episodes": list(difference.episodes),
        "mcnemar": None
        if test is None
        else {
            "first_only": test.first_only,
            "second_only": test.second_only,
            "p_value": test.p_value,
        },
    }


def _row_dict(row: Row) -> dict[str, Any]:
    return {
        "env_id": row.env_id,
        "split": row.split,
        "metric": row.metric,
        "reference": row.reference,
        "headline": row.headline,
        "runs": {
            label: {"value": c.value, "stderr": c.stderr, "episodes": c.episodes}
            for label, c in row.cells.items()
        },
        "changes": {
            label: {**difference_dict(c.difference), "flags": list(c.flags)}
            for label, c in row.changes.items()
        },
        "comparisons": [
            {
                "first": c.first,
                "second": c.second,
                **difference_dict(c.difference),
                "flags": list(c.flags),
            }
            for c in row.comparisons
        ],
    }


def references(known: Sequence[PresetInfo]) -> dict[str, str]:
    """Each OOD preset's in-distribution reference (see the module docstring)."""
    out: dict[str, str] = {}
    for preset in known:
        if preset.split not in _OOD_SPLITS:
            continue
        candidates = [
            p for p in known if p.family == preset.family and p.split == "in-distribution"
        ]
        if not candidates:
            continue

        def distance(candidate: PresetInfo, ood: PresetInfo = preset) -> int:
            keys = set(candidate.kwargs) | set(ood.kwargs)
            return sum(candidate.kwargs.get(k) != ood.kwargs.get(k) for k in keys)

        out[preset.id] = min(candidates, key=distance).id  # first on ties
    return out


def _seed_ranges(seeds: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2, 5"``."""
    ordered = sorted(seeds)
    if not ordered:
        return "none"
    parts: list[str] = []
    start = previous = ordered[0]
    for seed in [*ordered[1:], None]:
        if seed is not None and seed == previous + 1:
            previous = seed
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if seed is not None:
            start = previous = seed
    return ", ".join(parts)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Flags:
    """Collects flags and merges those that differ only in their id."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, tuple[str, ...], str], list[str]] = {}

    def add(self, kind: str, runs: tuple[str, ...], env_id: str, message: str) -> None:
        ids = self._items.setdefault((kind, runs, message), [])
        if env_id not in ids:
            ids.append(env_id)

    def flags(self) -> tuple[Flag, ...]:
        return tuple(
            Flag(kind, runs, tuple(ids), message)
            for (kind, runs, message), ids in self._items.items()
        )


def _setting_differences(one: IdResult, two: IdResult, *, policy: bool) -> list[tuple[str, str]]:
    """``(kind, "A vs B")`` for each known setting in which two evaluations differ."""
    pairs: list[tuple[str, Any, Any]] = [
        ("protocol", one.conversation, two.conversation),
        ("env_kwargs", one.env_kwargs, two.env_kwargs),
        ("max_steps", one.max_steps, two.max_steps),
        ("version", one.version, two.version),
    ]
    if policy:
        pairs.append(("policy", one.policy, two.policy))
    out: list[tuple[str, str]] = []
    for kind, a, b in pairs:
        if a is not None and b is not None and a != b:
            shown = (_compact(a), _compact(b)) if kind == "env_kwargs" else (str(a), str(b))
            out.append((kind, f"{shown[0]} vs {shown[1]}"))
    return out


_WHAT = {
    "protocol": "conversation protocols",
    "env_kwargs": "env kwargs",
    "max_steps": "step caps (max_steps)",
    "version": "ood-gym versions",
    "policy": "policies",
}
_CONSEQUENCE = {
    "protocol": "the difference mixes the model with the protocol",
    "env_kwargs": "not the same task or episodes: compared unpaired",
    "max_steps": "episodes may have been cut at different lengths",
    "version": "the environments may differ between versions",
    "policy": "the change mixes the split with the policy",
}


def _difference(
    one: IdResult, two: IdResult, metric: str, *, pair: bool
) -> tuple[Difference, int] | None:
    """``two - one`` on ``metric``, paired on common seeds if ``pair`` allows; seeds paired."""
    first, second = one.estimate(metric), two.estimate(metric)
    if first is None or second is None:
        return None
    common = one.seeds & two.seeds if pair else frozenset()
    if common:
        left = [e.ratio_terms(metric) for e in one.episodes if e.seed in common]
        right = [e.ratio_terms(metric) for e in two.episodes if e.seed in common]
        paired = paired_difference(left, right, success=metric == "success_rate")
        if paired is not None:
            return paired, len(common)
    episodes = (one.summary.episodes, two.summary.episodes)
    return unpaired_difference(first, second, episodes), 0


def _can_pair(one: IdResult, two: IdResult) -> bool:
    return bool(one.episodes and two.episodes) and one.env_kwargs == two.env_kwargs


def _id_order(known: Sequence[PresetInfo], runs: Sequence[Run]) -> list[tuple[str, str, str]]:
    """``(family, env_id, split)`` of every id of the runs, in the families' order."""
    rank = {p.id: i for i, p in enumerate(known)}
    seen: dict[str, IdResult] = {}
    for run in runs:
        for env_id, result in run.results.items():
            seen.setdefault(env_id, result)
    family_rank: dict[str, int] = {}
    for p in known:
        family_rank.setdefault(p.family, len(family_rank))
    ordered = sorted(
        seen.values(),
        key=lambda r: (
            family_rank.get(r.family, len(family_rank)),
            r.family,
            rank.get(r.env_id, len(rank)),
            r.env_id,
        ),
    )
    return [(r.family, r.env_id, r.split) for r in ordered]


def build_report(
    runs: Sequence[Run],
    *,
    baseline: str | None = None,
    paired_ids: Iterable[tuple[str, str]] = SEED_PAIRED_IDS,
    known: Sequence[PresetInfo] | None = None,
) -> Report:
    """Build the report of ``runs`` (see the module docstring).

    Args:
        runs: Loaded runs (:func:`~oodgym.report.runs.load_run`), labels unique.
        baseline: Compare every other run with this label's (``other -
            baseline``). Default: every pair of runs, later minus earlier in
            the order given.
        paired_ids: ``(in-distribution id, OOD id)`` pairs whose episodes of
            the same seed are the same episode, so that a run's change between
            them is paired.
        known: The announced presets (default :func:`oodgym.families.presets`).

    Raises:
        ValueError: No runs, labels used twice, or an unknown ``baseline``.
    """
    if not runs:
        raise ValueError("no run to report on")
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"run labels must be unique, got {labels}")
    if baseline is not None and baseline not in labels:
        raise ValueError(f"unknown baseline {baseline!r}; the runs are {labels}")
    if baseline is None:
        pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    else:
        pairs = [(baseline, b) for b in labels if b != baseline]
    known = presets() if known is None else list(known)
    reference_of = references(known)
    paired_across = frozenset(paired_ids)
    by_label = {r.label: r for r in runs}
    flags = _Flags()
    families: dict[str, list[Row]] = {}
    for family, env_id, split in _id_order(known, runs):
        holders = [r for r in runs if env_id in r.results]
        if len(holders) < len(runs):
            present = tuple(r.label for r in holders)
            flags.add(
                "missing",
                present,
                env_id,
                f"only in {', '.join(present)}: reported and compared where present",
            )
        for run in holders:
            result = run.results[env_id]
            if result.summary.not_run:
                flags.add(
                    "not_run",
                    (run.label,),
                    env_id,
                    f"{result.summary.not_run} requested episode(s) did not run (server "
                    "failures) and are not counted: rerun the evaluation to play them",
                )
        reference = reference_of.get(env_id)
        metric_names = [
            m for m in METRICS if any(r.results[env_id].estimate(m) is not None for r in holders)
        ]
        headline_metric = (
            "step_accuracy"
            if "step_accuracy" in metric_names and split != "visual-ood"
            else "success_rate"
        )
        for metric in metric_names:
            cells: dict[str, Cell] = {}
            changes: dict[str, Change] = {}
            for run in holders:
                result = run.results[env_id]
                estimate = result.estimate(metric)
                if estimate is not None:
                    cells[run.label] = Cell(
                        estimate.value, estimate.stderr, result.summary.episodes
                    )
                base = run.results.get(reference) if reference else None
                if base is None:
                    continue
                change = _change(run.label, base, result, metric, paired_across, flags)
                if change is not None:
                    changes[run.label] = change
            comparisons: list[Comparison] = []
            for first, second in pairs:
                one = by_label[first].results.get(env_id)
                two = by_label[second].results.get(env_id)
                if one is None or two is None:
                    continue
                comparison = _compare(first, second, one, two, metric, flags)
                if comparison is not None:
                    comparisons.append(comparison)
            families.setdefault(family, []).append(
                Row(
                    env_id=env_id,
                    split=split,
                    metric=metric,
                    reference=reference,
                    headline=metric == headline_metric,
                    cells=cells,
                    changes=changes,
                    comparisons=tuple(comparisons),
                )
            )
    infos = tuple(
        RunInfo(
            label=r.label,
            path=str(r.path),
            policy=r.policy,
            model=r.settings.get("model"),
            conversations=tuple(
                sorted({x.conversation for x in r.results.values() if x.conversation})
            ),
            env_ids=tuple(r.results),
        )
        for r in runs
    )
    return Report(
        runs=infos,
        comparisons=tuple(pairs),
        families=tuple(Family(name, tuple(rows)) for name, rows in families.items()),
        flags=flags.flags(),
    )


def _change(
    label: str,
    base: IdResult,
    result: IdResult,
    metric: str,
    paired_across: frozenset[tuple[str, str]],
    flags: _Flags,
) -> Change | None:
    """One run's change from ``base`` (the in-distribution reference) to ``result``."""
    declared = (base.env_id, result.env_id) in paired_across
    found = _difference(base, result, metric, pair=declared and _can_pair(base, result))
    if found is None:
        return None
    difference, pairs = found
    kinds: list[str] = []
    for kind, detail in _setting_differences(base, result, policy=True):
        kinds.append(kind)
        flags.add(
            kind,
            (label,),
            result.env_id,
            f"in run {label}, the OOD id and its in-distribution reference {base.env_id} were "
            f"played with different {_WHAT[kind]} ({detail}): {_CONSEQUENCE[kind]}",
        )
    if declared and pairs and base.seeds != result.seeds:
        kinds.append("seeds")
        flags.add(
            "seeds",
            (label,),
            result.env_id,
            f"in run {label}, the OOD id and {base.env_id} played different seeds "
            f"({_seed_ranges(base.seeds)} vs {_seed_ranges(result.seeds)}): their change is "
            f"paired on the {pairs} seeds both played",
        )
    return Change(difference, tuple(kinds))


def _compare(
    first: str,
    second: str,
    one: IdResult,
    two: IdResult,
    metric: str,
    flags: _Flags,
) -> Comparison | None:
    """``second - first`` on one id and metric, with its flags."""
    can_pair = _can_pair(one, two)
    found = _difference(one, two, metric, pair=can_pair)
    if found is None:
        return None
    difference, pairs = found
    runs = (first, second)
    kinds: list[str] = []
    for kind, detail in _setting_differences(one, two, policy=False):
        kinds.append(kind)
        flags.add(
            kind,
            runs,
            one.env_id,
            f"{first} and {second} were evaluated with different {_WHAT[kind]} ({detail}): "
            f"{_CONSEQUENCE[kind]}",
        )
    if not (one.episodes and two.episodes):
        kinds.append("records")
        missing = [lbl for lbl, r in ((first, one), (second, two)) if not r.episodes]
        flags.add(
            "records",
            runs,
            one.env_id,
            f"no episode records in {', '.join(missing)} (summary.json only): compared unpaired",
        )
    elif one.seeds != two.seeds:
        kinds.append("seeds")
        how = (
            f"paired on the {pairs} seeds both played"
            if pairs
            else "no seed in common: compared unpaired"
        )
        flags.add(
            "seeds",
            runs,
            one.env_id,
            f"{first} and {second} played different episode seeds ({_seed_ranges(one.seeds)} "
            f"vs {_seed_ranges(two.seeds)}): {how}",
        )
    return Comparison(first, second, difference, tuple(kinds))
