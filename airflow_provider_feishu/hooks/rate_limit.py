"""Pacing: each process keeps its calls of one Feishu app within its share of the app's quota.

Feishu limits each app per API (50 calls per second and 1000 per minute on the batch-message APIs;
Feishu docs: rate limits), across every process that calls it. One triggerer may run hundreds of
deferred waits of one app, and several triggerers and workers may run at once. So every caller of
one app and API in a process shares one pacer (:func:`shared_pacer` per event loop for triggers,
:func:`shared_thread_pacer` per process for sync hooks), and each pacer learns its process's share
from Feishu's answers (:class:`AimdLimits`, additive increase and multiplicative decrease, like TCP).

How it paces: a request counts in a window from the moment it is sent until its answer is in
(the server sees it somewhere in between, and latency jitter is real: new connections on a cold
start arrive hundreds of milliseconds late). Request *k* may go out only ``period`` seconds after
request *k - limit* was answered, so the server never sees more than ``limit`` of this process's
requests inside one window, whatever the latency; requests also go at least ``period / limit``
apart (no bursts). Waiters take turns (FIFO) and the one at the head sleeps until its slot or until
the answer that decides it. A request whose caller never reports its answer counts as answered
``max_hold`` seconds after it was sent.

:class:`ReservationPacer` (send times alone, for callers that cannot report answers) paces the
webhook bot.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from airflow_provider_feishu.api.envelope import lower_headers, retry_after_of

#: Feishu's documented limits for read_user / get_progress / batch_send, per app.
FEISHU_PER_SECOND = 50
FEISHU_PER_MINUTE = 1000
#: Extra seconds added to every window (clock granularity between client and server).
DEFAULT_SLACK = 0.05
#: A request not reported finished is assumed finished this long after it was sent.
DEFAULT_MAX_HOLD = 30.0


def check_windows(windows: Sequence[tuple[int, float]]) -> None:
    """Refuse an empty list of windows or a window without a positive limit and period."""
    if not windows:
        raise ValueError("a pacer needs at least one (limit, period) window")
    for limit, period in windows:
        if limit < 1 or period <= 0:
            raise ValueError(f"each window needs limit >= 1 and period > 0, got ({limit}, {period})")


class SlidingWindowPacer:
    """Reserves send times so that no window of ``period`` seconds holds more than ``limit`` of them.

    :param windows: ``(limit, period_seconds)`` pairs; the defaults are Feishu's 50/s and 1000/min.
    :param slack: seconds added to each period.
    :param clock: monotonic clock (replaceable in tests).
    """

    def __init__(
        self,
        windows: Sequence[tuple[int, float]] = ((FEISHU_PER_SECOND, 1.0), (FEISHU_PER_MINUTE, 60.0)),
        *,
        slack: float = DEFAULT_SLACK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_windows(windows)
        if slack < 0:
            raise ValueError("slack must be >= 0")
        self.windows = tuple((int(limit), float(period) + slack) for limit, period in windows)
        self._clock = clock
        self._reserved = tuple(deque[float](maxlen=limit) for limit, _ in self.windows)
        self.acquired = 0

    def reserve(self) -> float:
        """Reserve the next free send time (monotonic seconds) on send times alone; never blocks.

        For callers that cannot await or report completion (sync webhook posts): each window
        holds at most ``limit`` reservations. Only the windows' ``slack`` absorbs latency jitter
        here, so use a larger slack with it.
        """
        slot = self._clock()
        for (limit, period), sent in zip(self.windows, self._reserved, strict=True):
            if len(sent) == limit:
                slot = max(slot, sent[0] + period)
        for sent in self._reserved:
            sent.append(slot)  # maxlen drops the oldest
        self.acquired += 1
        return slot


PacerKey = tuple[object, ...]

_registry_guard = threading.Lock()

DEFAULT_WINDOWS: tuple[tuple[int, float], ...] = ((FEISHU_PER_SECOND, 1.0), (FEISHU_PER_MINUTE, 60.0))


class ReservationPacer:
    """Paces callers across threads (and event loops) of one process on send times alone.

    Each caller reserves the next free send time under a lock (O(1), never blocking) and then
    sleeps once until it: no polling, callers go in arrival order. Sync callers sleep with
    :func:`time.sleep`, async callers with :func:`asyncio.sleep`. Latency jitter is absorbed only by
    the windows' ``slack``; :class:`AsyncAimdPacer` and :class:`ThreadAimdPacer` are the stricter
    choice where callers can report answers.
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


