"""oodgym.evaluation.metrics: pooled step accuracy, recognition accuracy, standard errors."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from oodgym.evaluation import Summary, episodes_path, evaluate, read_records, summarize
from oodgym.evaluation.metrics import (
    EpisodeCounts,
    Estimate,
    mean,
    pooled_ratio,
    proportion,
)

NAV = "navenvs/Navigation-v0"
GP_IMAGE = "cardenvs/GeneralPoints-Image-v0"
MISREAD = json.dumps({"cards": ["A", "A", "A", "A"], "number": [1, 1, 1, 1], "formula": "1+1"})


def clustered_stderr(correct: list[int], attempts: list[int]) -> float:
    """The ratio estimator's standard error, written out independently of the library."""
    n = len(attempts)
    mean_a = sum(attempts) / n
    ratio = sum(correct) / sum(attempts)
    residuals = [c - ratio * a for c, a in zip(correct, attempts, strict=True)]
    variance = sum(r * r for r in residuals) / (n - 1)
    return math.sqrt(variance / n) / mean_a


def test_formulas_on_hand_computed_values() -> None:
    assert proportion(3, 10) == Estimate(0.3, pytest.approx(math.sqrt(0.3 * 0.7 / 10)))
    assert proportion(0, 0) == Estimate(0.0, 0.0)
    # c = [1, 3], a = [2, 4]: R = 2/3, residuals -1/3 and 1/3, se = sqrt(2 * 2/9) / 6 = 1/9
    estimate = pooled_ratio([1, 3], [2, 4])
    assert estimate is not None
    assert estimate.value == pytest.approx(2 / 3) and estimate.stderr == pytest.approx(1 / 9)
    assert pooled_ratio([1], [2]) == Estimate(0.5, 0.0)  # one episode: no spread to measure
    assert pooled_ratio([0, 0], [0, 0]) is None
    # one attempt per episode: the binomial error with N - 1
    binary = pooled_ratio([1, 0, 1, 1], [1, 1, 1, 1])
    assert binary is not None and binary.stderr == pytest.approx(math.sqrt(0.75 * 0.25 / 3))
    spread = mean([0.0, 1.0, 0.5])
    assert spread is not None and spread.stderr == pytest.approx(math.sqrt(0.25 / 3))
    with pytest.raises(ValueError, match="one pair per episode"):
        pooled_ratio([1], [1, 2])
    assert EpisodeCounts.from_verdicts(["wrong_recognition", "correct", "x"]) == EpisodeCounts(
        3, 1, 1
    )


def coin_policy(messages: list[dict[str, Any]], *, env: gym.Env, seed: int) -> str:
    """Right with probability 1/2 on every attempt (seeded by the request seed)."""
    if random.Random(seed).random() < 0.5:
        return str(env.unwrapped.expert_action())
    return "stop()" if "forward()" in str(env.unwrapped.expert_action()) else "forward()"


def test_pooled_step_accuracy_is_over_all_attempts(tmp_path: Path) -> None:
    summary = evaluate(NAV, coin_policy, episodes=40, out=tmp_path, progress=False)
    result = summary.results[NAV]
    records = read_records(episodes_path(tmp_path, NAV))
    correct = [r["verdicts"].count("correct") for r in records]
    attempts = [len(r["verdicts"]) for r in records]
    assert correct == [r["correct_attempts"] for r in records]
    pooled = sum(correct) / sum(attempts)
    per_episode = sum(c / a for c, a in zip(correct, attempts, strict=True)) / len(records)
    assert result.step_accuracy == pytest.approx(pooled)
    assert result.step_accuracy_stderr == pytest.approx(clustered_stderr(correct, attempts))
    assert result.mean_episode_step_accuracy == pytest.approx(per_episode)
    assert result.attempts == sum(attempts)
    # A coin per attempt: the pooled figure is near 1/2; the per-episode mean is not (short
    # episodes end after two failures at one step and weigh as much as long ones).
    assert abs(pooled - 0.5) < 0.06 and abs(per_episode - pooled) > 0.05
    table = summary.table()
    assert "step acc. (%)" in table and f"{100 * pooled:5.1f} ± " in table
    on_disk = json.loads((tmp_path / "summary.json").read_text())["results"][NAV]
    for name in ("success_rate", "step_accuracy", "mean_episode_step_accuracy"):
        assert on_disk[name] == getattr(result, name)
    assert on_disk["success_rate_stderr"] == result.success_rate_stderr
    assert on_disk["step_accuracy_stderr"] == result.step_accuracy_stderr
    assert on_disk["recognition_accuracy"] is None


def test_recognition_accuracy_counts_misread_attempts(tmp_path: Path) -> None:
    def misreads_odd_seeds(messages: list[dict[str, Any]], *, env: gym.Env) -> str:
        first = len(messages) == 1
        if first and env.unwrapped.np_random_seed % 2 == 1:
            return MISREAD
        if first and env.unwrapped.np_random_seed % 3 == 0:
            return "no formula at all"
        return str(env.unwrapped.expert_action())

    summary = evaluate(
        GP_IMAGE,
        misreads_odd_seeds,
        episodes=6,
        out=tmp_path,
        env_kwargs={"image_size": 224},
        conversation="paper",
        progress=False,
    )
    result = summary.results[GP_IMAGE]
    records = read_records(episodes_path(tmp_path, GP_IMAGE))
    misread = [r["verdicts"].count("wrong_recognition") for r in records]
    attempts = [len(r["verdicts"]) for r in records]
    assert misread == [0, 1, 0, 1, 0, 1] and attempts == [2, 2, 1, 2, 1, 2]
    assert [r["misread_attempts"] for r in records] == misread
    assert result.recognition_accuracy == pytest.approx(1 - 3 / 10)
    assert result.recognition_accuracy_stderr == pytest.approx(clustered_stderr(misread, attempts))
    assert result.step_accuracy is None and result.success_rate == 1.0
    assert "recog. acc. (%)" in summary.table() and " 70.0 ± " in summary.table()


def test_records_and_summaries_of_older_versions_stay_readable() -> None:
    old = [  # no correct_attempts, no misread_attempts, no conversation
        {"seed": 0, "success": True, "verdicts": ["wrong_action", "correct"], "step_accuracy": 0.5},
        {"seed": 1, "success": False, "verdicts": ["correct", "correct"], "step_accuracy": 1.0},
    ]
    result = summarize(old, env_id="x")
    assert result.step_accuracy == pytest.approx(3 / 4)
    assert result.mean_episode_step_accuracy == pytest.approx(0.75)
    assert result.recognition_accuracy is None
    images = summarize([{"seed": 0, "verdicts": ["wrong_recognition", "correct"]}], env_id="y")
    assert images.recognition_accuracy == 0.5
    summary = Summary.from_dict(
        {
            "results": {
                "x": {
                    "env_id": "x",
                    "episodes": 4,
                    "success_rate": 0.5,
                    "stderr": 0.25,
                    "mean_step_accuracy": 0.6,
                }
            }
        }
    )
    (entry,) = summary.results.values()
    assert (entry.success_rate_stderr, entry.stderr, entry.mean_episode_step_accuracy) == (
        0.25,
        0.25,
        0.6,
    )
    assert entry.step_accuracy is None and "step acc." not in summary.table()
