"""A per-process pacer that keeps all triggers of one Feishu app under its rate limit.

Feishu allows each app 50 calls per second and 1000 per minute on the batch-message APIs
(feishu-api.md §3-§4). One triggerer process may run hundreds of deferred waits for the same app;
each alone is slow, but together they would burst past the limit and collect 429s. All of them
therefore share one :class:`SlidingWindowPacer` per (event loop, base URL, App ID), taken from
:func:`shared_pacer` and handed to :class:`~airflow_provider_feishu.hooks.feishu_async.AsyncFeishuClient`.

How it paces: a request counts in a window from the moment it is sent until its answer is in
(the server sees it somewhere in between, and latency jitter is real: new connections on a cold
start arrive hundreds of milliseconds late). Request *k* may go out only ``period`` seconds after
request *k - limit* has finished, so the server can never see ``limit + 1`` requests inside one
window, whatever the latency. Waiters queue on a FIFO lock (no starvation) and the one at the
head sleeps once until its slot (no polling); per acquire the work is O(number of windows).
A request whose caller never reports completion counts as finished ``max_hold`` seconds after it
was sent (so a pacer used with a bare ``await acquire()`` still works, only more cautiously).
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
#: Extra seconds added to every window (clock granularity between client and server).
DEFAULT_SLACK = 0.05
#: A request not reported finished is assumed finished this long after it was sent.
DEFAULT_MAX_HOLD = 30.0


class _Ticket:
    """One paced request: when it was sent and, once known, when its answer arrived."""

    __slots__ = ("finished", "finished_at", "sent_at")

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at
        self.finished_at: float | None = None
        self.finished = asyncio.Event()


class SlidingWindowPacer:
    """Makes callers wait so that no window of ``period`` seconds sees more than ``limit`` requests.

    :param windows: ``(limit, period_seconds)`` pairs; the defaults are Feishu's 50/s and 1000/min.
    :param slack: seconds added to each period.
    :param max_hold: seconds after which an unreported request counts as finished.
    :param clock: monotonic clock (replaceable in tests).
    """

    def __init__(
        self,
        windows: Sequence[tuple[int, float]] = ((FEISHU_PER_SECOND, 1.0), (FEISHU_PER_MINUTE, 60.0)),
        *,
        slack: float = DEFAULT_SLACK,
        max_hold: float = DEFAULT_MAX_HOLD,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not windows:
            raise ValueError("a pacer needs at least one (limit, period) window")
        for limit, period in windows:
            if limit < 1 or period <= 0:
                raise ValueError(f"each window needs limit >= 1 and period > 0, got ({limit}, {period})")
        if slack < 0 or max_hold <= 0:
            raise ValueError("slack must be >= 0 and max_hold > 0")
        self.windows = tuple((int(limit), float(period) + slack) for limit, period in windows)
        # The last `limit` requests of each window, oldest first.
        self._recent = tuple(deque[_Ticket](maxlen=limit) for limit, _ in self.windows)
        self._max_hold = max_hold
        self._clock = clock
        self._lock: asyncio.Lock | None = None
        self._reserved = tuple(deque[float](maxlen=limit) for limit, _ in self.windows)
        self.acquired = 0
        self.waited = 0

    def reserve(self) -> float:
        """Reserve the next free send time (monotonic seconds) on send times alone; never blocks.

        For callers that cannot await or report completion (sync webhook posts): each window
        holds at most ``limit`` reservations. Only the windows' ``slack`` absorbs latency jitter
        here, so use a larger slack with it; do not mix it with :meth:`acquire` on one instance.
        """
        slot = self._clock()
        for (limit, period), sent in zip(self.windows, self._reserved, strict=True):
            if len(sent) == limit:
                slot = max(slot, sent[0] + period)
        for sent in self._reserved:
            sent.append(slot)  # maxlen drops the oldest
        self.acquired += 1
        return slot

    async def _until(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            self.waited += 1
            await asyncio.sleep(delay)

    async def acquire(self) -> Callable[[], None]:
        """Wait until one more request fits every window; returns the callback to call when it is done."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # FIFO: waiters are served in arrival order
            for (limit, period), recent in zip(self.windows, self._recent, strict=True):
                if len(recent) < limit:
                    continue
                oldest = recent[0]
                if oldest.finished_at is None:
                    hold_until = oldest.sent_at + self._max_hold
                    try:
                        await asyncio.wait_for(oldest.finished.wait(), max(hold_until - self._clock(), 0.0))
                    except TimeoutError:
                        oldest.finished_at = hold_until
                assert oldest.finished_at is not None
                await self._until(oldest.finished_at + period)
            ticket = _Ticket(self._clock())
            for recent in self._recent:
                recent.append(ticket)  # maxlen drops the oldest
            self.acquired += 1

        def done() -> None:
            if ticket.finished_at is None:
                ticket.finished_at = self._clock()
                ticket.finished.set()

        return done


