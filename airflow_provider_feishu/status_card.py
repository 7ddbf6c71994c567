"""The live status card of a wait for reads: one card in a chat, updated as the read count moves.

Pure: :func:`status_card` builds the card for a snapshot ("Notice read 54/90 (60%) · deadline
16:00"), and :class:`CardPacer` decides when an update is worth sending: only when the counts
changed, and never faster than :data:`MIN_UPDATE_INTERVAL` (Feishu allows 5 updates per second per
message; Feishu docs: im-v1/message/patch). The final card (the outcome) is always sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CardStatus = Literal["waiting", "reached", "deadline", "error"]

#: Seconds between two progress updates of one card: well inside Feishu's 5 per second per message.
MIN_UPDATE_INTERVAL = 1.0

_HEADERS: dict[str, tuple[str, str]] = {
    "waiting": ("Waiting for reads", "blue"),
    "reached": ("Read threshold reached", "green"),
    "deadline": ("Deadline passed", "orange"),
    "error": ("Read tracking failed", "red"),
}


def card_timezone(name: str | None) -> tzinfo:
    """The zone the card shows times in (an IANA name such as ``Asia/Shanghai``; default UTC)."""
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"status_card_timezone must be an IANA time zone such as 'Asia/Shanghai', got {name!r}."
        ) from None


def _clock(epoch: float, zone: tzinfo) -> str:
    moment = datetime.fromtimestamp(epoch, zone)
    label = "UTC" if zone is UTC else moment.strftime("%Z")
    return f"{moment:%H:%M} {label}".strip()


def status_line(title: str, read_count: int | None, total_count: int | None, deadline: float, zone: tzinfo) -> str:
    """``Notice read 54/90 (60%) · deadline 16:00 UTC`` (``no count yet`` before the first check)."""
    if read_count is None or total_count is None:
        counts = "no count yet"
    else:
        share = f"{read_count / total_count:.0%}" if total_count else "-"
        counts = f"read {read_count}/{total_count} ({share})"
    return f"{title} {counts} · deadline {_clock(deadline, zone)}"


def target_text(threshold: float, min_read_count: int | None = None) -> str:
    """The rule in words: ``80% of recipients`` (``and at least 10 reads``)."""
    text = f"{threshold * 100:.6g}% of recipients"
    return f"{text} and at least {min_read_count} reads" if min_read_count else text


def status_card(
    *,
    title: str,
    status: CardStatus,
    read_count: int | None,
    total_count: int | None,
    deadline: float,
    target: str,
    zone: tzinfo = UTC,
    detail: str | None = None,
) -> dict[str, Any]:
    """The card for one snapshot; shared (``update_multi``) so later snapshots can replace it.

    :param title: what is being read, e.g. ``"Notice"``; starts the status line.
    :param deadline: the end of the wait, as UNIX seconds.
    :param target: the rule in words, e.g. ``"80% of recipients"``.
    :param detail: one more line, e.g. the outcome or the error.
    """
    header, colour = _HEADERS[status]
    lines = [f"**{status_line(title, read_count, total_count, deadline, zone)}**", f"Target: {target}"]
    if detail:
        lines.append(detail)
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": line}} for line in lines]
    return {
        "config": {"wide_screen_mode": True, "update_multi": True},
        "header": {"title": {"tag": "plain_text", "content": f"{title}: {header}"}, "template": colour},
        "elements": elements,
    }


def card_from_spec(
    spec: Mapping[str, Any], status: CardStatus, counts: tuple[int, int] | None, detail: str | None = None
) -> dict[str, Any]:
    """:func:`status_card` from a card spec (``title``, ``target``, ``deadline``, ``timezone``): the
    plain dict that travels from the worker to the trigger and back."""
    return status_card(
        title=spec["title"],
        status=status,
        read_count=counts[0] if counts else None,
        total_count=counts[1] if counts else None,
        deadline=float(spec["deadline"]),
        target=spec["target"],
        zone=card_timezone(spec.get("timezone")),
        detail=detail,
    )


@dataclass
class CardPacer:
    """Remembers what the card shows and when it was last updated; says whether to update now."""

    counts: tuple[int, int] | None = None
    updated_at: float | None = None
    min_interval: float = MIN_UPDATE_INTERVAL

    def due(self, counts: tuple[int, int], now: float) -> bool:
        """Whether a progress update showing ``counts`` should be sent at monotonic time ``now``."""
        if counts == self.counts:
            return False
        return self.updated_at is None or now - self.updated_at >= self.min_interval

    def shown(self, counts: tuple[int, int] | None, now: float) -> None:
        """Record a successful update."""
        self.counts, self.updated_at = counts, now
