"""Helpers shared by the subcommands: ``--env KEY=VALUE``, ``--ray [ADDRESS]``, usage errors.

``--env`` values are parsed as JSON when they can be (``max_attempts=3``,
``visuals='["rotate"]'``), else kept as strings (``rule=face-10``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym

from oodgym.distributed import RayBackend

__all__ = [
    "USAGE_ERRORS",
    "EnvOptionError",
    "add_env_option",
    "add_ray_option",
    "env_kwargs",
    "error",
    "parse_env_options",
    "parse_env_pair",
    "ray_backend",
]


class EnvOptionError(argparse.ArgumentTypeError, ValueError):
    """A malformed ``--env`` item (argparse reports it as a usage error)."""


#: Errors that mean "bad input" (exit status 2 with a message) rather than a crash.
USAGE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    ImportError,
    OSError,
    gym.error.Error,
)


def parse_env_pair(text: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> ``(KEY, VALUE)``, VALUE parsed as JSON when possible."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise EnvOptionError(f"--env expects KEY=VALUE (KEY an identifier); got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def add_env_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--env KEY=VALUE ...`` (repeatable) for ``gym.make`` keyword arguments."""
    parser.add_argument(
        "--env",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        type=parse_env_pair,
        default=[],
        help="keyword argument of gym.make; VALUE is JSON if it parses, else a string "
        "(e.g. --env max_attempts=3 'visuals=[\"rotate\"]')",
    )


def add_ray_option(parser: argparse.ArgumentParser, *, tasks: str) -> None:
    """Add ``--ray [ADDRESS]``: run the ``tasks`` on a Ray cluster (see :func:`ray_backend`)."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help=f"play the {tasks} on a Ray cluster (needs ood-gym[ray]): auto (a running cluster), "
        "HOST:PORT, ray://HOST:10001, local (a new local Ray); without ADDRESS, RAY_ADDRESS if "
        "set, else a cluster 'ray start' started here, else a new local Ray",
    )


def ray_backend(address: str | None, **options: Any) -> RayBackend | None:
    """The backend of a parsed ``--ray`` value (``None`` without ``--ray``).

    ``options`` are more :class:`~oodgym.distributed.RayBackend` fields.
    """
    if address is None:
        return None
    return RayBackend(address=address or None, **options)


def env_kwargs(pairs: Sequence[tuple[str, Any]] | None) -> dict[str, Any]:
    """The ``gym.make`` kwargs of parsed ``--env`` pairs (a later key wins)."""
    return dict(pairs or [])


def error(command: str, err: BaseException | str) -> int:
    """Print ``oodgym COMMAND: error: ...`` to stderr; return the exit status 2."""
    print(f"oodgym {command}: error: {err}", file=sys.stderr)
    return 2


def parse_env_options(items: Iterable[str] | None) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` -> ``gym.make`` kwargs.

    Raises:
        EnvOptionError: (a ``ValueError``) for an item without ``=``, a key that is not
            an identifier, or a key given twice.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, value = parse_env_pair(item)
        if key in out:
            raise EnvOptionError(f"--env {key} given twice")
        out[key] = value
    return out
