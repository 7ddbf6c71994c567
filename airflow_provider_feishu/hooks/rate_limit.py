"""A per-process pacer that keeps all triggers of one Feishu app under its rate limit.

Feishu allows each app 50 calls per second and 1000 per minute on the batch-message APIs
(feishu-api.md §3-§4). One triggerer process may run hundreds of deferred waits for the same app;
each alone is slow, but together they would burst past the limit and collect 429s. All of them
therefore share one :class:`SlidingWindowPacer` per (event loop, base URL, App ID), taken from
:func:`shared_pacer` and handed to :class:`~airflow_provider_feishu.hooks.feishu_async.AsyncFeishuClient`.

How it paces: each ``acquire()`` reserves the earliest send time at which no sliding window
(1 s, 60 s) would hold more than its limit, records it, and sleeps until then. Reservation is
synchronous and O(1) (one deque per window), so waiters are served strictly in arrival order (no
starvation) and nobody polls: each waiter sleeps exactly once. A cancelled waiter keeps its slot,
which only makes the pacer more conservative. Each window is widened by ``slack`` seconds because
the server counts arrivals, not departures, and latency jitter can move a request into the next
window.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence

#: Feishu's documented limits for read_user / get_progress / batch_send, per app.
FEISHU_PER_SECOND = 50
FEISHU_PER_MINUTE = 1000
#: Extra seconds added to every window to absorb latency jitter between client and server.
DEFAULT_SLACK = 0.25


class SlidingWindowPacer:
    """Makes callers wait so that no window of ``period`` seconds sees more than ``limit`` acquires.

    :param windows: ``(limit, period_seconds)`` pairs; the defaults are Feishu's 50/s and 1000/min.
    :param slack: seconds added to each period (safety margin for network jitter).
    :param clock: monotonic clock; ``sleep``: the coroutine used to wait (both replaceable in tests).
    """

    def __init__(
        self,
        windows: Sequence[tuple[int, float]] = ((FEISHU_PER_SECOND, 1.0), (FEISHU_PER_MINUTE, 60.0)),
        *,
        slack: float = DEFAULT_SLACK,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if not windows:
            raise ValueError("a pacer needs at least one (limit, period) window")
        for limit, period in windows:
            if limit < 1 or period <= 0:
                raise ValueError(f"each window needs limit >= 1 and period > 0, got ({limit}, {period})")
        if slack < 0:
            raise ValueError("slack must be >= 0")
        self.windows = tuple((int(limit), float(period) + slack) for limit, period in windows)
        # The last `limit` reserved send times of each window, oldest first.
        self._reserved = tuple(deque[float](maxlen=limit) for limit, _ in self.windows)
        self._clock = clock
        self._sleep = sleep
        self.acquired = 0
        self.waited = 0

    def reserve(self) -> float:
        """Reserve the next free send time (monotonic seconds) and return it; never blocks."""
        now = self._clock()
        slot = now
        for (limit, period), sent in zip(self.windows, self._reserved, strict=True):
            if len(sent) == limit:
                slot = max(slot, sent[0] + period)
        for sent in self._reserved:
            sent.append(slot)  # maxlen drops the oldest
        self.acquired += 1
        return slot

    async def acquire(self) -> None:
        """Wait until one more request fits every window (returns at once when there is room)."""
        delay = self.reserve() - self._clock()
        if delay > 0:
            self.waited += 1
            await self._sleep(delay)  # type: ignore[misc]


PacerKey = tuple[str, str]

_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PacerKey, SlidingWindowPacer]] = (
    weakref.WeakKeyDictionary()
)
_registry_guard = threading.Lock()


def shared_pacer(base_url: str, app_id: str) -> SlidingWindowPacer:
    """The pacer every caller in this event loop shares for one app (created on first use).

    Keyed by loop because a pacer sleeps with the loop's timers; the triggerer runs all triggers
    on one loop, so they all share one pacer per app. Must be called from a running loop.
    """
    loop = asyncio.get_running_loop()
    key = (base_url.rstrip("/"), app_id)
    with _registry_guard:
        pacers = _registry.setdefault(loop, {})
        pacer = pacers.get(key)
        if pacer is None:
            pacer = pacers[key] = SlidingWindowPacer()
        return pacer
