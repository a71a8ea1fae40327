import json
import pickle
import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

import cardenvs
from cardenvs.env import GeneralPointsEnv
from cardenvs.solver import solve
from cardenvs.verifier import Verifier

ID = "cardenvs/GeneralPoints-v0"
INFO_KEYS = {"cards", "numbers", "target", "rule", "attempts_left", "solution"}


def test_reset_info_and_prompt() -> None:
    env = gym.make(ID)
    obs, info = env.reset(seed=11)
    assert INFO_KEYS <= set(info)
    assert len(info["cards"]) == 4 and len(set(info["cards"])) == 4
    assert all(code[-1] in "SHDC" for code in info["cards"])  # all 52 cards
    assert info["target"] == 24 and info["rule"] == "face-10" and info["attempts_left"] == 5
    ranks = [code[:-1] for code in info["cards"]]
    assert "Cards: [" + ", ".join(f"'{r}'" for r in ranks) + "]" in obs
    assert "count as 10" in obs
    assert obs in env.observation_space


def test_seed_gives_the_same_episode_and_other_seeds_differ() -> None:
    a, b = gym.make(ID), gym.make(ID)
    deals_a = [a.reset(seed=s)[1]["cards"] for s in range(20)]
    deals_b = [b.reset(seed=s)[1]["cards"] for s in range(20)]
    assert deals_a == deals_b
    assert len({tuple(d) for d in deals_a}) > 15
    a.reset(seed=5)
    b.reset(seed=5)
    assert [a.reset()[1]["cards"] for _ in range(5)] == [b.reset()[1]["cards"] for _ in range(5)]


def test_rule_ood_hands_hold_a_face_card() -> None:
    env = gym.make("cardenvs/GeneralPoints-RuleOOD-v0")
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert any(code[:-1] in "JQK" for code in info["cards"])
        assert info["rule"] == "face-11-12-13"


def test_multi_turn_feedback_then_success() -> None:
    env = gym.make(ID, max_attempts=3, feedback="detailed")
    obs, info = env.reset(options={"cards": ["3S", "3C", "8S", "8C"]})
    assert info["solution"] == "8/(3-8/3)"
    obs, reward, terminated, truncated, info = env.step('{"formula": "8*3"}')
    assert (reward, terminated, truncated) == (-2.0, False, False)
    assert (
        info["verdict"] == "wrong_numbers" and info["attempts_left"] == 2 and not info["is_success"]
    )
    assert "Attempt 1 of 3 failed" in obs and info["feedback"] in obs and "2 attempts left" in obs
    obs, reward, terminated, truncated, info = env.step("8/(3-8/3) = 24")
    assert (reward, terminated, truncated) == (5.0, True, False)
    assert info["is_success"] and info["verdict"] == "correct"
    with pytest.raises(RuntimeError, match="reset"):
        env.step("8/(3-8/3)")


def test_last_wrong_attempt_truncates_without_an_extra_step() -> None:
    env = gym.make(ID, max_attempts=2, rewards={"exhausted": -1.0})
    env.reset(seed=0)
    _, r1, te1, tr1, _ = env.step("nothing")
    _, r2, te2, tr2, info = env.step("still nothing")
    assert (te1, tr1) == (False, False)
    assert (te2, tr2) == (False, True) and info["attempts_left"] == 0
    assert (r1, r2) == (-3.0, -4.0)
    with pytest.raises(RuntimeError):
        env.step("again")


def test_expert_action_is_the_paper_answer_shape() -> None:
    env = gym.make(ID)
    env.reset(seed=3)
    answer = json.loads(env.unwrapped.expert_action())
    assert set(answer) == {"cards", "number", "formula"} and answer["formula"].endswith("=24")
    assert env.step(json.dumps(answer))[1] == 5.0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"cards": ["3S", "3C", "8S"]}, "must hold 4 cards"),
        ({"cards": ["3S", "3C", "8S", "8X"]}, "bad card code '8X'"),
        ({"cards": ["3S", "3S", "8S", "8C"]}, "appears twice"),
        ({"cards": ["3H", "3C", "8S", "8C"]}, "not in the black deck"),
        ({"cards": ["AS", "AC", "2S", "2C"]}, "cannot reach 24"),
        ({"cards": "3S 3C 8S 8C"}, "list of card codes"),
        ({"hand": ["3S"]}, "unknown key"),
    ],
)
def test_bad_reset_options_fail_clearly(options: dict, match: str) -> None:
    env = gym.make(ID, suits="black")
    with pytest.raises(ValueError, match=match):
        env.reset(options=options)


