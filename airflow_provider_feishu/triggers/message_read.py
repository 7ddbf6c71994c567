"""FeishuMessageReadTrigger: the deferrable half of FeishuMessageReadSensor.

It drives the same sans-IO :class:`~airflow_provider_feishu.api.read_check.ReadTracker` as the
sensor, with one :class:`AsyncFeishuClient` for the whole wait, paced by the per-app shared rate
limiter. Polling, backoff and the absolute deadline are
:class:`~airflow_provider_feishu.triggers.base.ReadWaitTrigger`'s, as for the batch trigger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.triggers.base import ReadWaitTrigger

if TYPE_CHECKING:
    from airflow_provider_feishu.api.read_check import ReadTracker
    from airflow_provider_feishu.api.read_report import ReadReport


def event_payload(status: str, report: ReadReport | None, message: str, *, reached_at: str | None = None) -> dict:
    """The one event shape: status, the last report (None before the first good check), a message."""
    payload: dict[str, Any] = {"status": status, "report": report.to_dict() if report else None, "message": message}
    if reached_at is not None:
        payload["reached_at"] = reached_at
    return payload


class FeishuMessageReadTrigger(ReadWaitTrigger["ReadReport"]):
    """Polls who has read an im/v1 message (or one message per person) until the threshold is met.

    Yields one event ``{"status": "reached" | "deadline" | "error", "report", "message",
    "reached_at"?}``; ``report`` is :meth:`ReadReport.to_dict`.

    :param target: :meth:`ReadTarget.to_dict` (message and chat, or message_ids; acknowledge).
    :param wait: ``threshold`` (of the audience), ``deadline`` and the other arguments of
        :class:`~airflow_provider_feishu.triggers.base.ReadWaitTrigger`.
    :param known_read: / ``known_acknowledged``: people the sensor already saw read (acknowledge),
        so per-person checks do not ask about them again.
    """

    def __init__(
        self,
        *,
        target: Mapping[str, Any],
        known_read: list[str] | None = None,
        known_acknowledged: list[str] | None = None,
        **wait: Any,
    ) -> None:
        from airflow_provider_feishu.api.read_check import ReadTarget

        super().__init__(**wait)
        self.target = ReadTarget.from_dict(target)
        self.known_read = list(known_read or [])
        self.known_acknowledged = list(known_acknowledged or [])
        self._tracker: ReadTracker | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "target": self.target.to_dict(),
                **self.wait_kwargs(),
                "known_read": self.known_read,
                "known_acknowledged": self.known_acknowledged,
            },
        )

    async def _check(self, client: Any) -> ReadReport:
        """One snapshot: drives :class:`ReadTracker`, which remembers who has read between checks."""
        if self._tracker is None:
            from airflow_provider_feishu.api.read_check import ReadTracker

            self._tracker = ReadTracker(
                self.target,
                self.rule,
                known_read=dict.fromkeys(self.known_read),
                known_acknowledged=self.known_acknowledged,
            )
        return await client.run_steps(self._tracker.check())

    @property
    def subject(self) -> str:
        return self.target.describe()

    def event(
        self, status: str, snapshot: ReadReport | None, message: str, *, reached_at: str | None = None
    ) -> dict[str, Any]:
        return event_payload(status, snapshot, message, reached_at=reached_at)

    def cannot_wait_message(self, err: BaseException) -> str:
        from airflow_provider_feishu.api.read_check import cannot_wait_message

        return cannot_wait_message(self.target, err)
