"""``oodgym report``: numbers checked against an independent computation, pairing, flags, outputs.

The runs are made by the library's own evaluation with its own policies (oracle,
random) and a seeded policy that is right with a set probability per split. Every
number the report gives is recomputed here from the raw ``episodes.jsonl`` lines
with other formulas (numpy covariances, the textbook paired-proportion error, exact
binomial tails from Pascal's triangle).
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oodgym.cli import main
from oodgym.evaluation import IncompleteEvaluationError, Summary, evaluate
from oodgym.families import presets
from oodgym.policies import ServerError
from oodgym.report import (
    SEED_PAIRED_IDS,
    Report,
    build_report,
    load_run,
    mcnemar_exact,
    write_report,
)
from oodgym.report.build import references
from oodgym.report.runs import parse_run_argument

ROOT = Path(__file__).resolve().parents[2]
Z95 = 1.959963984540054  # the 97.5% normal quantile, from tables

GP = "cardenvs/GeneralPoints-v0"
GP_RULE = "cardenvs/GeneralPoints-RuleOOD-v0"
GP_IMAGE = "cardenvs/GeneralPoints-Image-v0"
GP_VISUAL = "cardenvs/GeneralPoints-Image-VisualOOD-v0"
NAV = "navenvs/Navigation-v0"
NAV_RULE = "navenvs/Navigation-RuleOOD-v0"
TEXT_IDS = [GP, GP_RULE, NAV, NAV_RULE]
IMAGE_IDS = [GP_IMAGE, GP_VISUAL]
TEXT_EPISODES = 12
IMAGE_EPISODES = 6

SPLIT = {p.id: p.split for p in presets()}


def coin_policy(rates: dict[str, float]) -> Any:
    """A policy right with probability ``rates[split]`` per attempt, seeded by the request."""

    def answer(messages: list[Any], env: Any = None, seed: int | None = None) -> str:
        rng = random.Random(seed)
        if rng.random() < rates[SPLIT[env.spec.id]]:
            return str(env.unwrapped.expert_action())
        if "GeneralPoints" in env.spec.id:  # a misread hand or an unparsable formula
            return rng.choice(['{"formula": "1+2"}', '{"formula": "(("}'])
        expert = str(env.unwrapped.expert_action())
        return "stop()" if "forward" in expert else "forward()"

    return answer


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {name: root / name for name in ("oracle", "random", "coin")}
    policies: dict[str, Any] = {
        "oracle": "oracle",
        "random": "random",
        "coin": coin_policy({"in-distribution": 0.5, "rule-ood": 0.15, "visual-ood": 0.3}),
    }
    for name, policy in policies.items():
        # two evaluations into one folder: summary.json describes the second only
        evaluate(TEXT_IDS, policy, episodes=TEXT_EPISODES, out=out[name], progress=False)
        evaluate(IMAGE_IDS, policy, episodes=IMAGE_EPISODES, out=out[name], progress=False)
    return out


@pytest.fixture(scope="module")
def report(runs: dict[str, Path]) -> Report:
    return build_report([load_run(runs["random"], "base"), load_run(runs["coin"], "rl")])


# -- an independent computation from the raw lines ------------------------------------------


def episodes(run: Path, env_id: str) -> dict[int, dict[str, Any]]:
    """The latest completed record of each seed, read from the raw JSON lines."""
    path = run / env_id.replace("/", "__") / "episodes.jsonl"
    out: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("status", "completed") == "completed":
            out[record["seed"]] = record
    return out


def terms(record: dict[str, Any], metric: str) -> tuple[int, int]:
    attempts = len(record["verdicts"])
    if metric == "success_rate":
        return int(record["success"]), 1
    if metric == "step_accuracy":
        return record["verdicts"].count("correct"), attempts
    return attempts - record["verdicts"].count("wrong_recognition"), attempts


def binomial_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from a Pascal's-triangle binomial(b + c, 1/2)."""
    n = b + c
    row = [Fraction(1)]
    for _ in range(n):
        row = [a + b_ for a, b_ in zip([Fraction(0), *row], [*row, Fraction(0)], strict=True)]
    pmf = [x / 2**n for x in row]
    observed = pmf[b]
    return float(min(Fraction(1), sum(p for p in pmf if p <= observed)))