# --- adaptive pacing: each process learns its share of the app's quota ----------------------------

#: On a 429 a window's limit drops to this fraction of what this process actually sent in it
#: (0.9, not TCP's 0.5: every process of the app sees the 429s of a full window at once).
AIMD_DECREASE = 0.9
#: While answers are clean, each window's limit grows by this fraction of its ceiling per window
#: period's worth of answers (TCP's "one segment per round trip").
AIMD_INCREASE = 0.03
#: A limit never drops below this fraction of its ceiling (nor below one request per window).
AIMD_FLOOR = 0.01
#: How much of one even-pace gap a request may go early after a late one (a tolerance, not a burst).
EVEN_TOLERANCE = 0.5


class Ticket:
    """One paced request: when it was sent and, once its answer is in, when that was."""

    __slots__ = ("finished_at", "sent_at")

    def __init__(self, sent_at: float) -> None:
        self.sent_at = sent_at
        self.finished_at: float | None = None


class _Window:
    """One (limit, period) window of an :class:`AimdLimits`: its ceiling, current limit and log."""

    __slots__ = ("ceiling", "limit", "log", "period")

    def __init__(self, ceiling: int, period: float, limit: float) -> None:
        self.ceiling = ceiling
        self.period = period
        self.limit = limit
        self.log: deque[Ticket] = deque(maxlen=ceiling)  # the last `ceiling` requests, oldest first

    @property
    def allowed(self) -> int:
        return max(1, int(self.limit))


