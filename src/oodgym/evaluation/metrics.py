r"""The metrics of the paper, with standard errors: one definition for every caller.

Each metric is an :class:`Estimate` (a value and its standard error), computed
from per-episode counts. Every rate is over the *episodes* of one id (seeds
``S .. S+N-1``):

``success_rate``
    Episodes solved / episodes. Standard error: the binomial
    :math:`\sqrt{p (1 - p) / N}` (:func:`proportion`).

``step_accuracy`` (navigation)
    The paper's per-step accuracy (appendix C.3), pooled over all attempts of
    all episodes: :math:`R = \sum_i c_i / \sum_i a_i`, with :math:`c_i` the
    correct attempts and :math:`a_i` the attempts of episode :math:`i`. Not the
    mean of per-episode ratios, which weighs a short episode like a long one
    (that one is ``mean_episode_step_accuracy``).

``recognition_accuracy`` (GeneralPoints with image observations)
    :math:`1 - \sum_i m_i / \sum_i a_i`, with :math:`m_i` the attempts judged
    ``wrong_recognition`` (the cards were misread).

Standard error of a pooled ratio (:func:`pooled_ratio`). The attempts of one
episode are not independent (one model, one route), so the episode is the
sampling unit: the ratio estimator's (cluster-robust, delta-method) standard
error

.. math::

    \operatorname{se}(R) = \frac{1}{\sum_i a_i}
        \sqrt{\frac{N}{N - 1} \sum_i (c_i - R\, a_i)^2}

(0 with fewer than two episodes). It reduces to the binomial error when every
episode has one attempt, and is larger than :math:`\sqrt{R (1 - R) / \sum a_i}`
when episodes differ.

A mean of per-episode values (:func:`mean`) has the sample standard error
:math:`s / \sqrt{N}` (0 with fewer than two values).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CORRECT",
    "MISREAD",
    "EpisodeCounts",
    "Estimate",
    "episode_counts",
    "mean",
    "mean_episode_step_accuracy",
    "pooled_ratio",
    "proportion",
    "recognition_accuracy",
    "reports_recognition",
    "reports_step_accuracy",
    "step_accuracy",
    "success_rate",
]

#: The verdict of a correct attempt.
CORRECT = "correct"
#: The verdict of an attempt whose cards were misread (image GeneralPoints).
MISREAD = "wrong_recognition"


@dataclass(frozen=True)
class Estimate:
    """A metric and its standard error (both fractions, not percentages)."""

    value: float
    stderr: float


@dataclass(frozen=True)
class EpisodeCounts:
    """The attempts of one episode: all, correct, and misread (``wrong_recognition``)."""

    attempts: int
    correct: int
    misread: int

    @classmethod
    def from_verdicts(cls, verdicts: Iterable[str]) -> EpisodeCounts:
        """Count the verdicts of an episode's attempts."""
        listed = [str(v) for v in verdicts]
        return cls(len(listed), listed.count(CORRECT), listed.count(MISREAD))


def episode_counts(record: Mapping[str, Any]) -> EpisodeCounts:
    """The counts of an evaluation record (from its ``verdicts``; older records too)."""
    return EpisodeCounts.from_verdicts(record.get("verdicts", []))


def proportion(successes: int, n: int) -> Estimate:
    """``successes / n`` with the binomial standard error ``sqrt(p (1 - p) / n)``."""
    if n <= 0:
        return Estimate(0.0, 0.0)
    p = successes / n
    return Estimate(p, math.sqrt(p * (1 - p) / n))


def pooled_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Estimate | None:
    """``sum(numerators) / sum(denominators)`` with the episode-clustered standard error.

    One numerator and denominator per episode (see the module docstring for
    the formula). ``None`` when the denominators sum to 0.
    """
    if len(numerators) != len(denominators):
        raise ValueError(
            f"{len(numerators)} numerators for {len(denominators)} denominators: one pair "
            "per episode"
        )
    total = float(sum(denominators))
    if total <= 0:
        return None
    ratio = float(sum(numerators)) / total
    n = len(denominators)
    if n < 2:
        return Estimate(ratio, 0.0)
    squares = sum((c - ratio * a) ** 2 for c, a in zip(numerators, denominators, strict=True))
    return Estimate(ratio, math.sqrt(n / (n - 1) * squares) / total)


def mean(values: Sequence[float]) -> Estimate | None:
    """The mean with its sample standard error ``s / sqrt(n)``; ``None`` for no values."""
    n = len(values)
    if n == 0:
        return None
    average = float(sum(values)) / n
    if n < 2:
        return Estimate(average, 0.0)
    variance = sum((v - average) ** 2 for v in values) / (n - 1)
    return Estimate(average, math.sqrt(variance / n))


def success_rate(records: Sequence[Mapping[str, Any]]) -> Estimate:
    """Solved episodes / episodes (``record["success"]``)."""
    return proportion(sum(bool(r.get("success")) for r in records), len(records))


def step_accuracy(counts: Sequence[EpisodeCounts]) -> Estimate | None:
    """Correct attempts / attempts, pooled over all attempts of all episodes."""
    return pooled_ratio([c.correct for c in counts], [c.attempts for c in counts])


def recognition_accuracy(counts: Sequence[EpisodeCounts]) -> Estimate | None:
    """1 - misread attempts / attempts, pooled over all attempts of all episodes."""
    misread = pooled_ratio([c.misread for c in counts], [c.attempts for c in counts])
    return None if misread is None else Estimate(1.0 - misread.value, misread.stderr)


def mean_episode_step_accuracy(counts: Sequence[EpisodeCounts]) -> Estimate | None:
    """The mean over episodes of correct / attempts (episodes without attempts left out)."""
    return mean([c.correct / c.attempts for c in counts if c.attempts])


def reports_step_accuracy(records: Iterable[Mapping[str, Any]]) -> bool:
    """Whether records are of an environment with per-step accuracy (navigation).

    Such environments put ``step_accuracy`` in their ``info``; evaluation copies
    it into the record.
    """
    return any(r.get("step_accuracy") is not None for r in records)


def reports_recognition(records: Iterable[Mapping[str, Any]]) -> bool:
    """Whether records are of an environment where cards can be misread (image GeneralPoints).

    Records say so with ``misread_attempts``; older records, by a
    ``wrong_recognition`` verdict.
    """
    return any("misread_attempts" in r or MISREAD in (r.get("verdicts") or []) for r in records)
