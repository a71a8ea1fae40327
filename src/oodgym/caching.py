"""Caches bounded in bytes, for what renderers keep between episodes.

Whatever an observation needs that does not depend on the seed (card sprites,
table backgrounds, street geometry, shop signs) is built once and kept in a
:class:`ByteCache`: a least-recently-used mapping whose values together never
exceed a byte budget. Every cache is registered by name, so its budget can be
read and changed in one place:

* :func:`cache_stats` lists every cache: items, bytes held, budget, hits, misses;
* :func:`set_cache_limit` changes a budget (``0`` turns the cache off);
* the environment variable ``OODGYM_CACHE_MB`` scales every default budget
  (``OODGYM_CACHE_MB=0.5``: half of each), and
  ``OODGYM_CACHE_<NAME>_MB`` sets one cache's budget in megabytes (``<NAME>``
  is the cache name upper-cased with ``.`` and ``-`` as ``_``, e.g.
  ``OODGYM_CACHE_NAVENVS_SIGN_SPRITES_MB=64``), read when the cache is created.

Caches are per process (each worker of an async vector environment has its
own) and thread-safe. A value larger than the whole budget is returned but not
kept. Sizes are what NumPy arrays report (``nbytes``), or what a value's
``nbytes`` attribute says, so the budgets count the pixel data, not Python's
few hundred bytes of object overhead per item.

Memory given back by evictions returns to the C allocator, which on Linux
(glibc) keeps most of it: after every 32 MB evicted, the caches ask it to hand
free pages back to the system (``malloc_trim``, a few milliseconds), so a long
run's resident memory follows what the caches hold instead of creeping up.

Example:
    >>> import numpy as np
    >>> from oodgym.caching import ByteCache
    >>> squares = ByteCache("example.squares", max_bytes=1024, description="doc example")
    >>> squares.get_or_build(3, lambda: np.full(4, 9)).tolist()
    [9, 9, 9, 9]
    >>> squares.stats().items, squares.stats().nbytes
    (1, 32)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "ByteCache",
    "CacheStats",
    "cache_stats",
    "clear_caches",
    "nbytes_of",
    "release_free_memory",
    "set_cache_limit",
    "warm_once",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MB = 1 << 20
_REGISTRY: dict[str, ByteCache[object, object]] = {}
_REGISTRY_LOCK = threading.Lock()
#: Evicted bytes (all caches together) after which free memory goes back to the system.
TRIM_AFTER_BYTES = 32 * _MB
_evicted = 0  # bytes evicted since the last trim (under _REGISTRY_LOCK)


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of one cache.

    Attributes:
        name: The cache's name, e.g. ``"navenvs.sign_sprites"``.
        description: What it holds.
        items: Values held.
        nbytes: Bytes held (sum of the values' sizes).
        max_bytes: The budget.
        hits: Lookups answered from the cache.
        misses: Lookups that had to build the value.
        evictions: Values dropped to stay within the budget.
    """

    name: str
    description: str
    items: int
    nbytes: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


def nbytes_of(value: object) -> int:
    """Bytes a value holds.

    ``nbytes`` of arrays (and of objects that define it), summed over tuples and
    lists; 64 for anything else.
    """
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    if isinstance(value, (tuple, list)):
        return sum(nbytes_of(item) for item in value)
    return 64


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """The C library's ``malloc_trim`` (glibc), or ``None`` where it has none."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        function: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return function


def release_free_memory() -> bool:
    """Ask the C allocator to return free pages to the system (glibc only; else a no-op).

    Returns:
        Whether anything was asked (``False`` where ``malloc_trim`` does not exist).
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def _note_evicted(nbytes: int) -> None:
    global _evicted
    with _REGISTRY_LOCK:
        _evicted += nbytes
        due = _evicted >= TRIM_AFTER_BYTES
        if due:
            _evicted = 0
    if due:
        release_free_memory()


def _env_budget(name: str, default: int) -> int:
    """The budget: ``OODGYM_CACHE_<NAME>_MB``, else ``default`` times ``OODGYM_CACHE_MB``."""
    key = "OODGYM_CACHE_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_MB"
    for variable, base in ((key, _MB), ("OODGYM_CACHE_MB", default)):
        text = os.environ.get(variable)
        if text is None:
            continue
        try:
            factor = float(text)
        except ValueError:
            raise ValueError(f"{variable} must be a number (megabytes); got {text!r}") from None
        if not factor >= 0 or factor == float("inf"):
            raise ValueError(f"{variable} must be a finite number >= 0; got {text!r}")
        return int(factor * base)
    return default