def paired_expected(
    first: dict[int, dict[str, Any]], second: dict[int, dict[str, Any]], metric: str
) -> tuple[float, float]:
    """``second - first`` and its standard error, paired on common seeds."""
    seeds = sorted(set(first) & set(second))
    n = len(seeds)
    if metric == "success_rate":
        d = np.array([second[s]["success"] - first[s]["success"] for s in seeds], dtype=float)
        b = int(np.sum(d < 0))
        c = int(np.sum(d > 0))
        # the textbook paired-proportion error (Agresti), no n/(n-1)
        stderr = math.sqrt(((b + c) / n - ((c - b) / n) ** 2) / n)
        return float(d.mean()), stderr
    x = np.array(
        [[*terms(first[s], metric), *terms(second[s], metric)] for s in seeds], dtype=float
    )
    totals = x.sum(axis=0)
    c1, a1, c2, a2 = totals
    value = c2 / a2 - c1 / a1
    gradient = np.array([-1 / a1, c1 / a1**2, 1 / a2, -c2 / a2**2])
    covariance = n * np.cov(x, rowvar=False, ddof=1)  # covariance of the column totals
    return float(value), float(math.sqrt(gradient @ covariance @ gradient))


def rate(records: dict[int, dict[str, Any]], metric: str) -> tuple[float, float, int]:
    """Pooled value, its clustered standard error (success: binomial) and N."""
    pairs = np.array([terms(r, metric) for r in records.values()], dtype=float)
    n = len(pairs)
    value = pairs[:, 0].sum() / pairs[:, 1].sum()
    if metric == "success_rate":
        return float(value), math.sqrt(value * (1 - value) / n), n
    residuals = pairs[:, 0] - value * pairs[:, 1]
    stderr = math.sqrt(n / (n - 1) * float(residuals @ residuals)) / pairs[:, 1].sum()
    return float(value), stderr, n


# -- the numbers ------------------------------------------------------------------------------


def test_each_cell_is_the_eval_summary_and_the_raw_records(
    runs: dict[str, Path], report: Report
) -> None:
    image_summary = Summary.load(runs["coin"])  # written by the second (image) evaluation
    for row in report.rows():
        cell = row.cells["rl"]
        value, stderr, n = rate(episodes(runs["coin"], row.env_id), row.metric)
        assert (cell.value, cell.episodes) == (pytest.approx(value), n)
        assert cell.stderr == pytest.approx(stderr)
        if row.env_id in image_summary.results:
            summary = image_summary.results[row.env_id]
            assert cell.value == getattr(summary, row.metric)
            assert cell.stderr == getattr(summary, f"{row.metric}_stderr")
    metrics = {(row.env_id, row.metric) for row in report.rows()}
    assert (NAV_RULE, "step_accuracy") in metrics
    assert (GP_VISUAL, "recognition_accuracy") in metrics
    assert (GP, "step_accuracy") not in metrics
    assert (GP, "recognition_accuracy") not in metrics


@pytest.mark.parametrize(
    ("env_id", "metric"),
    [
        (GP, "success_rate"),
        (GP_RULE, "success_rate"),
        (NAV, "success_rate"),
        (NAV_RULE, "step_accuracy"),
        (NAV, "step_accuracy"),
        (GP_IMAGE, "recognition_accuracy"),
        (GP_VISUAL, "success_rate"),
    ],
)
def test_paired_difference_between_runs(
    runs: dict[str, Path], report: Report, env_id: str, metric: str
) -> None:
    (comparison,) = report.row(env_id, metric).comparisons
    assert (comparison.first, comparison.second, comparison.flags) == ("base", "rl", ())
    difference = comparison.difference
    base, rl = episodes(runs["random"], env_id), episodes(runs["coin"], env_id)
    value, stderr = paired_expected(base, rl, metric)
    assert difference.paired
    assert difference.episodes == (len(base), len(base))
    assert difference.value == pytest.approx(value)
    assert difference.stderr == pytest.approx(stderr)
    assert difference.low == pytest.approx(max(-1.0, value - Z95 * stderr))
    assert difference.high == pytest.approx(min(1.0, value + Z95 * stderr))
    if metric == "success_rate":
        assert difference.mcnemar is not None
        b = sum(base[s]["success"] and not rl[s]["success"] for s in base)
        c = sum(rl[s]["success"] and not base[s]["success"] for s in base)
        assert (difference.mcnemar.first_only, difference.mcnemar.second_only) == (b, c)
        assert difference.mcnemar.p_value == pytest.approx(binomial_p(b, c), rel=1e-12)
    else:
        assert difference.mcnemar is None


