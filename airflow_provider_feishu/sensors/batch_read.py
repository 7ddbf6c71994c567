"""FeishuReadThresholdSensor: wait until enough recipients have read a batch message.

Poke, reschedule and deferrable modes all judge with :class:`~airflow_provider_feishu.threshold.ReadThreshold`
(read_user plus get_progress, see that module for the guard against early partial totals).
Only ``airflow.sdk`` and light modules are imported here: DAG files import this at parse time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.parse_time import is_template_text
from airflow_provider_feishu.sensors.base import FeishuReadSensorBase, ReadWait
from airflow_provider_feishu.threshold import ReadThreshold, ReadVerdict, permanent_error_message
from airflow_provider_feishu.version_compat import AirflowFailException, conf

if TYPE_CHECKING:
    from airflow_provider_feishu.api.batch_check import BatchReadTracker
    from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger


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


class BatchReadWait(ReadWait):
    """A wait on a batch message: the arguments that name it and the rule, and the sans-IO
    :class:`~airflow_provider_feishu.api.batch_check.BatchReadTracker` it drives (one snapshot per
    check; the recipient count remembered once known). Shared by the sensor and
    :class:`~airflow_provider_feishu.operators.wait_for_reads.FeishuWaitForReadsOperator`."""

    batch_message_id: str
    threshold: float | str
    min_read_count: int | str | None

    @cached_property
    def tracker(self) -> BatchReadTracker:
        """The check, from the rendered arguments (a bad value fails the task at once)."""
        from airflow_provider_feishu.api.batch_check import BatchReadTracker

        bid = self.batch_message_id
        if not isinstance(bid, str) or not bid.strip() or bid.strip() == "None":
            raise AirflowFailException(
                f"batch_message_id rendered to {bid!r}; pass the id returned by the send task, "
                "e.g. \"{{ ti.xcom_pull(task_ids='send') }}\"."
            )
        return BatchReadTracker(bid.strip(), rule_from_args(self.threshold, self.min_read_count))

    def check(self) -> ReadVerdict:
        return self.hook.run_steps(self.tracker.check())

    @property
    def subject(self) -> str:
        return self.tracker.batch_message_id

    def describe(self, snapshot: ReadVerdict) -> str:
        return f"{self.tracker.batch_message_id}: {snapshot.describe()}"

    def cannot_wait_message(self, err: BaseException) -> str:
        return permanent_error_message(self.tracker.batch_message_id, err)


#: The task state store key where reschedule-mode pokes keep the batch's recipient count, so a
#: poke of a batch known to be scheduled costs one read_user, not also get_progress.
RECIPIENTS_KEY = "feishu_valid_user_ids_count"


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


class FeishuReadThresholdSensor(BatchReadWait, FeishuReadSensorBase):
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
    memory_keys = (RECIPIENTS_KEY,)

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

    def learnt(self) -> dict[str, Any]:
        tracker = self.tracker
        return {RECIPIENTS_KEY: tracker.valid_user_ids_count} if tracker.scheduled else {}

    def recall(self, remembered: dict[str, Any]) -> None:
        tracker = self.tracker
        if not tracker.scheduled:
            with contextlib.suppress(TypeError, ValueError):  # not a count: get_progress asks again
                tracker.valid_user_ids_count = int(remembered.get(RECIPIENTS_KEY) or 0)

    def result(self, snapshot: ReadVerdict) -> dict[str, Any]:
        return stats_payload(self.tracker.batch_message_id, snapshot, reached_at=utc_now_iso())

    def trigger(self, **wait: Any) -> FeishuReadThresholdTrigger:
        from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger

        rule = self.tracker.rule
        return FeishuReadThresholdTrigger(
            batch_message_id=self.tracker.batch_message_id,
            threshold=rule.threshold,
            min_read_count=rule.min_read_count,
            **wait,
        )

    def result_from_event(self, event: dict[str, Any]) -> dict[str, Any]:
        return stats_from_event(event, self.tracker.rule)


#: The name issue 4 uses.
FeishuBatchReadSensor = FeishuReadThresholdSensor
