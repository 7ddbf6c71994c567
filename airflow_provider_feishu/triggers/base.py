"""What the read triggers share: the wait loop around one read check, written once.

:class:`ReadWaitTrigger` polls a check (say, the batch read check or the per-person one) until the
threshold is reached, a permanent error ends the wait, or its own absolute deadline passes (so it
ends even where the deferral timeout is not applied, such as ``dag.test()``). One async client
(httpx) serves the whole wait, paced by the per-app shared rate limiter. Transient errors double
the next sleep; a jitter keeps many triggers of one app from polling in lockstep. Subclasses say
what one check is and what their events look like.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import random
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_feishu.threshold import ReadThreshold, check_failure_reason, is_permanent_error

#: A request still running when the deadline passes gets at most this long to finish.
FIRST_CHECK_MIN_BUDGET = 10.0
#: Consecutive transient failures double the wait, up to 2**this times the poll interval.
MAX_ERROR_DOUBLINGS = 6


def finite_seconds(name: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as a finite number of seconds (``> 0`` with ``positive``), or a ValueError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r:.40}.") from None
    if isinstance(value, bool) or not math.isfinite(number) or (positive and not number > 0):
        need = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{name} must be {need} of seconds, got {value!r:.40}.")
    return number


def utc_iso(epoch: float | None = None) -> str:
    """An aware UTC ISO-8601 timestamp (now, or of ``epoch``)."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat()


async def async_client_class() -> Any:
    """AsyncFeishuClient, imported in a worker thread the first time: the import (httpx, tenacity,
    the protocol modules) would otherwise block the triggerer's loop for every trigger of it."""
    global _client_class
    if _client_class is None:
        # One import for all the triggers that start together (import_module, unlike a look in
        # sys.modules, waits for a module another thread is still importing).
        loop = asyncio.get_running_loop()
        importing = _importing.get(loop)
        if importing is None:
            importing = _importing[loop] = asyncio.ensure_future(
                asyncio.to_thread(importlib.import_module, CLIENT_MODULE)
            )
        module = await asyncio.shield(importing)
        _client_class = module.AsyncFeishuClient
    return _client_class


CLIENT_MODULE = "airflow_provider_feishu.hooks.feishu_async"
_client_class: Any = None
_importing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[Any]] = weakref.WeakKeyDictionary()


class Snapshot(Protocol):
    """What one read check returns (a :class:`ReadVerdict` or a :class:`ReadReport`)."""

    @property
    def reached(self) -> bool: ...

    def describe(self) -> str: ...


S = TypeVar("S", bound=Snapshot)


