"""TokenCache with a fake clock: freshness margin, guarded eviction, per-key and per-loop locks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_provider_feishu.hooks.token_cache import REFRESH_MARGIN_SECONDS, TOKEN_CACHE, TokenCache

KEY = ("https://open.feishu.cn", "cli_a", "digest-a")
OTHER = ("https://open.feishu.cn", "cli_b", "digest-b")


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock) -> TokenCache:
    return TokenCache(margin=300.0, clock=clock)


@pytest.mark.parametrize(
    ("expire", "elapsed", "fresh"),
    [
        (7200, 0, True),
        (7200, 6899.999, True),
        (7200, 6900, False),  # expire - margin: stale from here on
        (7200, 6901, False),
        (7200, 7200, False),
        (7200, 10_000, False),
        # A token that lives less than twice the margin is refreshed half-way through its life:
        # never reused at all would mean one token fetch per call.
        (301, 0, True),
        (301, 150, True),
        (301, 150.5, False),
        (300, 149.9, True),
        (300, 150, False),
        (60, 29.9, True),
        (60, 30, False),
        (0, 0, False),
    ],
)
def test_fresh_until_expire_minus_margin(cache, clock, expire, elapsed, fresh):
    cache.put(KEY, "t-1", expire)
    clock.now += elapsed
    assert cache.get(KEY) == ("t-1" if fresh else None)


def test_default_margin_is_five_minutes():
    # Literal numbers, not the constant read back: a changed margin must fail here.
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.put(KEY, "t-1", 7200)
    clock.now += 6899
    assert cache.get(KEY) == "t-1"
    clock.now += 1
    assert cache.get(KEY) is None
    assert REFRESH_MARGIN_SECONDS == 300.0


def test_short_lived_token_is_reused(clock):
    """Fifty calls with a token that lives 60 s (below the 300 s margin) make one fetch, not fifty."""
    cache = TokenCache(clock=clock)
    fetches = 0
    for _ in range(50):
        if cache.get(KEY) is None:
            fetches += 1
            cache.put(KEY, f"t-{fetches}", 60)
        clock.now += 0.1
    assert fetches == 1


def test_live_tokens_lists_every_cached_token(cache):
    cache.put(KEY, "t-1", 7200)
    cache.put(OTHER, "t-2", 7200)
    assert sorted(cache.live_tokens()) == ["t-1", "t-2"]
    cache.evict(KEY)
    assert cache.live_tokens() == ("t-2",)


def test_unknown_key_is_none(cache):
    assert cache.get(KEY) is None


def test_keys_are_separate(cache):
    cache.put(KEY, "t-a", 7200)
    cache.put(OTHER, "t-b", 7200)
    assert (cache.get(KEY), cache.get(OTHER)) == ("t-a", "t-b")
    cache.evict(KEY)
    assert (cache.get(KEY), cache.get(OTHER)) == (None, "t-b")


def test_put_replaces_and_restarts_lifetime(cache, clock):
    cache.put(KEY, "t-old", 1000)
    clock.now += 650
    cache.put(KEY, "t-new", 7200)
    assert cache.get(KEY) == "t-new"
    clock.now += 1000
    assert cache.get(KEY) == "t-new"


@pytest.mark.parametrize(
    ("evict_with", "left"),
    [
        ("t-old", "t-new"),  # a stale rejection must not drop the newer token
        ("t-new", None),
        (None, None),  # without a token: drop unconditionally
        ("t-unrelated", "t-new"),
    ],
)
def test_evict_with_token_only_drops_that_token(cache, evict_with, left):
    cache.put(KEY, "t-old", 7200)
    cache.put(KEY, "t-new", 7200)  # another caller refreshed after t-old was rejected
    cache.evict(KEY, evict_with)
    assert cache.get(KEY) == left


def test_evict_missing_key_is_harmless(cache):
    cache.evict(KEY)
    cache.evict(KEY, "t-x")
    assert cache.get(KEY) is None


def test_clear(cache):
    cache.put(KEY, "t-a", 7200)
    cache.put(OTHER, "t-b", 7200)
    cache.clear()
    assert (cache.get(KEY), cache.get(OTHER)) == (None, None)


def test_repr_of_entries_hides_tokens(cache):
    cache.put(KEY, "t-very-secret-token", 7200)
    assert "t-very-secret-token" not in repr(cache._entries)


def test_process_cache_starts_empty():
    """The autouse fixture in tests/conftest.py clears the shared cache around every test."""
    assert TOKEN_CACHE.get(KEY) is None
    TOKEN_CACHE.put(KEY, "t-leak", 7200)
    assert TOKEN_CACHE.get(KEY) == "t-leak"


def test_process_cache_was_cleared_after_previous_test():
    assert TOKEN_CACHE.get(KEY) is None


# --- sync fetch locks ------------------------------------------------------------------------


def test_fetch_lock_is_per_key(cache):
    lock = cache.fetch_lock(KEY)
    assert cache.fetch_lock(KEY) is lock
    assert cache.fetch_lock(tuple(KEY)) is lock  # an equal key, not the same object
    other = cache.fetch_lock(OTHER)
    assert other is not lock
    with lock:
        assert other.acquire(blocking=False)  # holding one key's lock does not block another key
        other.release()
        assert not cache.fetch_lock(KEY).acquire(blocking=False)


def test_fetch_lock_shared_across_threads(cache):
    locks: list[threading.Lock] = []
    threads = [threading.Thread(target=lambda: locks.append(cache.fetch_lock(KEY))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(locks) == 8
    assert all(lock is locks[0] for lock in locks)


def test_fetch_lock_serialises_fetches(cache):
    """Callers that check, lock, re-check and fetch make exactly one fetch between them."""
    fetches: list[int] = []
    barrier = threading.Barrier(6)

    def caller() -> None:
        barrier.wait()
        if cache.get(KEY) is None:
            with cache.fetch_lock(KEY):
                if cache.get(KEY) is None:
                    fetches.append(1)
                    cache.put(KEY, "t-1", 7200)

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetches == [1]
    assert cache.get(KEY) == "t-1"


# --- async fetch locks -----------------------------------------------------------------------


def test_async_lock_needs_a_running_loop(cache):
    with pytest.raises(RuntimeError):
        cache.async_fetch_lock(KEY)


def test_async_locks_per_key_within_a_loop(cache):
    async def main():
        a1, a2, b = cache.async_fetch_lock(KEY), cache.async_fetch_lock(KEY), cache.async_fetch_lock(OTHER)
        return a1 is a2, a1 is not b, isinstance(a1, asyncio.Lock)

    assert asyncio.run(main()) == (True, True, True)


async def _contend(cache: TokenCache, fetches: list[int]) -> asyncio.Lock:
    """Several tasks race for the token under the async lock (which binds the lock to this loop)."""

    async def caller() -> None:
        if cache.get(KEY) is None:
            async with cache.async_fetch_lock(KEY):
                if cache.get(KEY) is None:
                    await asyncio.sleep(0.01)  # the others queue on the lock meanwhile
                    fetches.append(1)
                    cache.put(KEY, "t-async", 7200)

    await asyncio.gather(*(caller() for _ in range(5)))
    return cache.async_fetch_lock(KEY)


def test_async_locks_per_event_loop(cache, clock):
    first: list[int] = []
    lock1 = asyncio.run(_contend(cache, first))
    assert first == [1]  # one fetch for five concurrent callers
    cache.clear()
    second: list[int] = []
    # A lock shared with the first (now closed) loop would raise "bound to a different event loop".
    lock2 = asyncio.run(_contend(cache, second))
    assert second == [1]
    assert lock2 is not lock1
    assert cache.get(KEY) == "t-async"


def test_async_locks_in_concurrent_loops(cache):
    """Two event loops in two threads at once each get their own lock and both finish."""
    results: list[BaseException | None] = []

    def worker() -> None:
        try:

            async def main():
                lock = cache.async_fetch_lock(KEY)
                async with lock:
                    await asyncio.sleep(0.01)
                waiters = [asyncio.create_task(_hold(lock)) for _ in range(3)]
                await asyncio.gather(*waiters)

            asyncio.run(main())
            results.append(None)
        except BaseException as err:  # reported below
            results.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [None, None]


async def _hold(lock: asyncio.Lock) -> None:
    async with lock:
        await asyncio.sleep(0.005)
