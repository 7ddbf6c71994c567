"""Request builders: each Feishu call as an :class:`ApiRequest`, validated before any I/O.

A transport sends ``method`` to ``base_url + path`` with ``params`` and ``json``, adds the bearer
token when ``auth`` is set, and hands the answer to :meth:`ApiRequest.parse`. Whether a request is
``idempotent`` decides whether it may be repeated after an ambiguous failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from airflow_provider_feishu.api import results
from airflow_provider_feishu.api.envelope import log_id_of, parse_envelope, scrub_and_cut
from airflow_provider_feishu.api.errors import FeishuConfigError, FeishuProtocolError

T = TypeVar("T")

FEISHU_BASE_URL = "https://open.feishu.cn"
LARK_BASE_URL = "https://open.larksuite.com"
DOMAINS = {"feishu": FEISHU_BASE_URL, "lark": LARK_BASE_URL}

BATCH_MSG_TYPES = ("text", "image", "post", "share_chat", "interactive")
RECEIVE_ID_TYPES = ("open_id", "user_id", "union_id", "email", "chat_id")
USER_ID_TYPES = ("open_id", "user_id", "union_id")
MAX_IDS_PER_LIST = 200  # batch_send: at most 200 ids in each list (feishu-api.md §2)
MAX_UUID_CHARS = 50  # im/v1 message create: uuid is at most 50 characters (feishu-api.md §6.1)
#: Feishu's ids are 30-70 characters (om_/oc_/ou_ + 32 hex, bm-..., emails); a longer one is a mistake
#: and would only make a huge URL (httpx refuses those with an error of its own).
MAX_ID_CHARS = 256

ReceiveIdType = Literal["open_id", "user_id", "union_id", "email", "chat_id"]
UserIdType = Literal["open_id", "user_id", "union_id"]


@dataclass(frozen=True)
class ApiRequest(Generic[T]):
    """One Feishu call, ready to send; ``parse`` turns a raw answer into the typed result."""

    name: str
    method: str
    path: str
    parser: Callable[[str, Mapping[str, Any]], T] = field(repr=False)
    params: Mapping[str, str | Sequence[str]] | None = None
    # repr=False: the token request's body holds the App Secret.
    json: Mapping[str, Any] | None = field(default=None, repr=False)
    auth: bool = True
    idempotent: bool = True
    # A multipart/form-data upload instead of a JSON body (im/v1 images and files): the text
    # fields, and the file parts as name -> (file name, bytes, content type).
    form: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = field(default=None, repr=False)

    def parse(self, status: int, headers: Mapping[str, str], body: bytes, *, secrets: Collection[str] = ()) -> T:
        """The typed result, or the :class:`FeishuError` this answer means."""
        envelope = parse_envelope(self.name, status, headers, body, secrets=secrets)
        try:
            return self.parser(self.name, envelope)
        except FeishuProtocolError as err:
            # A parser quotes the odd value it found; that value is the server's text, so it is
            # scrubbed like the rest, and the error gains the status and log id it lacked.
            failure = FeishuProtocolError(
                api=self.name,
                code=err.code,
                msg=scrub_and_cut(err.msg, secrets, 500),
                http_status=status,
                log_id=log_id_of(envelope, headers, secrets),
            )
        raise failure  # outside the except block: no chained copy of the unscrubbed error


def require_id(name: str, value: Any, *, secret: bool = False) -> str:
    """``value`` as a clean id, or a :class:`FeishuConfigError` naming the argument.

    With ``secret``, the error never quotes the value.
    """
    shown = "(value hidden)" if secret else f"{value!r:.60}"
    if not isinstance(value, str) or not value.strip():
        raise FeishuConfigError(f"{name} must be a non-empty string, got {shown}.")
    if value != value.strip():
        raise FeishuConfigError(f"{name} has leading or trailing whitespace: {shown}.")
    if len(value) > MAX_ID_CHARS:
        raise FeishuConfigError(
            f"{name} is {len(value)} characters long; Feishu's ids are far shorter (at most {MAX_ID_CHARS} here)."
        )
    return value


def _id_list(name: str, values: Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    ids = _ids(name, values)
    if len(ids) > MAX_IDS_PER_LIST:
        raise FeishuConfigError(
            f"{name} has {len(ids)} ids; Feishu takes at most {MAX_IDS_PER_LIST} per list in one batch_send. "
            "Split the recipients over several sends, or send to their departments."
        )
    return ids or None


def _ids(name: str, values: Any) -> list[str]:
    """``values`` as a list of clean ids; a single string or a non-iterable is a FeishuConfigError."""
    if isinstance(values, (str, bytes)):
        raise FeishuConfigError(f"{name} must be a list of ids, not a single string {values!r:.60}.")
    try:
        items = list(values)
    except TypeError:
        raise FeishuConfigError(f"{name} must be a list of ids, got {type(values).__name__}.") from None
    return [require_id(f"{name}[{i}]", v) for i, v in enumerate(items)]


def _choice(name: str, value: str, allowed: Collection[str]) -> str:
    if value not in allowed:
        raise FeishuConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r:.60}.")
    return value


def _path_id(value: str) -> str:
    """An id made safe as one path segment. ``.`` and ``..`` (or any run of dots) would be collapsed
    out of the path by the HTTP client, sending the token to another endpoint, so they are refused."""
    if not value.strip("."):
        raise FeishuConfigError(f"{value!r:.60} is not an id: a path segment of only dots is refused.")
    return quote(value, safe="")


# --- builders --------------------------------------------------------------------------------


def tenant_token_request(app_id: str, app_secret: str) -> ApiRequest[results.TenantToken]:
    """POST auth/v3/tenant_access_token/internal (self-built apps)."""
    return ApiRequest(
        name="tenant_access_token",
        method="POST",
        path="/open-apis/auth/v3/tenant_access_token/internal",
        parser=results.parse_tenant_token,
        json={"app_id": require_id("App ID", app_id), "app_secret": require_id("App Secret", app_secret, secret=True)},
        auth=False,
    )


def read_user_request(batch_message_id: str) -> ApiRequest[results.ReadStats]:
    """GET im/v1/batch_messages/:id/read_user — how many recipients read a batch message."""
    bid = _path_id(require_id("batch_message_id", batch_message_id))
    return ApiRequest(
        name="read_user",
        method="GET",
        path=f"/open-apis/im/v1/batch_messages/{bid}/read_user",
        parser=results.parse_read_stats,
    )


def get_progress_request(batch_message_id: str) -> ApiRequest[results.BatchProgress]:
    """GET im/v1/batch_messages/:id/get_progress — delivery, reading and recall progress."""
    bid = _path_id(require_id("batch_message_id", batch_message_id))
    return ApiRequest(
        name="get_progress",
        method="GET",
        path=f"/open-apis/im/v1/batch_messages/{bid}/get_progress",
        parser=results.parse_batch_progress,
    )


def recall_batch_request(batch_message_id: str) -> ApiRequest[None]:
    """DELETE im/v1/batch_messages/:id — recall a batch message (within a day of sending)."""
    bid = _path_id(require_id("batch_message_id", batch_message_id))
    # Recalling twice is harmless, so a retry after an ambiguous failure is safe.
    return ApiRequest(
        name="batch_recall",
        method="DELETE",
        path=f"/open-apis/im/v1/batch_messages/{bid}",
        parser=results.parse_nothing,
    )


def batch_send_request(
    msg_type: str,
    *,
    content: Mapping[str, Any] | None = None,
    card: Mapping[str, Any] | None = None,
    department_ids: Iterable[str] | None = None,
    open_ids: Iterable[str] | None = None,
    user_ids: Iterable[str] | None = None,
    union_ids: Iterable[str] | None = None,
) -> ApiRequest[results.BatchSendResult]:
    """POST message/v4/batch_send/ — one message to many users or departments, asynchronously.

    ``content`` (text, image, post, share_chat) and ``card`` (interactive) are JSON *objects* here,
    unlike im/v1 where content is a string (feishu-api.md §9).
    """
    _choice("msg_type", msg_type, BATCH_MSG_TYPES)
    if (content is None) == (card is None):
        raise FeishuConfigError("batch_send takes exactly one of content (for text/image/post/share_chat) or card.")
    if msg_type == "interactive" and card is None:
        raise FeishuConfigError("msg_type 'interactive' needs card=..., not content=....")
    if msg_type != "interactive" and content is None:
        raise FeishuConfigError(f"msg_type {msg_type!r} needs content=..., card=... is for 'interactive'.")
    body_obj = content if content is not None else card
    if not isinstance(body_obj, Mapping):
        raise FeishuConfigError("batch_send content / card must be a JSON object (a dict), not a string.")
    body: dict[str, Any] = {"msg_type": msg_type}
    body["content" if content is not None else "card"] = dict(body_obj)
    lists = {
        "department_ids": _id_list("department_ids", department_ids),
        "open_ids": _id_list("open_ids", open_ids),
        "user_ids": _id_list("user_ids", user_ids),
        "union_ids": _id_list("union_ids", union_ids),
    }
    if "0" in (lists["department_ids"] or []):
        raise FeishuConfigError("department_ids may not contain the root department '0'; name its sub-departments.")
    if not any(lists.values()):
        raise FeishuConfigError(
            "batch_send needs at least one recipient: department_ids, open_ids, user_ids or union_ids."
        )
    body.update({k: v for k, v in lists.items() if v})
    return ApiRequest(
        name="batch_send",
        method="POST",
        path="/open-apis/message/v4/batch_send/",
        parser=results.parse_batch_send,
        json=body,
        idempotent=False,  # no idempotency key on this legacy API: never re-send blindly
    )


def create_message_request(
    receive_id: str,
    msg_type: str,
    content: str | Mapping[str, Any],
    *,
    receive_id_type: str = "open_id",
    uuid: str | None = None,
) -> ApiRequest[results.SentMessage]:
    """POST im/v1/messages — one message to a user or chat; ``content`` travels as a JSON string.

    With a ``uuid`` Feishu delivers at most once per uuid within an hour, which makes the request
    safe to repeat; without one it is not.
    """
    _choice("receive_id_type", receive_id_type, RECEIVE_ID_TYPES)
    require_id("msg_type", msg_type)
    if isinstance(content, Mapping):
        content_text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(content, str) and content.strip():
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise FeishuConfigError(
                'content must be a dict or a JSON object string such as \'{"text": "hi"}\'; '
                "got text that is not a JSON object."
            )
        content_text = content
    else:
        raise FeishuConfigError("content must be a dict or a non-empty JSON string.")
    body: dict[str, Any] = {
        "receive_id": require_id("receive_id", receive_id),
        "msg_type": msg_type,
        "content": content_text,
    }
    if uuid is not None:
        if isinstance(uuid, str) and len(uuid) > MAX_UUID_CHARS:
            raise FeishuConfigError(f"uuid is {len(uuid)} characters; Feishu takes at most {MAX_UUID_CHARS}.")
        require_id("uuid", uuid)
        body["uuid"] = uuid
    return ApiRequest(
        name="message_create",
        method="POST",
        path="/open-apis/im/v1/messages",
        parser=results.parse_sent_message,
        params={"receive_id_type": receive_id_type},
        json=body,
        idempotent=uuid is not None,
    )


def urgent_app_request(
    message_id: str, user_ids: Iterable[str], *, user_id_type: str = "open_id"
) -> ApiRequest[results.UrgentResult]:
    """PATCH im/v1/messages/:message_id/urgent_app — buzz users in-app about a message."""
    _choice("user_id_type", user_id_type, USER_ID_TYPES)
    mid = _path_id(require_id("message_id", message_id))
    ids = _ids("user_ids", user_ids)
    if not ids:
        raise FeishuConfigError("urgent_app needs at least one user id.")
    return ApiRequest(
        name="urgent_app",
        method="PATCH",
        path=f"/open-apis/im/v1/messages/{mid}/urgent_app",
        parser=results.parse_urgent,
        params={"user_id_type": user_id_type},
        json={"user_id_list": ids},
        # Buzzing twice notifies twice; treat it like a send.
        idempotent=False,
    )
