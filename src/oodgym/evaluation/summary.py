"""Summaries of evaluation records: one :class:`EnvSummary` per id, ``summary.json``, the table."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oodgym.evaluation import metrics
from oodgym.evaluation.records import SUMMARY_FILE, is_completed

__all__ = ["EnvSummary", "Summary", "summarize"]


def _optional(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return None if value is None else float(value)


@dataclass(frozen=True)
class EnvSummary:
    """Results of one id (rates are fractions; see :mod:`oodgym.evaluation.metrics`).

    Attributes:
        env_id: The Gymnasium id.
        split: ``in-distribution``, ``rule-ood``, ``visual-ood`` (``unknown``
            for ids no family announces).
        family: The family that registers the id.
        episodes: Episodes counted (completed records of the requested seeds).
        successes: Episodes that ended in success.
        success_rate: ``successes / episodes``.
        success_rate_stderr: Its binomial standard error, ``sqrt(p (1 - p) / N)``.
        mean_return: Mean undiscounted return.
        mean_attempts: Mean number of attempts (steps) per episode.
        verdict_counts: How often each verdict occurred, over all attempts.
        attempts: Attempts over all episodes.
        step_accuracy: Correct attempts / attempts, pooled over all episodes
            (the paper's per-step accuracy); ``None`` unless the environment
            reports step accuracy (navigation).
        step_accuracy_stderr: Its episode-clustered standard error.
        mean_episode_step_accuracy: The mean of per-episode step accuracies
            (``None`` where ``step_accuracy`` is).
        recognition_accuracy: 1 - misread attempts / attempts, pooled; ``None``
            unless cards can be misread (image GeneralPoints).
        recognition_accuracy_stderr: Its episode-clustered standard error.
        not_run: Requested episodes without a completed record (their server
            failed); not counted anywhere else. A rerun plays them.
    """

    env_id: str
    split: str
    family: str
    episodes: int
    successes: int
    success_rate: float
    success_rate_stderr: float
    mean_return: float
    mean_attempts: float
    verdict_counts: dict[str, int]
    attempts: int = 0
    step_accuracy: float | None = None
    step_accuracy_stderr: float | None = None
    mean_episode_step_accuracy: float | None = None
    recognition_accuracy: float | None = None
    recognition_accuracy_stderr: float | None = None
    not_run: int = 0

    @property
    def stderr(self) -> float:
        """The standard error of the success rate (an alias of ``success_rate_stderr``)."""
        return self.success_rate_stderr

    @property
    def mean_step_accuracy(self) -> float | None:
        """The per-episode mean of step accuracy (an alias of ``mean_episode_step_accuracy``)."""
        return self.mean_episode_step_accuracy

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``summary.json``)."""
        return {
            "env_id": self.env_id,
            "split": self.split,
            "family": self.family,
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": self.success_rate,
            "success_rate_stderr": self.success_rate_stderr,
            "step_accuracy": self.step_accuracy,
            "step_accuracy_stderr": self.step_accuracy_stderr,
            "mean_episode_step_accuracy": self.mean_episode_step_accuracy,
            "recognition_accuracy": self.recognition_accuracy,
            "recognition_accuracy_stderr": self.recognition_accuracy_stderr,
            "mean_return": self.mean_return,
            "mean_attempts": self.mean_attempts,
            "attempts": self.attempts,
            "verdict_counts": dict(self.verdict_counts),
            "not_run": self.not_run,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvSummary:
        """Inverse of :meth:`to_dict`; also reads the ``summary.json`` of older versions.

        Those have ``stderr`` for ``success_rate_stderr`` and
        ``mean_step_accuracy`` (a per-episode mean) for
        ``mean_episode_step_accuracy``; their pooled metrics are ``None``.
        """
        stderr = data.get("success_rate_stderr", data.get("stderr", 0.0))
        episode_mean = data.get("mean_episode_step_accuracy", data.get("mean_step_accuracy"))
        return cls(
            env_id=str(data["env_id"]),
            split=str(data.get("split", "unknown")),
            family=str(data.get("family", "")),
            episodes=int(data["episodes"]),
            successes=int(data.get("successes", 0)),
            success_rate=float(data["success_rate"]),
            success_rate_stderr=float(stderr),
            mean_return=float(data.get("mean_return", 0.0)),
            mean_attempts=float(data.get("mean_attempts", 0.0)),
            verdict_counts={
                str(k): int(v) for k, v in dict(data.get("verdict_counts", {})).items()
            },
            attempts=int(data.get("attempts", 0)),
            step_accuracy=_optional(data, "step_accuracy"),
            step_accuracy_stderr=_optional(data, "step_accuracy_stderr"),
            mean_episode_step_accuracy=None if episode_mean is None else float(episode_mean),
            recognition_accuracy=_optional(data, "recognition_accuracy"),
            recognition_accuracy_stderr=_optional(data, "recognition_accuracy_stderr"),
            not_run=int(data.get("not_run", 0)),
        )


def _percent(value: float | None, stderr: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:5.1f} ± {100 * (stderr or 0.0):4.1f}"


@dataclass(frozen=True)
class Summary:
    """Results of an evaluation: one :class:`EnvSummary` per id, plus the run settings."""

    results: dict[str, EnvSummary]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the content of ``summary.json``)."""
        return {
            "settings": dict(self.settings),
            "results": {k: v.to_dict() for k, v in self.results.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Inverse of :meth:`to_dict`."""
        results = {str(k): EnvSummary.from_dict(v) for k, v in dict(data["results"]).items()}
        return cls(results=results, settings=dict(data.get("settings", {})))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Summary:
        """Read a ``summary.json`` (a file, or the output folder holding it)."""
        target = Path(path)
        if target.is_dir():
            target = target / SUMMARY_FILE
        return cls.from_dict(json.loads(target.read_text(encoding="utf-8")))

    def table(self) -> str:
        """A paper-style table: id, split, N, success, step and recognition accuracy (% ± se).

        The step-accuracy column (pooled) appears when an id reports it, the
        recognition column likewise, and a "not run" column when episodes did
        not run.
        """
        rows = list(self.results.values())
        steps = any(r.step_accuracy is not None for r in rows)
        recognition = any(r.recognition_accuracy is not None for r in rows)
        failures = any(r.not_run for r in rows)
        header = ["env id", "split", "N", "success (%)", "mean return"]
        if steps:
            header.append("step acc. (%)")
        if recognition:
            header.append("recog. acc. (%)")
        if failures:
            header.append("not run")
        body: list[list[str]] = []
        for r in rows:
            row = [
                r.env_id,
                r.split,
                str(r.episodes),
                _percent(r.success_rate, r.success_rate_stderr),
                f"{r.mean_return:+.2f}",
            ]
            if steps:
                row.append(_percent(r.step_accuracy, r.step_accuracy_stderr))
            if recognition:
                row.append(_percent(r.recognition_accuracy, r.recognition_accuracy_stderr))
            if failures:
                row.append(str(r.not_run))
            body.append(row)
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        right = set(range(2, len(header)))

        def fmt(line: list[str]) -> str:
            cells = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(line)
            ]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([fmt(header), rule, *(fmt(line) for line in body)])