PacerKey = tuple[object, ...]

_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PacerKey, SlidingWindowPacer]] = (
    weakref.WeakKeyDictionary()
)
_registry_guard = threading.Lock()

DEFAULT_WINDOWS: tuple[tuple[int, float], ...] = ((FEISHU_PER_SECOND, 1.0), (FEISHU_PER_MINUTE, 60.0))


def shared_pacer(
    base_url: str, app_id: str, api: str = "", windows: Sequence[tuple[int, float]] = DEFAULT_WINDOWS
) -> SlidingWindowPacer:
    """The pacer every caller in this event loop shares for one app and API (created on first use).

    Feishu limits each API of an app separately, so read_user and get_progress each get their own
    pacer (``api=""`` shares one across all APIs). Keyed by loop because a pacer sleeps with the
    loop's timers; the triggerer runs all triggers on one loop, so they all share it. Must be
    called from a running loop.
    """
    loop = asyncio.get_running_loop()
    key = (base_url.rstrip("/"), app_id, api, tuple(windows))
    with _registry_guard:
        pacers = _registry.setdefault(loop, {})
        pacer = pacers.get(key)
        if pacer is None:
            pacer = pacers[key] = SlidingWindowPacer(windows)
        return pacer


class ReservationPacer:
    """Paces callers across threads (and event loops) of one process on send times alone.

    Each caller reserves the next free send time under a lock (O(1), never blocking) and then
    sleeps once until it: no polling, callers go in arrival order. Sync callers sleep with
    :func:`time.sleep`, async callers with :func:`asyncio.sleep`. Latency jitter is absorbed only by
    the windows' ``slack``; :class:`SlidingWindowPacer`'s :meth:`~SlidingWindowPacer.acquire` is
    the stricter choice where callers can report completion.
    """

    def __init__(self, windows: Sequence[tuple[int, float]], *, slack: float = DEFAULT_SLACK) -> None:
        self._window = SlidingWindowPacer(windows, slack=slack)
        self._lock = threading.Lock()

    def _delay(self) -> float:
        with self._lock:
            return self._window.reserve() - time.monotonic()

    def wait(self) -> float:
        """Block until one more request fits; returns the seconds waited."""
        delay = self._delay()
        if delay > 0:
            time.sleep(delay)
        return max(delay, 0.0)

    async def await_turn(self) -> float:
        """Like :meth:`wait`, without blocking the event loop."""
        delay = self._delay()
        if delay > 0:
            await asyncio.sleep(delay)
        return max(delay, 0.0)


_thread_pacers: dict[tuple[object, ...], ReservationPacer] = {}


def shared_thread_pacer(
    key: tuple[object, ...], windows: Sequence[tuple[int, float]], *, slack: float = DEFAULT_SLACK
) -> ReservationPacer:
    """The :class:`ReservationPacer` every hook of this process shares for ``key`` (created on first use).

    Sync hooks of one app in one worker process (threads of a long task, a poke loop) share it,
    so together they stay under Feishu's limit instead of collecting 429s. ``windows`` is part of
    the key: connections that configure different limits do not share a pacer.
    """
    full_key = (*key, tuple(windows), slack)
    with _registry_guard:
        pacer = _thread_pacers.get(full_key)
        if pacer is None:
            pacer = _thread_pacers[full_key] = ReservationPacer(windows, slack=slack)
        return pacer
