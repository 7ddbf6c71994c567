"""FeishuReadThresholdSensor: wait until enough recipients have read a batch message.

Poke, reschedule and deferrable modes all judge with :class:`~airflow_provider_feishu.threshold.ReadThreshold`
(read_user plus get_progress, see that module for the guard against early partial totals).
Only ``airflow.sdk`` and light modules are imported here: DAG files import this at parse time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowException
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_feishu.parse_time import is_template_text
from airflow_provider_feishu.threshold import (
    ReadThreshold,
    ReadVerdict,
    check_failure_reason,
    is_permanent_error,
    permanent_error_message,
)
from airflow_provider_feishu.version_compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    conf,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.hooks.feishu import FeishuHook

#: Smallest poll interval handed to the trigger (a 0 s poke_interval would be a hot loop there).
MIN_TRIGGER_POLL_INTERVAL = 0.05


def utc_now_iso() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat()


def rule_from_args(threshold: Any, min_read_count: Any) -> ReadThreshold:
    """The rule from (rendered) operator arguments; a bad value fails the task, it is not retried."""
    try:
        return ReadThreshold.parse(threshold, min_read_count)
    except ValueError as err:
        raise AirflowFailException(str(err)) from None


def validate_at_parse_time(threshold: Any, min_read_count: Any) -> None:
    """Reject a bad literal threshold when the DAG is parsed (templates are checked after rendering)."""
    if not is_template_text(threshold) and not is_template_text(min_read_count):
        ReadThreshold.parse(threshold, min_read_count)


class ReadChecker:
    """Drives the sans-IO :class:`~airflow_provider_feishu.api.batch_check.BatchReadTracker` with a
    sync hook: one snapshot per :meth:`check`, the recipient count remembered once known."""

    def __init__(self, hook: FeishuHook, batch_message_id: str, rule: ReadThreshold) -> None:
        from airflow_provider_feishu.api.batch_check import BatchReadTracker

        self.hook = hook
        self.tracker = BatchReadTracker(batch_message_id, rule)

    @property
    def batch_message_id(self) -> str:
        return self.tracker.batch_message_id

    @property
    def rule(self) -> ReadThreshold:
        return self.tracker.rule

    def check(self) -> ReadVerdict:
        return self.hook.run_steps(self.tracker.check())

    def failure_reason(self, err: BaseException) -> str:
        """``err`` and the Feishu base URL the check called, for warnings and timeout messages."""
        from airflow_provider_feishu.api.errors import FeishuError

        try:
            base_url: str | None = self.hook.config.base_url
        except FeishuError:  # the connection itself is broken: the error says so
            base_url = None
        return check_failure_reason(err, base_url)


#: The task state store key where reschedule-mode pokes keep the batch's recipient count.
RECIPIENTS_KEY = "feishu_valid_user_ids_count"


def recall_recipients(context: Context, checker: ReadChecker) -> Any:
    """Reschedule mode: start from the recipient count an earlier poke learnt, so a poke of a
    scheduled batch costs one read_user, not also get_progress. Returns the task state store
    (Airflow 3.3+; None before, where every poke asks get_progress again)."""
    ctx: Any = context  # the key exists from Airflow 3.3 on
    store = ctx.get("task_state_store")
    tracker = checker.tracker
    if store is None or tracker.scheduled:
        return None
    try:
        tracker.valid_user_ids_count = int(store.get(RECIPIENTS_KEY) or 0)
    except Exception:  # a store that cannot answer only costs the get_progress call
        return None
    return None if tracker.scheduled else store


def remember_recipients(store: Any, checker: ReadChecker) -> None:
    """Keep the recipient count for the next reschedule-mode poke once Feishu has scheduled the batch."""
    if store is not None and checker.tracker.scheduled:
        with contextlib.suppress(Exception):
            store.set(RECIPIENTS_KEY, checker.tracker.valid_user_ids_count, retention=timedelta(days=2))


def stats_payload(batch_message_id: str, verdict: ReadVerdict, *, reached_at: str | None) -> dict[str, Any]:
    """The XCom value of a finished wait: counts, ratio, and when the threshold was seen reached."""
    out = verdict.to_dict()
    out["batch_message_id"] = batch_message_id
    out["reached_at"] = reached_at
    return out


def stats_from_event(event: dict[str, Any], rule: ReadThreshold) -> dict[str, Any]:
    """The XCom value of a finished wait, from a trigger event (same keys as :func:`stats_payload`)."""
    return {
        "threshold": rule.threshold,
        "min_read_count": rule.min_read_count,
        "batch_message_id": event.get("batch_message_id"),
        "reached": event.get("status") == "reached",
        "read_count": event.get("read_count"),
        "total_count": event.get("total_count"),
        "delivered_count": event.get("delivered_count"),
        "ratio": event.get("ratio"),
        "reached_at": event.get("reached_at"),
        "message": event.get("message"),
    }


class FeishuReadThresholdSensor(BaseSensorOperator):
    """Waits until a share of a batch message's recipients have read it.

    Reached when ``read / recipients >= threshold`` (and ``read >= min_read_count`` if given),
    judged only once Feishu has scheduled the batch, with recipients not reached yet counted as
    unread. Each poke logs one line such as ``read 42/120 (35.0%), need 80%``. On success the
    return value (XCom) is ``{"batch_message_id", "reached", "read_count", "total_count",
    "delivered_count", "ratio", "threshold", "min_read_count", "reached_at", "message"}``.

    Permanent errors (unknown or expired id 230030, another app's message 230012, missing scope
    230027 / 99991672, bad credentials) fail the task at once with what to fix. Transient errors
    (429, 5xx, network) are retried by the hook; if they persist the poke counts as "not yet".

    .. code-block:: python

        send = FeishuBatchSendOperator(task_id="send", text="Please read", department_ids=["od-x"])
        wait = FeishuReadThresholdSensor(
            task_id="wait",
            batch_message_id="{{ ti.xcom_pull(task_ids='send') }}",
            threshold=0.8,
            deferrable=True,
            timeout=4 * 3600,
        )

    :param batch_message_id: the batch message id (templated; usually pulled from the send task).
    :param threshold: fraction of recipients that must have read it, ``0 < threshold <= 1`` (templated).
    :param min_read_count: also require this many reads (templated).
    :param feishu_conn_id: the ``feishu`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("batch_message_id", "threshold", "min_read_count")
    ui_color = "#e0f0ff"

    def __init__(
        self,
        *,
        batch_message_id: str,
        threshold: float | str,
        min_read_count: int | str | None = None,
        feishu_conn_id: str = "feishu_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_at_parse_time(threshold, min_read_count)
        self.batch_message_id = batch_message_id
        self.threshold = threshold
        self.min_read_count = min_read_count
        self.feishu_conn_id = feishu_conn_id
        self.deferrable = deferrable
        #: The cause of the latest poke, if it failed: a timeout quotes it.
        self._last_error: str | None = None

    @cached_property
    def hook(self) -> FeishuHook:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    @cached_property
    def checker(self) -> ReadChecker:
        bid = self.batch_message_id
        if not isinstance(bid, str) or not bid.strip() or bid.strip() == "None":
            raise AirflowFailException(
                f"batch_message_id rendered to {bid!r}; pass the id returned by the send task, "
                "e.g. \"{{ ti.xcom_pull(task_ids='send') }}\"."
            )
        return ReadChecker(self.hook, bid.strip(), rule_from_args(self.threshold, self.min_read_count))

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_feishu.api.errors import FeishuError

        checker = self.checker
        store = recall_recipients(context, checker) if self.mode == "reschedule" else None
        try:
            verdict = checker.check()
            remember_recipients(store, checker)
        except FeishuError as err:
            if is_permanent_error(err):
                raise AirflowFailException(permanent_error_message(checker.batch_message_id, err)) from None
            self._last_error = checker.failure_reason(err)
            self.log.warning(
                "Feishu read check of %s failed; will poke again: %s", checker.batch_message_id, self._last_error
            )
            return False
        self._last_error = None
        self.log.info("%s: %s", checker.batch_message_id, verdict.describe())
        if verdict.reached:
            return PokeReturnValue(
                is_done=True, xcom_value=stats_payload(checker.batch_message_id, verdict, reached_at=utc_now_iso())
            )
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as err:
                if self._last_error is None:
                    raise
                raise AirflowSensorTimeout(f"{err} The last check failed; last error: {self._last_error}") from None
        started = time.time()
        try:
            first = self.poke(context)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:  # as BaseSensorOperator.execute does for poke mode
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {err}"
                ) from err
            raise
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger

        checker = self.checker
        self.defer(
            trigger=FeishuReadThresholdTrigger(
                batch_message_id=checker.batch_message_id,
                threshold=checker.rule.threshold,
                min_read_count=checker.rule.min_read_count,
                deadline=started + self.timeout,
                poll_interval=max(self.poke_interval, MIN_TRIGGER_POLL_INTERVAL),
                exponential_backoff=self.exponential_backoff,
                max_poll_interval=self.max_wait.total_seconds() if self.max_wait else None,
                feishu_conn_id=self.feishu_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Map the trigger's event: reached -> the stats; deadline -> timeout (or skip); error -> fail."""
        status = (event or {}).get("status")
        message = (event or {}).get("message") or "no message"
        if status == "reached":
            assert event is not None
            self.log.info("%s", message)
            return stats_from_event(event, self.checker.rule)
        if status == "deadline":
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status == "error":
            raise AirflowFailException(message)
        raise AirflowException(f"Unexpected trigger event: {event!r:.300}")


#: The name issue 4 uses.
FeishuBatchReadSensor = FeishuReadThresholdSensor
