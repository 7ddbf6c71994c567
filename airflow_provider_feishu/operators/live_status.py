"""The worker side of a live status card: send it, update it, finish it; never fail the wait.

:mod:`airflow_provider_feishu.status_card` builds the card and paces updates; this module does the
calls with a sync hook and turns every failure into a logged warning, so a chat the bot cannot
post in, a card older than Feishu's 14-day update window or a rate limit never decides a wait.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.status_card import CardPacer, CardStatus, card_from_spec

if TYPE_CHECKING:
    from airflow_provider_feishu.hooks.feishu import FeishuHook

Counts = tuple[int, int]  # (read_count, total_count)


def status_card_uuid(ti: Any) -> str:
    """One card per task instance: a retry within Feishu's one-hour uuid window finds the same card."""
    key = f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{getattr(ti, 'map_index', -1)}/status-card"
    return "sc-" + hashlib.sha256(key.encode()).hexdigest()[:40]


@dataclass
class LiveStatusCard:
    """One status card in ``chat_id`` for one wait (``deadline`` in UNIX seconds).

    ``to_dict`` / ``from_dict`` carry it across a deferral (plain JSON, no secrets).
    """

    hook: FeishuHook
    chat_id: str
    title: str
    target: str
    deadline: float
    timezone: str = "UTC"
    message_id: str | None = None
    pacer: CardPacer = field(default_factory=CardPacer)
    log: Any = field(default_factory=lambda: logging.getLogger(__name__))

    def to_dict(self) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "title": self.title,
            "target": self.target,
            "deadline": self.deadline,
            "timezone": self.timezone,
            "message_id": self.message_id,
            "counts": list(self.pacer.counts) if self.pacer.counts else None,
        }

    @classmethod
    def from_dict(cls, hook: FeishuHook, data: dict[str, Any], log: Any = None) -> LiveStatusCard:
        counts = data.get("counts")
        card = cls(
            hook=hook,
            chat_id=data["chat_id"],
            title=data["title"],
            target=data["target"],
            deadline=float(data["deadline"]),
            timezone=data.get("timezone") or "UTC",
            message_id=data.get("message_id"),
            pacer=CardPacer(counts=(int(counts[0]), int(counts[1])) if counts else None),
        )
        if log is not None:
            card.log = log
        return card

    def card(self, status: CardStatus, counts: Counts | None, detail: str | None = None) -> dict[str, Any]:
        return card_from_spec(self.to_dict(), status, counts, detail)

    def start(self, counts: Counts | None, uuid: str) -> str | None:
        """Send the card; returns its message id (None if it could not be sent)."""
        try:
            sent = self.hook.send_message(
                self.chat_id, "interactive", self.card("waiting", counts), receive_id_type="chat_id", uuid=uuid
            )
        except Exception as err:
            self.log.warning("Could not send the status card to chat %s (the wait goes on): %s", self.chat_id, err)
            return None
        self.message_id = sent.message_id
        self.pacer.shown(counts, time.monotonic())
        return self.message_id

    def progress(self, counts: Counts) -> None:
        """Update the card if the counts changed and the last update is not too recent."""
        if self.message_id is not None and self.pacer.due(counts, time.monotonic()):
            self._update(self.card("waiting", counts), counts)

    def finish(self, status: CardStatus, counts: Counts | None, detail: str | None = None) -> None:
        """Show the outcome (always sent, whatever the pacing); unknown counts keep the last shown."""
        if self.message_id is not None:
            counts = counts if counts is not None else self.pacer.counts
            self._update(self.card(status, counts, detail), counts)

    def _update(self, card: dict[str, Any], counts: Counts | None) -> None:
        assert self.message_id is not None
        try:
            self.hook.update_card(self.message_id, card)
        except Exception as err:
            self.log.warning("Could not update the status card %s (the wait goes on): %s", self.message_id, err)
            return
        self.pacer.shown(counts, time.monotonic())
