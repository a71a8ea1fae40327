"""``oodgym play`` (piped stdin) and ``oodgym render``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
from PIL import Image

from oodgym.commands.play import play
from oodgym.families import load_families

load_families()


def oodgym(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oodgym", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def expert_answer(env_id: str, seed: int) -> str:
    env = gym.make(env_id)
    env.reset(seed=seed)
    answer: str = env.unwrapped.expert_action()  # type: ignore[attr-defined]
    return answer


def test_play_with_the_expert_hint() -> None:
    answer = expert_answer("cardenvs/GeneralPoints-v0", 4)
    result = oodgym(
        "play", "cardenvs/GeneralPoints-v0", "--seed", "4", stdin=f":expert\n{answer}\n"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"expert: {answer}" in out
    assert "verdict: correct" in out and "reward: +5" in out
    assert "episode over (solved) after 1 steps" in out


def test_play_image_id_saves_the_frame(tmp_path: Path) -> None:
    stdin = "not an answer\n:quit\n"
    result = oodgym(
        "play",
        "cardenvs/GeneralPoints-Image-v0",
        "--image-dir",
        str(tmp_path),
        "--env",
        "image_size=224",
        stdin=stdin,
    )
    assert result.returncode == 0, result.stderr
    assert f"[image: {tmp_path / '0-0.png'}]" in result.stdout
    assert Image.open(tmp_path / "0-0.png").size == (224, 224)
    assert "verdict: illegal_formula" in result.stdout and "bye" in result.stdout


def test_play_end_of_input() -> None:
    result = oodgym("play", "navenvs/Navigation-v0", stdin="")
    assert result.returncode == 0, result.stderr
    assert "end of input" in result.stdout and "Route instruction" in result.stdout
    result = oodgym("play", "navenvs/Navigation-v0", stdin="forward()")  # no final newline
    assert result.returncode == 0, result.stderr
    assert "verdict: wrong_action" in result.stdout and "end of input" in result.stdout


def test_play_a_whole_navigation_episode() -> None:
    env = gym.make("navenvs/Navigation-v0")
    env.reset(seed=2)
    answers = []
    while True:
        answers.append(env.unwrapped.expert_action())  # type: ignore[attr-defined]
        *_, terminated, truncated, _ = env.step(answers[-1])
        if terminated or truncated:
            break
    out = io.StringIO()
    stdin = io.StringIO(":help\n\n" + "\n".join(answers) + "\n")
    status = play(
        gym.make("navenvs/Navigation-v0"), "navenvs/Navigation-v0", 2, stdin=stdin, stdout=out
    )
    assert status == 0
    text = out.getvalue()
    assert text.count("verdict: correct") == len(answers) > 3
    assert f"episode over (solved) after {len(answers)} steps" in text


def test_render_image_and_text_ids(tmp_path: Path) -> None:
    png = tmp_path / "image.png"
    result = oodgym(
        "render", "cardenvs/GeneralPoints-Image-v0", "--seed", "3", "--out", str(png),
        "--env", "image_size=256",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(png).size == (256, 256)
    env = gym.make("cardenvs/GeneralPoints-Image-v0", image_size=256)
    obs, _ = env.reset(seed=3)
    assert (Image.open(png).convert("RGB").tobytes()) == obs["image"].tobytes()

    text_png = tmp_path / "sub" / "text.png"
    result = oodgym("render", "cardenvs/GeneralPoints-v0", "--seed", "3", "--out", str(text_png))
    assert result.returncode == 0, result.stderr
    assert Image.open(text_png).size == (512, 512)
    assert f"wrote {text_png} (512x512)" in result.stdout


def test_render_navigation_text_id_draws_its_street_view(tmp_path: Path) -> None:
    out = tmp_path / "nav.png"
    result = oodgym("render", "navenvs/Navigation-v0", "--seed", "0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == (512, 512)


def test_render_exits_2_for_an_env_without_images(tmp_path: Path) -> None:
    out = tmp_path / "none.png"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "oodgym",
            "render",
            "tests.oodgym.broken_envs:brokenenvs/Fine-v0",
            "--seed",
            "0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 2
    assert "has no image" in result.stderr and not out.exists()
