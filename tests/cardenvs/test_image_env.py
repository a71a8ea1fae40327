import json

import gymnasium as gym
import numpy as np
import pytest

import cardenvs
from cardenvs.visuals import VisualVariant

IMAGE_IDS = [
    "cardenvs/GeneralPoints-Image-v0",
    "cardenvs/GeneralPoints-Image-RuleOOD-v0",
    "cardenvs/GeneralPoints-Image-VisualOOD-v0",
]


def red_pixels(image: np.ndarray) -> int:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return int(((r > 150) & (g < 90) & (b < 90)).sum())


@pytest.mark.parametrize("env_id", IMAGE_IDS)
def test_image_observation_is_in_the_space_and_deterministic(env_id: str) -> None:
    a, b = gym.make(env_id, image_size=336), gym.make(env_id, image_size=336)
    obs_a, info_a = a.reset(seed=21)
    obs_b, _ = b.reset(seed=21)
    assert obs_a in a.observation_space
    assert obs_a["image"].shape == (336, 336, 3) and obs_a["image"].dtype == np.uint8
    assert np.array_equal(obs_a["image"], obs_b["image"]) and obs_a["text"] == obs_b["text"]
    other, _ = a.reset(seed=22)
    assert not np.array_equal(other["image"], obs_a["image"])
    # the prompt does not give the cards away
    for code in info_a["cards"]:
        assert f"'{code[:-1]}'" not in obs_a["text"].split("Rules:")[0]


def test_steps_return_the_same_frame_as_fresh_arrays() -> None:
    env = gym.make(IMAGE_IDS[0])
    obs, _ = env.reset(seed=4)
    step_obs, *_ = env.step("no idea")
    assert np.array_equal(obs["image"], step_obs["image"])
    assert not np.shares_memory(obs["image"], step_obs["image"])
    obs["image"][:] = 0  # the user owns what they get
    again, *_ = env.step("still no idea")
    assert np.array_equal(again["image"], step_obs["image"])


def test_red_suits_render_red_and_black_suits_do_not() -> None:
    black = gym.make(IMAGE_IDS[0], image_size=336)
    red = gym.make(IMAGE_IDS[2], image_size=336)
    for seed in range(5):
        black_image = black.reset(seed=seed)[0]["image"]
        red_image = red.reset(seed=seed)[0]["image"]
        assert red_pixels(black_image) == 0
        assert red_pixels(red_image) > 200


def test_visual_ood_deals_are_paired_with_the_training_split() -> None:
    train, ood = gym.make(IMAGE_IDS[0]), gym.make(IMAGE_IDS[2])
    swap = {"S": "H", "C": "D"}
    for seed in range(25):
        (obs_t, info_t), (obs_o, info_o) = train.reset(seed=seed), ood.reset(seed=seed)
        assert [swap[c[-1]] for c in info_t["cards"]] == [c[-1] for c in info_o["cards"]]
        assert [c[:-1] for c in info_t["cards"]] == [c[:-1] for c in info_o["cards"]]
        assert info_t["solution"] == info_o["solution"] and obs_t["text"] == obs_o["text"]


def test_recognition_verdicts() -> None:
    env = gym.make(IMAGE_IDS[0], max_attempts=3, feedback="detailed")
    _, info = env.reset(options={"cards": ["QS", "10C", "AS", "3C"]})
    misread = json.dumps({"cards": ["K", "10", "A", "3"], "formula": "(10+10)*1+3"})
    _, reward, terminated, _, info = env.step(misread)
    assert info["verdict"] == "wrong_recognition" and reward == -1.5 and not terminated
    assert "K is not on the table" in info["feedback"]
    answer = json.dumps({"cards": ["Queen", "T", "a", "3"], "formula": "(10+10)*1+3+1"})
    _, reward, *_, info = env.step(answer)
    assert info["verdict"] == "wrong_numbers"  # read right; the formula adds a 1
    solved = json.dumps({"cards": ["3", "A", "10", "Q"], "formula": "10+10+1+3"})
    _, reward, terminated, _, info = env.step(solved)
    assert info["verdict"] == "correct" and reward == 5.0 and terminated


def test_the_expert_answer_passes_recognition() -> None:
    env = gym.make(IMAGE_IDS[1])
    env.reset(seed=9)
    _, reward, terminated, _, info = env.step(env.unwrapped.expert_action())
    assert terminated and reward == 5.0 and info["verdict"] == "correct"


@pytest.mark.parametrize("variant", cardenvs.visual_variants())
def test_every_variant_changes_only_the_image_and_is_deterministic(variant: str) -> None:
    plain = gym.make(IMAGE_IDS[0], image_size=256)
    varied = gym.make(IMAGE_IDS[0], image_size=256, visuals=[variant])
    again = gym.make(IMAGE_IDS[0], image_size=256, visuals=[variant])
    changed = False
    for seed in range(4):
        (p_obs, p_info), (v_obs, v_info) = plain.reset(seed=seed), varied.reset(seed=seed)
        a_obs, _ = again.reset(seed=seed)
        assert p_info == v_info and p_obs["text"] == v_obs["text"]
        assert np.array_equal(v_obs["image"], a_obs["image"])
        changed |= not np.array_equal(p_obs["image"], v_obs["image"])
        answer = plain.unwrapped.expert_action()
        assert plain.step(answer)[1:4] == varied.step(answer)[1:4]
    assert changed
    # the deal sequence of unseeded resets is the same too
    assert [plain.reset()[1]["cards"] for _ in range(3)] == [
        varied.reset()[1]["cards"] for _ in range(3)
    ]


class Invert(VisualVariant):
    """Inverts the colours (a user-defined variant for the tests)."""

    name = "test-invert"

    def image(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return 255 - image


def test_custom_variant_from_a_user_module_works_through_gym_make() -> None:
    cardenvs.register_visual("test-invert", Invert, overwrite=True)
    assert "test-invert" in cardenvs.visual_variants()
    plain = gym.make(IMAGE_IDS[0], image_size=256).reset(seed=1)[0]["image"]
    by_name = gym.make(IMAGE_IDS[0], image_size=256, visuals=["test-invert"])
    by_path = gym.make(IMAGE_IDS[0], image_size=256, visuals=[f"{__name__}:Invert"])
    assert np.array_equal(by_name.reset(seed=1)[0]["image"], 255 - plain)
    assert np.array_equal(by_path.reset(seed=1)[0]["image"], 255 - plain)
    # plain-data specs keep the spec serialisable
    assert "test-invert" in by_name.spec.to_json()


def test_composed_variants_with_parameters() -> None:
    env = gym.make(
        IMAGE_IDS[0],
        image_size=256,
        visuals=[{"name": "rotate", "max_degrees": 5}, {"name": "noise", "sigma": 3.0}, "jpeg"],
    )
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 100}, "image_size"),
        ({"image_size": 5000}, "image_size"),
        ({"visuals": ["no-such-variant"]}, "visuals"),
        ({"visuals": [{"name": "noise", "sigma": -1}]}, "sigma"),
    ],
)
def test_bad_image_configuration_fails_at_construction(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(IMAGE_IDS[0], **kwargs)


def test_text_ids_render_rgb_array_on_demand() -> None:
    # with the image ids' deck, a text id deals (and draws) the image id's hand
    env = gym.make(
        "cardenvs/GeneralPoints-v0", suits="black", render_mode="rgb_array", image_size=224
    )
    obs, _ = env.reset(seed=2)
    assert isinstance(obs, str)
    frame = env.render()
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    image_env = gym.make(IMAGE_IDS[0], image_size=224)
    assert np.array_equal(frame, image_env.reset(seed=2)[0]["image"])
