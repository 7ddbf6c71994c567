"""FeishuWaitForReadsOperator: wait for reads until a deadline, then report (and optionally branch).

Unlike the sensor, reaching the deadline is an outcome, not a failure: the task succeeds with
``reached: false`` and, when ``on_reached`` / ``on_deadline`` are given, follows that branch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowException
from airflow.sdk import BaseOperator

from airflow_provider_feishu.sensors.base import MIN_TRIGGER_POLL_INTERVAL
from airflow_provider_feishu.sensors.batch_read import (
    BatchReadWait,
    stats_from_event,
    stats_payload,
    utc_now_iso,
    validate_at_parse_time,
)
from airflow_provider_feishu.status_card import card_timezone
from airflow_provider_feishu.threshold import ReadVerdict
from airflow_provider_feishu.version_compat import AirflowFailException

try:  # Airflow 3.1+: the SDK has it; older: the standard provider.
    from airflow.sdk import BranchMixIn
except ImportError:  # pragma: no cover
    from airflow.providers.standard.operators.branch import BranchMixIn  # type: ignore[assignment]

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.operators.live_status import LiveStatusCard

#: The scheduler's trigger timeout is set this much after the trigger's own deadline, so the
#: trigger (which reports the last counts) normally ends the wait, not the scheduler.
DEFERRAL_TIMEOUT_GRACE = timedelta(minutes=5)


def _as_seconds(name: str, value: float | str | timedelta) -> float:
    """Seconds from a number, a timedelta, or a rendered template such as ``"600"``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds or a timedelta, got {value!r:.60}.") from None
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{name} must be > 0 seconds, got {value!r:.60}.")
    return seconds


def _seconds_or_template(name: str, value: float | str | timedelta) -> float | str:
    """Validate now, unless ``value`` is a Jinja template that only renders at run time."""
    return value if isinstance(value, str) and "{{" in value else _as_seconds(name, value)