def test_the_seeded_policy_gives_a_real_difference(report: Report) -> None:
    # guards the tests above against comparing nothing with nothing
    differences = [c.difference for row in report.rows() for c in row.comparisons]
    assert any(0 < d.stderr and d.low > 0 for d in differences)
    assert any(d.mcnemar is not None and 0 < d.mcnemar.p_value < 0.05 for d in differences)


def test_mcnemar_exact_matches_a_binomial_tail() -> None:
    for b in range(13):
        for c in range(13):
            assert mcnemar_exact(b, c) == pytest.approx(binomial_p(b, c), rel=1e-12)
    assert mcnemar_exact(1, 9) == 22 / 1024
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(300, 300) == 1.0
    assert 0 < mcnemar_exact(0, 400) < 1e-100


def test_change_from_in_distribution(runs: dict[str, Path], report: Report) -> None:
    # rule OOD draws other hands: unpaired, se = sqrt(se_id^2 + se_ood^2)
    change = report.row(GP_RULE).changes["rl"]
    assert report.row(GP_RULE).reference == GP
    (v_id, se_id, n_id), (v_ood, se_ood, n_ood) = (
        rate(episodes(runs["coin"], GP), "success_rate"),
        rate(episodes(runs["coin"], GP_RULE), "success_rate"),
    )
    assert not change.difference.paired
    assert change.difference.value == pytest.approx(v_ood - v_id)
    assert change.difference.stderr == pytest.approx(math.hypot(se_id, se_ood))
    assert change.difference.episodes == (n_id, n_ood)
    # navigation's rule OOD on its headline metric, unpaired too
    step = report.row(NAV_RULE, "step_accuracy").changes["rl"]
    (s_id, e_id, _), (s_ood, e_ood, _) = (
        rate(episodes(runs["coin"], NAV), "step_accuracy"),
        rate(episodes(runs["coin"], NAV_RULE), "step_accuracy"),
    )
    assert (step.difference.value, step.difference.stderr) == (
        pytest.approx(s_ood - s_id),
        pytest.approx(math.hypot(e_id, e_ood)),
    )
    # the visual split deals the training hands: paired by seed
    for metric in ("success_rate", "recognition_accuracy"):
        visual = report.row(GP_VISUAL, metric)
        assert visual.reference == GP_IMAGE
        change = visual.changes["rl"]
        value, stderr = paired_expected(
            episodes(runs["coin"], GP_IMAGE), episodes(runs["coin"], GP_VISUAL), metric
        )
        assert change.difference.paired
        assert change.difference.value == pytest.approx(value)
        assert change.difference.stderr == pytest.approx(stderr)
    assert report.row(GP).changes == {}


def test_references_and_declared_pairs() -> None:
    import gymnasium as gym

    assert references(presets()) == {
        GP_RULE: GP,
        "cardenvs/GeneralPoints-Image-RuleOOD-v0": GP_IMAGE,
        GP_VISUAL: GP_IMAGE,
        NAV_RULE: NAV,
        "navenvs/Navigation-Image-RuleOOD-v0": "navenvs/Navigation-Image-v0",
        "navenvs/Navigation-Image-VisualOOD-v0": "navenvs/Navigation-Image-v0",
    }
    for reference, ood in SEED_PAIRED_IDS:  # the claim behind every paired change
        one, two = gym.make(reference), gym.make(ood)
        for seed in range(10):
            ranks = [c[:-1] for c in one.reset(seed=seed)[1]["cards"]]
            assert [c[:-1] for c in two.reset(seed=seed)[1]["cards"]] == ranks


# -- pairing and flags --------------------------------------------------------------------------