def summarize(
    records: Sequence[Mapping[str, Any]],
    *,
    env_id: str,
    split: str = "unknown",
    family: str = "",
    seeds: Iterable[int] | None = None,
) -> EnvSummary:
    """Summarise the records of one id (only ``seeds`` if given).

    Each seed counts once, by its latest completed record. ``not_run`` counts
    the seeds without one: with ``seeds``, every requested seed; without, the
    seeds that have only failed-to-run records.
    """
    wanted = None if seeds is None else set(seeds)
    by_seed: dict[int, Mapping[str, Any]] = {}
    seen: set[int] = set()
    for record in records:
        seed = int(record["seed"])
        if wanted is not None and seed not in wanted:
            continue
        seen.add(seed)
        if is_completed(record):
            by_seed[seed] = record  # the latest completed record wins
    not_run = len((seen if wanted is None else wanted) - set(by_seed))
    chosen = [by_seed[s] for s in sorted(by_seed)]
    n = len(chosen)
    success = metrics.success_rate(chosen)
    verdicts: Counter[str] = Counter()
    for r in chosen:
        verdicts.update(str(v) for v in r.get("verdicts", []))
    counts = [metrics.episode_counts(r) for r in chosen]
    navigation = metrics.reports_step_accuracy(chosen)
    steps = metrics.step_accuracy(counts) if navigation else None
    episode_mean = metrics.mean_episode_step_accuracy(counts) if navigation else None
    recognition = (
        metrics.recognition_accuracy(counts) if metrics.reports_recognition(chosen) else None
    )
    return EnvSummary(
        env_id=env_id,
        split=split,
        family=family,
        episodes=n,
        successes=sum(bool(r.get("success")) for r in chosen),
        success_rate=success.value,
        success_rate_stderr=success.stderr,
        mean_return=sum(float(r.get("return", 0.0)) for r in chosen) / n if n else 0.0,
        mean_attempts=sum(int(r.get("attempts", 0)) for r in chosen) / n if n else 0.0,
        verdict_counts=dict(sorted(verdicts.items())),
        attempts=sum(c.attempts for c in counts),
        step_accuracy=None if steps is None else steps.value,
        step_accuracy_stderr=None if steps is None else steps.stderr,
        mean_episode_step_accuracy=None if episode_mean is None else episode_mean.value,
        recognition_accuracy=None if recognition is None else recognition.value,
        recognition_accuracy_stderr=None if recognition is None else recognition.stderr,
        not_run=not_run,
    )
