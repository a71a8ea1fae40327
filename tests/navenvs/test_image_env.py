import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import navenvs  # noqa: F401
from navenvs.geo import haversine
from navenvs.render.panorama import PanoramaSource, make_synthetic_panorama_set
from navenvs.visuals import OOD_THEMES

IMAGE = "navenvs/Navigation-Image-v0"
VISUAL_OOD = "navenvs/Navigation-Image-VisualOOD-v0"
EXAMPLE = Path(__file__).parent / "data" / "virl_route_example.json"


def test_image_observations_are_deterministic_and_in_the_space() -> None:
    a, b = gym.make(IMAGE, image_size=256), gym.make(IMAGE, image_size=256)
    obs_a, info_a = a.reset(seed=5)
    obs_b, info_b = b.reset(seed=5)
    assert obs_a in a.observation_space and obs_a["image"].shape == (256, 256, 3)
    assert np.array_equal(obs_a["image"], obs_b["image"]) and info_a == info_b
    assert "top-left" in obs_a["text"] or "front" in obs_a["text"].lower()
    other, _ = a.reset(seed=6)
    assert not np.array_equal(other["image"], obs_a["image"])


def _episode_frames(env_id: str, seed: int) -> list[np.ndarray]:
    """Every image of one episode answered correctly to the end, in a fresh env."""
    env = gym.make(env_id, image_size=256)
    obs, _ = env.reset(seed=seed)
    frames = [obs["image"]]
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(env.unwrapped.expert_action())
        done = terminated or truncated
        frames.append(obs["image"])
    return frames


