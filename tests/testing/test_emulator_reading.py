"""Properties of the delivery/reading model and the rate limiter (no HTTP)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_feishu.testing.ratelimit import RateLimiter
from airflow_provider_feishu.testing.reading import ReadingModel, Timeline


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 300),
    undeliverable=st.floats(0, 1),
    never=st.floats(0, 1),
    dist=st.sampled_from(["lognormal", "exponential"]),
)
def test_counts_are_monotonic_and_reads_follow_delivery(seed, n, undeliverable, never, dist) -> None:
    model = ReadingModel(seed=seed, undeliverable_fraction=undeliverable, never_read_fraction=never,
                         distribution=dist)
    people = [f"ou_{i}" for i in range(n)]
    deliver, read = model.plan("k", 1000.0, n)
    assert (deliver, read) == model.plan("k", 1000.0, n)  # deterministic
    tl = Timeline(people, deliver, read)
    prev = (0, 0)
    for t in (1000.0, 1001.0, 1003.0, 1006.0, 2000.0, 10_000.0, 1e7):
        cur = (tl.delivered_count(t), tl.read_count(t))
        assert cur[1] <= cur[0] <= n
        assert cur[0] >= prev[0] and cur[1] >= prev[1]
        prev = cur
    assert tl.delivered_count(1000.0 + model.schedule_delay - 1e-9) == 0
    assert all(r >= d for d, r in zip(deliver, read, strict=True))


def test_force_read_delivers_and_reads() -> None:
    tl = Timeline(["a", "b"], [float("inf"), 5.0], [float("inf"), float("inf")])
    assert tl.force_read("a", 3.0) and tl.is_delivered("a", 3.0) and tl.is_read("a", 3.0)
    assert not tl.force_read("a", 4.0)
    assert tl.read_count(3.0) == 1 and tl.delivered_count(3.0) == 1


def test_rate_limiter_windows() -> None:
    rl = RateLimiter(per_second=3, per_minute=5)
    assert [rl.check("app", "x") for _ in range(3)] == [None, None, None]
    limit, reset = rl.check("app", "x") or (0, 0)
    assert (limit, reset) == (3, 1)
    assert rl.check("other-app", "x") is None and rl.check("app", "y") is None
    time.sleep(1.01)
    assert rl.check("app", "x") is None and rl.check("app", "x") is None
    limit, reset = rl.check("app", "x") or (0, 0)
    assert limit == 5 and 58 <= reset <= 60
    rl.configure(None, None)
    assert not rl.enabled and rl.check("app", "x") is None
