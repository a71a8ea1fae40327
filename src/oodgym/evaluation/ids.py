"""Which ids an evaluation plays: glob patterns, splits, families and default episode counts."""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Sequence

import gymnasium as gym

from oodgym.families import load_families, presets

__all__ = ["DEFAULT_EPISODES", "default_episodes", "id_modules", "resolve_ids"]

#: Episodes per id when neither the caller nor the id's preset gives a count.
DEFAULT_EPISODES = 100


def resolve_ids(env_ids: str | Sequence[str]) -> list[tuple[str, str, str]]:
    """Expand ids and glob patterns to ``(id, split, family)``, in order, without repeats.

    Patterns (``*``, ``?``, ``[...]``) match the ids announced by the
    families; an exact id may also be any id registered with Gymnasium.
    ``"module:id"`` (as ``gym.make`` takes) imports ``module`` first.

    Raises:
        ValueError: An id or pattern matches nothing (the message lists the ids).
    """
    requested = [env_ids] if isinstance(env_ids, str) else list(env_ids)
    if not requested:
        raise ValueError("no environment id given")
    load_families()
    announced = {p.id: p for p in presets()}
    out: dict[str, tuple[str, str, str]] = {}
    for item in requested:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"environment ids must be non-empty strings, got {item!r}")
        item = item.strip()
        if ":" in item:  # "module:id", as gym.make takes: import the module registering the id
            module, _, item = item.partition(":")
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ValueError(
                    f"cannot import module {module!r} for ids {item!r}: {exc}"
                ) from exc
        if any(ch in item for ch in "*?["):
            matches = [i for i in announced if fnmatch.fnmatchcase(i, item)]
            if not matches:
                matches = sorted(i for i in gym.registry if fnmatch.fnmatchcase(i, item))
        else:
            matches = [item] if item in announced or item in gym.registry else []
        if not matches:
            listing = "\n  ".join(announced) or "(none)"
            raise ValueError(
                f"unknown environment id or pattern {item!r}; registered:\n  {listing}"
            )
        for env_id in matches:
            preset = announced.get(env_id)
            split = preset.split if preset else "unknown"
            family = preset.family if preset else env_id.split("/")[0]
            out.setdefault(env_id, (env_id, split, family))
    return list(out.values())


def id_modules(env_ids: str | Sequence[str]) -> list[str]:
    """The modules named by ``"module:id"`` items of ``env_ids``, in order, without repeats.

    :func:`resolve_ids` imports them; a Ray worker imports them too before it
    makes such an id.
    """
    requested = [env_ids] if isinstance(env_ids, str) else list(env_ids)
    modules = [item.strip().partition(":")[0] for item in requested if ":" in item]
    return list(dict.fromkeys(modules))


def default_episodes(env_id: str) -> int:
    """The episodes ``oodgym eval`` plays for ``env_id`` without ``--episodes``.

    The count of the id's preset (``Preset.episodes``: the paper's count for
    its split), else :data:`DEFAULT_EPISODES`.
    """
    for preset in presets():
        if preset.id == env_id and preset.episodes is not None:
            return preset.episodes
    return DEFAULT_EPISODES
