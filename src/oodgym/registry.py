"""Named, documented registries for rules, visual variants and themes.

A registry maps a short name to either a ready value (for example a frozen
``Rule``) or a factory (a class or function taking keyword parameters).
Users select entries with plain data, so that Gymnasium's
``EnvSpec.to_json`` keeps working:

* ``"face-10"``: a registered name;
* ``{"name": "rotate", "max_degrees": 10}``: a name plus keyword parameters;
* ``"my_package.variants:Sepia"``: an importable attribute (configuration,
  never model output), called with the parameters if it is a factory.

Example:
    >>> from oodgym.registry import Registry
    >>> colours = Registry[str]("colour", value_type=str)
    >>> colours.register("sky", "blue", description="the colour of the sky")
    'blue'
    >>> colours.resolve("sky", argument="colour")
    'blue'
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")

__all__ = ["Registry", "RegistryEntry", "spec_name"]


@dataclass(frozen=True)
class RegistryEntry(Generic[T]):
    """One registered item.

    Attributes:
        name: The registered name.
        target: A ready value, or a factory called with the spec's parameters.
        description: One line shown by listings and error messages.
    """

    name: str
    target: T | Callable[..., T]
    description: str


def spec_name(spec: object) -> str:
    """Return a short display name for a registry spec (for errors and info)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        return str(spec["name"])
    return type(spec).__name__


class Registry(Generic[T]):
    """A named collection of values or factories of one kind.

    Args:
        kind: What the entries are, used in messages ("rule", "visual variant").
        value_type: The type of resolved values. A registered object that is
            already an instance is a *value*; anything else must be callable
            and is a *factory*.
    """

    def __init__(self, kind: str, *, value_type: type[Any]) -> None:
        self.kind = kind
        self.value_type = value_type
        self._entries: dict[str, RegistryEntry[T]] = {}

    def register(
        self,
        name: str,
        target: T | Callable[..., T],
        *,
        description: str = "",
        overwrite: bool = False,
    ) -> T | Callable[..., T]:
        """Register ``target`` under ``name`` and return it unchanged.

        Raises:
            ValueError: if ``name`` is empty, contains ``:`` or is already
                registered (and ``overwrite`` is false).
            TypeError: if ``target`` is neither a value of the registry's type
                nor callable.
        """
        if not isinstance(name, str) or not name or ":" in name or name != name.strip():
            raise ValueError(
                f"{self.kind} name must be a non-empty string without ':' or surrounding "
                f"spaces, got {name!r}"
            )
        if not isinstance(target, self.value_type) and not callable(target):
            raise TypeError(
                f"{self.kind} {name!r} must be a {self.value_type.__name__} or a factory "
                f"returning one, got {type(target).__name__}"
            )
        if name in self._entries and not overwrite:
            raise ValueError(
                f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
            )
        if not description:
            doc = getattr(target, "__doc__", None) if callable(target) else None
            description = (doc or "").strip().splitlines()[0] if doc else ""
        self._entries[name] = RegistryEntry(name, target, description)
        return cast("T | Callable[..., T]", target)

    def decorator(
        self, name: str, *, description: str = "", overwrite: bool = False
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Return a decorator that registers a factory under ``name``."""

        def wrap(factory: Callable[..., T]) -> Callable[..., T]:
            self.register(name, factory, description=description, overwrite=overwrite)
            return factory

        return wrap

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a no-op if it is not registered)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def entries(self) -> list[RegistryEntry[T]]:
        """Registered entries, in registration order."""
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def resolve(self, spec: object, *, argument: str | None = None) -> T:
        """Turn a spec (name, mapping with ``name``, ``module:attr`` or value) into a value.

        Args:
            spec: What the user passed.
            argument: The constructor argument the spec came from, named in errors.

        Raises:
            ValueError: unknown name, bad parameters, or an import path that
                does not resolve.
            TypeError: a spec of the wrong shape or a factory returning the
                wrong type.
        """
        arg = argument or self.kind
        if isinstance(spec, self.value_type):
            return cast(T, spec)
        if isinstance(spec, str):
            name, params = spec, {}
        elif isinstance(spec, Mapping):
            if not isinstance(spec.get("name"), str):
                raise ValueError(
                    f"{arg}: a mapping spec needs a string 'name' key, got {dict(spec)!r}"
                )
            name = spec["name"]
            params = {k: v for k, v in spec.items() if k != "name"}
            bad = [k for k in params if not isinstance(k, str)]
            if bad:
                raise ValueError(f"{arg}: parameter names must be strings, got {bad!r}")
        else:
            raise TypeError(
                f"{arg} must be a registered {self.kind} name, a mapping "
                f"{{'name': ..., **params}}, a 'module:attribute' path or a "
                f"{self.value_type.__name__}; got {type(spec).__name__}"
            )
        target = self._lookup(name, arg)
        return self._build(name, target, params, arg)

    def _lookup(self, name: str, arg: str) -> T | Callable[..., T]:
        entry = self._entries.get(name)
        if entry is not None:
            return entry.target
        if ":" in name:
            module_name, _, attr = name.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as err:
                raise ValueError(f"{arg}: cannot import module {module_name!r} ({err})") from err
            obj: Any = module
            for part in attr.split("."):
                if not part or not hasattr(obj, part):
                    raise ValueError(f"{arg}: module {module_name!r} has no attribute {attr!r}")
                obj = getattr(obj, part)
            return cast("T | Callable[..., T]", obj)
        known = ", ".join(repr(n) for n in self._entries) or "(none)"
        raise ValueError(
            f"{arg}: unknown {self.kind} {name!r}; registered: {known} "
            f"(or an importable 'package.module:attribute')"
        )

    def _build(
        self, name: str, target: T | Callable[..., T], params: dict[str, Any], arg: str
    ) -> T:
        if isinstance(target, self.value_type):
            if not params:
                return cast(T, target)
            if dataclasses.is_dataclass(target) and not isinstance(target, type):
                fields = {f.name for f in dataclasses.fields(target)}
                unknown = sorted(set(params) - fields)
                if unknown:
                    raise ValueError(
                        f"{arg}: {self.kind} {name!r} has no parameter(s) {unknown}; "
                        f"allowed: {sorted(fields)}"
                    )
                return cast(T, dataclasses.replace(target, **params))
            raise ValueError(f"{arg}: {self.kind} {name!r} takes no parameters, got {params!r}")
        if not callable(target):
            raise TypeError(f"{arg}: {name!r} is neither a {self.value_type.__name__} nor callable")
        try:
            value = target(**params)
        except TypeError as err:
            raise ValueError(f"{arg}: bad parameters for {self.kind} {name!r}: {err}") from err
        if not isinstance(value, self.value_type):
            raise TypeError(
                f"{arg}: factory {name!r} returned {type(value).__name__}, "
                f"expected {self.value_type.__name__}"
            )
        return value
