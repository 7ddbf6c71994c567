"""The per-person read check, written once with no I/O: which requests to make next, given what is known.

:class:`ReadTracker` holds what a wait has learnt so far; each :meth:`ReadTracker.check` is a
generator of :class:`~airflow_provider_feishu.api.endpoints.ApiRequest` objects that is sent each
result and returns a :class:`~airflow_provider_feishu.api.read_report.ReadReport`. The sync sensor
drives it with ``FeishuHook.run_steps`` and the async trigger with ``AsyncFeishuClient.run_steps``
(the h11 / gidgethub pattern), so the two can never disagree.

Two targets:

* a message to a chat (``message_id`` + ``chat_id``): the audience is the chat's members *at each
  check* (people join and leave during a wait); one check lists the members, the readers and, with
  ``acknowledge``, the reactions, every page of each;
* one message per person (``message_ids``, the tracked send's XCom): the audience is the people
  sent to; a check asks only about the messages not yet read (or acknowledged), since a read
  cannot be undone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.endpoints import USER_ID_TYPES, require_id
from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.paging import Steps
from airflow_provider_feishu.api.read_report import ReadReport
from airflow_provider_feishu.threshold import ReadThreshold


@dataclass(frozen=True)
class ReadTarget:
    """What to check: a message in a chat, or one message per person; and what counts as "read"."""

    message_id: str | None = None
    chat_id: str | None = None
    message_ids: Mapping[str, str] | None = None
    acknowledge: str | None = None
    user_id_type: str = "open_id"

    def __post_init__(self) -> None:
        if self.message_ids is not None:
            if self.message_id is not None or self.chat_id is not None:
                raise FeishuConfigError("Give either message_id with chat_id, or message_ids; not both.")
            if not isinstance(self.message_ids, Mapping) or not self.message_ids:
                raise FeishuConfigError(
                    "message_ids must be a non-empty {person: message_id} dict, e.g. the tracked send's XCom."
                )
            for person, mid in self.message_ids.items():
                require_id("message_ids key", person)
                require_id(f"message_ids[{person!r}]", mid)
        else:
            if self.message_id is None or self.chat_id is None:
                raise FeishuConfigError(
                    "A chat message needs both message_id and chat_id (the audience is the chat's members); "
                    "for one message per person pass message_ids."
                )
            require_id("message_id", self.message_id)
            require_id("chat_id", self.chat_id)
        if self.acknowledge is not None:
            require_id("acknowledge (a Feishu emoji_type such as THUMBSUP)", self.acknowledge)
        if self.user_id_type not in USER_ID_TYPES:
            raise FeishuConfigError(
                f"user_id_type must be one of {', '.join(USER_ID_TYPES)}; got {self.user_id_type!r}."
            )

    @property
    def per_person(self) -> bool:
        return self.message_ids is not None

    def describe(self) -> str:
        if self.message_ids is not None:
            return f"{len(self.message_ids)} messages sent one per person"
        return f"message {self.message_id} in chat {self.chat_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "message_ids": None if self.message_ids is None else dict(self.message_ids),
            "acknowledge": self.acknowledge,
            "user_id_type": self.user_id_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReadTarget:
        return cls(
            **{k: data.get(k) for k in ("message_id", "chat_id", "message_ids", "acknowledge")},
            user_id_type=data.get("user_id_type") or "open_id",
        )


class ReadTracker:
    """What a wait knows so far, and the check that learns more.

    :param known_read: / ``known_acknowledged``: people already seen to have read (acknowledged),
        e.g. handed from the sensor to its trigger, so a per-person check does not ask again.
    """

    def __init__(
        self,
        target: ReadTarget,
        rule: ReadThreshold,
        *,
        known_read: Mapping[str, Any] | None = None,
        known_acknowledged: list[str] | None = None,
    ) -> None:
        self.target = target
        self.rule = rule
        self.known_read: set[str] = set(known_read or ())
        self.known_acknowledged: set[str] = set(known_acknowledged or ())

    def state(self) -> dict[str, Any]:
        """What this tracker learnt, as JSON for a trigger's kwargs (per-person reads only)."""
        return {"known_read": sorted(self.known_read), "known_acknowledged": sorted(self.known_acknowledged)}

    def check(self) -> Steps[ReadReport]:
        """The requests of one snapshot; returns the report."""
        if self.target.per_person:
            return (yield from self._check_people())
        return (yield from self._check_chat())

    def _check_chat(self) -> Steps[ReadReport]:
        t = self.target
        assert t.message_id is not None and t.chat_id is not None
        members = yield from endpoints.all_chat_members(t.chat_id, member_id_type=t.user_id_type)
        acknowledged: set[str] | None = None
        if t.acknowledge:
            reactions = yield from endpoints.all_message_reactions(
                t.message_id, emoji_type=t.acknowledge, user_id_type=t.user_id_type
            )
            acknowledged = {r.user_id for r in reactions}
        receipts = yield from endpoints.all_read_users(t.message_id, user_id_type=t.user_id_type)
        # Whoever reacted has seen the message, even if the receipt has not arrived yet.
        read = {r.user_id for r in receipts} | (acknowledged or set())
        return ReadReport.build(
            self.rule,
            [m.member_id for m in members],
            read,
            acknowledge=t.acknowledge,
            acknowledged=acknowledged,
            names={m.member_id: m.name for m in members if m.name},
            message_id=t.message_id,
            chat_id=t.chat_id,
        )

    def _check_people(self) -> Steps[ReadReport]:
        t = self.target
        assert t.message_ids is not None
        for person, message_id in t.message_ids.items():
            if t.acknowledge and person not in self.known_acknowledged:
                reactions = yield from endpoints.all_message_reactions(
                    message_id, emoji_type=t.acknowledge, user_id_type=t.user_id_type
                )
                if reactions:  # a one-to-one message: any person's reaction is the recipient's
                    self.known_acknowledged.add(person)
                    self.known_read.add(person)
            if person not in self.known_read:
                receipts = yield from endpoints.all_read_users(message_id, user_id_type=t.user_id_type)
                if receipts:
                    self.known_read.add(person)
        return ReadReport.build(
            self.rule,
            list(t.message_ids),
            self.known_read,
            acknowledge=t.acknowledge,
            acknowledged=self.known_acknowledged if t.acknowledge else None,
            message_ids=t.message_ids,
        )


def cannot_wait_message(target: ReadTarget, exc: BaseException) -> str:
    """The text a failed wait shows: what was checked, what happened and what to fix."""
    return f"Cannot check who has read {target.describe()}: {exc}"
