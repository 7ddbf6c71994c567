"""Typed items of the "who" listings: read receipts, chat members, message reactions.

Feishu sends times as strings of epoch milliseconds (Feishu docs: im-v1 message read_users,
message-reaction list); they become aware UTC datetimes here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_provider_feishu.api.paging import Page, parse_page
from airflow_provider_feishu.api.results import _bad, as_str


@dataclass(frozen=True)
class ReadReceipt:
    """One reader of an im/v1 message and when they read it."""

    user_id: str
    read_at: datetime


@dataclass(frozen=True)
class ChatMember:
    """A (human) member of a chat; Feishu leaves bots out of member lists."""

    member_id: str
    name: str = ""


@dataclass(frozen=True)
class MessageReaction:
    """An emoji reaction by a person on a message."""

    user_id: str
    emoji_type: str
    reacted_at: datetime


@dataclass(frozen=True)
class DepartmentUser:
    """A person listed in a department (contact/v3), with the ids and name the app may see."""

    open_id: str
    user_id: str = ""
    union_id: str = ""
    email: str = ""
    name: str = ""

    def id_of(self, id_type: str) -> str:
        """The person's id of ``id_type`` (``open_id``, ``user_id``, ``union_id`` or ``email``); "" if unseen."""
        return str(getattr(self, id_type, "") or "")


@dataclass(frozen=True)
class Department:
    """A sub-department: both of its ids."""

    department_id: str
    open_department_id: str = ""


#: Epoch milliseconds up to the year 9999; anything larger is not a time.
MAX_EPOCH_MS = 253_402_300_799_999
_MS_DIGITS = re.compile(r"[0-9]{1,15}")


def epoch_ms(api: str, obj: Mapping[str, Any], key: str) -> datetime:
    """An epoch-milliseconds field (a string, or an int) as an aware UTC datetime."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        millis = value
    elif isinstance(value, str) and _MS_DIGITS.fullmatch(value.strip()):
        millis = int(value.strip())
    else:
        raise _bad(api, f"'{key}' is not a time in epoch milliseconds ({value!r:.40})")
    if not 0 <= millis <= MAX_EPOCH_MS:
        raise _bad(api, f"'{key}' is not a time ({millis})")
    return datetime.fromtimestamp(millis / 1000, UTC)


def _receipt(api: str, raw: Mapping[str, Any]) -> ReadReceipt:
    user_id = as_str(api, raw, "user_id")
    assert user_id is not None
    return ReadReceipt(user_id=user_id, read_at=epoch_ms(api, raw, "timestamp"))


def _member(api: str, raw: Mapping[str, Any]) -> ChatMember:
    member_id = as_str(api, raw, "member_id")
    assert member_id is not None
    name = raw.get("name")
    return ChatMember(member_id=member_id, name=name if isinstance(name, str) else "")


def _reaction(api: str, raw: Mapping[str, Any]) -> MessageReaction | None:
    operator = raw.get("operator")
    reaction_type = raw.get("reaction_type")
    if not isinstance(operator, Mapping) or not isinstance(reaction_type, Mapping):
        raise _bad(api, "a reaction has no 'operator' or 'reaction_type' object")
    # An app's reaction carries its App ID as operator_id; only people acknowledge
    # (Feishu docs: message-reaction overview).
    if operator.get("operator_type") != "user":
        return None
    user_id = as_str(api, operator, "operator_id")
    emoji_type = as_str(api, reaction_type, "emoji_type")
    assert user_id is not None and emoji_type is not None
    return MessageReaction(user_id=user_id, emoji_type=emoji_type, reacted_at=epoch_ms(api, raw, "action_time"))


def parse_read_users_page(api: str, envelope: Mapping[str, Any]) -> Page[ReadReceipt]:
    return parse_page(api, envelope, _receipt)


def parse_chat_members_page(api: str, envelope: Mapping[str, Any]) -> Page[ChatMember]:
    return parse_page(api, envelope, _member)


def parse_reactions_page(api: str, envelope: Mapping[str, Any]) -> Page[MessageReaction]:
    return parse_page(api, envelope, _reaction)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def _department_user(api: str, raw: Mapping[str, Any]) -> DepartmentUser:
    # Fields the app has no scope for are simply absent (Feishu docs: find_by_department).
    open_id = as_str(api, raw, "open_id")
    assert open_id is not None
    return DepartmentUser(
        open_id=open_id,
        user_id=_text(raw, "user_id"),
        union_id=_text(raw, "union_id"),
        email=_text(raw, "email"),
        name=_text(raw, "name"),
    )


def _department(api: str, raw: Mapping[str, Any]) -> Department:
    department_id = as_str(api, raw, "department_id")
    assert department_id is not None
    return Department(department_id=department_id, open_department_id=_text(raw, "open_department_id"))


def parse_department_users_page(api: str, envelope: Mapping[str, Any]) -> Page[DepartmentUser]:
    return parse_page(api, envelope, _department_user)


def parse_departments_page(api: str, envelope: Mapping[str, Any]) -> Page[Department]:
    return parse_page(api, envelope, _department)
