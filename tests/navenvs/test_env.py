import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import navenvs  # noqa: F401
from navenvs.geo import COMPASS_WORDS, RELATIVE_WORDS

IDS = ["navenvs/Navigation-v0", "navenvs/Navigation-RuleOOD-v0"]
EXAMPLE = Path(__file__).parent / "data" / "virl_route_example.json"


def play_expert(env: gym.Env, seed: int) -> tuple[list[float], dict]:
    _, info = env.reset(seed=seed)
    rewards = []
    for _ in range(500):
        assert info["expert_action"] is not None
        _, reward, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        rewards.append(float(reward))
        assert not truncated
        if terminated:
            return rewards, info
    raise AssertionError("the expert did not finish")


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("layout", ["grid", "perturbed-grid", "irregular"])
def test_the_expert_succeeds_on_every_seed(env_id: str, layout: str) -> None:
    env = gym.make(env_id, city=layout)
    for seed in range(40):
        rewards, info = play_expert(env, seed)
        assert rewards == [1.0] * len(rewards)
        assert info["is_success"] and info["verdict"] == "correct"
        assert info["step_accuracy"] == 1.0 and info["expert_action"] is None


def test_vocabularies() -> None:
    for env_id, words in zip(IDS, (COMPASS_WORDS, RELATIVE_WORDS), strict=True):
        env = gym.make(env_id)
        for seed in range(15):
            obs, _ = env.reset(seed=seed)
            actions = [
                step.absolute if words is COMPASS_WORDS else step.relative
                for step in env.unwrapped.rail
            ]
            for action in actions:
                if action.startswith("turn_direction("):
                    assert action[len("turn_direction(") : -1] in words
            other = RELATIVE_WORDS if words is COMPASS_WORDS else COMPASS_WORDS
            vocabulary_line = next(line for line in obs.splitlines() if line.startswith("Actions:"))
            assert all(word in vocabulary_line for word in words)
            assert not any(f" {word}," in vocabulary_line for word in other if word not in words)


def test_milestones_and_instruction_shape() -> None:
    env = gym.make(IDS[0], milestones=4, forward_points=0)
    obs, info = env.reset(seed=3)
    lines = info["instruction"].splitlines()
    assert len(lines) == 2 * 4
    assert lines[0].startswith("1. First, turn ") and " to face " in lines[0]
    assert lines[-1].startswith(
        "8. Move forward until you reach the destination where The destination"
    )
    assert "Current observation O_1:" in obs and "History:" not in obs


def test_history_and_wrong_actions() -> None:
    env = gym.make(IDS[0], max_attempts=2)
    obs, info = env.reset(seed=8)
    expert = info["expert_action"]
    wrong = "stop()" if expert != "stop()" else "forward()"
    obs, reward, terminated, truncated, info = env.step(json.dumps({"action": wrong}))
    assert (reward, terminated, truncated) == (-1.0, False, False)
    assert info["verdict"] == "wrong_action" and info["step"] == 0
    assert "Feedback:" in obs and "1 attempt left" in obs
    obs, reward, *_, info = env.step(env.unwrapped.expert_action())
    assert reward == 1.0 and info["step"] == 1 and info["step_accuracy"] == 0.5
    assert f"A_1: {expert}" in obs and "O_1:" in obs and "Feedback:" not in obs
    bad = info["expert_action"]
    wrong = "stop()" if bad != "stop()" else "forward()"
    env.step(wrong)
    _, reward, terminated, truncated, info = env.step(wrong)
    assert truncated and not terminated and not info["is_success"]
    with pytest.raises(RuntimeError):
        env.step(wrong)


def _wrong_action(info: dict[str, Any]) -> str:
    return "stop()" if info["expert_action"] != "stop()" else "forward()"


def test_reward_table_of_the_paper() -> None:
    """+1 correct (whatever the intersection claim); -1 wrong; -1.5 wrong with a false claim."""
    env = gym.make(IDS[0], forward_points=0, max_attempts=100)
    at_intersection = not_at_intersection = 0
    for seed in range(20):
        _, info = env.reset(seed=seed)
        while True:
            here = info["at_intersection"]
            false_claim = "There is no intersection here" if here else "You observe an intersection"
            true_claim = "You observe an intersection" if here else "No landmarks nearby"
            wrong = _wrong_action(info)
            cases = [
                ({"current observation": false_claim, "action": wrong}, -1.5, "wrong_intersection"),
                ({"current observation": true_claim, "action": wrong}, -1.0, "wrong_action"),
                (wrong, -1.0, "wrong_action"),  # no observation: no claim
                ("I should not do forward()", -1.0, "invalid_action"),
            ]
            for answer, reward, verdict in cases:
                text = answer if isinstance(answer, str) else json.dumps(answer)
                _, got, _, truncated, after = env.step(text)
                assert (got, after["verdict"]) == (reward, verdict), (seed, answer)
                assert after["step"] == info["step"] and not truncated  # the agent stays
            # A correct action with a false intersection claim is still correct.
            expert = info["expert_action"]
            _, got, terminated, _, after = env.step(
                json.dumps({"current observation": false_claim, "action": expert})
            )
            assert got == 1.0 and after["verdict"] == "correct"
            assert after["step"] == info["step"] + 1
            at_intersection += here
            not_at_intersection += not here
            info = after
            if terminated:
                break
    assert at_intersection >= 20 and not_at_intersection >= 20