def _task_ids(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class FeishuWaitForReadsOperator(BatchReadWait, BaseOperator, BranchMixIn):
    """Waits until a batch message reaches a read threshold or a deadline passes; never fails on the deadline.

    Returns (XCom) ``{"batch_message_id", "reached", "status": "reached" | "deadline", "read_count",
    "total_count", "delivered_count", "ratio", "reached_at", "message"}``. With ``on_reached`` and/or
    ``on_deadline`` it is also a branch operator: it follows the task ids for the outcome and skips
    every other task directly downstream (Airflow's branching rules; an outcome without task ids
    skips them all).

    Permanent errors (unknown id, another app's message, missing scope, bad credentials) still fail
    the task: no deadline can fix them.

    :param batch_message_id: the batch message id (templated).
    :param threshold: fraction of recipients, ``0 < threshold <= 1`` (templated).
    :param min_read_count: also require this many reads (templated).
    :param deadline: how long to wait, in seconds or a timedelta (``timeout`` is an alias; templated).
    :param poke_interval: seconds between checks (templated); ``exponential_backoff`` doubles it each time, up to
        ``max_poke_interval``.
    :param on_reached: task id(s) to follow when the threshold is reached.
    :param on_deadline: task id(s) to follow when the deadline passes first.
    :param deferrable: wait in the triggerer (default True); otherwise poll in the worker.
    :param feishu_conn_id: the ``feishu`` connection.
    :param status_chat_id: a chat (``oc_...``) to keep a live status card in: sent at the start,
        updated when the read count changes, finished with the outcome ("Notice read 54/90 (60%)
        · deadline 16:00 UTC"). A card that cannot be sent or updated logs a warning; it never
        changes the outcome of the wait (templated).
    :param status_card_title: what the card calls the message (templated; default ``"Notice"``).
    :param status_card_timezone: the IANA zone the card shows the deadline in (default ``"UTC"``).
    """

    template_fields: Sequence[str] = (
        "batch_message_id",
        "threshold",
        "min_read_count",
        "deadline",
        "poke_interval",
        "status_chat_id",
        "status_card_title",
    )
    ui_color = "#e0f0ff"

    def __init__(
        self,
        *,
        batch_message_id: str,
        threshold: float | str,
        min_read_count: int | str | None = None,
        deadline: float | str | timedelta | None = None,
        timeout: float | str | timedelta | None = None,
        poke_interval: float | str | timedelta = 60.0,
        exponential_backoff: bool = False,
        max_poke_interval: float | timedelta | None = None,
        on_reached: str | Iterable[str] | None = None,
        on_deadline: str | Iterable[str] | None = None,
        deferrable: bool = True,
        feishu_conn_id: str = "feishu_default",
        status_chat_id: str | None = None,
        status_card_title: str = "Notice",
        status_card_timezone: str = "UTC",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if deadline is not None and timeout is not None:
            raise ValueError("Give deadline or timeout (an alias), not both.")
        validate_at_parse_time(threshold, min_read_count)
        self.batch_message_id = batch_message_id
        self.threshold = threshold
        self.min_read_count = min_read_count
        self.deadline: float | str = _seconds_or_template(
            "deadline", deadline if deadline is not None else (timeout or 3600.0)
        )
        self.poke_interval: float | str = _seconds_or_template("poke_interval", poke_interval)
        self.exponential_backoff = exponential_backoff
        self.max_poke_interval = _as_seconds("max_poke_interval", max_poke_interval) if max_poke_interval else None
        self.on_reached = _task_ids(on_reached)
        self.on_deadline = _task_ids(on_deadline)
        self.deferrable = deferrable
        self.feishu_conn_id = feishu_conn_id
        card_timezone(status_card_timezone)  # a typo fails at parse time, not at the deadline
        self.status_chat_id = status_chat_id
        self.status_card_title = status_card_title
        self.status_card_timezone = status_card_timezone
        self._status_card: LiveStatusCard | None = None

    @property
    def branches(self) -> bool:
        return bool(self.on_reached or self.on_deadline)

    def _check(self) -> ReadVerdict | None:
        """One snapshot; None after a transient error (logged); permanent errors fail the task."""
        try:
            return self.check_once(then="check again")
        except AirflowFailException as err:
            if self._status_card is not None:
                self._status_card.finish("error", None, str(err))
            raise

    def _interval(self, polls: int) -> float:
        poke_interval = _as_seconds("poke_interval", self.poke_interval)
        interval = poke_interval * (2 ** min(polls - 1, 30) if self.exponential_backoff else 1)
        return min(interval, self.max_poke_interval or max(600.0, poke_interval))

    def execute(self, context: Context) -> dict[str, Any]:
        started = time.time()
        # Rendered by now: templated values arrive as strings such as "600".
        self.deadline = _as_seconds("deadline", self.deadline)
        self.poke_interval = _as_seconds("poke_interval", self.poke_interval)
        deadline_at = started + self.deadline
        verdict = self._check()
        bid = self.tracker.batch_message_id
        self._start_status_card(context, verdict, deadline_at)
        if verdict is not None and verdict.reached:
            return self._finish(context, {**stats_payload(bid, verdict, reached_at=utc_now_iso()), "status": "reached"})
        if self.deferrable:
            from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger

            card_spec = self._status_card.to_dict() if self._status_card and self._status_card.message_id else None

            self.defer(
                trigger=FeishuReadThresholdTrigger(
                    batch_message_id=bid,
                    threshold=self.tracker.rule.threshold,
                    min_read_count=self.tracker.rule.min_read_count,
                    deadline=deadline_at,
                    poll_interval=max(self.poke_interval, MIN_TRIGGER_POLL_INTERVAL),
                    exponential_backoff=self.exponential_backoff,
                    max_poll_interval=self.max_poke_interval,
                    feishu_conn_id=self.feishu_conn_id,
                    status_card=card_spec,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.deadline) + DEFERRAL_TIMEOUT_GRACE,
                kwargs={"status_card": card_spec} if card_spec else None,
            )
        polls = 1
        while (remaining := deadline_at - time.time()) > 0:
            time.sleep(min(self._interval(polls), remaining))
            polls += 1
            verdict = self._check() or verdict
            if verdict is not None and self._status_card is not None and not verdict.reached:
                self._status_card.progress((verdict.read_count, verdict.total_count))
            if verdict is not None and verdict.reached:
                return self._finish(
                    context, {**stats_payload(bid, verdict, reached_at=utc_now_iso()), "status": "reached"}
                )
        last = verdict.describe() if verdict else "no successful read check"
        if self._last_error is not None:
            last += f"; last error: {self._last_error}"
        result = stats_payload(bid, verdict, reached_at=None) if verdict else self._empty_stats(bid)
        result.update(reached=False, status="deadline", message=f"Deadline passed; {last}")
        return self._finish(context, result)

    @staticmethod
    def _empty_stats(bid: str) -> dict[str, Any]:
        return {
            "batch_message_id": bid,
            "reached": False,
            "read_count": None,
            "total_count": None,
            "delivered_count": None,
            "ratio": None,
            "reached_at": None,
        }

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, status_card: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the trigger: reached or deadline -> report (and branch); error -> fail."""
        self._resume_status_card((event or {}).get("status_card") or status_card)
        status = (event or {}).get("status")
        if status == "error":
            message = (event or {}).get("message") or "Feishu read check failed."
            if self._status_card is not None:
                self._status_card.finish("error", _counts(event or {}), message)
            raise AirflowFailException(message)
        if status not in ("reached", "deadline"):
            raise AirflowException(f"Unexpected trigger event: {event!r:.300}")
        assert event is not None
        return self._finish(context, {**stats_from_event(event, self.tracker.rule), "status": status})

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """A scheduler-side trigger timeout is a deadline too, not a failure."""
        from airflow_provider_feishu.version_compat import TaskDeferralTimeout

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            self._resume_status_card((next_kwargs or {}).get("status_card"))
            bid = str(self.batch_message_id)
            result = {**self._empty_stats(bid), "status": "deadline", "message": "Trigger timeout passed first."}
            return self._finish(context, result)

    def _finish(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        reached = result["status"] == "reached"
        result["reached"] = reached
        self.log.info("%s: %s", "Reached" if reached else "Deadline", result.get("message"))
        if self._status_card is not None:
            self._status_card.finish("reached" if reached else "deadline", _counts(result), result.get("message"))
        if self.branches:
            follow = self.on_reached if reached else self.on_deadline
            if self.do_xcom_push:
                # Skipping downstream ends the task by exception, before the return value is pushed.
                context["ti"].xcom_push(key="return_value", value=result)
            self.do_branch(context, follow)
        return result

    # --- the live status card (optional; its failures are warnings, never the wait's outcome) --

    def _start_status_card(self, context: Context, verdict: ReadVerdict | None, deadline_at: float) -> None:
        if not self.status_chat_id or str(self.status_chat_id).strip() in ("", "None"):
            return  # no card (a template may render an unset param to "" or "None")
        from airflow_provider_feishu.operators.live_status import LiveStatusCard, status_card_uuid
        from airflow_provider_feishu.status_card import target_text

        rule = self.tracker.rule
        self._status_card = LiveStatusCard(
            hook=self.hook,
            chat_id=str(self.status_chat_id).strip(),
            title=str(self.status_card_title),
            target=target_text(rule.threshold, rule.min_read_count),
            deadline=deadline_at,
            timezone=self.status_card_timezone,
            log=self.log,
        )
        counts = (verdict.read_count, verdict.total_count) if verdict is not None else None
        self._status_card.start(counts, status_card_uuid(context["ti"]))

    def _resume_status_card(self, spec: dict[str, Any] | None) -> None:
        if spec and spec.get("message_id"):
            from airflow_provider_feishu.operators.live_status import LiveStatusCard

            self._status_card = LiveStatusCard.from_dict(self.hook, spec, log=self.log)


def _counts(result: dict[str, Any]) -> tuple[int, int] | None:
    """(read_count, total_count) from a result or event, if both are known."""
    read, total = result.get("read_count"), result.get("total_count")
    return (read, total) if isinstance(read, int) and isinstance(total, int) else None
