"""FeishuMessageReadTrigger: the deferrable half of FeishuMessageReadSensor.

It drives the same sans-IO :class:`~airflow_provider_feishu.api.read_check.ReadTracker` as the
sensor, with one :class:`AsyncFeishuClient` for the whole wait, paced by the per-app shared rate
limiter. Polling, backoff and the absolute deadline work as in the batch trigger it extends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_feishu.threshold import ReadThreshold, check_failure_reason, is_permanent_error
from airflow_provider_feishu.triggers.batch_read import (
    FIRST_CHECK_MIN_BUDGET,
    FeishuReadThresholdTrigger,
    finite_seconds,
    utc_iso,
)

if TYPE_CHECKING:
    from airflow_provider_feishu.api.read_report import ReadReport


def event_payload(status: str, report: ReadReport | None, message: str, *, reached_at: str | None = None) -> dict:
    """The one event shape: status, the last report (None before the first good check), a message."""
    payload: dict[str, Any] = {"status": status, "report": report.to_dict() if report else None, "message": message}
    if reached_at is not None:
        payload["reached_at"] = reached_at
    return payload


class FeishuMessageReadTrigger(FeishuReadThresholdTrigger):
    """Polls who has read an im/v1 message (or one message per person) until the threshold is met.

    Yields one event ``{"status": "reached" | "deadline" | "error", "report", "message",
    "reached_at"?}``; ``report`` is :meth:`ReadReport.to_dict`. Reuses the batch trigger's poll
    interval rule (:meth:`next_interval`); everything else is its own.

    :param target: :meth:`ReadTarget.to_dict` (message and chat, or message_ids; acknowledge).
    :param threshold: fraction of the audience that must have read, ``0 < threshold <= 1``.
    :param deadline: absolute end of the wait, as UNIX seconds (UTC).
    :param known_read: / ``known_acknowledged``: people the sensor already saw read (acknowledge),
        so per-person checks do not ask about them again.
    """

    def __init__(
        self,
        *,
        target: Mapping[str, Any],
        threshold: float,
        deadline: float,
        min_read_count: int | None = None,
        poll_interval: float = 60.0,
        exponential_backoff: bool = False,
        max_poll_interval: float | None = None,
        feishu_conn_id: str = "feishu_default",
        known_read: list[str] | None = None,
        known_acknowledged: list[str] | None = None,
    ) -> None:
        from airflow_provider_feishu.api.read_check import ReadTarget

        BaseTrigger.__init__(self)
        self.rule = ReadThreshold.parse(threshold, min_read_count)
        self.target = ReadTarget.from_dict(target)
        # As the batch trigger: a NaN deadline would never end the wait.
        self.deadline = finite_seconds("deadline", deadline)
        self.poll_interval = finite_seconds("poll_interval", poll_interval, positive=True)
        self.exponential_backoff = bool(exponential_backoff)
        self.max_poll_interval = (
            finite_seconds("max_poll_interval", max_poll_interval, positive=True)
            if max_poll_interval
            else max(self.poll_interval, 600.0)
        )
        self.feishu_conn_id = feishu_conn_id
        self.known_read = list(known_read or [])
        self.known_acknowledged = list(known_acknowledged or [])

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "target": self.target.to_dict(),
                "threshold": self.rule.threshold,
                "min_read_count": self.rule.min_read_count,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "exponential_backoff": self.exponential_backoff,
                "max_poll_interval": self.max_poll_interval,
                "feishu_conn_id": self.feishu_conn_id,
                "known_read": self.known_read,
                "known_acknowledged": self.known_acknowledged,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self.wait())

    async def wait(self) -> dict[str, Any]:
        """Poll until reached, deadline or a permanent error; return the event payload."""
        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.api.read_check import ReadTracker, cannot_wait_message
        from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient

        target = self.target
        tracker = ReadTracker(
            target, self.rule, known_read=dict.fromkeys(self.known_read), known_acknowledged=self.known_acknowledged
        )
        try:
            client = await AsyncFeishuClient.from_conn_id(self.feishu_conn_id, logger=self.log, share_rate_limit=True)
        except Exception as err:  # a missing or invalid connection: no wait can fix it
            return event_payload("error", None, cannot_wait_message(target, err))
        report: ReadReport | None = None
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
                        report = await client.run_steps(tracker.check())
                    error_streak = 0
                    last_error = None
                except TimeoutError:
                    break  # the deadline passed while a request (or its retries) was in flight
                except FeishuError as err:
                    if is_permanent_error(err):
                        return event_payload("error", report, cannot_wait_message(target, err))
                    error_streak += 1
                    last_error = check_failure_reason(err, client.config.base_url)
                    self.log.warning("Feishu read check of %s failed, will retry: %s", target.describe(), last_error)
                else:
                    self.log.info("%s", report.describe())
                    if report.reached:
                        return event_payload("reached", report, report.describe(), reached_at=utc_iso())
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(self.next_interval(polls, error_streak), remaining))
        finally:
            await client.aclose()
        last = report.describe() if report else "no successful read check"
        if last_error is not None:
            last += f"; last error: {last_error}"
        message = f"Deadline {utc_iso(self.deadline)} passed before {target.describe()} reached the threshold; {last}"
        return event_payload("deadline", report, message)
