from dataclasses import dataclass

import pytest

from oodgym.registry import Registry


@dataclass(frozen=True)
class Thing:
    size: int = 1
    colour: str = "red"


class Shape:
    def __init__(self, sides: int = 3) -> None:
        if sides < 3:
            raise ValueError("sides must be >= 3")
        self.sides = sides


SQUARE = Shape(4)


def make_registries() -> tuple[Registry[Thing], Registry[Shape]]:
    things: Registry[Thing] = Registry("thing", value_type=Thing)
    things.register("small", Thing(1), description="a small thing")
    shapes: Registry[Shape] = Registry("shape", value_type=Shape)
    shapes.register("polygon", Shape)
    return things, shapes


def test_resolve_by_name_mapping_and_value() -> None:
    things, shapes = make_registries()
    assert things.resolve("small") == Thing(1)
    assert things.resolve({"name": "small", "colour": "blue"}) == Thing(1, "blue")
    assert things.resolve(Thing(5)) == Thing(5)
    assert shapes.resolve({"name": "polygon", "sides": 6}).sides == 6
    assert shapes.resolve("polygon").sides == 3


def test_resolve_import_path() -> None:
    _, shapes = make_registries()
    assert shapes.resolve(f"{__name__}:SQUARE") is SQUARE
    assert shapes.resolve({"name": f"{__name__}:Shape", "sides": 5}).sides == 5


def test_errors_name_the_argument_and_choices() -> None:
    things, shapes = make_registries()
    with pytest.raises(ValueError, match=r"rule: unknown thing 'big'.*'small'"):
        things.resolve("big", argument="rule")
    with pytest.raises(ValueError, match="no parameter"):
        things.resolve({"name": "small", "weight": 3})
    with pytest.raises(ValueError, match="bad parameters"):
        shapes.resolve({"name": "polygon", "corners": 3})
    with pytest.raises(ValueError, match="cannot import"):
        shapes.resolve("no_such_module_xyz:Thing")
    with pytest.raises(TypeError):
        things.resolve(3.5)
    with pytest.raises(ValueError, match="already registered"):
        things.register("small", Thing(2))
    things.register("small", Thing(2), overwrite=True)
    assert things.resolve("small") == Thing(2)


def test_listing_and_descriptions() -> None:
    things, _ = make_registries()
    assert things.names() == ["small"] and "small" in things and len(things) == 1
    assert things.entries()[0].description == "a small thing"
    with pytest.raises(ValueError):
        things.register("bad:name", Thing())
