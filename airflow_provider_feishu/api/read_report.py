"""The read report: who of an audience has read (or acknowledged) an im/v1 message, judged by the one rule.

A :class:`ReadReport` is what a per-person wait returns and what a reminder acts on: the audience,
who has read, who has not, who acknowledged (when a reaction is asked for), the counts and the
:class:`~airflow_provider_feishu.threshold.ReadThreshold` verdict. ``describe()`` is one line that
names a few of the people still missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_feishu.threshold import ReadThreshold, ReadVerdict, format_percent, judge_audience

#: How many missing people ``describe()`` names before "+N".
NAMED_IN_DESCRIBE = 3


@dataclass(frozen=True)
class ReadReport:
    """Who of ``audience`` has read; with ``acknowledge`` set, an emoji reaction is what counts.

    :param audience: the people the message is for (chat members now, or the people sent to).
    :param read: the people in the audience who have read it.
    :param acknowledged: with ``acknowledge``, the people who reacted with that emoji; else None.
    :param names: display names where Feishu gives them (chat member lists do).
    :param message_id: / ``chat_id`` / ``message_ids``: what was checked.
    """

    audience: tuple[str, ...]
    read: tuple[str, ...]
    verdict: ReadVerdict
    acknowledge: str | None = None
    acknowledged: tuple[str, ...] | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None
    chat_id: str | None = None
    message_ids: Mapping[str, str] | None = None

    @classmethod
    def build(
        cls,
        rule: ReadThreshold,
        audience: list[str],
        read: set[str],
        *,
        acknowledge: str | None = None,
        acknowledged: set[str] | None = None,
        **context: Any,
    ) -> ReadReport:
        """Judge a snapshot: only people in the audience count (readers who left a chat do not)."""
        audience = list(dict.fromkeys(audience))
        read_in = tuple(p for p in audience if p in read)
        acked_in = tuple(p for p in audience if p in (acknowledged or set())) if acknowledge else None
        counted = acked_in if acked_in is not None else read_in
        return cls(
            audience=tuple(audience),
            read=read_in,
            verdict=judge_audience(rule, len(counted), len(audience)),
            acknowledge=acknowledge,
            acknowledged=acked_in,
            **context,
        )

    @property
    def counted(self) -> tuple[str, ...]:
        """Who counts towards the threshold: the acknowledgers if a reaction is asked for, else the readers."""
        return self.acknowledged if self.acknowledged is not None else self.read

    @property
    def missing(self) -> tuple[str, ...]:
        """Who has not read yet (or, with ``acknowledge``, not acknowledged): whom a reminder is for."""
        counted = set(self.counted)
        return tuple(p for p in self.audience if p not in counted)

    @property
    def unread(self) -> tuple[str, ...]:
        """Who in the audience has not read the message."""
        read = set(self.read)
        return tuple(p for p in self.audience if p not in read)

    @property
    def reached(self) -> bool:
        return self.verdict.reached

    def name_of(self, person: str) -> str:
        return self.names.get(person) or person

    def describe(self) -> str:
        """One line such as ``read 76/90 (84.4%), need 80%; not yet: Li Wei, Wang Fang +12``."""
        v = self.verdict
        verb = f"acknowledged with {self.acknowledge}" if self.acknowledge else "read"
        need = f"need {format_percent(v.threshold)}"
        if v.min_read_count:
            need += f" and {v.min_read_count} {'acknowledgements' if self.acknowledge else 'reads'}"
        line = f"{verb} {v.read_count}/{v.total_count} ({v.ratio:.1%}), {need}"
        if not self.audience:
            line += " (nobody to read it: the audience is empty)"
        missing = self.missing
        if missing:
            shown = ", ".join(self.name_of(p) for p in missing[:NAMED_IN_DESCRIBE])
            more = f" +{len(missing) - NAMED_IN_DESCRIBE}" if len(missing) > NAMED_IN_DESCRIBE else ""
            line += f"; not yet: {shown}{more}"
        if v.reached:
            line += "; reached"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, for XCom and trigger events; :meth:`from_dict` reads them back."""
        v = self.verdict
        return {
            "reached": v.reached,
            "read_count": v.read_count,
            "total_count": v.total_count,
            "ratio": v.ratio,
            "threshold": v.threshold,
            "min_read_count": v.min_read_count,
            "acknowledge": self.acknowledge,
            "audience": list(self.audience),
            "read": list(self.read),
            "unread": list(self.unread),
            "acknowledged": None if self.acknowledged is None else list(self.acknowledged),
            "missing": list(self.missing),
            "names": {p: n for p, n in self.names.items() if p in set(self.audience)},
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "message_ids": None if self.message_ids is None else dict(self.message_ids),
            "message": self.describe(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReadReport:
        rule = ReadThreshold(threshold=data["threshold"], min_read_count=data.get("min_read_count"))
        acked = data.get("acknowledged")
        return cls.build(
            rule,
            list(data["audience"]),
            set(data["read"]),
            acknowledge=data.get("acknowledge"),
            acknowledged=None if acked is None else set(acked),
            names=dict(data.get("names") or {}),
            message_id=data.get("message_id"),
            chat_id=data.get("chat_id"),
            message_ids=data.get("message_ids"),
        )