class AimdLimits:
    """Pure core of the adaptive pacer: when the next request may go, and what answers teach it.

    Feishu limits an app per API across all its processes, and no process knows how many others
    there are. So each learns its share from Feishu's answers, like TCP: a 429 (or a 400 that
    carries ``x-ogw-ratelimit-reset``, as older APIs answer; Feishu docs: rate limiting) cuts the
    window it names (``x-ogw-ratelimit-limit``, else the one ``x-ogw-ratelimit-reset`` fits) to
    ``decrease`` times what this process sent in that window, once per congestion episode, and
    pauses every request until the reset; while answers are clean each window grows back by
    ``increase`` of its ceiling per period's worth of answers, up to the configured limit.

    A request may go out when (1) no pause is on, (2) it keeps an even pace of ``period / limit``
    per request for every window (bursts of one process would add up across processes; a late
    request lets the next catch up by half a gap), and (3) the ``limit``-th most recent request of
    every window answered at least ``period`` ago (the server sees a request somewhere between
    sending and answer).

    With ``static_share`` the limits stay at that fraction of the ceilings (a pinned share) and
    only the pause after a 429 applies. No I/O and no locks: the sync and async pacers wrap it.
    """

    def __init__(
        self,
        windows: Sequence[tuple[int, float]],
        *,
        static_share: float | None = None,
        slack: float = DEFAULT_SLACK,
        decrease: float = AIMD_DECREASE,
        increase: float = AIMD_INCREASE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_windows(windows)
        if static_share is not None and not 0 < static_share <= 1:
            raise ValueError(f"static_share must be in (0, 1], got {static_share!r}")
        share = 1.0 if static_share is None else static_share
        self.windows = [_Window(int(limit), float(period) + slack, int(limit) * share) for limit, period in windows]
        self.adaptive = static_share is None
        self.decrease = decrease
        self.increase = increase
        self.clock = clock
        self.paused_until = 0.0
        self._even_at = -math.inf  # when the next request is due at an even pace
        self._episode_start = -math.inf  # requests sent before this do not cut again
        self.rate_limited = 0  # 429 answers seen

    # --- when to send ---------------------------------------------------------------------------

    def next_slot(self) -> tuple[float, Ticket | None]:
        """The earliest moment the next request may go out, or the unanswered request that decides it."""
        # A request that went late (a busy loop, a slow thread wake-up) lets the next one catch up
        # by up to half a gap, so lateness does not add up; the long-run pace stays even.
        slot = max(self.clock(), self.paused_until, self._even_at - EVEN_TOLERANCE * self._gap())
        for window in self.windows:
            allowed = window.allowed
            if len(window.log) >= allowed:
                decider = window.log[-allowed]
                if decider.finished_at is None:
                    return slot, decider
                slot = max(slot, decider.finished_at + window.period)
        return slot, None

    def send(self) -> Ticket:
        """Record a request going out now (after :meth:`next_slot` said it may)."""
        ticket = Ticket(self.clock())
        self._even_at = max(self._even_at, ticket.sent_at) + self._gap()
        for window in self.windows:
            window.log.append(ticket)  # maxlen drops the oldest
        return ticket

    def _gap(self) -> float:
        return max(window.period / window.limit for window in self.windows)

    # --- what the answers say -------------------------------------------------------------------

    def answered(self, ticket: Ticket, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Learn from one answer (``status=None``: no answer, e.g. a dropped connection)."""
        if ticket.finished_at is None:
            ticket.finished_at = self.clock()
        if status is None:
            return
        lowered = lower_headers(headers) if headers else {}
        reset = retry_after_of(lowered)
        if status == 429 or (status == 400 and reset is not None):
            self._rate_limited(ticket, reset, _header_number(lowered.get("x-ogw-ratelimit-limit")))
        elif 200 <= status < 300 and self.adaptive:
            for window in self.windows:
                window.limit = min(float(window.ceiling), window.limit + self.increase * window.ceiling / window.limit)

    def _rate_limited(self, ticket: Ticket, reset: float | None, limit: float | None) -> None:
        self.rate_limited += 1
        now = self.clock()
        self.paused_until = max(self.paused_until, now + (reset if reset is not None else 1.0))
        if not self.adaptive or ticket.sent_at < self._episode_start:
            return  # pinned share, or sent at the old pace before the last cut
        self._episode_start = now
        for window in self._windows_named(reset, limit):
            sent = sum(1 for t in window.log if t.sent_at >= now - window.period)
            # Like TCP's "flight size": cut what was used, not what was allowed.
            floor = max(1.0, AIMD_FLOOR * window.ceiling)
            window.limit = max(floor, self.decrease * min(window.limit, float(sent)))

    def _windows_named(self, reset: float | None, limit: float | None) -> list[_Window]:
        """The window a 429 is about: by its limit if it names one of ours, else the one its reset fits."""
        if limit is not None:
            named = [w for w in self.windows if w.ceiling == limit]
            if named:
                return named
        if reset is not None:
            fits = [w for w in self.windows if w.period >= reset]
            if fits:
                return [min(fits, key=lambda w: w.period)]
        return list(self.windows)

    @property
    def limits(self) -> tuple[float, ...]:
        """The current limit of each window (for logs, tests and the benchmark)."""
        return tuple(w.limit for w in self.windows)


def _header_number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


#: What a transport calls once a paced request is over: the HTTP status and headers, or None if
#: no answer arrived.
Done = Callable[[int | None, Mapping[str, str] | None], None]


class AsyncAimdPacer:
    """:class:`AimdLimits` for the callers of one event loop (the triggerer's triggers).

    Waiters queue on a FIFO lock and the one at the head sleeps once until its slot (or until the
    request that decides its slot answers); an unreported request counts as answered ``max_hold``
    seconds after it was sent.
    """

    def __init__(self, core: AimdLimits, *, max_hold: float = DEFAULT_MAX_HOLD) -> None:
        self.core = core
        self._max_hold = max_hold
        self._lock: asyncio.Lock | None = None
        self._answered: dict[Ticket, asyncio.Event] = {}

    async def acquire(self) -> Done:
        """Wait until one more request may go; returns the callback to call with its answer."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        core = self.core
        async with self._lock:  # FIFO: waiters are served in arrival order
            while True:
                slot, decider = core.next_slot()
                if decider is not None:
                    event = self._answered.get(decider)
                    hold = decider.sent_at + self._max_hold - core.clock()
                    if event is None or hold <= 0:
                        core.answered(decider, None, None)
                        continue
                    try:
                        await asyncio.wait_for(event.wait(), hold)
                    except TimeoutError:
                        core.answered(decider, None, None)
                    continue
                delay = slot - core.clock()
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            ticket = core.send()
            event = self._answered[ticket] = asyncio.Event()

        def done(status: int | None = None, headers: Mapping[str, str] | None = None) -> None:
            if self._answered.pop(ticket, None) is not None:
                core.answered(ticket, status, headers)
                event.set()

        return done


class ThreadAimdPacer:
    """:class:`AimdLimits` for the threads of one process (sync hooks of one app in a worker).

    Threads take turns under a lock; the one holding it sleeps once until its slot, or waits for
    the answer of the request that decides it (at most ``max_hold`` after that request was sent).
    """

    def __init__(self, core: AimdLimits, *, max_hold: float = DEFAULT_MAX_HOLD) -> None:
        self.core = core
        self._max_hold = max_hold
        self._turn = threading.Lock()
        self._state = threading.Lock()  # guards the core between a turn and the answers
        self._answered: dict[Ticket, threading.Event] = {}

    def acquire(self) -> Done:
        """Block until one more request may go; returns the callback to call with its answer."""
        core = self.core
        with self._turn:
            while True:
                with self._state:
                    slot, decider = core.next_slot()
                    event = self._answered.get(decider) if decider is not None else None
                    hold = decider.sent_at + self._max_hold - core.clock() if decider is not None else 0.0
                    if decider is not None and (event is None or hold <= 0):
                        core.answered(decider, None, None)
                        continue
                if decider is not None:
                    assert event is not None
                    if not event.wait(hold):
                        with self._state:
                            core.answered(decider, None, None)
                    continue
                delay = slot - core.clock()
                if delay <= 0:
                    break
                time.sleep(delay)
            with self._state:
                ticket = core.send()
                answered = self._answered[ticket] = threading.Event()

        def done(status: int | None = None, headers: Mapping[str, str] | None = None) -> None:
            with self._state:
                if self._answered.pop(ticket, None) is None:
                    return
                core.answered(ticket, status, headers)
            answered.set()

        return done


def _aimd_core(windows: Sequence[tuple[int, float]], static_share: float | None) -> AimdLimits:
    return AimdLimits(windows, static_share=static_share)


_async_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PacerKey, AsyncAimdPacer]] = (
    weakref.WeakKeyDictionary()
)
_thread_aimd_pacers: dict[PacerKey, ThreadAimdPacer] = {}


def shared_pacer(
    base_url: str,
    app_id: str,
    api: str = "",
    windows: Sequence[tuple[int, float]] = DEFAULT_WINDOWS,
    static_share: float | None = None,
) -> AsyncAimdPacer:
    """The adaptive pacer every caller in this event loop shares for one app and API.

    Feishu limits each API of an app separately, so read_user and get_progress each get their own
    pacer (``api=""`` shares one across all APIs). Keyed by loop because a pacer sleeps with the
    loop's timers; the triggerer runs all triggers on one loop, so they all share it. Must be
    called from a running loop.
    """
    loop = asyncio.get_running_loop()
    key = (base_url.rstrip("/"), app_id, api, tuple(windows), static_share)
    with _registry_guard:
        pacers = _async_pacers.setdefault(loop, {})
        pacer = pacers.get(key)
        if pacer is None:
            pacer = pacers[key] = AsyncAimdPacer(_aimd_core(windows, static_share))
        return pacer


def shared_thread_pacer(
    base_url: str,
    app_id: str,
    api: str,
    windows: Sequence[tuple[int, float]],
    static_share: float | None = None,
) -> ThreadAimdPacer:
    """The adaptive pacer every sync hook of this process shares for one app and API.

    Threads of a long task and a poke loop of one app share it, so together they stay within the
    share of the app's quota this process has learnt.
    """
    key = (base_url.rstrip("/"), app_id, api, tuple(windows), static_share)
    with _registry_guard:
        pacer = _thread_aimd_pacers.get(key)
        if pacer is None:
            pacer = _thread_aimd_pacers[key] = ThreadAimdPacer(_aimd_core(windows, static_share))
        return pacer