def test_other_seeds_are_compared_unpaired_and_flagged(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    coin = coin_policy({"in-distribution": 0.5, "rule-ood": 0.15, "visual-ood": 0.3})
    evaluate(GP, coin, episodes=TEXT_EPISODES, seed=100, out=tmp_path / "later", progress=False)
    evaluate(GP, coin, episodes=TEXT_EPISODES, seed=6, out=tmp_path / "overlap", progress=False)
    report = build_report(
        [
            load_run(runs["random"], "base"),
            load_run(tmp_path / "later", "later"),
            load_run(tmp_path / "overlap", "overlap"),
        ],
        baseline="base",
    )
    later, overlap = report.row(GP).comparisons
    assert (later.second, overlap.second) == ("later", "overlap")
    # no seed in common: unpaired, from each run's own rate and binomial error
    (p1, se1, n1), (p2, se2, n2) = (
        rate(episodes(runs["random"], GP), "success_rate"),
        rate(episodes(tmp_path / "later", GP), "success_rate"),
    )
    assert not later.difference.paired and later.difference.mcnemar is None
    assert later.difference.episodes == (n1, n2)
    assert later.difference.value == pytest.approx(p2 - p1)
    assert later.difference.stderr == pytest.approx(math.sqrt(se1**2 + se2**2))
    assert later.difference.low == pytest.approx(p2 - p1 - Z95 * later.difference.stderr)
    assert later.flags == ("seeds",)
    # seeds 6..17 against 0..11: paired on the six common ones
    value, stderr = paired_expected(
        episodes(runs["random"], GP), episodes(tmp_path / "overlap", GP), "success_rate"
    )
    assert overlap.difference.paired and overlap.difference.episodes == (6, 6)
    assert (overlap.difference.value, overlap.difference.stderr) == (
        pytest.approx(value),
        pytest.approx(stderr),
    )
    assert overlap.flags == ("seeds",)
    messages = {f.runs: f.message for f in report.flags if f.kind == "seeds"}
    assert "no seed in common: compared unpaired" in messages[("base", "later")]
    assert "0-11 vs 100-111" in messages[("base", "later")]
    assert "paired on the 6 seeds both played" in messages[("base", "overlap")]
    text = report.table()
    assert "unpaired, N=12/12" in text and "paired, N=6" in text


def test_other_protocol_and_env_kwargs_are_flagged(runs: dict[str, Path], tmp_path: Path) -> None:
    evaluate(
        GP,
        "oracle",
        episodes=TEXT_EPISODES,
        out=tmp_path / "paper",
        conversation="paper",
        progress=False,
    )
    evaluate(
        GP,
        "random",
        episodes=TEXT_EPISODES,
        out=tmp_path / "three",
        env_kwargs={"max_attempts": 3},
        progress=False,
    )
    report = build_report(
        [
            load_run(runs["oracle"], "full"),
            load_run(tmp_path / "paper", "paper"),
            load_run(tmp_path / "three", "three"),
        ],
        baseline="full",
    )
    protocol, kwargs = report.row(GP).comparisons
    # same hands, another protocol: still paired, but flagged
    assert protocol.flags == ("protocol",) and protocol.difference.paired
    # other environment arguments: not the same task, so unpaired
    assert kwargs.flags == ("env_kwargs",) and not kwargs.difference.paired
    assert kwargs.difference.mcnemar is None
    flags = {f.kind: f for f in report.flags}
    assert flags["protocol"].runs == ("full", "paper")
    assert "full vs paper" in flags["protocol"].message
    assert flags["env_kwargs"].env_ids == (GP,)
    assert '{} vs {"max_attempts": 3}' in flags["env_kwargs"].message
    assert flags["missing"].runs == ("full",)  # the other ids are in one run only
    data = report.to_dict()
    assert {f["kind"] for f in data["flags"]} >= {"protocol", "env_kwargs", "missing"}
    assert "⚠ protocol" in report.table() and "⚠ env_kwargs" in report.markdown()


def test_episodes_that_did_not_run_are_flagged(tmp_path: Path) -> None:
    def flaky(messages: list[Any], env: Any = None, seed: int | None = None) -> str:
        if seed is not None and seed // 1000 == 2:
            raise ServerError("503 from the test")
        return str(env.unwrapped.expert_action())

    with pytest.raises(IncompleteEvaluationError):
        evaluate(GP, flaky, episodes=4, out=tmp_path / "flaky", progress=False)
    report = build_report([load_run(tmp_path / "flaky", "flaky")])
    (flag,) = report.flags
    assert (flag.kind, flag.runs, flag.env_ids) == ("not_run", ("flaky",), (GP,))
    assert report.row(GP).cells["flaky"].episodes == 3


def test_a_summary_without_records_is_compared_unpaired(
    runs: dict[str, Path], report: Report, tmp_path: Path
) -> None:
    copy = tmp_path / "copied"
    copy.mkdir()
    shutil.copy(runs["coin"] / "summary.json", copy / "summary.json")  # the image ids
    again = build_report([load_run(runs["random"], "base"), load_run(copy, "rl")])
    (comparison,) = again.row(GP_VISUAL).comparisons
    assert not comparison.difference.paired and comparison.flags == ("records",)
    original = report.row(GP_VISUAL).cells["rl"]
    assert again.row(GP_VISUAL).cells["rl"] == original
    assert not again.row(GP_VISUAL).changes["rl"].difference.paired


# -- outputs --------------------------------------------------------------------------------


def test_cli_writes_every_output(
    runs: dict[str, Path], report: Report, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    status = main(["report", f"base={runs['random']}", f"rl={runs['coin']}", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "== cardenvs: per run ==" in printed and "== navenvs: between runs ==" in printed
    assert "rl − base" in printed and "wrote " in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "report.html",
        "report.json",
        "report.md",
        "shift.png",
        "shift.svg",
        "splits.png",
        "splits.svg",
    ]  # nothing half-written left behind
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["format"] == "oodgym.report/1"
    assert [r["label"] for r in data["runs"]] == ["base", "rl"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## cardenvs" in md and "![" in md and "(shift.svg)" in md
    page = (out / "report.html").read_text(encoding="utf-8")
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert [base64.b64decode(e) for e in embedded] == [
        (out / "shift.png").read_bytes(),
        (out / "splits.png").read_bytes(),
    ]
    for row in report.rows():  # every value of the table is on the page
        cell = row.cells["rl"]
        assert f"{100 * cell.value:.1f} ± {100 * cell.stderr:.1f}" in page
    for stem in ("shift", "splits"):
        assert (out / f"{stem}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()


def test_figures_show_what_the_table_says(report: Report) -> None:
    from oodgym.report.figures import shift_figure, splits_figure

    figure = splits_figure(report)
    for axes, family in zip(figure.axes, report.families, strict=True):
        rows = [row for row in family.rows if row.headline]
        assert axes.get_title() == family.name
        for container in axes.containers:
            if container.get_label() not in ("base", "rl"):
                continue
            heights = [bar.get_height() for bar in container.patches]
            expected = [100 * row.cells[container.get_label()].value for row in rows]
            assert heights == pytest.approx(expected)
    headline = {(r.env_id, r.metric) for r in report.rows() if r.headline}
    assert (NAV_RULE, "step_accuracy") in headline and (GP_RULE, "success_rate") in headline
    shift = shift_figure(report)
    panels = [row for row in report.rows() if row.headline and row.reference]
    assert len(shift.axes) == len(panels)
    for axes, row in zip(shift.axes, panels, strict=True):
        reference = report.row(row.reference, row.metric)
        for container in axes.containers:
            label = container.get_label()
            line = container.lines[0]
            assert line.get_xdata()[0] == pytest.approx(100 * reference.cells[label].value)
            assert line.get_ydata()[0] == pytest.approx(100 * row.cells[label].value)


def test_write_report_without_figures(report: Report, tmp_path: Path) -> None:
    written = write_report(report, tmp_path / "plain", figures=False)
    assert [p.name for p in written.files] == ["report.json", "report.md", "report.html"]
    assert written.figures_skipped is None
    assert "data:image" not in (tmp_path / "plain" / "report.html").read_text(encoding="utf-8")


def test_run_labels(tmp_path: Path) -> None:
    assert parse_run_argument("base=runs/a") == ("base", Path("runs/a"))
    assert parse_run_argument("runs/my-run/") == ("my-run", Path("runs/my-run"))
    odd = tmp_path / "lr=1e-5"
    odd.mkdir()
    assert parse_run_argument(str(odd)) == ("lr=1e-5", odd)
    with pytest.raises(ValueError, match="LABEL=FOLDER"):
        parse_run_argument("=runs/a")


def test_cli_usage_errors(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "r")]
    assert main(["report", f"x={runs['oracle']}", f"x={runs['random']}", *out]) == 2
    assert "two runs are labelled 'x'" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing"), *out]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), *out]) == 2
    assert "holds no evaluation results" in capsys.readouterr().err
    assert main(["report", str(runs["oracle"]), "--baseline", "nobody", *out]) == 2
    assert "unknown baseline 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_baseline_compares_every_run_with_it(runs: dict[str, Path]) -> None:
    loaded = [load_run(runs[name], name) for name in ("oracle", "random", "coin")]
    every = build_report(loaded)
    assert every.comparisons == (("oracle", "random"), ("oracle", "coin"), ("random", "coin"))
    against = build_report(loaded, baseline="coin")
    assert against.comparisons == (("coin", "oracle"), ("coin", "random"))
    assert [(c.first, c.second) for c in against.row(GP).comparisons] == list(against.comparisons)


# -- docs -------------------------------------------------------------------------------------


def test_docs_page_runs(tmp_path: Path) -> None:
    from tests.test_docs import page_script

    assert "](report.md)" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    script, runnable = page_script("report.md")
    assert runnable
    path = tmp_path / "report_page.py"
    path.write_text(script, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
