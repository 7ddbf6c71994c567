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
from airflow_provider_feishu.api.paging import Page, Steps, all_pages
from airflow_provider_feishu.api.receipts import (
    ChatMember,
    Department,
    DepartmentUser,
    MessageReaction,
    ReadReceipt,
    parse_chat_members_page,
    parse_department_users_page,
    parse_departments_page,
    parse_reactions_page,
    parse_read_users_page,
)

T = TypeVar("T")

FEISHU_BASE_URL = "https://open.feishu.cn"
LARK_BASE_URL = "https://open.larksuite.com"
DOMAINS = {"feishu": FEISHU_BASE_URL, "lark": LARK_BASE_URL}

BATCH_MSG_TYPES = ("text", "image", "post", "share_chat", "interactive")
RECEIVE_ID_TYPES = ("open_id", "user_id", "union_id", "email", "chat_id")
USER_ID_TYPES = ("open_id", "user_id", "union_id")
MAX_IDS_PER_LIST = 200  # batch_send: at most 200 ids in each list (Feishu docs: 批量发送消息)
MAX_UUID_CHARS = 50  # im/v1 message create: uuid is at most 50 characters (Feishu docs: 发送消息)
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
    unlike im/v1 where content is a string (Feishu docs: 批量发送消息; 发送消息内容结构).
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


# --- who has read: read receipts, chat members, reactions, replies ------------------------------
# Largest page sizes Feishu allows (Feishu docs: message read_users 1-100, chat-members/get max 100,
# message-reaction list max 50).
READ_USERS_PAGE_SIZE = 100
CHAT_MEMBERS_PAGE_SIZE = 100
REACTIONS_PAGE_SIZE = 50
IM_MSG_TYPES = (
    "text",
    "post",
    "image",
    "file",
    "audio",
    "media",
    "sticker",
    "interactive",
    "share_chat",
    "share_user",
)


def _paged(params: dict[str, str], page_size: int, page_token: str | None) -> dict[str, str]:
    params["page_size"] = str(page_size)
    if page_token is not None:
        # Feishu's own opaque token, passed back as given (no id length cap applies).
        if not isinstance(page_token, str) or not page_token:
            raise FeishuConfigError(f"page_token must be a non-empty string, got {page_token!r:.60}.")
        params["page_token"] = page_token
    return params


def read_users_request(
    message_id: str, *, user_id_type: str = "open_id", page_token: str | None = None
) -> ApiRequest[Page[ReadReceipt]]:
    """GET im/v1/messages/:message_id/read_users — one page of who read a message the bot sent.

    Only the bot's own im/v1 messages, within 7 days, while the bot is in the chat; never batch
    messages (Feishu docs: message read_users).
    """
    _choice("user_id_type", user_id_type, USER_ID_TYPES)
    mid = require_id("message_id", message_id)
    if mid.startswith(("bm-", "bm_")):
        raise FeishuConfigError(
            f"message_id {mid!r:.60} is a batch message; Feishu says who read only im/v1 messages. "
            "Wait on a batch message with FeishuReadThresholdSensor (counts only)."
        )
    return ApiRequest(
        name="read_users",
        method="GET",
        path=f"/open-apis/im/v1/messages/{_path_id(mid)}/read_users",
        parser=parse_read_users_page,
        params=_paged({"user_id_type": user_id_type}, READ_USERS_PAGE_SIZE, page_token),
    )


def chat_members_request(
    chat_id: str, *, member_id_type: str = "open_id", page_token: str | None = None
) -> ApiRequest[Page[ChatMember]]:
    """GET im/v1/chats/:chat_id/members — one page of a chat's members (bots are left out)."""
    _choice("member_id_type", member_id_type, USER_ID_TYPES)
    cid = _path_id(require_id("chat_id", chat_id))
    return ApiRequest(
        name="chat_members",
        method="GET",
        path=f"/open-apis/im/v1/chats/{cid}/members",
        parser=parse_chat_members_page,
        params=_paged({"member_id_type": member_id_type}, CHAT_MEMBERS_PAGE_SIZE, page_token),
    )


def message_reactions_request(
    message_id: str,
    *,
    emoji_type: str | None = None,
    user_id_type: str = "open_id",
    page_token: str | None = None,
) -> ApiRequest[Page[MessageReaction]]:
    """GET im/v1/messages/:message_id/reactions — one page of reactions (of one emoji_type, if given).

    ``emoji_type`` is case-sensitive (``THUMBSUP``, ``OK``, ``CheckMark``...).
    """
    _choice("user_id_type", user_id_type, USER_ID_TYPES)
    mid = _path_id(require_id("message_id", message_id))
    params = {"user_id_type": user_id_type}
    if emoji_type is not None:
        params["reaction_type"] = require_id("emoji_type", emoji_type)
    return ApiRequest(
        name="message_reactions",
        method="GET",
        path=f"/open-apis/im/v1/messages/{mid}/reactions",
        parser=parse_reactions_page,
        params=_paged(params, REACTIONS_PAGE_SIZE, page_token),
    )