def _digest(frames: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


_DIGEST_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from test_image_env import _digest, _episode_frames
print(_digest(_episode_frames(sys.argv[2], int(sys.argv[3]))))
"""


@pytest.mark.parametrize(("env_id", "seed"), [(IMAGE, 21), (VISUAL_OOD, 13)])
def test_same_seed_same_frames_over_an_episode_and_across_processes(env_id: str, seed: int) -> None:
    first = _episode_frames(env_id, seed)
    second = _episode_frames(env_id, seed)
    assert len(first) == len(second) >= 3
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b) and a.flags.writeable and not np.shares_memory(a, b)
    assert any(not np.array_equal(first[0], frame) for frame in first[1:])
    out = subprocess.run(
        [sys.executable, "-c", _DIGEST_SCRIPT, str(Path(__file__).parent), env_id, str(seed)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
    assert out.stdout.strip() == _digest(first)


def test_views_change_when_the_agent_moves_and_not_when_it_fails() -> None:
    env = gym.make(IMAGE, image_size=256)
    obs, info = env.reset(seed=2)
    wrong = "stop()" if info["expert_action"] != "stop()" else "forward()"
    same, *_ = env.step(wrong)
    assert np.array_equal(same["image"], obs["image"])
    assert not np.shares_memory(same["image"], obs["image"])
    moved, reward, *_ = env.step(env.unwrapped.expert_action())
    assert reward == 1.0 and not np.array_equal(moved["image"], obs["image"])


VIEW_OF_RELATION = {"front": 0, "right": 1, "behind": 2, "left": 3}
#: Top-left corner of each view's quadrant in a 512 px grid (front, right, back, left).
QUADRANT = {0: (0, 0), 1: (256, 0), 2: (0, 256), 3: (256, 256)}


def test_a_landmark_is_in_the_view_its_sentence_names() -> None:
    """The sentence the instruction gives ("X is on your left") matches the picture."""
    env = gym.make(IMAGE, image_size=512, forward_points=0)
    checked: dict[int, int] = {0: 0, 1: 0, 3: 0}
    for seed in range(60):
        _, info = env.reset(seed=seed)
        while True:
            step = env.unwrapped.rail[info["step"]]
            match = re.fullmatch(
                r"(?:The destination )?(.+?) is on your (front|right|behind|left)", step.sentence
            )
            near = step.landmark is not None and (
                haversine(step.lat, step.lng, step.landmark.lat, step.landmark.lng) <= 25.0
            )
            if match and near:
                # Milestone landmarks are the most-reviewed place within 20 m, as in V-IRL.
                name, view = match.group(1), VIEW_OF_RELATION[match.group(2)]
                signs = env.unwrapped.street_view.signs
                assert any(s[0] == name and s[1] == view for s in signs), (seed, name, signs)
                (x0, y0, _, _) = next(s[2] for s in signs if s[0] == name and s[1] == view)
                left, top = QUADRANT[view]
                assert left <= x0 < left + 256 and top <= y0 < top + 256
                checked[view] = checked.get(view, 0) + 1
            _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
            if terminated or truncated:
                break
    assert checked[1] >= 3 and checked[3] >= 3  # destinations beside the street


def test_image_observations_name_no_landmark() -> None:
    """The landmark is only in the image: no observation sentence (current or past) names it."""
    for env_id in (IMAGE, VISUAL_OOD):
        env = gym.make(env_id, image_size=224)
        landmark_steps = 0
        for seed in range(6):
            obs, info = env.reset(seed=seed)
            names = {s.landmark.name for s in env.unwrapped.rail if s.landmark is not None} | {
                env.unwrapped.route.destination.name
            }
            while True:
                observed = [
                    line
                    for line in obs["text"].splitlines()
                    if line.startswith(("O_", "Current observation O_"))
                ]
                assert observed
                for line in observed:
                    assert not any(name in line for name in names), (seed, line)
                assert not any(name in info["observation"] for name in names)
                assert info["observation"].startswith("You see the four street views")
                step = env.unwrapped.rail[info["step"]]
                landmark_steps += step.landmark is not None
                obs, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
                if terminated or truncated:
                    break
        assert landmark_steps >= 6


def test_the_expert_succeeds_in_image_mode() -> None:
    for env_id in (IMAGE, "navenvs/Navigation-Image-RuleOOD-v0", VISUAL_OOD):
        env = gym.make(env_id, image_size=224)
        for seed in range(3):
            _, info = env.reset(seed=seed)
            for _ in range(200):
                _, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
                assert reward == 1.0 and not truncated
                if terminated:
                    break
            assert info["is_success"]


def test_visual_ood_cycles_two_routes_per_theme() -> None:
    env = gym.make(VISUAL_OOD, image_size=224)
    themes = [env.reset(seed=s)[1]["theme"] for s in range(18)]
    assert themes == [t for t in OOD_THEMES for _ in range(2)]
    train = gym.make(IMAGE, image_size=224)
    assert {train.reset(seed=s)[1]["theme"] for s in range(6)} == {"default"}


def test_themes_look_different() -> None:
    means = []
    for theme in ["default", *OOD_THEMES[:4]]:
        env = gym.make(IMAGE, image_size=224, theme=theme, city="grid")
        means.append(env.reset(seed=0)[0]["image"].astype(float).mean(axis=(0, 1)))
    for i in range(1, len(means)):
        assert np.abs(means[i] - means[0]).sum() > 10


def test_text_ids_render_rgb_array_on_demand() -> None:
    text = gym.make("navenvs/Navigation-v0", render_mode="rgb_array", image_size=224)
    image = gym.make(IMAGE, image_size=224)
    text.reset(seed=3)
    obs, _ = image.reset(seed=3)
    assert np.array_equal(text.render(), obs["image"])


def test_real_routes_use_their_panoramas(tmp_path: Path) -> None:
    folder = tmp_path / "route_set"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "route_infos.json")
    routes = json.loads(EXAMPLE.read_text())[0]
    points = []
    for route in routes:
        points.append(tuple(route["start_place"]["relocated_geocode"]))
        points.extend(tuple(p) for p in route["route_results"]["geocode_list"])
    make_synthetic_panorama_set(folder, sorted(set(points)), width=256)
    grids = []
    original = PanoramaSource.grid

    def counted(self: PanoramaSource, *args: Any, **kwargs: Any) -> np.ndarray:
        grids.append(args)
        return original(self, *args, **kwargs)

    PanoramaSource.grid = counted  # type: ignore[method-assign]
    try:
        env = gym.make(IMAGE, routes=str(folder), image_size=224, forward_points=0)
        assert grids == []  # construction's warm-up decodes no panorama
    finally:
        PanoramaSource.grid = original  # type: ignore[method-assign]
    obs, _ = env.reset(seed=0)
    step = env.unwrapped.rail[0]
    expected = PanoramaSource(folder).grid(step.lat, step.lng, step.heading, size=224)
    assert np.array_equal(obs["image"], expected)
    _, reward, *_ = env.step(env.unwrapped.expert_action())
    assert reward == 1.0


def test_real_routes_without_panoramas_fail_at_construction(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "route_infos.json")
    with pytest.raises(ValueError, match="gps_pano_mapping"):
        gym.make(IMAGE, routes=str(tmp_path))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"observation": "video"}, "observation"),
        ({"image_size": 64}, "image_size"),
        ({"theme": "atlantis"}, "atlantis"),
        ({"theme": []}, "theme"),
    ],
)
def test_bad_image_configuration(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make("navenvs/Navigation-v0", **kwargs)