def test_options_respect_the_rule() -> None:
    env = gym.make("cardenvs/GeneralPoints-RuleOOD-v0")
    with pytest.raises(ValueError, match="face card"):
        env.reset(options={"cards": ["4S", "6C", "4C", "AS"]})
    _, info = env.reset(options={"cards": ["KS", "QC", "AS", "AC"]})
    assert info["numbers"] == [13, 12, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"suits": "green"}, "suits must be one of"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"rewards": {"bonus": 3}}, "unknown category"),
        ({"observation": "audio"}, "observation must be one of"),
        ({"render_mode": "depth_array"}, "render_mode"),
        ({"rule": 24}, "rule"),
        ({"feedback": "verbose"}, r"feedback must be one of \['paper', 'detailed'\]"),
        ({"deal": "fair"}, r"deal must be one of \['paper', 'uniform'\]"),
        ({"prompt": "fancy"}, "unknown prompt template 'fancy'"),
        ({"prompt": {"template": "{cards.__class__}"}}, "cards.__class__"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict, match: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium warns about unknown render modes first
        with pytest.raises((ValueError, TypeError), match=match):
            gym.make(ID, **kwargs)


def test_non_str_action_raises_type_error() -> None:
    env = gym.make(ID)
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(123)


def test_red_and_all_decks() -> None:
    red = gym.make(ID, suits="red")
    black = gym.make(ID, suits="black")
    for seed in range(10):
        r, b = red.reset(seed=seed)[1]["cards"], black.reset(seed=seed)[1]["cards"]
        assert [c[:-1] for c in r] == [c[:-1] for c in b]
        assert all(c[-1] in "HD" for c in r)
    full = gym.make(ID, suits="all")
    suits = {c[-1] for s in range(40) for c in full.reset(seed=s)[1]["cards"]}
    assert suits == set("SHDC")


def test_render_ansi_returns_the_prompt() -> None:
    env = gym.make(ID, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs


def test_pickle_does_not_carry_the_hand_table() -> None:
    env = GeneralPointsEnv(suits="all")
    env.reset(seed=0)
    assert len(pickle.dumps(env)) < 20_000
    clone = pickle.loads(pickle.dumps(env))
    assert clone.reset(seed=4) == env.reset(seed=4)


def test_random_actions_always_get_a_verdict_and_stay_in_the_space() -> None:
    env = gym.make(ID)
    env.action_space.seed(0)
    env.reset(seed=0)
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs in env.observation_space
        assert info["verdict"] in cardenvs.DEFAULT_REWARDS and reward < 0
        if terminated or truncated:
            env.reset()


# --------------------------------------------------------------------------- the paper's protocol

RULE_OOD = "cardenvs/GeneralPoints-RuleOOD-v0"


def deals(env_id: str, seeds: range, **kwargs: object) -> list[list[str]]:
    env = gym.make(env_id, **kwargs)
    return [env.reset(seed=s)[1]["cards"] for s in seeds]


def face_cards(hands: list[list[str]]) -> np.ndarray:
    return np.array([sum(c[:-1] in ("J", "Q", "K") for c in hand) for hand in hands])


def test_the_image_rule_ood_id_deals_as_the_text_one_with_black_suits() -> None:
    seeds = range(40)
    image = deals("cardenvs/GeneralPoints-Image-RuleOOD-v0", seeds, image_size=224)
    assert image == deals(RULE_OOD, seeds, suits="black")


@pytest.mark.parametrize("suits", ["all", "black"])  # text ids, image ids
def test_rule_ood_ids_force_a_face_card_as_the_paper(suits: str) -> None:
    faces = face_cards(deals(RULE_OOD, range(3000), suits=suits))
    assert faces.min() >= 1
    assert 1.5 < faces.mean() < 1.7 and 0.4 < (faces >= 2).mean() < 0.56
    uniform = face_cards(deals(RULE_OOD, range(3000), suits=suits, deal="uniform"))
    assert 1.25 < uniform.mean() < 1.42 and (uniform >= 2).mean() < 0.36


def test_text_ids_deal_from_all_52_cards_and_triples_occur() -> None:
    hands = deals(ID, range(4000))
    assert {c[-1] for hand in hands for c in hand} == set("SHDC")
    triples = sum(max(Counter(c[:-1] for c in hand).values()) >= 3 for hand in hands)
    assert 3 <= triples <= 60  # 0.53% of the solvable hands hold a rank three times
    black = deals(ID, range(1000), suits="black")
    assert all(max(Counter(c[:-1] for c in hand).values()) <= 2 for hand in black)


def test_registered_ids_use_the_papers_protocol() -> None:
    for preset in cardenvs.PRESETS:
        assert preset.kwargs["deal"] == "paper" and preset.kwargs["feedback"] == "paper"
        assert preset.episodes == 234
        text = preset.kwargs["observation"] == "text"
        assert (
            preset.kwargs["suits"] == "all" if text else preset.kwargs["suits"] in ("black", "red")
        )


def test_running_out_of_attempts_costs_minus_one_by_default() -> None:
    env = gym.make(ID, max_attempts=2)
    env.reset(seed=0)
    assert env.step("nothing")[1] == -3.0
    _, reward, terminated, truncated, _ = env.step('{"formula": "1+1"}')
    assert (reward, terminated, truncated) == (-2.0 - 1.0, False, True)
    env = gym.make(ID, max_attempts=1, rewards={"exhausted": 0})
    env.reset(seed=0)
    assert env.step("nothing")[1] == -3.0


def test_paper_feedback_reads_on_its_own_and_detailed_is_todays() -> None:
    env = gym.make(ID, max_attempts=2)
    obs, _ = env.reset(options={"cards": ["3S", "3C", "8S", "8C"]})
    obs, _, _, _, info = env.step('{"formula": "3+3+8+8"}')
    assert info["feedback"] == (
        "Your answer failed (wrong value). The formula does not evaluate to 24. "
        "Try again, answering in the same format."
    )
    assert "22" not in obs and "22" not in info["feedback"]
    assert "failed (wrong value): The formula does not evaluate to 24.\n" in obs
    obs, _, _, truncated, info = env.step('{"formula": "3*8"}')
    assert truncated and "Try again" not in info["feedback"]
    assert info["feedback"].startswith("Your answer failed (wrong numbers). ")
    assert "leaves out card numbers: 3, 8." in info["feedback"]

    detailed = gym.make(ID, feedback="detailed")
    detailed.reset(options={"cards": ["3S", "3C", "8S", "8C"]})
    info = detailed.step('{"formula": "3+3+8+8"}')[4]
    assert info["feedback"] == "The formula uses your cards correctly but evaluates to 22, not 24."


def test_expert_action_with_an_rng_samples_among_all_solutions() -> None:
    env = gym.make(ID)
    _, info = env.reset(options={"cards": ["AS", "2C", "3H", "4D"]})
    expert = env.unwrapped.expert_action
    assert json.loads(expert())["formula"] == info["solution"] + "=24"
    formulas = {json.loads(expert(np.random.default_rng(s)))["formula"] for s in range(40)}
    assert len(formulas) >= 3  # 1*2*3*4, (1+2+3)*4, (1+3)*(2+4), ...
    assert formulas <= {f + "=24" for f in solve([1, 2, 3, 4], env.unwrapped.rule)}
    assert expert(np.random.default_rng(7)) == expert(np.random.default_rng(7))
    for formula in formulas:
        verdict = Verifier(env.unwrapped.rule).judge(json.dumps({"formula": formula}), [1, 2, 3, 4])
        assert verdict.is_success
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        expert(7)


def test_expert_action_with_an_rng_on_many_hands_is_always_correct() -> None:
    env = gym.make("cardenvs/GeneralPoints-RuleOOD-v0")
    rng = np.random.default_rng(0)
    for seed in range(30):
        env.reset(seed=seed)
        _, reward, terminated, *_ = env.step(env.unwrapped.expert_action(rng))
        assert terminated and reward == 5.0


def test_construction_warm_up_leaves_the_env_as_constructed() -> None:
    env = GeneralPointsEnv()
    assert env._np_random is None  # no random stream was created by the private hands
    assert env.cards == () and env.render() is None
    with pytest.raises(RuntimeError, match="reset"):
        env.step('{"formula": "1+2"}')
    with pytest.raises(RuntimeError, match="reset"):
        env.expert_action()
    # The first episode is the seed's own: its deal is the first draw of a new stream.
    _, info = env.reset(seed=5)
    draw = int(np.random.Generator(np.random.PCG64(5)).integers(env._sampler.draw_bound))
    assert info["cards"] == [card.code for card in env._sampler.hand(draw)]
    _, reward, terminated, _, _ = env.step(env.expert_action())
    assert terminated and reward == 5


def test_image_warm_up_leaves_no_frame_and_same_frames_follow() -> None:
    a = GeneralPointsEnv(observation="image", image_size=224, visuals=["noise", "rotate"])
    assert a._frame is None and a._attempts == 0
    first = a.reset(seed=3)[0]["image"]
    b = gym.make("cardenvs/GeneralPoints-Image-v0", image_size=224, visuals=["noise", "rotate"])
    assert np.array_equal(b.reset(seed=3)[0]["image"], first)


class _Subclass(GeneralPointsEnv):
    """A benchmark author's variant whose own state exists only after its __init__."""

    def __init__(self, warm: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.log: list[str] = []
        if warm:
            self.warm_up()

    def _info(self) -> dict:  # type: ignore[type-arg]
        info = super()._info()
        info["logged"] = len(self.log)
        return info

    def step(self, action: str):  # type: ignore[no-untyped-def]
        self.log.append(action)
        return super().step(action)


def test_warm_up_never_runs_a_subclass_override_early() -> None:
    env = _Subclass()  # its _info needs self.log: a warm-up inside __init__ would fail
    assert env.log == []
    env.reset(seed=1)
    _, _, _, _, info = env.step(env.expert_action())
    assert env.log and len(env.log) == 1 and info["logged"] == 1
    warmed = _Subclass(warm=True)  # opting in, once its state exists
    assert warmed.log == [] and warmed._np_random is None
    assert warmed.reset(seed=1)[1]["cards"] == env.reset(seed=1)[1]["cards"]
