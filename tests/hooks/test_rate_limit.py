"""The pacers: no window ever holds more than its limit, and waiters are served in order."""

from __future__ import annotations

import asyncio
import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_feishu.hooks.rate_limit import AimdLimits, AsyncAimdPacer, SlidingWindowPacer, shared_pacer


def paced(windows, **kwargs) -> AsyncAimdPacer:
    return AsyncAimdPacer(AimdLimits(windows, slack=0.0), **kwargs)


def max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + period) - i for i, t in enumerate(times)), default=0)


def test_reservations_respect_every_window():
    pacer = SlidingWindowPacer(((50, 1.0), (1000, 60.0)), slack=0.0, clock=lambda: 0.0)
    slots = [pacer.reserve() for _ in range(2500)]
    assert slots == sorted(slots)
    assert max_in_window(slots, 1.0) <= 50
    assert max_in_window(slots, 60.0) <= 1000
    # and it is not needlessly slow: the 1001st request waits for the minute window only
    assert slots[999] < 20.0
    assert slots[1000] == pytest.approx(60.0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=300),
    st.integers(1, 20),
    st.floats(min_value=0.1, max_value=3),
)
def test_no_window_ever_exceeded(gaps, limit, period):
    now = [0.0]
    pacer = SlidingWindowPacer(((limit, period),), slack=0.0, clock=lambda: now[0])
    slots = []
    for gap in gaps:
        now[0] += gap / 10
        slot = pacer.reserve()
        assert slot >= now[0]
        slots.append(slot)
    assert max_in_window(slots, period) <= limit


def test_waiters_are_served_in_arrival_order_without_busy_waiting(monkeypatch):
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def counting_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await real_sleep(seconds)

    pacer = paced(((5, 0.05),))
    finished: list[int] = []

    async def worker(i: int) -> None:
        done = await pacer.acquire()
        finished.append(i)
        done()

    async def main() -> None:
        monkeypatch.setattr(asyncio, "sleep", counting_sleep)
        await asyncio.gather(*(worker(i) for i in range(23)))

    asyncio.run(main())
    assert finished == list(range(23))
    # each waiter sleeps about once (no polling): until its slot, or until the deciding answer
    assert len(sleeps) <= 23


def spread(pacer: AsyncAimdPacer, n: int, latency) -> tuple[list[float], list[float]]:
    """Run n paced requests with the given per-request latency; return (sent, arrived) times."""

    async def main() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        sent: list[float] = []
        arrived: list[float] = []

        async def one(i: int) -> None:
            done = await pacer.acquire()
            sent.append(loop.time())
            first_half, second_half = latency(i)
            await asyncio.sleep(first_half)
            arrived.append(loop.time())  # the server sees it somewhere mid-flight
            await asyncio.sleep(second_half)
            done()

        await asyncio.gather(*(one(i) for i in range(n)))
        return sent, arrived

    return asyncio.run(main())


def test_real_time_burst_is_spread():
    sent, arrived = spread(paced(((10, 0.2),)), 30, lambda i: (0.0, 0.0))
    assert max_in_window(arrived, 0.2 - 0.005) <= 10
    assert sent[-1] - sent[0] >= 0.39


def test_latency_jitter_never_packs_a_server_window():
    # Cold start: the first requests take 150 ms to arrive, later ones 1 ms. A pacer counting only
    # send times would let the second wave land inside the first wave's server window.
    latency = lambda i: (0.15, 0.01) if i < 10 else (0.001, 0.001)  # noqa: E731
    _, arrived = spread(paced(((10, 0.2),)), 30, latency)
    assert max_in_window(arrived, 0.2 - 0.005) <= 10


def test_unreported_requests_are_released_after_max_hold():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = paced(((2, 0.05),), max_hold=0.1)
        start = loop.time()
        for _ in range(4):
            await pacer.acquire()  # never reports completion
        return loop.time() - start

    assert 0.1 <= asyncio.run(main()) < 1.0


def test_shared_pacer_is_per_loop_and_app():
    async def pair():
        return (
            shared_pacer("http://127.0.0.1:1/", "cli_a"),
            shared_pacer("http://127.0.0.1:1", "cli_a"),
            shared_pacer("http://127.0.0.1:1", "cli_b"),
        )

    a1, a2, b = asyncio.run(pair())
    assert a1 is a2
    assert a1 is not b
    c1, _, _ = asyncio.run(pair())
    assert c1 is not a1  # another loop gets its own pacer


@pytest.mark.parametrize("windows", [(), ((0, 1.0),), ((5, 0),)])
def test_bad_windows_rejected(windows):
    with pytest.raises(ValueError):
        SlidingWindowPacer(windows)
