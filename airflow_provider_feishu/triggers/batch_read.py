"""FeishuReadThresholdTrigger: waits in the triggerer until enough recipients read a batch message.

One async client (httpx) for the whole wait, paced by the per-app shared rate limiter so a
thousand deferred waits of one app stay under Feishu's 50/s and 1000/min. The trigger carries its
own absolute deadline, so it ends even where the deferral timeout is not applied (``dag.test()``).
The wait loop is :class:`~airflow_provider_feishu.triggers.base.ReadWaitTrigger`'s; the check is
the sans-IO :class:`~airflow_provider_feishu.api.batch_check.BatchReadTracker`. This module says
what the events hold and keeps the live status card up to date.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_feishu.status_card import CardPacer, card_from_spec
from airflow_provider_feishu.threshold import ReadVerdict, permanent_error_message
from airflow_provider_feishu.triggers.base import ReadWaitTrigger

if TYPE_CHECKING:
    from airflow_provider_feishu.api.batch_check import BatchReadTracker

#: Seconds a status card update may take (with its retries) before the wait moves on without it.
STATUS_CARD_UPDATE_BUDGET = 10.0


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


class FeishuReadThresholdTrigger(ReadWaitTrigger[ReadVerdict]):
    """Polls read_user (and get_progress until the batch is scheduled) until the threshold is met.

    Yields exactly one event ``{"status": "reached" | "deadline" | "error", "read_count",
    "total_count", "delivered_count", "ratio", "reached_at"?, "message", "batch_message_id"}``.
    Permanent errors (unknown id, another app's message, missing scope, bad credentials) end the
    wait at once with ``status="error"``; transient errors are retried by the client and then
    backed off here until the deadline.

    :param batch_message_id: the ``bm-...`` id returned by batch_send.
    :param wait: ``threshold`` (of recipients), ``deadline`` and the other arguments of
        :class:`~airflow_provider_feishu.triggers.base.ReadWaitTrigger`.
    :param status_card: a live status card to keep up to date while waiting (the spec
        ``FeishuWaitForReadsOperator`` passes: message id, title, target, deadline, time zone, last
        counts); updated when the counts change, and a failed update is only a warning.
    """

    def __init__(self, *, batch_message_id: str, status_card: dict[str, Any] | None = None, **wait: Any) -> None:
        super().__init__(**wait)
        self.batch_message_id = batch_message_id
        self._tracker: BatchReadTracker | None = None
        self.status_card = status_card
        shown = (status_card or {}).get("counts")
        self._card_pacer = CardPacer(counts=(int(shown[0]), int(shown[1])) if shown else None)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_message_id": self.batch_message_id,
                **self.wait_kwargs(),
                **({"status_card": self.status_card} if self.status_card else {}),
            },
        )

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

    @property
    def subject(self) -> str:
        return self.batch_message_id

    @property
    def deadline_subject(self) -> str:
        return f"batch message {self.batch_message_id}"

    def describe(self, snapshot: ReadVerdict) -> str:
        return f"{self.batch_message_id}: {snapshot.describe()}"

    def event(
        self, status: str, snapshot: ReadVerdict | None, message: str, *, reached_at: str | None = None
    ) -> dict[str, Any]:
        return event_payload(status, self.batch_message_id, snapshot, message, reached_at=reached_at)

    def cannot_wait_message(self, err: BaseException) -> str:
        return permanent_error_message(self.batch_message_id, err)

    async def show_progress(self, client: Any, verdict: ReadVerdict) -> None:
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
