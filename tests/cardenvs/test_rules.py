import gymnasium as gym
import pytest

import cardenvs
from cardenvs.rules import RULES, Rule, resolve_rule


def test_builtin_rules() -> None:
    face10 = RULES.resolve("face-10")
    ood = RULES.resolve("face-11-12-13")
    assert [face10.value_of(r) for r in ("A", "7", "10", "J", "Q", "K")] == [1, 7, 10, 10, 10, 10]
    assert [ood.value_of(r) for r in ("A", "J", "Q", "K")] == [1, 11, 12, 13]
    assert ood.min_face_cards == 1 and face10.min_face_cards == 0
    assert face10.target == ood.target == 24 and face10.hand_size == 4


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target": "24"}, "target"),
        ({"face_values": (10, 10)}, "face_values"),
        ({"operators": "+x"}, "operators"),
        ({"operators": ""}, "operators"),
        ({"operators": "++"}, "operators"),
        ({"hand_size": 0}, "hand_size"),
        ({"hand_size": 7}, "hand_size"),
        ({"min_face_cards": 5}, "min_face_cards"),
        ({"ace_value": -1}, "ace_value"),
    ],
)
def test_bad_rule_fields_fail_with_value_error(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Rule(**kwargs)


def test_operators_are_canonical() -> None:
    assert Rule(operators="/*").operators == "*/"


def test_register_rule_and_use_it_through_gym_make() -> None:
    cardenvs.register_rule("test-make-10", Rule(target=10, hand_size=3), overwrite=True)
    env = gym.make("cardenvs/GeneralPoints-v0", rule="test-make-10")
    obs, info = env.reset(seed=1)
    assert info["target"] == 10 and len(info["cards"]) == 3 and info["rule"] == "test-make-10"
    assert "evaluates to 10" in obs
    _, _, terminated, _, info = env.step(env.unwrapped.expert_action())
    assert terminated and info["verdict"] == "correct"


def test_rule_overrides_by_mapping_are_renamed() -> None:
    rule = resolve_rule({"name": "face-10", "target": 36})
    assert rule.target == 36 and rule.name != "face-10"


def test_unknown_rule_names_the_choices() -> None:
    with pytest.raises(ValueError, match="face-10"):
        gym.make("cardenvs/GeneralPoints-v0", rule="face-99")


def test_rule_without_solvable_hand_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="no solvable hand"):
        gym.make("cardenvs/GeneralPoints-v0", rule={"name": "face-10", "target": 100_000})
