"""Restricted unpickling: build data, never run what a pickle asks for.

:func:`loads` admits a global only when the ``allow`` predicate accepts its
``(module, name)`` *and* the module is already imported, so unpickling can
neither import new code nor reach ``os.system``, ``eval`` and the like. With
no predicate, only plain data (dicts, lists, tuples, numbers, strings) loads.
"""

from __future__ import annotations

import io
import pickle
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["RestrictedUnpickler", "allow_packages", "loads"]

Allow = Callable[[str, str], bool]

_SAFE_BUILTINS = frozenset({"set", "frozenset", "complex", "slice", "range", "bytearray", "bytes"})


def allow_packages(packages: Iterable[str]) -> Allow:
    """A predicate admitting globals of the given top-level packages and safe builtins."""
    tops = frozenset(packages)

    def allow(module: str, name: str) -> bool:
        if module == "builtins":
            return name in _SAFE_BUILTINS
        return module.partition(".")[0] in tops

    return allow


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global ``allow`` rejects, and persistent ids.

    Args:
        file: The binary stream to read.
        allow: Predicate on ``(module, name)``; ``None`` admits no global at all.
        error: Builds the exception raised for a refusal from its message.
    """

    def __init__(
        self,
        file: io.BufferedIOBase | io.BytesIO,
        *,
        allow: Allow | None = None,
        error: Callable[[str], Exception] = pickle.UnpicklingError,
    ) -> None:
        super().__init__(file)
        self._allow = allow
        self._error = error

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an admitted global; refuse everything else."""
        if self._allow is not None and module in sys.modules and self._allow(module, name):
            return super().find_class(module, name)
        raise self._error(f"refused global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (they would call back into application code)."""
        raise self._error(f"refused persistent id {str(pid)[:40]!r}")


def loads(
    data: bytes,
    *,
    allow: Allow | None = None,
    error: Callable[[str], Exception] = pickle.UnpicklingError,
) -> Any:
    """Unpickle ``data`` with a :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data), allow=allow, error=error).load()