class ReadWaitTrigger(BaseTrigger, Generic[S]):
    """Polls :meth:`_check` until reached, the deadline, or a permanent error; yields one event.

    Subclasses give the check and the event shape (:meth:`_check`, :meth:`event`,
    :meth:`cannot_wait_message`, :attr:`subject`) and serialize their own arguments with
    :meth:`wait_kwargs` (the arguments below, in this order).

    :param threshold: fraction that must have read, ``0 < threshold <= 1``.
    :param deadline: absolute end of the wait, as UNIX seconds (UTC).
    :param min_read_count: also require at least this many reads.
    :param poll_interval: seconds between polls.
    :param exponential_backoff: double the interval after each unsuccessful poll.
    :param max_poll_interval: cap on the interval (default ``max(poll_interval, 600)``).
    :param feishu_conn_id: the ``feishu`` connection (only its id is serialized, never a secret).
    """

    def __init__(
        self,
        *,
        threshold: float,
        deadline: float,
        min_read_count: int | None = None,
        poll_interval: float = 60.0,
        exponential_backoff: bool = False,
        max_poll_interval: float | None = None,
        feishu_conn_id: str = "feishu_default",
    ) -> None:
        super().__init__()
        self.rule = ReadThreshold.parse(threshold, min_read_count)
        # A NaN deadline compares false with everything: the wait would never end.
        self.deadline = finite_seconds("deadline", deadline)
        self.poll_interval = finite_seconds("poll_interval", poll_interval, positive=True)
        self.exponential_backoff = bool(exponential_backoff)
        self.max_poll_interval = (
            finite_seconds("max_poll_interval", max_poll_interval, positive=True)
            if max_poll_interval
            else max(self.poll_interval, 600.0)
        )
        self.feishu_conn_id = feishu_conn_id

    def wait_kwargs(self) -> dict[str, Any]:
        """The serialized form of the arguments above (plain JSON values, no secret)."""
        return {
            "threshold": self.rule.threshold,
            "min_read_count": self.rule.min_read_count,
            "deadline": self.deadline,
            "poll_interval": self.poll_interval,
            "exponential_backoff": self.exponential_backoff,
            "max_poll_interval": self.max_poll_interval,
            "feishu_conn_id": self.feishu_conn_id,
        }

    # --- what a subclass says ---------------------------------------------------------------

    @property
    def subject(self) -> str:
        """What the wait is on, for log lines."""
        raise NotImplementedError

    @property
    def deadline_subject(self) -> str:
        """What the wait is on, for the deadline message ("... passed before <this> reached the threshold")."""
        return self.subject

    async def _check(self, client: Any) -> S:
        """One snapshot with ``client`` (an ``AsyncFeishuClient``)."""
        raise NotImplementedError

    def event(self, status: str, snapshot: S | None, message: str, *, reached_at: str | None = None) -> dict[str, Any]:
        """The event payload for ``status`` with the last snapshot (None before the first good check)."""
        raise NotImplementedError

    def cannot_wait_message(self, err: BaseException) -> str:
        """The message of an ``error`` event: what was checked, what happened and what to fix."""
        raise NotImplementedError

    def describe(self, snapshot: S) -> str:
        """The log line of a good check."""
        return snapshot.describe()

    async def show_progress(self, client: Any, snapshot: S) -> None:
        """Called after each good check that has not reached the threshold (nothing by default)."""

    # --- the wait ---------------------------------------------------------------------------

    def next_interval(self, polls: int, error_streak: int) -> float:
        """Seconds to sleep after poll number ``polls`` (1-based) with ``error_streak`` failures in a row.

        Exponential backoff doubles per poll; transient errors double per failure (capped); a jitter
        of up to +10% keeps many triggers of one app from polling in lockstep.
        """
        interval = self.poll_interval
        if self.exponential_backoff:
            interval *= 2 ** min(polls - 1, 30)
        if error_streak:
            interval *= 2 ** min(error_streak, MAX_ERROR_DOUBLINGS)
        interval = min(interval, max(self.max_poll_interval, self.poll_interval))
        return interval * (1 + 0.1 * random.random())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self.wait())

    async def wait(self) -> dict[str, Any]:
        """Poll until reached, deadline or a permanent error; return the event payload."""
        from airflow_provider_feishu.api.errors import FeishuError

        AsyncFeishuClient = await async_client_class()
        try:
            # Every trigger of this app in the triggerer shares one pacer per API.
            client = await AsyncFeishuClient.from_conn_id(self.feishu_conn_id, logger=self.log, share_rate_limit=True)
        except Exception as err:  # a missing or invalid connection: no wait can fix it
            return self.event("error", None, self.cannot_wait_message(err))
        snapshot: S | None = None
        last_error: str | None = None  # the cause of the latest check, if it failed
        polls = 0
        error_streak = 0
        try:
            while True:
                polls += 1
                remaining = self.deadline - time.time()
                budget = remaining if polls > 1 else max(remaining, FIRST_CHECK_MIN_BUDGET)
                try:
                    async with asyncio.timeout(max(budget, 0.0)):
                        snapshot = await self._check(client)
                    error_streak = 0
                    last_error = None
                except TimeoutError:
                    break  # the deadline passed while a request (or its retries) was in flight
                except FeishuError as err:
                    if is_permanent_error(err):
                        return self.event("error", snapshot, self.cannot_wait_message(err))
                    error_streak += 1
                    last_error = check_failure_reason(err, client.config.base_url)
                    self.log.warning("Feishu read check of %s failed, will retry: %s", self.subject, last_error)
                else:
                    self.log.info("%s", self.describe(snapshot))
                    if snapshot.reached:
                        return self.event("reached", snapshot, snapshot.describe(), reached_at=utc_iso())
                    await self.show_progress(client, snapshot)
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(self.next_interval(polls, error_streak), remaining))
        finally:
            await client.aclose()
        last = snapshot.describe() if snapshot else "no successful read check"
        if last_error is not None:
            last += f"; last error: {last_error}"
        message = (
            f"Deadline {utc_iso(self.deadline)} passed before {self.deadline_subject} reached the threshold; {last}"
        )
        return self.event("deadline", snapshot, message)