def test_leaving_out_the_intersection_is_a_false_claim() -> None:
    env = gym.make(IDS[0], forward_points=0)
    _, info = env.reset(seed=1)
    while not info["at_intersection"]:
        _, _, _, _, info = env.step(env.unwrapped.expert_action())
    silent = json.dumps({"current observation": "A shop is on my left", "action": "stop()"})
    _, reward, _, _, info = env.step(silent)
    assert reward == -1.5 and info["verdict"] == "wrong_intersection"


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo pwned')",
        "x" * 100_000,
        "(" * 5000 + "forward()" + ")" * 5000,
        '{"action": null}',
        '{"action": ["forward()"]}',
        '{"action": "forward() stop()"}',
        "turn_direction(up)",
        "\x00\x01",
        "",
    ],
)
def test_hostile_actions_never_crash_and_are_never_rewarded(text: str) -> None:
    for env_id in IDS:
        env = gym.make(env_id)
        env.reset(seed=1)
        _, reward, *_, info = env.step(text)
        assert reward < 0 and info["verdict"] != "correct" and info["feedback"]


def test_non_str_action_raises_type_error() -> None:
    env = gym.make(IDS[0])
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"actions": "diagonal"}, "absolute"),
        ({"city": "venice"}, "city must be one of"),
        ({"milestones": 9}, "milestones"),
        ({"milestones": [3, 2]}, "milestones"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"drop_rate": 1.0}, "drop_rate"),
        ({"forward_points": -1}, "forward_points"),
        ({"rewards": {"bonus": 1}}, "unknown category"),
        ({"n_cities": 0}, "n_cities"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(IDS[0], **kwargs)


def test_the_example_route_file_plays_with_the_turns_its_headings_imply() -> None:
    env = gym.make(IDS[0], routes=str(EXAMPLE))
    seen = {}
    for seed in range(20):
        _, info = env.reset(seed=seed)
        route = env.unwrapped.route
        turns = [s.absolute for s in env.unwrapped.rail if s.absolute.startswith("turn")]
        seen[route.destination.name] = (turns, info["instruction"])
        rewards, _ = play_expert(env, seed)
        assert set(rewards) == {1.0}
    assert set(seen) == {"Maple Books", "Riverside Gym"}
    turns, instruction = seen["Maple Books"]
    assert turns == ["turn_direction(north)", "turn_direction(east)", "turn_direction(north)"]
    assert (
        "2. Move forward until you reach the next intersection where Blue Door Bakery is on your "
        "left front." in instruction
    )
    assert "3. Turn right to face east." in instruction
    assert "5. Turn left to face north." in instruction
    assert (
        "6. Move forward until you reach the destination where The destination Maple Books is on "
        "your front." in instruction
    )
    turns, instruction = seen["Riverside Gym"]
    assert turns == ["turn_direction(east)", "turn_direction(south)"]
    assert (
        "Corner Deli is on your right front" in instruction
        and "Turn right to face south." in instruction
    )

    relative = gym.make(IDS[1], routes=str(EXAMPLE))
    for seed in range(10):
        relative.reset(seed=seed)
        if relative.unwrapped.route.destination.name == "Maple Books":
            assert [s.relative for s in relative.unwrapped.rail][-1] == "stop()"
            middle = [
                s.relative
                for s in relative.unwrapped.rail
                if s.milestone == 0 and s.at_intersection
            ]
            assert middle[0] == "turn_direction(right)"


def test_missing_route_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises((ValueError, OSError), match="route"):
        gym.make(IDS[0], routes=str(tmp_path / "nothing.json"))


def test_construction_warm_up_leaves_the_env_as_constructed() -> None:
    from navenvs.env import NavigationEnv

    env = NavigationEnv()
    assert env._np_random is None and env.route is None and env.rail == ()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("forward()")
    # Seeds keep their episodes: the same as an environment that never warmed up would play.
    obs, info = env.reset(seed=4)
    other = NavigationEnv()
    other.reset(seed=9)  # a different history before the same seed changes nothing
    assert other.reset(seed=4) == (obs, info)
    unseeded = NavigationEnv()
    unseeded.reset()
    assert unseeded._cycle == 0  # the theme cycle starts where a new env's does


def test_warm_up_never_runs_a_subclass_override_early() -> None:
    from navenvs.env import NavigationEnv

    class Logged(NavigationEnv):
        def __init__(self, warm: bool = False) -> None:
            super().__init__(max_attempts=1)
            self.log: list[str] = []
            if warm:
                self.warm_up()

        def _info(self) -> dict[str, Any]:
            info = super()._info()
            info["logged"] = len(self.log)  # state that exists only after __init__
            return info

        def step(self, action: str):  # type: ignore[no-untyped-def]
            self.log.append(action)
            return super().step(action)

    env = Logged()
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.expert_action())
    assert env.log and len(env.log) == 1 and info["logged"] == 1
    warmed = Logged(warm=True)
    assert warmed.log == [] and warmed._np_random is None and warmed.route is None
