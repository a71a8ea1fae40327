r"""Differences between two estimates, paired by episode or not, and the exact McNemar test.

Every metric of the report is a ratio pooled over episodes,
:math:`R = \sum_i c_i / \sum_i a_i` (success: :math:`c_i` solved or not,
:math:`a_i = 1`; step accuracy: correct attempts over attempts; recognition
accuracy: attempts not misread over attempts), with the episode-clustered
standard error of :mod:`oodgym.evaluation.metrics`.

**Paired** (:func:`paired_difference`): the same :math:`n` seeds on both sides
(the same hands or routes). :math:`D = R_2 - R_1`, with the clustered
(delta-method) standard error of a difference of two ratio estimators that share
their clusters:

.. math::

    u_i = \frac{c_{2i} - R_2 a_{2i}}{A_2} - \frac{c_{1i} - R_1 a_{1i}}{A_1}, \qquad
    \operatorname{se}(D) = \sqrt{\frac{n}{n - 1} \sum_i u_i^2}

(:math:`A_k = \sum_i a_{ki}`; 0 for :math:`n < 2`); for one side alone it is the
metrics module's error of :math:`R`. For success the factor :math:`n / (n - 1)`
is left out, as in the binomial error of one rate, which gives the textbook
paired-proportion error: with :math:`b` and :math:`c` the seeds solved by the
first side only and by the second only,

.. math::

    \operatorname{se}(D) = \frac{1}{\sqrt{n}}
        \sqrt{\frac{b + c}{n} - \Bigl(\frac{c - b}{n}\Bigr)^2}.

**Unpaired** (:func:`unpaired_difference`): independent samples.
:math:`D = R_2 - R_1`, :math:`\operatorname{se}(D) = \sqrt{\operatorname{se}_1^2
+ \operatorname{se}_2^2}`.

Both give the 95% interval :math:`D \pm 1.96 \operatorname{se}(D)` (normal
approximation, clipped to [-1, 1]). With few episodes or rates near 0 or 1 it
is rough; for paired success the exact McNemar test below is the one to trust.

**McNemar** (:func:`mcnemar_exact`): of the paired episodes, :math:`b` solved by
the first side only and :math:`c` by the second only. Under "no difference"
:math:`b \sim \operatorname{Binomial}(b + c, 1/2)`; the two-sided exact
p-value is :math:`\min(1, 2 \sum_{k \le \min(b, c)} \binom{b + c}{k} 2^{-(b + c)})`
(1 when :math:`b + c = 0`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from oodgym.evaluation.metrics import Estimate, pooled_ratio

__all__ = [
    "CONFIDENCE",
    "Difference",
    "McNemar",
    "Z",
    "interval",
    "mcnemar_exact",
    "paired_difference",
    "unpaired_difference",
]

#: The confidence level of every interval of the report.
CONFIDENCE = 0.95
#: Its two-sided normal quantile (1.959963...).
Z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)


@dataclass(frozen=True)
class McNemar:
    """The exact McNemar test of paired success.

    Attributes:
        first_only: Paired episodes solved by the first side and not the second.
        second_only: Paired episodes solved by the second side and not the first.
        p_value: The two-sided exact p-value.
    """

    first_only: int
    second_only: int
    p_value: float


@dataclass(frozen=True)
class Difference:
    """``second - first`` of one metric, with its standard error and 95% interval.

    Attributes:
        first: The first side's value (on the episodes used).
        second: The second side's value (on the episodes used).
        value: ``second - first``.
        stderr: Its standard error (see the module docstring).
        low: The interval's lower end.
        high: The interval's upper end.
        paired: Whether episodes were paired by seed.
        episodes: The episodes used on each side (equal when paired).
        mcnemar: The exact McNemar test (paired success only).
    """

    first: float
    second: float
    value: float
    stderr: float
    low: float
    high: float
    paired: bool
    episodes: tuple[int, int]
    mcnemar: McNemar | None = None


def interval(value: float, stderr: float) -> tuple[float, float]:
    """The 95% normal interval ``value ± Z stderr``, clipped to [-1, 1]."""
    return max(-1.0, value - Z * stderr), min(1.0, value + Z * stderr)


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """The two-sided exact McNemar p-value of ``b = first_only``, ``c = second_only``.

    Computed with integers (exact for any count), then rounded once to a float.
    """
    if first_only < 0 or second_only < 0:
        raise ValueError(f"counts must be >= 0, got {first_only}, {second_only}")
    n = first_only + second_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(first_only, second_only) + 1))
    return min(1.0, (2 * tail) / (1 << n))


def unpaired_difference(first: Estimate, second: Estimate, episodes: tuple[int, int]) -> Difference:
    """``second - first`` of independent estimates."""
    value = second.value - first.value
    stderr = math.hypot(first.stderr, second.stderr)
    low, high = interval(value, stderr)
    return Difference(
        first.value, second.value, value, stderr, low, high, paired=False, episodes=episodes
    )


def paired_difference(
    first: Sequence[tuple[float, float]],
    second: Sequence[tuple[float, float]],
    *,
    success: bool = False,
) -> Difference | None:
    """``second - first`` of a pooled ratio over paired episodes.

    Args:
        first: ``(numerator, denominator)`` of each episode, first side.
        second: The same episodes (same seeds, same order), second side.
        success: The terms are ``(solved, 1)``: use the binomial-style error
            and run the McNemar test.

    Returns:
        The difference, or ``None`` when a side has no denominator (no attempt).
    """
    if len(first) != len(second):
        raise ValueError(f"{len(first)} episodes paired with {len(second)}")
    one = pooled_ratio([c for c, _ in first], [a for _, a in first])
    two = pooled_ratio([c for c, _ in second], [a for _, a in second])
    if one is None or two is None:
        return None
    n = len(first)
    total_one = sum(a for _, a in first)
    total_two = sum(a for _, a in second)
    terms = [
        (c2 - two.value * a2) / total_two - (c1 - one.value * a1) / total_one
        for (c1, a1), (c2, a2) in zip(first, second, strict=True)
    ]
    factor = 1.0 if success else n / (n - 1) if n > 1 else 0.0
    stderr = math.sqrt(factor * sum(u * u for u in terms))
    value = two.value - one.value
    low, high = interval(value, stderr)
    test = None
    if success:
        b = sum(1 for (c1, _), (c2, _) in zip(first, second, strict=True) if c1 and not c2)
        c = sum(1 for (c1, _), (c2, _) in zip(first, second, strict=True) if c2 and not c1)
        test = McNemar(b, c, mcnemar_exact(b, c))
    return Difference(
        one.value, two.value, value, stderr, low, high, paired=True, episodes=(n, n), mcnemar=test
    )
