"""Typed results of the Feishu calls, parsed from the response envelope.

Parsers raise :class:`FeishuProtocolError` when a field is missing or of the wrong type, never a
KeyError or ValueError: a malformed answer is Feishu's (or a proxy's) fault, not the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_feishu.api.errors import FeishuProtocolError


@dataclass(frozen=True)
class TenantToken:
    """A tenant_access_token and how many seconds it still lives (``expire``)."""

    token: str = field(repr=False)
    expire: int


@dataclass(frozen=True)
class ReadStats:
    """How many recipients of a batch message have read it, out of how many it reached so far."""

    read_count: int
    total_count: int

    @property
    def ratio(self) -> float:
        """``read_count / total_count``; 0.0 while nobody has received the message yet."""
        return self.read_count / self.total_count if self.total_count > 0 else 0.0

    @property
    def unread_count(self) -> int:
        return max(self.total_count - self.read_count, 0)

    def describe(self) -> str:
        """One readable line such as ``read 42/120 (35.0%)``."""
        return f"read {self.read_count}/{self.total_count} ({self.ratio:.1%})"


@dataclass(frozen=True)
class BatchProgress:
    """get_progress: delivery and reading of a batch message, plus its recall state."""

    valid_user_ids_count: int
    success_user_ids_count: int
    read_user_ids_count: int
    recalled: bool = False
    recall_count: int = 0


@dataclass(frozen=True)
class BatchSendResult:
    """What batch_send returns: the batch message id and the ids Feishu could not use."""

    batch_message_id: str
    invalid_department_ids: tuple[str, ...] = ()
    invalid_open_ids: tuple[str, ...] = ()
    invalid_user_ids: tuple[str, ...] = ()
    invalid_union_ids: tuple[str, ...] = ()

    @property
    def invalid_count(self) -> int:
        return (
            len(self.invalid_department_ids)
            + len(self.invalid_open_ids)
            + len(self.invalid_user_ids)
            + len(self.invalid_union_ids)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_message_id": self.batch_message_id,
            "invalid_department_ids": list(self.invalid_department_ids),
            "invalid_open_ids": list(self.invalid_open_ids),
            "invalid_user_ids": list(self.invalid_user_ids),
            "invalid_union_ids": list(self.invalid_union_ids),
        }


@dataclass(frozen=True)
class SentMessage:
    """An im/v1 message as returned by message create."""

    message_id: str
    chat_id: str | None = None
    msg_type: str | None = None
    create_time: str | None = None


@dataclass(frozen=True)
class UrgentResult:
    """urgent_app: the user ids Feishu could not buzz."""

    invalid_user_ids: tuple[str, ...] = ()


# --- parsing helpers -------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
#: No count Feishu sends comes near this (a tenant has at most millions of people); a larger one is
#: a broken answer, and would overflow float division in the ratio (a 400-digit count did).
MAX_COUNT = 10**9


def _bad(api: str, what: str) -> FeishuProtocolError:
    return FeishuProtocolError(api=api, code=None, msg=f"unexpected response: {what}")


def section(api: str, envelope: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    """The object at ``path`` inside the envelope (e.g. ``data``, ``read_user``)."""
    node: Mapping[str, Any] = envelope
    for i, key in enumerate(path):
        child = node.get(key)
        if not isinstance(child, Mapping):
            raise _bad(api, f"'{'.'.join(path[: i + 1])}' is missing or not an object")
        node = child
    return node


def as_count(api: str, obj: Mapping[str, Any], key: str) -> int:
    """A non-negative count that Feishu may send as an int or as a decimal string ("10")."""
    value = obj.get(key)
    if isinstance(value, bool):
        raise _bad(api, f"'{key}' is a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses. Length first:
        # int() of thousands of digits is slow, and refused past sys.get_int_max_str_digits().
        digits = value.strip().lstrip("0") or "0"
        number = int(digits) if len(digits) <= len(str(MAX_COUNT)) else MAX_COUNT + 1
    else:
        shown = "missing" if value is None else f"{value!r:.40}"
        raise _bad(api, f"'{key}' is not a count ({shown})")
    if number < 0:
        raise _bad(api, f"'{key}' is negative ({number})")
    if number > MAX_COUNT:
        raise _bad(api, f"'{key}' is implausibly large (over {MAX_COUNT:,})")
    return number


def as_str(api: str, obj: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if isinstance(value, str) and value:
        return value
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not required:
        return str(value)
    raise _bad(api, f"'{key}' is missing or not a string")


def as_str_list(api: str, obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(api, f"'{key}' is not a list of strings")
    return tuple(value)


# --- one parser per result -------------------------------------------------------------------


def parse_tenant_token(api: str, envelope: Mapping[str, Any]) -> TenantToken:
    # The token endpoints put their fields at the top level, not in `data`
    # (Feishu docs: 自建应用获取 tenant_access_token).
    token = as_str(api, envelope, "tenant_access_token")
    assert token is not None
    return TenantToken(token=token, expire=as_count(api, envelope, "expire"))


def parse_read_stats(api: str, envelope: Mapping[str, Any]) -> ReadStats:
    # read_count / total_count arrive as strings ("10"), per the read_user API page.
    node = section(api, envelope, "data", "read_user")
    read_count, total_count = as_count(api, node, "read_count"), as_count(api, node, "total_count")
    if read_count > total_count:
        # Only recipients it reached can have read it: more reads than deliveries is a broken
        # answer, and taking it would over-estimate the ratio (read 7 of 1 is not "reached").
        raise _bad(api, f"read_count {read_count} exceeds total_count {total_count}")
    return ReadStats(read_count=read_count, total_count=total_count)


def parse_batch_progress(api: str, envelope: Mapping[str, Any]) -> BatchProgress:
    data = section(api, envelope, "data")
    send = section(api, data, "batch_message_send_progress")
    recall = data.get("batch_message_recall_progress")
    recall = recall if isinstance(recall, Mapping) else {}
    return BatchProgress(
        valid_user_ids_count=as_count(api, send, "valid_user_ids_count"),
        success_user_ids_count=as_count(api, send, "success_user_ids_count"),
        read_user_ids_count=as_count(api, send, "read_user_ids_count"),
        recalled=recall.get("recall") is True,
        recall_count=as_count(api, recall, "recall_count") if "recall_count" in recall else 0,
    )


def parse_batch_send(api: str, envelope: Mapping[str, Any]) -> BatchSendResult:
    data = section(api, envelope, "data")
    message_id = as_str(api, data, "message_id")
    assert message_id is not None
    return BatchSendResult(
        batch_message_id=message_id,
        invalid_department_ids=as_str_list(api, data, "invalid_department_ids"),
        invalid_open_ids=as_str_list(api, data, "invalid_open_ids"),
        invalid_user_ids=as_str_list(api, data, "invalid_user_ids"),
        invalid_union_ids=as_str_list(api, data, "invalid_union_ids"),
    )


def parse_sent_message(api: str, envelope: Mapping[str, Any]) -> SentMessage:
    data = section(api, envelope, "data")
    message_id = as_str(api, data, "message_id")
    assert message_id is not None
    return SentMessage(
        message_id=message_id,
        chat_id=as_str(api, data, "chat_id", required=False),
        msg_type=as_str(api, data, "msg_type", required=False),
        create_time=as_str(api, data, "create_time", required=False),
    )


def parse_urgent(api: str, envelope: Mapping[str, Any]) -> UrgentResult:
    data = envelope.get("data")
    data = data if isinstance(data, Mapping) else {}
    return UrgentResult(invalid_user_ids=as_str_list(api, data, "invalid_user_id_list"))


def parse_nothing(api: str, envelope: Mapping[str, Any]) -> None:
    return None
