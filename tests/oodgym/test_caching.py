"""Tests of the caches bounded in bytes (oodgym.caching)."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from oodgym import caching
from oodgym.caching import ByteCache, cache_stats, clear_caches, nbytes_of, set_cache_limit

_names = itertools.count()


def _cache(max_bytes: int) -> ByteCache[int, np.ndarray]:
    return ByteCache(f"test.cache{next(_names)}", max_bytes, description="test")


def test_values_never_exceed_the_budget_and_the_least_recent_goes_first() -> None:
    cache = _cache(1000)
    for key in range(5):
        cache.put(key, np.zeros(300, np.uint8))
        assert cache.stats().nbytes <= 1000
    assert list(cache._items) == [2, 3, 4]
    assert cache.get(2) is not None  # now the most recent: 3 goes next
    cache.put(5, np.zeros(300, np.uint8))
    assert 3 not in cache and 2 in cache and 5 in cache
    stats = cache.stats()
    assert (stats.items, stats.nbytes, stats.evictions) == (3, 900, 3)


def test_a_value_larger_than_the_budget_is_returned_not_kept() -> None:
    cache = _cache(100)
    big = np.zeros(101, np.uint8)
    assert cache.put(1, big) is big
    assert 1 not in cache and cache.stats().nbytes == 0
    assert cache.get_or_build(2, lambda: np.zeros(10, np.uint8)).nbytes == 10
    assert 2 in cache


def test_get_or_build_builds_once() -> None:
    cache = _cache(1 << 20)
    calls: list[int] = []

    def build() -> np.ndarray:
        calls.append(1)
        return np.ones(4)

    first = cache.get_or_build("a", build)  # type: ignore[arg-type]
    assert cache.get_or_build("a", build) is first  # type: ignore[arg-type]
    assert len(calls) == 1
    assert (cache.stats().hits, cache.stats().misses) >= (1, 1)


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = _cache(1000)
    cache.put(1, np.zeros(400, np.uint8))
    cache.put(1, np.zeros(600, np.uint8))
    assert cache.stats().nbytes == 600 and len(cache) == 1


def test_set_cache_limit_shrinks_and_names_the_caches() -> None:
    cache = _cache(1000)
    for key in range(3):
        cache.put(key, np.zeros(300, np.uint8))
    set_cache_limit(cache.name, 300)
    assert cache.max_bytes == 300 and list(cache._items) == [2]
    set_cache_limit(cache.name, 0)
    assert len(cache) == 0
    with pytest.raises(ValueError, match=r"no cache named 'nope'.*test\.cache"):
        set_cache_limit("nope", 10)
    with pytest.raises(ValueError, match="max_bytes"):
        set_cache_limit(cache.name, -1)
    with pytest.raises(ValueError, match="exists already"):
        ByteCache(cache.name, 10, description="again")


def test_stats_and_clear() -> None:
    cache = _cache(1000)
    cache.put(1, np.zeros(8, np.uint8))
    assert any(s.name == cache.name and s.nbytes == 8 for s in cache_stats())
    clear_caches()
    assert len(cache) == 0 and cache.max_bytes == 1000


def test_sizes() -> None:
    assert nbytes_of(np.zeros((2, 3), np.float32)) == 24
    assert nbytes_of((np.zeros(3, np.uint8), np.zeros(2, np.uint16))) == 7
    assert nbytes_of("text") == 64


def test_budgets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OODGYM_CACHE_TEST_ENV_SPECIFIC_MB", "2")
    assert ByteCache("test.env-specific", 10, description="t").max_bytes == 2 << 20
    monkeypatch.setenv("OODGYM_CACHE_MB", "0.5")
    assert ByteCache("test.env-scaled", 1000, description="t").max_bytes == 500
    for bad in ("lots", "-1", "nan", "inf"):
        monkeypatch.setenv("OODGYM_CACHE_MB", bad)
        with pytest.raises(ValueError, match="OODGYM_CACHE_MB"):
            caching._env_budget("test.bad", 10)


def test_threads_keep_the_books_straight() -> None:
    cache = _cache(50_000)

    def work(offset: int) -> None:
        for key in range(offset, offset + 500):
            cache.get_or_build(key % 300, lambda: np.zeros(100, np.uint8))

    threads = [threading.Thread(target=work, args=(i * 7,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert stats.nbytes == 100 * stats.items <= 50_000


def test_evictions_give_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(caching, "release_free_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(caching, "TRIM_AFTER_BYTES", 1000)
    monkeypatch.setattr(caching, "_evicted", 0)
    cache = _cache(600)
    for key in range(10):
        cache.put(key, np.zeros(300, np.uint8))  # from the third on, each put evicts 300
    assert len(calls) == 2  # 8 x 300 bytes evicted: twice past 1000


def test_warm_once_warms_a_configuration_once_and_only_after_success() -> None:
    from oodgym import caching

    calls: list[int] = []
    caching.warm_once(("test-config", 1), lambda: calls.append(1))
    caching.warm_once(("test-config", 1), lambda: calls.append(2))
    assert calls == [1]

    def failing() -> None:
        raise KeyboardInterrupt

    try:
        caching.warm_once(("test-config", 2), failing)
    except KeyboardInterrupt:
        pass
    caching.warm_once(("test-config", 2), lambda: calls.append(3))  # not noted after a failure
    assert calls == [1, 3]
    caching.warm_once(("test-config", []), lambda: calls.append(4))  # unhashable: every time
    caching.warm_once(("test-config", []), lambda: calls.append(5))
    assert calls == [1, 3, 4, 5]
    caching.clear_caches()
    caching.warm_once(("test-config", 1), lambda: calls.append(6))
    assert calls[-1] == 6
