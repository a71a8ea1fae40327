"""Evaluation runs as the report reads them: one ``oodgym eval --out`` folder, labelled.

A run folder holds one ``<id>/episodes.jsonl`` per id and a ``summary.json``.
The records are the source of truth: they name their id, policy, protocol and
environment arguments, and they are what pairs one run's episodes with
another's (same id, same seed). ``summary.json`` gives the seeds an evaluation
asked for (so the report counts what ``oodgym eval`` counted) and settings the
records lack (``max_steps``, the ood-gym version); it only describes the ids of
the *last* evaluation written to the folder, so ids it does not list count
every seed they have a completed record of. An id listed in ``summary.json``
without a records folder is reported from the summary alone (no pairing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oodgym.evaluation.metrics import EpisodeCounts, Estimate, episode_counts
from oodgym.evaluation.records import EPISODES_FILE, SUMMARY_FILE, is_completed, read_records
from oodgym.evaluation.summary import EnvSummary, Summary, summarize
from oodgym.families import PresetInfo, presets

__all__ = [
    "METRICS",
    "Episode",
    "IdResult",
    "Run",
    "completed_episodes",
    "load_run",
    "load_runs",
    "parse_run_argument",
]

#: The metrics the report shows, in order (the names of ``summary.json``).
METRICS = ("success_rate", "step_accuracy", "recognition_accuracy")


@dataclass(frozen=True)
class Episode:
    """One completed episode: its seed, whether it was solved, and its attempt counts."""

    seed: int
    success: bool
    counts: EpisodeCounts

    def ratio_terms(self, metric: str) -> tuple[int, int]:
        """The episode's ``(numerator, denominator)`` of a pooled metric.

        Every metric of the report is a pooled ratio over episodes (see
        :mod:`oodgym.evaluation.metrics`): success is ``(solved, 1)``, step
        accuracy ``(correct, attempts)``, recognition accuracy
        ``(attempts - misread, attempts)``.
        """
        if metric == "success_rate":
            return int(self.success), 1
        if metric == "step_accuracy":
            return self.counts.correct, self.counts.attempts
        if metric == "recognition_accuracy":
            return self.counts.attempts - self.counts.misread, self.counts.attempts
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


@dataclass(frozen=True)
class IdResult:
    """One id of one run.

    Attributes:
        env_id: The Gymnasium id.
        split: ``in-distribution``, ``rule-ood``, ``visual-ood`` (from
            :func:`oodgym.families.presets`), else the records' split.
        family: The family announcing the id (else the id's namespace).
        summary: The metrics as ``oodgym eval`` computes them.
        episodes: The completed episodes counted, by seed (empty when the id
            is known from ``summary.json`` only: it cannot be paired then).
        policy: The policy's name, as recorded.
        conversation: The conversation protocol (``full`` or ``paper``).
        env_kwargs: The ``gym.make`` arguments the episodes were played with.
        max_steps: The evaluation's step cap (``None`` if unknown).
        version: The ood-gym version that played it (``None`` if unknown).
    """

    env_id: str
    split: str
    family: str
    summary: EnvSummary
    episodes: tuple[Episode, ...]
    policy: str | None
    conversation: str | None
    env_kwargs: dict[str, Any] | None
    max_steps: int | None = None
    version: str | None = None

    @property
    def seeds(self) -> frozenset[int]:
        """The seeds of the counted episodes."""
        return frozenset(e.seed for e in self.episodes)

    def estimate(self, metric: str) -> Estimate | None:
        """The metric and its standard error (``None`` where the id does not report it)."""
        value = getattr(self.summary, metric)
        if value is None:
            return None
        stderr = getattr(self.summary, f"{metric}_stderr")
        return Estimate(float(value), float(stderr or 0.0))


@dataclass(frozen=True)
class Run:
    """A labelled evaluation folder and its results per id."""

    label: str
    path: Path
    results: dict[str, IdResult]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> str | None:
        """The policy (one name, or the names joined when ids were played by several)."""
        names = sorted({r.policy for r in self.results.values() if r.policy})
        return ", ".join(names) if names else None


def parse_run_argument(text: str) -> tuple[str, Path]:
    """``"LABEL=FOLDER"`` or ``"FOLDER"`` -> ``(label, folder)``.

    A plain folder is labelled by its name. A text naming an existing path is
    taken as a folder even if it holds ``=``.

    Raises:
        ValueError: An empty label or folder.
    """
    if not text.strip():
        raise ValueError("a run is a FOLDER or LABEL=FOLDER, got an empty string")
    label, sep, rest = text.partition("=")
    if sep and not os.path.exists(text):
        if not label.strip() or not rest.strip():
            raise ValueError(f"a run is FOLDER or LABEL=FOLDER, got {text!r}")
        return label.strip(), Path(rest)
    path = Path(text)
    return path.resolve().name or str(path), path


def completed_episodes(
    records: Iterable[Mapping[str, Any]], seeds: Iterable[int] | None = None
) -> list[Mapping[str, Any]]:
    """The latest completed record of each seed (of ``seeds`` if given), sorted by seed.

    The records :func:`oodgym.evaluation.summarize` counts, in the same order.
    """
    wanted = None if seeds is None else set(seeds)
    by_seed: dict[int, Mapping[str, Any]] = {}
    for record in records:
        seed = int(record["seed"])
        if (wanted is None or seed in wanted) and is_completed(record):
            by_seed[seed] = record
    return [by_seed[s] for s in sorted(by_seed)]


def _episode(record: Mapping[str, Any]) -> Episode:
    return Episode(int(record["seed"]), bool(record.get("success")), episode_counts(record))


def _load_summary(root: Path) -> Summary | None:
    target = root / SUMMARY_FILE
    if not target.is_file():
        return None
    try:
        return Summary.load(target)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{target} is not a readable evaluation summary: {exc}") from exc


def _requested_seeds(summary: Summary | None, env_id: str) -> range | None:
    """The seeds the last evaluation of ``env_id`` into the folder asked for, if it says."""
    if summary is None:
        return None
    per_id = summary.settings.get("episodes_per_id") or {}
    first = summary.settings.get("seed")
    count = per_id.get(env_id) if isinstance(per_id, Mapping) else None
    if isinstance(first, int) and isinstance(count, int):
        return range(first, first + count)
    return None


def _settings_of(summary: Summary | None, env_id: str) -> dict[str, Any]:
    """The settings of ``summary.json`` if its evaluation played ``env_id``, else ``{}``."""
    if summary is None or env_id not in (summary.settings.get("env_ids") or []):
        return {}
    return dict(summary.settings)


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def load_run(
    path: str | os.PathLike[str],
    label: str | None = None,
    *,
    known: Sequence[PresetInfo] | None = None,
) -> Run:
    """Read an ``oodgym eval --out`` folder.

    Args:
        path: The folder.
        label: The run's name in the report (default: the folder's name).
        known: The announced presets (default: :func:`oodgym.families.presets`),
            which give each id's split and family.

    Raises:
        ValueError: ``path`` is not a folder, or holds no evaluation results.
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder (expected the --out folder of oodgym eval)")
    announced = {p.id: p for p in (presets() if known is None else known)}
    summary = _load_summary(root)
    results: dict[str, IdResult] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        file = folder / EPISODES_FILE
        if not file.is_file():
            continue
        records = read_records(file)
        ids = {str(r["env_id"]) for r in records if isinstance(r.get("env_id"), str)}
        env_id = ids.pop() if len(ids) == 1 else folder.name.replace("__", "/")
        seeds = _requested_seeds(summary, env_id)
        chosen = completed_episodes(records, seeds)
        if not chosen:
            continue
        preset = announced.get(env_id)
        split = preset.split if preset else str(chosen[0].get("split", "unknown"))
        family = preset.family if preset else env_id.split("/")[0]
        settings = _settings_of(summary, env_id)
        first = chosen[0]
        results[env_id] = IdResult(
            env_id=env_id,
            split=split,
            family=family,
            summary=summarize(records, env_id=env_id, split=split, family=family, seeds=seeds),
            episodes=tuple(_episode(r) for r in chosen),
            policy=str(first.get("policy")) if first.get("policy") is not None else None,
            conversation=str(first.get("conversation", "full")),
            env_kwargs=dict(first.get("env_kwargs") or {}),
            max_steps=_optional_int(settings.get("max_steps")),
            version=settings.get("ood_gym_version"),
        )
    for env_id, result in (summary.results if summary else {}).items():
        if env_id in results or result.episodes == 0:
            continue
        settings = _settings_of(summary, env_id)
        preset = announced.get(env_id)
        kwargs = settings.get("env_kwargs")
        results[env_id] = IdResult(
            env_id=env_id,
            split=preset.split if preset else result.split,
            family=preset.family if preset else (result.family or env_id.split("/")[0]),
            summary=result,
            episodes=(),
            policy=settings.get("policy"),
            conversation=settings.get("conversation"),
            env_kwargs=dict(kwargs) if isinstance(kwargs, Mapping) else None,
            max_steps=_optional_int(settings.get("max_steps")),
            version=settings.get("ood_gym_version"),
        )
    if not results:
        raise ValueError(
            f"{root} holds no evaluation results (no <id>/{EPISODES_FILE} with a completed "
            f"episode, no {SUMMARY_FILE}): is it the --out folder of oodgym eval?"
        )
    return Run(
        label=label or root.resolve().name or str(root),
        path=root,
        results=results,
        settings=dict(summary.settings) if summary else {},
    )


def load_runs(arguments: Sequence[str]) -> list[Run]:
    """Runs from command-line arguments (``FOLDER`` or ``LABEL=FOLDER``), labels unique.

    Raises:
        ValueError: A bad argument, a folder without results, or a label used twice.
    """
    if not arguments:
        raise ValueError("no run given")
    known = presets()
    runs: list[Run] = []
    for text in arguments:
        label, path = parse_run_argument(text)
        if any(r.label == label for r in runs):
            raise ValueError(
                f"two runs are labelled {label!r}: name them, e.g. base=runs/a rl=runs/b"
            )
        runs.append(load_run(path, label, known=known))
    return runs
