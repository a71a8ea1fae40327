"""oodgym.export: SFT datasets from the expert (JSONL + PNG, or a HF datasets folder)."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from oodgym.cli import main
from oodgym.export import ExportReport, export
from oodgym.families import load_families
from oodgym.integrations import TRAINING_SEED_START

load_families()

IMAGE_ID = "cardenvs/GeneralPoints-Image-v0"
TEXT_ID = "cardenvs/GeneralPoints-v0"
NAV_ID = "navenvs/Navigation-v0"
SMALL = {"image_size": 224}


def read_records(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "data.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def prompt_text(record: dict[str, Any]) -> str:
    """The text of the last user message of a record (the prompt answered)."""
    content = [m for m in record["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def image_export(tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    out = tmp_path_factory.mktemp("img") / "ds"
    return export(IMAGE_ID, episodes=3, out=out, seed=10, env_kwargs=SMALL)


@pytest.fixture(scope="module")
def nav_export(tmp_path_factory: pytest.TempPathFactory) -> ExportReport:
    return export(NAV_ID, episodes=2, out=tmp_path_factory.mktemp("nav") / "ds", seed=4)


def test_image_export_files_and_records(image_export: ExportReport) -> None:
    folder = image_export.path
    assert sorted(p.name for p in folder.iterdir()) == ["data.jsonl", "images", "manifest.json"]
    records = read_records(folder)
    assert image_export.records == len(records) == 3 == image_export.images
    assert image_export.solved == 3
    for i, record in enumerate(records):
        seed = 10 + i
        assert record["id"] == f"{IMAGE_ID}/{seed}/0"
        assert (record["env_id"], record["seed"], record["step"]) == (IMAGE_ID, seed, 0)
        assert record["conversation"] == "paper" and "prompt" not in record  # TRL-loadable
        user, answer = record["messages"]
        assert user["role"] == "user" and user["content"][1] == {"type": "image"}
        assert answer == {
            "role": "assistant",
            "content": [{"type": "text", "text": record["answer"]}],
        }
        assert record["images"] == [f"images/{seed}-0.png"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["env_id"] == IMAGE_ID and manifest["env_kwargs"] == SMALL
    assert (manifest["seed_start"], manifest["seed_stop"]) == (10, 13)
    assert manifest["conversation"] == "paper" and manifest["schema_version"] == 2
    assert manifest["records"] == 3 and manifest["images"] == 3
    assert manifest["version"]


def test_pngs_decode_to_the_observation_image(image_export: ExportReport) -> None:
    env = gym.make(IMAGE_ID, **SMALL)
    for record in read_records(image_export.path):
        obs, _ = env.reset(seed=record["seed"])
        assert prompt_text(record) == obs["text"]
        (path,) = record["images"]
        png = np.asarray(Image.open(image_export.path / path).convert("RGB"))
        np.testing.assert_array_equal(png, obs["image"])


def replay_verifies(record: dict[str, Any], kwargs: dict[str, Any] | None = None) -> None:
    env = gym.make(record["env_id"], **(kwargs or {}))
    obs, _ = env.reset(seed=record["seed"])
    for _ in range(record["step"]):
        obs, *_ = env.step(env.unwrapped.expert_action())  # type: ignore[attr-defined]
    text = obs["text"] if isinstance(obs, dict) else obs
    assert text == prompt_text(record)
    _, reward, _, _, info = env.step(record["answer"])
    assert float(reward) > 0 and info["verdict"] == "correct", (record["id"], info)


def test_every_exported_answer_verifies(
    image_export: ExportReport, nav_export: ExportReport
) -> None:
    for record in read_records(image_export.path):
        replay_verifies(record, SMALL)
    records = read_records(nav_export.path)
    assert len(records) == nav_export.records > 2 * 2  # multi-step episodes
    assert {r["seed"] for r in records} == {4, 5}
    assert not (nav_export.path / "images").exists() and "images" not in records[0]
    assert all(len(r["messages"]) == 2 for r in records)  # paper: one prompt per step
    for record in records:
        replay_verifies(record)
    # Steps of one episode are consecutive, starting at 0.
    steps = [r["step"] for r in records if r["seed"] == 4]
    assert steps == list(range(len(steps)))


def test_byte_identical_for_the_same_arguments(tmp_path: Path) -> None:
    a = export(IMAGE_ID, episodes=2, out=tmp_path / "a", seed=3, env_kwargs=SMALL)
    b = export(IMAGE_ID, episodes=2, out=tmp_path / "b", seed=3, env_kwargs=SMALL)
    assert tree_bytes(a.path) == tree_bytes(b.path)
    c = export(IMAGE_ID, episodes=2, out=tmp_path / "c", seed=4, env_kwargs=SMALL)
    assert tree_bytes(c.path)["data.jsonl"] != tree_bytes(a.path)["data.jsonl"]


def test_hf_format_loads_back(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    report = export(IMAGE_ID, episodes=2, out=tmp_path / "hf", format="hf", env_kwargs=SMALL)
    loaded = datasets.load_from_disk(str(report.path))
    column = loaded.features["images"]  # datasets.List (>= 4) or a plain list (older)
    item = column[0] if isinstance(column, list) else column.feature
    assert len(loaded) == 2 and isinstance(item, datasets.Image)
    env = gym.make(IMAGE_ID, **SMALL)
    obs, _ = env.reset(seed=TRAINING_SEED_START + 1)  # the default seeds
    row = loaded[1]
    assert row["id"] == f"{IMAGE_ID}/{TRAINING_SEED_START + 1}/0"
    assert prompt_text(row) == obs["text"]
    assert row["messages"][1]["content"] == [{"type": "text", "text": row["answer"]}]
    (image,) = row["images"]
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), obs["image"])
    assert json.loads((report.path / "manifest.json").read_text())["format"] == "hf"
    text = export(NAV_ID, episodes=1, out=tmp_path / "nav", format="hf")
    loaded_text = datasets.load_from_disk(str(text.path))
    assert "images" not in loaded_text.features and "prompt" not in loaded_text.features
    assert isinstance(loaded_text[0]["messages"][0]["content"], str)


def test_hf_without_datasets_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"ood-gym\[hf\]"):
        export(TEXT_ID, episodes=1, out=tmp_path / "hf", format="hf")
    assert not (tmp_path / "hf").exists()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\['jsonl', 'hf'\]"):
        export(TEXT_ID, episodes=1, out=tmp_path / "x", format="csv")
    with pytest.raises(ValueError, match="episodes"):
        export(TEXT_ID, episodes=0, out=tmp_path / "x")
    import tests.oodgym.broken_envs  # noqa: F401  (registers brokenenvs/*)

    with pytest.raises(ValueError, match="expert_action"):
        export("brokenenvs/NoExpert-v0", episodes=1, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_existing_folder_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    export(TEXT_ID, episodes=1, out=out)
    with pytest.raises(FileExistsError, match="overwrite"):
        export(TEXT_ID, episodes=2, out=out)
    assert read_records(out)[0]["seed"] == TRAINING_SEED_START and len(read_records(out)) == 1
    export(TEXT_ID, episodes=2, out=out, seed=5, overwrite=True)
    assert [r["seed"] for r in read_records(out)] == [5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no leftovers


def test_interrupted_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import oodgym.export as module

    calls = []
    real = module.image_to_png

    def flaky(image: np.ndarray) -> bytes:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the export
        return real(image)

    monkeypatch.setattr(module, "image_to_png", flaky)
    with pytest.raises(KeyboardInterrupt):
        export(IMAGE_ID, episodes=5, out=tmp_path / "ds", env_kwargs=SMALL)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the dataset nor its staging folder


def test_killed_export_never_looks_complete(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    code = (
        "import sys\n"
        "from oodgym.export import export\n"
        "export('cardenvs/GeneralPoints-Image-v0', episodes=100000, out=sys.argv[1],"
        " env_kwargs={'image_size': 224})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)])
    try:
        deadline = time.monotonic() + 60
        staged: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            staged = list(tmp_path.glob(".ds.partial-*/images/*.png"))
            if len(staged) >= 3:
                break
            time.sleep(0.05)
        assert len(staged) >= 3, "the export did not start writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists()  # only the hidden staging folder is left
    assert [p.name.startswith(".ds.partial-") for p in tmp_path.iterdir()] == [True]
    # A new export to the same place works, and removes the stale staging folder.
    export(TEXT_ID, episodes=1, out=out)
    assert (out / "data.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


@pytest.mark.skipif(sys.platform == "win32", reason="staging folders are locked on POSIX only")
def test_export_removes_only_stale_partial_folders(tmp_path: Path) -> None:
    import fcntl

    def staging(name: str) -> Path:
        folder = tmp_path / name
        (folder / "images").mkdir(parents=True)
        (folder / "data.jsonl").write_text("{}\n")
        return folder

    dead = staging(".ds.partial-dead1234")
    live = staging(".ds.partial-live5678")  # another export still writing: locked
    other = staging(".other.partial-abcd")  # another dataset's
    outside = staging("outside")
    (tmp_path / ".ds.partial-link").symlink_to(outside)
    held = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        export(TEXT_ID, episodes=1, out=tmp_path / "ds")
    finally:
        os.close(held)
    assert not dead.exists()
    assert (live / "data.jsonl").exists() and (other / "data.jsonl").exists()
    assert (outside / "data.jsonl").exists() and (tmp_path / ".ds.partial-link").is_symlink()
    assert read_records(tmp_path / "ds")[0]["seed"] == TRAINING_SEED_START


def test_cli_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    args = ["export", NAV_ID, "--episodes", "2", "--out", str(out), "--seed", "7"]
    status = main([*args, "--env", "milestones=2", "actions=relative"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "from 2 episodes" in printed and str(out) in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["env_kwargs"] == {"milestones": 2, "actions": "relative"}
    assert {r["seed"] for r in read_records(out)} == {7, 8}
    assert main(["export", NAV_ID, "--episodes", "1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert os.path.exists(out / "data.jsonl")


class ManySolutions(gym.Env[str, str]):
    """One puzzle with four correct answers whatever the seed; the expert draws one."""

    ANSWERS = ("alpha", "beta", "gamma", "delta")

    def __init__(self) -> None:
        from oodgym.textspace import action_space, observation_space

        self.observation_space = observation_space(64)
        self.action_space = action_space(64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        return "Name a Greek letter.", {}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        correct = action in self.ANSWERS
        verdict = "correct" if correct else "wrong"
        return "done", float(correct), correct, not correct, {"verdict": verdict}

    def expert_action(self, rng: np.random.Generator | None = None) -> str:
        if rng is None:
            return self.ANSWERS[0]
        return self.ANSWERS[int(rng.integers(len(self.ANSWERS)))]


def test_export_draws_among_the_solutions_by_seed(tmp_path: Path) -> None:
    env_id = "oodgym-test/ManySolutions-v0"
    gym.register(env_id, entry_point=f"{__name__}:ManySolutions")
    try:
        export(env_id, episodes=24, out=tmp_path / "a")
        answers = [r["answer"] for r in read_records(tmp_path / "a")]
        assert set(answers) == set(ManySolutions.ANSWERS)  # not the same answer every time
        export(env_id, episodes=24, out=tmp_path / "b")
        assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")  # seeded
    finally:
        del gym.registry[env_id]
    # GeneralPoints: the answer is expert_action(rng) with the episode seed's stream
    env = gym.make(TEXT_ID)
    if "rng" not in inspect.signature(env.unwrapped.expert_action).parameters:  # type: ignore[attr-defined]
        pytest.skip("this GeneralPoints has no expert_action(rng)")
    report = export(TEXT_ID, episodes=3, out=tmp_path / "gp", seed=20)
    for record in read_records(report.path):
        env.reset(seed=record["seed"])
        rng = np.random.default_rng((record["seed"], 1))
        assert record["answer"] == env.unwrapped.expert_action(rng=rng)  # type: ignore[attr-defined]


def test_full_conversation_export_of_navigation(tmp_path: Path) -> None:
    report = export(NAV_ID, episodes=1, out=tmp_path / "full", seed=4, conversation="full")
    records = read_records(report.path)
    paper = read_records(export(NAV_ID, episodes=1, out=tmp_path / "paper", seed=4).path)
    assert [len(r["messages"]) for r in records] == [2 * (i + 1) for i in range(len(records))]
    assert records[-1]["messages"] == [m for r in paper for m in r["messages"]]
    assert json.loads((report.path / "manifest.json").read_text())["conversation"] == "full"
    with pytest.raises(ValueError, match=r"conversation must be one of \['full', 'paper'\]"):
        export(NAV_ID, episodes=1, out=tmp_path / "bad", conversation="chat")
    cli = ["export", NAV_ID, "--episodes", "1", "--seed", "4", "--conversation", "full"]
    assert main([*cli, "--out", str(tmp_path / "cli")]) == 0
    assert read_records(tmp_path / "cli") == records


def test_default_seeds_are_not_evaluation_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = export(TEXT_ID, episodes=2, out=tmp_path / "default")
    assert [r["seed"] for r in read_records(report.path)] == [
        TRAINING_SEED_START,
        TRAINING_SEED_START + 1,
    ]
    manifest = json.loads((report.path / "manifest.json").read_text())
    assert manifest["seed_start"] == TRAINING_SEED_START
    # The command line: the same default, and a note when the range overlaps evaluation seeds.
    assert main(["export", TEXT_ID, "--episodes", "1", "--out", str(tmp_path / "cli")]) == 0
    assert read_records(tmp_path / "cli")[0]["seed"] == TRAINING_SEED_START
    assert "evaluation seeds" not in capsys.readouterr().err
    out = tmp_path / "overlap"
    assert main(["export", TEXT_ID, "--episodes", "3", "--out", str(out), "--seed", "232"]) == 0
    err = capsys.readouterr().err
    assert "seeds 232..233 are evaluation seeds" in err and "0..233" in err


def test_prompt_completion_layout(tmp_path: Path) -> None:
    """TRL's conversational prompt/completion form: the same messages, split before the answer."""
    plain = read_records(export(NAV_ID, episodes=2, out=tmp_path / "m", seed=4).path)
    split = export(NAV_ID, episodes=2, out=tmp_path / "pc", seed=4, layout="prompt-completion")
    records = read_records(split.path)
    assert len(records) == len(plain)
    for one, two in zip(plain, records, strict=True):
        assert "messages" not in two
        assert two["prompt"] + two["completion"] == one["messages"]
        assert two["completion"] == [{"role": "assistant", "content": one["answer"]}]
    manifest = json.loads((split.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["layout"] == "prompt-completion"
    with pytest.raises(ValueError, match="layout must be one of"):
        export(NAV_ID, episodes=1, out=tmp_path / "x", layout="chat")
    datasets = pytest.importorskip("datasets")
    image = export(
        IMAGE_ID,
        episodes=1,
        out=tmp_path / "hf",
        format="hf",
        env_kwargs=SMALL,
        layout="prompt-completion",
    )
    row = datasets.load_from_disk(str(image.path))[0]
    assert row["completion"][0]["content"] == [{"type": "text", "text": row["answer"]}]
    assert len(row["images"]) == 1 and row["prompt"][0]["role"] == "user"