def reply_message_request(
    message_id: str,
    msg_type: str,
    content: str | Mapping[str, Any],
    *,
    uuid: str | None = None,
    reply_in_thread: bool = False,
) -> ApiRequest[results.SentMessage]:
    """POST im/v1/messages/:message_id/reply — reply to a message in its chat (or its thread).

    ``content`` is built as for message create; the same ``uuid`` rule applies (at most one
    delivery per uuid within an hour), so with a uuid the request is safe to repeat.
    """
    mid = _path_id(require_id("message_id", message_id))
    _choice("msg_type", msg_type, IM_MSG_TYPES)
    if not isinstance(reply_in_thread, bool):
        raise FeishuConfigError(f"reply_in_thread must be True or False, got {reply_in_thread!r:.40}.")
    # Validate content and uuid exactly as message create does, then reuse its body.
    create = create_message_request("unused", msg_type, content, uuid=uuid)
    assert create.json is not None
    body: dict[str, Any] = {"msg_type": msg_type, "content": create.json["content"]}
    if uuid is not None:
        body["uuid"] = uuid
    if reply_in_thread:
        body["reply_in_thread"] = True
    return ApiRequest(
        name="message_reply",
        method="POST",
        path=f"/open-apis/im/v1/messages/{mid}/reply",
        parser=results.parse_sent_message,
        json=body,
        idempotent=uuid is not None,
    )


def all_read_users(message_id: str, *, user_id_type: str = "open_id") -> Steps[list[ReadReceipt]]:
    """Steps that list every reader of a message, page after page (drive them with a transport)."""
    return all_pages(lambda token: read_users_request(message_id, user_id_type=user_id_type, page_token=token))


def all_chat_members(chat_id: str, *, member_id_type: str = "open_id") -> Steps[list[ChatMember]]:
    """Steps that list every (human) member of a chat."""
    return all_pages(lambda token: chat_members_request(chat_id, member_id_type=member_id_type, page_token=token))


def all_message_reactions(
    message_id: str, *, emoji_type: str | None = None, user_id_type: str = "open_id"
) -> Steps[list[MessageReaction]]:
    """Steps that list every person's reaction to a message (of one ``emoji_type``, if given)."""
    return all_pages(
        lambda token: message_reactions_request(
            message_id, emoji_type=emoji_type, user_id_type=user_id_type, page_token=token
        )
    )


# --- departments: who is in them (contact/v3) ---------------------------------------------------
# find_by_department lists a department's direct members only; children with fetch_child lists
# every sub-department; both take page_size <= 50 (Feishu docs: contact-v3 user/find_by_department,
# department/children).
CONTACT_PAGE_SIZE = 50
DEPARTMENT_ID_TYPES = ("open_department_id", "department_id")


def department_users_request(
    department_id: str,
    *,
    user_id_type: str = "open_id",
    department_id_type: str = "open_department_id",
    page_token: str | None = None,
) -> ApiRequest[Page[DepartmentUser]]:
    """GET contact/v3/users/find_by_department — one page of a department's direct members."""
    _choice("user_id_type", user_id_type, USER_ID_TYPES)
    _choice("department_id_type", department_id_type, DEPARTMENT_ID_TYPES)
    params = {
        "department_id": require_id("department_id", department_id),
        "user_id_type": user_id_type,
        "department_id_type": department_id_type,
    }
    return ApiRequest(
        name="department_users",
        method="GET",
        path="/open-apis/contact/v3/users/find_by_department",
        parser=parse_department_users_page,
        params=_paged(params, CONTACT_PAGE_SIZE, page_token),
    )


def child_departments_request(
    department_id: str, *, department_id_type: str = "open_department_id", page_token: str | None = None
) -> ApiRequest[Page[Department]]:
    """GET contact/v3/departments/:department_id/children?fetch_child=true — every sub-department."""
    _choice("department_id_type", department_id_type, DEPARTMENT_ID_TYPES)
    did = _path_id(require_id("department_id", department_id))
    return ApiRequest(
        name="department_children",
        method="GET",
        path=f"/open-apis/contact/v3/departments/{did}/children",
        parser=parse_departments_page,
        params=_paged({"department_id_type": department_id_type, "fetch_child": "true"}, CONTACT_PAGE_SIZE, page_token),
    )


def all_department_users(
    department_id: str,
    *,
    user_id_type: str = "open_id",
    department_id_type: str = "open_department_id",
    include_sub_departments: bool = True,
) -> Steps[list[DepartmentUser]]:
    """Steps that list everyone in a department (and, by default, in all its sub-departments), once each."""
    departments = [department_id]
    if include_sub_departments:
        children = yield from all_pages(
            lambda token: child_departments_request(
                department_id, department_id_type=department_id_type, page_token=token
            )
        )
        key = "open_department_id" if department_id_type == "open_department_id" else "department_id"
        departments += [getattr(child, key) for child in children if getattr(child, key)]
    people: dict[str, DepartmentUser] = {}
    for dept in departments:

        def page(token: str | None, dept: str = dept) -> ApiRequest[Page[DepartmentUser]]:
            return department_users_request(
                dept, user_id_type=user_id_type, department_id_type=department_id_type, page_token=token
            )

        members = yield from all_pages(page)
        for person in members:
            people.setdefault(person.open_id, person)
    return list(people.values())
