"""oodgym.evaluation: results, records, resume, concurrency, glob ids, table and plot."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from oodgym.evaluation import (
    STORED_ANSWER_CHARS,
    EvaluationError,
    IncompleteEvaluationError,
    OutputInUseError,
    Summary,
    episodes_path,
    evaluate,
    plot,
    read_records,
    resolve_ids,
    summarize,
)
from oodgym.policies import ServerError, make_policy
from tests.oodgym.fake_chat_server import odd_sum, read_hand

GP = "cardenvs/GeneralPoints-v0"
GP_OOD = "cardenvs/GeneralPoints-RuleOOD-v0"
NAV = "navenvs/Navigation-v0"
NAV_OOD = "navenvs/Navigation-RuleOOD-v0"


class OddHands:
    """Solves GeneralPoints hands whose values sum to an odd number, else answers garbage."""

    name = "odd-hands"

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, messages: list[dict[str, Any]], *, env: gym.Env | None = None) -> str:
        with self.lock:
            self.calls += 1
        assert env is not None
        hand = read_hand(str(messages[0]["content"]))
        assert hand is not None
        return env.unwrapped.expert_action() if odd_sum(hand[1]) else "no idea"


def _records(out: Path, env_id: str) -> list[dict[str, Any]]:
    return read_records(episodes_path(out, env_id))


def _seeds(out: Path, env_id: str) -> list[int]:
    return sorted(r["seed"] for r in _records(out, env_id))


def test_oracle_solves_generalpoints_and_navigation(tmp_path: Path) -> None:
    summary = evaluate(
        [GP, GP_OOD, NAV, NAV_OOD], "oracle", episodes=3, out=tmp_path, progress=False
    )
    assert list(summary.results) == [GP, GP_OOD, NAV, NAV_OOD]
    for env_id, result in summary.results.items():
        assert (result.episodes, result.successes, result.success_rate) == (3, 3, 1.0), env_id
        assert result.stderr == 0.0
    assert summary.results[GP].split == "in-distribution"
    assert summary.results[NAV_OOD].split == "rule-ood"
    gp, nav = summary.results[GP], summary.results[NAV]
    assert gp.mean_return == 5.0 and gp.step_accuracy is None and gp.recognition_accuracy is None
    assert (nav.step_accuracy, nav.step_accuracy_stderr, nav.mean_episode_step_accuracy) == (
        1.0,
        0.0,
        1.0,
    )
    assert summary.results[GP].verdict_counts == {"correct": 3}
    record = _records(tmp_path, NAV)[0]
    assert record["env_id"] == NAV and record["split"] == "in-distribution"
    assert record["policy"] == "oracle" and record["success"] is True
    assert record["step_accuracy"] == 1.0 and record["return"] == sum(record["rewards"])
    assert len(record["rewards"]) == len(record["verdicts"]) == record["attempts"] > 1
    roles = [m["role"] for m in record["transcript"]]
    assert roles == ["user", "assistant"] * record["attempts"]
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary.to_dict()
    assert on_disk["settings"]["policy"] == "oracle" and on_disk["settings"]["episodes"] == 3
    assert Summary.load(tmp_path) == summary


def test_random_never_solves_generalpoints(tmp_path: Path) -> None:
    summary = evaluate(GP, "random", episodes=3, out=tmp_path, progress=False)
    result = summary.results[GP]
    assert (result.success_rate, result.stderr, result.episodes) == (0.0, 0.0, 3)
    assert all(r["attempts"] == 5 and r["truncated"] for r in _records(tmp_path, GP))
    assert sum(result.verdict_counts.values()) == 15


def test_image_ids_with_env_kwargs(tmp_path: Path) -> None:
    env_id = "cardenvs/GeneralPoints-Image-VisualOOD-v0"
    summary = evaluate(
        env_id, "oracle", episodes=2, out=tmp_path, env_kwargs={"image_size": 224}, progress=False
    )
    assert summary.results[env_id].success_rate == 1.0
    assert summary.results[env_id].split == "visual-ood"
    assert summary.settings["env_kwargs"] == {"image_size": 224}
    record = _records(tmp_path, env_id)[0]
    assert record["transcript"][0]["content"][1] == {"type": "text", "text": "<image>"}
    assert record["env_kwargs"] == {"image_size": 224}


def test_stderr_is_the_binomial_standard_error(tmp_path: Path) -> None:
    summary = evaluate(GP, OddHands(), episodes=12, out=tmp_path, progress=False)
    result = summary.results[GP]
    records = _records(tmp_path, GP)
    successes = sum(r["success"] for r in records)
    assert 0 < successes < 12  # a mix, so the formula is exercised
    p = successes / 12
    assert result.success_rate == pytest.approx(p)
    assert result.stderr == pytest.approx(math.sqrt(p * (1 - p) / 12))
    assert result.mean_return == pytest.approx(sum(r["return"] for r in records) / 12)
    assert summary.settings["policy"] == "odd-hands"
    # the same numbers straight from records
    fake = [{"seed": i, "success": i < 3, "return": 1.0} for i in range(10)]
    direct = summarize(fake, env_id="x")
    assert direct.success_rate == 0.3
    assert direct.stderr == pytest.approx(math.sqrt(0.3 * 0.7 / 10))


def test_resume_after_deleting_the_summary(tmp_path: Path) -> None:
    first = evaluate(GP, OddHands(), episodes=6, out=tmp_path, progress=False)
    before = episodes_path(tmp_path, GP).read_bytes()
    (tmp_path / "summary.json").unlink()
    policy = OddHands()
    again = evaluate(GP, policy, episodes=6, out=tmp_path, progress=False)
    assert policy.calls == 0  # nothing replayed
    assert again == first
    assert episodes_path(tmp_path, GP).read_bytes() == before


def test_resume_after_a_torn_line(tmp_path: Path) -> None:
    first = evaluate(GP, OddHands(), episodes=6, out=tmp_path, progress=False)
    path = episodes_path(tmp_path, GP)
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_start + (len(data) - last_start) // 2])  # kill -9 mid-write
    assert len(read_records(path)) == 5  # the torn line is ignored
    policy = OddHands()
    again = evaluate(GP, policy, episodes=6, out=tmp_path, progress=False)
    assert policy.calls >= 1
    assert again == first
    assert path.read_bytes() == data  # repaired, then the lost episode appended again
    assert _seeds(tmp_path, GP) == list(range(6))


def test_read_records_repairs_only_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    good = [json.dumps({"seed": i, "success": True}) for i in range(3)]
    path.write_text("\n".join(good) + '\n{"seed": 3, "succ')
    assert [r["seed"] for r in read_records(path)] == [0, 1, 2]
    assert path.read_text().endswith('"succ')  # reading alone never writes
    read_records(path, repair=True)
    assert path.read_text() == "\n".join(good) + "\n"
    path.write_text("\n".join(good) + "\n{not json\n")  # a complete but invalid last line
    assert len(read_records(path, repair=True)) == 3
    assert path.read_text() == "\n".join(good) + "\n"
    path.write_text('{"seed": 0')  # no complete line at all
    assert read_records(path, repair=True) == [] and path.read_bytes() == b""
    assert read_records(tmp_path / "missing.jsonl") == []


def test_resume_extends_and_excludes_other_seeds(tmp_path: Path) -> None:
    evaluate(GP, OddHands(), episodes=3, out=tmp_path / "a", progress=False)
    policy = OddHands()
    extended = evaluate(GP, policy, episodes=6, out=tmp_path / "a", progress=False)
    assert _seeds(tmp_path / "a", GP) == list(range(6))
    direct = evaluate(GP, OddHands(), episodes=6, out=tmp_path / "b", progress=False)
    assert extended == direct
    # asking for fewer seeds keeps the other records but leaves them out of the summary
    fewer = evaluate(GP, OddHands(), episodes=2, seed=1, out=tmp_path / "a", progress=False)
    assert fewer.results[GP].episodes == 2 and fewer.settings["seeds"] == [1, 2]
    assert _seeds(tmp_path / "a", GP) == list(range(6))
    expected = summarize(_records(tmp_path / "a", GP), env_id=GP, seeds=[1, 2])
    assert fewer.results[GP].successes == expected.successes


def test_concurrency_does_not_change_results(tmp_path: Path) -> None:
    ids = [GP, NAV]
    one = evaluate(ids, "random", episodes=4, out=tmp_path / "k1", progress=False)
    three = evaluate(ids, "random", episodes=4, out=tmp_path / "k3", concurrency=3, progress=False)
    assert one == three
    for env_id in ids:
        by_seed_1 = sorted(_records(tmp_path / "k1", env_id), key=lambda r: r["seed"])
        by_seed_3 = sorted(_records(tmp_path / "k3", env_id), key=lambda r: r["seed"])
        assert by_seed_1 == by_seed_3  # the random answers depend on the seed only
    assert (tmp_path / "k1" / "summary.json").read_bytes() == (
        tmp_path / "k3" / "summary.json"
    ).read_bytes()


def test_glob_ids(tmp_path: Path) -> None:
    resolved = resolve_ids("cardenvs/GeneralPoints-*")
    assert [r[0] for r in resolved] == [
        "cardenvs/GeneralPoints-v0",
        "cardenvs/GeneralPoints-RuleOOD-v0",
        "cardenvs/GeneralPoints-Image-v0",
        "cardenvs/GeneralPoints-Image-RuleOOD-v0",
        "cardenvs/GeneralPoints-Image-VisualOOD-v0",
    ]
    assert {r[1] for r in resolved} == {"in-distribution", "rule-ood", "visual-ood"}
    from oodgym.families import presets

    registered = [p.id for p in presets()]
    navigation = [i for i in registered if i.startswith("navenvs/")]
    rule_ood = [i for i in registered if i.endswith("RuleOOD-v0") and i not in navigation]
    # patterns expand in registry order; an id named twice appears once
    assert [r[0] for r in resolve_ids(["navenvs/*", NAV, "*RuleOOD-v0"])] == navigation + rule_ood
    assert navigation[:2] == [NAV, NAV_OOD] and GP_OOD in rule_ood
    summary = evaluate(
        "navenvs/Navigation-*OOD-v0", "oracle", episodes=1, out=tmp_path, progress=False
    )
    assert list(summary.results) == [i for i in navigation if i.endswith("OOD-v0")]
    assert (tmp_path / "navenvs__Navigation-RuleOOD-v0" / "episodes.jsonl").exists()


def test_unknown_ids_list_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"(?s)nope/\*.*cardenvs/GeneralPoints-v0.*navenvs"):
        evaluate("nope/*", "oracle", episodes=1, out=tmp_path)
    with pytest.raises(ValueError, match="cardenvs/GeneralPoints-v0"):
        resolve_ids("cardenvs/GeneralPoints-v9")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="episodes"):
        evaluate(GP, "oracle", episodes=0, out=tmp_path)
    with pytest.raises(ValueError, match="concurrency"):
        evaluate(GP, "oracle", episodes=1, out=tmp_path, concurrency=0)
    with pytest.raises(ValueError, match="unknown policy"):
        evaluate(GP, "nope", episodes=1, out=tmp_path)
    with pytest.raises(ValueError, match="cannot make"):
        evaluate(GP, "oracle", episodes=1, out=tmp_path, env_kwargs={"bogus": 1})
    with pytest.raises(ValueError, match="cannot import"):
        make_policy("no_such_module_xyz:f")
    assert not (tmp_path / "summary.json").exists()


def test_another_policy_needs_another_folder(tmp_path: Path) -> None:
    evaluate(GP, "oracle", episodes=1, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="another output folder"):
        evaluate(GP, "random", episodes=2, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="env_kwargs"):
        evaluate(GP, "oracle", episodes=2, out=tmp_path, env_kwargs={"max_attempts": 2})
    with pytest.raises(ValueError, match="conversation 'full', not 'paper'"):
        evaluate(GP, "oracle", episodes=2, out=tmp_path, conversation="paper")
    with pytest.raises(ValueError, match=r"conversation must be one of \['full', 'paper'\]"):
        evaluate(GP, "oracle", episodes=2, out=tmp_path / "new", conversation="chat")


def test_max_steps_caps_an_episode(tmp_path: Path) -> None:
    summary = evaluate(
        NAV,
        lambda messages, env=None: "stop()",
        episodes=1,
        out=tmp_path,
        max_steps=1,
        progress=False,
    )
    (record,) = _records(tmp_path, NAV)
    assert record["max_steps_reached"] and not record["success"] and record["attempts"] == 1
    assert summary.results[NAV].success_rate == 0.0


def test_a_failing_policy_keeps_finished_episodes(tmp_path: Path) -> None:
    def flaky(messages: list[dict[str, Any]], *, env: gym.Env | None = None) -> str:
        assert env is not None
        if len(_records(tmp_path, GP)) >= 2:
            raise RuntimeError("model crashed")
        return env.unwrapped.expert_action()

    with pytest.raises(EvaluationError, match="model crashed"):
        evaluate(GP, flaky, episodes=5, out=tmp_path, progress=False)
    assert _seeds(tmp_path, GP) == [0, 1]


def test_progress_lines_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = evaluate([GP, NAV], "oracle", episodes=10, out=tmp_path)
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("eval: ")]
    assert 8 <= len(lines) <= 11  # stderr is not a TTY here: a line every ~10%
    assert lines[-1].startswith("eval: 20/20 episodes (100%), 20 solved")
    table = captured.out
    assert table == summary.table() + "\n"
    assert "100.0 ±  0.0" in table and "step acc." in table and "in-distribution" in table
    rows = table.splitlines()[2:]  # after the header and the rule
    assert rows[0].startswith(GP) and rows[1].startswith(NAV)
    # a resumed run with nothing left to do prints no progress, only the table
    evaluate([GP, NAV], "oracle", episodes=10, out=tmp_path)
    assert "eval: " not in capsys.readouterr().err


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    summary = evaluate([GP, GP_OOD], OddHands(), episodes=4, out=tmp_path, progress=False)
    target = plot(summary, tmp_path / "plots" / "success.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot(tmp_path, tmp_path / "again.png")  # from summary.json
    assert (tmp_path / "again.png").stat().st_size > 1000
    assert not list((tmp_path / "plots").glob(".*tmp"))


def test_plain_functions_and_builtin_policies(tmp_path: Path) -> None:
    def answer(messages: list[dict[str, Any]]) -> str:
        return "24"

    summary = evaluate(GP, answer, episodes=1, out=tmp_path, progress=False)
    assert summary.settings["policy"].endswith("answer")
    assert summary.results[GP].verdict_counts == {"illegal_formula": 5}
    env = gym.make(GP)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="env="):
        make_policy("oracle")([])
    assert json.loads(make_policy("oracle")([], env=env))["formula"].endswith("=24")
    random = make_policy("random")
    env.action_space.seed(7)
    first = random([], env=env)
    env.action_space.seed(7)
    assert random([], env=env) == first
    callable_policy = make_policy("tests.oodgym.fake_chat_server:slow_answer")
    assert callable_policy([{"role": "user", "content": "hello"}]) == "I am not sure. Maybe 42?"


def test_progress_bar_on_a_terminal() -> None:
    from oodgym.evaluation.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = Progress(4, enabled=True, stream=stream)
    for success in (True, False, True, True):
        bar.update(success)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r[") and "4/4 episodes (100%), 3 solved" in text
    assert "#" * 30 in text and text.endswith("\n")
    silent = Terminal()
    Progress(4, enabled=False, stream=silent).update(True)
    assert silent.getvalue() == ""


def test_module_colon_id(tmp_path: Path) -> None:
    assert resolve_ids("navenvs:navenvs/Navigation-RuleOOD-v0") == [
        (NAV_OOD, "rule-ood", "navenvs")
    ]
    image_ids = [r[0] for r in resolve_ids("cardenvs:cardenvs/GeneralPoints-Image-*")]
    assert image_ids[:1] == ["cardenvs/GeneralPoints-Image-v0"] and len(image_ids) == 3
    with pytest.raises(ValueError, match="cannot import module"):
        resolve_ids("no_such_module_xyz:navenvs/Navigation-v0")


def test_summary_uses_the_latest_completed_record_per_seed() -> None:
    records = [
        {"seed": 0, "status": "error", "error": "HTTP 200 text/html"},
        {"seed": 0, "status": "completed", "success": False, "return": 0.0},
        {"seed": 0, "status": "completed", "success": True, "return": 5.0},
        {"seed": 1, "status": "error", "error": "no choices"},
        {"seed": 2, "success": True, "return": 5.0},  # an older record without a status
    ]
    result = summarize(records, env_id="x", seeds=[0, 1, 2, 3])
    assert (result.episodes, result.successes, result.not_run) == (2, 2, 2)
    assert result.mean_return == 5.0
    assert summarize(records, env_id="x").not_run == 1  # only seed 1 failed to run
    assert "not run" not in Summary({"x": summarize(records[2:3], env_id="x")}).table()


def test_server_failures_are_recorded_not_scored_and_rerun(tmp_path: Path) -> None:
    down = {1, 3}

    def flaky_server(messages: list[dict[str, Any]], *, env: gym.Env | None = None) -> str:
        assert env is not None
        if env.unwrapped.np_random_seed in down:
            raise ServerError("HTTP 200 with an HTML page")
        return env.unwrapped.expert_action()

    with pytest.raises(IncompleteEvaluationError, match=r"2 of 4 episode.*seed 1.*HTML") as caught:
        evaluate(GP, flaky_server, episodes=4, out=tmp_path, concurrency=2, progress=False)
    assert caught.value.not_run == 2
    failed = [r for r in _records(tmp_path, GP) if r["status"] == "error"]
    assert sorted(r["seed"] for r in failed) == [1, 3]
    assert all(r["error"] == "step 1: ServerError: HTTP 200 with an HTML page" for r in failed)
    down.clear()  # the server is back: the same call plays exactly the two failed episodes
    summary = evaluate(GP, flaky_server, episodes=4, out=tmp_path, concurrency=2, progress=False)
    result = summary.results[GP]
    assert (result.episodes, result.successes, result.not_run) == (4, 4, 0)
    assert len(_records(tmp_path, GP)) == 6


def test_long_answers_are_stored_cut_with_length_and_hash(tmp_path: Path) -> None:
    huge = "x" * 5_000_000
    exact = "y" * STORED_ANSWER_CHARS

    def verbose(messages: list[dict[str, Any]], *, env: gym.Env | None = None) -> str:
        assert env is not None
        return [huge, exact, "\ud800 lone surrogate"][len(messages) // 2]

    evaluate(GP, verbose, episodes=1, out=tmp_path, progress=False, env_kwargs={"max_attempts": 3})
    assert episodes_path(tmp_path, GP).stat().st_size < 3 * STORED_ANSWER_CHARS
    (record,) = _records(tmp_path, GP)
    first, second, third = record["transcript"][1::2]
    assert first["content"] == huge[:STORED_ANSWER_CHARS]
    assert first["answer_chars"] == 5_000_000
    assert first["answer_sha256"] == hashlib.sha256(huge.encode()).hexdigest()
    assert second == {"role": "assistant", "content": exact}  # at the cap: stored whole
    assert third["content"] == "\ud800 lone surrogate"  # escaped in the file, read back


def test_a_second_writer_to_the_same_out_fails_at_once(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def waiting(messages: list[dict[str, Any]], *, env: gym.Env | None = None) -> str:
        assert env is not None
        started.set()
        release.wait(10)
        return env.unwrapped.expert_action()

    first = threading.Thread(
        target=evaluate,
        args=(GP, waiting),
        kwargs={"episodes": 2, "out": tmp_path, "progress": False},
    )
    first.start()
    try:
        assert started.wait(10)
        begun = time.monotonic()
        with pytest.raises(OutputInUseError, match=f"pid {os.getpid()}.*{tmp_path}"):
            evaluate(GP, waiting, episodes=2, out=tmp_path, progress=False)
        assert time.monotonic() - begun < 1.0
    finally:
        release.set()
        first.join(10)
    assert _seeds(tmp_path, GP) == [0, 1]  # one writer, each seed once
    again = evaluate(GP, waiting, episodes=2, out=tmp_path, progress=False)  # lock released
    assert again.results[GP].episodes == 2
