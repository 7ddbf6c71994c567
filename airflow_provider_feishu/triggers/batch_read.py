"""FeishuReadThresholdTrigger: waits in the triggerer until enough recipients read a batch message.

One async client (httpx) for the whole wait, paced by the per-app shared rate limiter so a
thousand deferred waits of one app stay under Feishu's 50/s and 1000/min. The trigger carries its
own absolute deadline, so it ends even where the deferral timeout is not applied (``dag.test()``).
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
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_feishu.status_card import CardPacer, card_from_spec
from airflow_provider_feishu.threshold import (
    ReadThreshold,
    ReadVerdict,
    check_failure_reason,
    is_permanent_error,
    permanent_error_message,
)

if TYPE_CHECKING:
    from airflow_provider_feishu.api.batch_check import BatchReadTracker

#: A request still running when the deadline passes gets at most this long to finish.
FIRST_CHECK_MIN_BUDGET = 10.0
#: Consecutive transient failures double the wait, up to 2**this times the poll interval.
MAX_ERROR_DOUBLINGS = 6
#: Seconds a status card update may take (with its retries) before the wait moves on without it.
STATUS_CARD_UPDATE_BUDGET = 10.0


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


def event_payload(
    status: str,
    batch_message_id: str,
    verdict: ReadVerdict | None,
    message: str,
    *,
    reached_at: str | None = None,
) -> dict[str, Any]:
    """The one event shape: status, the last known counts, and a readable message."""
    payload: dict[str, Any] = {
        "status": status,
        "batch_message_id": batch_message_id,
        "read_count": verdict.read_count if verdict else None,
        "total_count": verdict.total_count if verdict else None,
        "delivered_count": verdict.delivered_count if verdict else None,
        "ratio": verdict.ratio if verdict else None,
        "message": message,
    }
    if reached_at is not None:
        payload["reached_at"] = reached_at
    return payload


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


class FeishuReadThresholdTrigger(BaseTrigger):
    """Polls read_user (and get_progress until the batch is scheduled) until the threshold is met.

    Yields exactly one event ``{"status": "reached" | "deadline" | "error", "read_count",
    "total_count", "delivered_count", "ratio", "reached_at"?, "message", "batch_message_id"}``.
    Permanent errors (unknown id, another app's message, missing scope, bad credentials) end the
    wait at once with ``status="error"``; transient errors are retried by the client and then
    backed off here until the deadline.

    :param batch_message_id: the ``bm-...`` id returned by batch_send.
    :param threshold: fraction of recipients that must have read it, ``0 < threshold <= 1``.
    :param deadline: absolute end of the wait, as UNIX seconds (UTC).
    :param min_read_count: also require at least this many reads.
    :param poll_interval: seconds between polls.
    :param exponential_backoff: double the interval after each unsuccessful poll.
    :param max_poll_interval: cap on the interval (default ``max(poll_interval, 600)``).
    :param feishu_conn_id: the ``feishu`` connection (only its id is serialized, never a secret).
    :param status_card: a live status card to keep up to date while waiting (the spec
        ``FeishuWaitForReadsOperator`` passes: message id, title, target, deadline, time zone, last
        counts); updated when the counts change, and a failed update is only a warning.
    """

    def __init__(
        self,
        *,
        batch_message_id: str,
        threshold: float,
        deadline: float,
        min_read_count: int | None = None,
        poll_interval: float = 60.0,
        exponential_backoff: bool = False,
        max_poll_interval: float | None = None,
        feishu_conn_id: str = "feishu_default",
        status_card: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.rule = ReadThreshold.parse(threshold, min_read_count)
        self.batch_message_id = batch_message_id
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
        self._tracker: BatchReadTracker | None = None
        self.status_card = status_card
        shown = (status_card or {}).get("counts")
        self._card_pacer = CardPacer(counts=(int(shown[0]), int(shown[1])) if shown else None)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_message_id": self.batch_message_id,
                "threshold": self.rule.threshold,
                "min_read_count": self.rule.min_read_count,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "exponential_backoff": self.exponential_backoff,
                "max_poll_interval": self.max_poll_interval,
                "feishu_conn_id": self.feishu_conn_id,
                **({"status_card": self.status_card} if self.status_card else {}),
            },
        )

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

    async def _check(self, client: Any) -> ReadVerdict:
        """One snapshot: drives :class:`BatchReadTracker` (get_progress until scheduled, then read_user)."""
        if self._tracker is None:
            # Imported here, not with this module: async_client_class has loaded the protocol package
            # in a worker thread by now, so this import does not block the triggerer's loop.
            from airflow_provider_feishu.api.batch_check import BatchReadTracker

            self._tracker = BatchReadTracker(self.batch_message_id, self.rule)
        return await client.run_steps(self._tracker.check())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        payload = await self.wait()
        if self.status_card:
            # Back to the worker, which finishes the card (dag.test() drops the defer kwargs).
            payload["status_card"] = self.status_card
        yield TriggerEvent(payload)

    async def wait(self) -> dict[str, Any]:
        """Poll until reached, deadline or a permanent error; return the event payload."""
        from airflow_provider_feishu.api.errors import FeishuError

        AsyncFeishuClient = await async_client_class()
        bid = self.batch_message_id
        try:
            # Every trigger of this app in the triggerer shares one pacer per API.
            client = await AsyncFeishuClient.from_conn_id(self.feishu_conn_id, logger=self.log, share_rate_limit=True)
        except Exception as err:  # a missing or invalid connection: no wait can fix it
            return event_payload("error", bid, None, permanent_error_message(bid, err))
        verdict: ReadVerdict | None = None
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
                        verdict = await self._check(client)
                    error_streak = 0
                    last_error = None
                except TimeoutError:
                    break  # the deadline passed while a request (or its retries) was in flight
                except FeishuError as err:
                    if is_permanent_error(err):
                        return event_payload("error", bid, verdict, permanent_error_message(bid, err))
                    error_streak += 1
                    last_error = check_failure_reason(err, client.config.base_url)
                    self.log.warning("Feishu read check of %s failed, will retry: %s", bid, last_error)
                else:
                    self.log.info("%s: %s", bid, verdict.describe())
                    if verdict.reached:
                        return event_payload("reached", bid, verdict, verdict.describe(), reached_at=utc_iso())
                    await self._show_progress(client, verdict)
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(self.next_interval(polls, error_streak), remaining))
        finally:
            await client.aclose()
        last = verdict.describe() if verdict else "no successful read check"
        if last_error is not None:
            last += f"; last error: {last_error}"
        message = f"Deadline {utc_iso(self.deadline)} passed before batch message {bid} reached the threshold; {last}"
        return event_payload("deadline", bid, verdict, message)

    async def _show_progress(self, client: Any, verdict: ReadVerdict) -> None:
        """Update the live status card, if there is one and the counts changed; never fails the wait."""
        if not self.status_card or not self.status_card.get("message_id"):
            return
        counts = (verdict.read_count, verdict.total_count)
        if not self._card_pacer.due(counts, time.monotonic()):
            return
        try:
            # Bounded by the wait's own deadline too: the card never delays the outcome.
            async with asyncio.timeout(min(STATUS_CARD_UPDATE_BUDGET, max(self.deadline - time.time(), 0.5))):
                await client.update_card(
                    self.status_card["message_id"], card_from_spec(self.status_card, "waiting", counts)
                )
        except Exception as err:
            self.log.warning("Could not update the status card (the wait goes on): %s", err)
            return
        self._card_pacer.shown(counts, time.monotonic())