class ByteCache(Generic[K, V]):
    """A least-recently-used mapping bounded by the bytes of its values.

    Args:
        name: Unique name (``"package.what"``), used by :func:`set_cache_limit`
            and the ``OODGYM_CACHE_<NAME>_MB`` environment variable.
        max_bytes: Default budget in bytes (before the environment variables).
        description: One line for :func:`cache_stats`.
        sizeof: Size of a value in bytes (default :func:`nbytes_of`).

    Raises:
        ValueError: for a taken name or a negative budget.
    """

    def __init__(
        self,
        name: str,
        max_bytes: int,
        *,
        description: str,
        sizeof: Callable[[V], int] = nbytes_of,
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an int >= 0; got {max_bytes!r}")
        self.name = name
        self.description = description
        self._sizeof = sizeof
        self._max_bytes = _env_budget(name, max_bytes)
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._nbytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()
        with _REGISTRY_LOCK:
            if name in _REGISTRY:
                raise ValueError(f"a cache named {name!r} exists already")
            _REGISTRY[name] = self  # type: ignore[assignment]

    @property
    def max_bytes(self) -> int:
        """The budget in bytes; setting it evicts least recently used values to fit."""
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"max_bytes must be an int >= 0; got {value!r}")
        with self._lock:
            self._max_bytes = value
            freed = self._shrink()
        if freed:
            _note_evicted(freed)

    def get(self, key: K) -> V | None:
        """The value of ``key`` (marked as recently used), or ``None``."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._hits += 1
            self._items.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V, nbytes: int | None = None) -> V:
        """Keep ``value`` under ``key`` (if it fits the budget) and return it."""
        size = self._sizeof(value) if nbytes is None else nbytes
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._nbytes -= old[1]
            freed = 0
            if size <= self._max_bytes:
                self._items[key] = (value, size)
                self._nbytes += size
                freed = self._shrink()
        if freed:
            _note_evicted(freed)
        return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The value of ``key``, built (outside the lock) and kept on a miss."""
        value = self.get(key)
        if value is None:
            value = self.put(key, build())
        return value

    def clear(self) -> None:
        """Drop every value (the counters stay)."""
        with self._lock:
            self._items.clear()
            freed, self._nbytes = self._nbytes, 0
        if freed:
            _note_evicted(freed)

    def stats(self) -> CacheStats:
        """Items, bytes and counters now."""
        with self._lock:
            return CacheStats(
                self.name,
                self.description,
                len(self._items),
                self._nbytes,
                self._max_bytes,
                self._hits,
                self._misses,
                self._evictions,
            )

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __repr__(self) -> str:
        return (
            f"ByteCache({self.name!r}, {len(self._items)} items, "
            f"{self._nbytes / _MB:.1f}/{self._max_bytes / _MB:.1f} MB)"
        )

    def _shrink(self) -> int:
        """Evict to fit the budget (lock held); the bytes evicted."""
        freed = 0
        while self._nbytes > self._max_bytes and self._items:
            _, (_, size) = self._items.popitem(last=False)
            self._nbytes -= size
            self._evictions += 1
            freed += size
        return freed


def cache_stats() -> list[CacheStats]:
    """A snapshot of every cache created so far, by name."""
    with _REGISTRY_LOCK:
        caches = sorted(_REGISTRY.items())
    return [cache.stats() for _, cache in caches]


def set_cache_limit(name: str, max_bytes: int) -> None:
    """Set the byte budget of the cache called ``name`` (``0`` keeps nothing).

    Raises:
        ValueError: for an unknown name (the message lists the caches) or a bad budget.
    """
    with _REGISTRY_LOCK:
        cache = _REGISTRY.get(name)
        names = sorted(_REGISTRY)
    if cache is None:
        raise ValueError(f"no cache named {name!r}; caches: {names}")
    cache.max_bytes = max_bytes


def clear_caches() -> None:
    """Empty every cache (budgets and counters stay); environments built next warm up again."""
    with _REGISTRY_LOCK:
        caches = list(_REGISTRY.values())
        _WARMED.clear()
    for cache in caches:
        cache.clear()


#: Configurations whose warm-up ran in this process (at most :data:`MAX_WARMED` noted).
_WARMED: set[Hashable] = set()
MAX_WARMED = 256


def warm_once(key: Hashable, warm: Callable[[], None]) -> None:
    """Call ``warm()`` unless a configuration with this ``key`` was warmed in this process.

    What an environment's warm-up warms is process-wide (the interpreter's
    specialisations, the caches), so the next environment of the same
    configuration skips it. ``key`` is noted only once ``warm()`` has returned;
    an unhashable key, or a full memo (:data:`MAX_WARMED` keys), means warming
    every time. :func:`clear_caches` forgets the keys.
    """
    try:
        seen = key in _WARMED
    except TypeError:
        warm()
        return
    if seen:
        return
    warm()
    with _REGISTRY_LOCK:
        if len(_WARMED) < MAX_WARMED:
            _WARMED.add(key)
