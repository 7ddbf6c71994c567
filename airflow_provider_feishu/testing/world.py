"""Mutable emulator state and the business rules of each endpoint.

Every ``op_*`` method returns ``(http_status, body)``; the HTTP layer (:mod:`.app`) adds log ids,
the ``error`` object, auth, rate limits and faults. All methods are safe to call from any thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .reading import INF, ReadingModel, Timeline
from .state import ROOT_DEPARTMENT, Tenant
from .tracking import ReadTracking

TOKEN_TTL = 7200
TOKEN_RENEW_BELOW = 1800
RECALL_WINDOW = 86400
QUERY_WINDOW = 30 * 86400
UUID_WINDOW = 3600
MAX_IDS = 200
TEXT_LIMIT = 150 * 1024
RICH_LIMIT = 30 * 1024
MAX_UNREAD_URGENT = 200

BATCH_MSG_TYPES = frozenset({"text", "image", "post", "share_chat", "interactive"})
IM_MSG_TYPES = frozenset(
    {"text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat",
     "share_user", "system"}
)
RECEIVE_ID_TYPES = frozenset({"open_id", "user_id", "union_id", "email", "chat_id"})
USER_ID_TYPES = frozenset({"open_id", "user_id", "union_id"})

Result = tuple[int, dict[str, Any]]

# im/v1 business errors (HTTP 400)
E_PARAM = (230001, "Your request contains an invalid request parameter.")
E_NOT_IN_CHAT = (230002, "The bot can not be outside the group.")
E_RECALL_WINDOW = (230009, "Message can only be recalled within one days.")
E_NOT_SENDER = (230012, "Bot is NOT the sender of the message.")
E_NO_AVAILABILITY = (230013, "Bot has NO availability to this user.")
E_TOO_MANY_URGENT = (230023, "The user has too many unread urgent messages.")
E_TOO_LONG = (230025, "The message content is too long.")
E_NO_RECALL_PERMISSION = (230026, "No permission to recall this message.")
E_NOT_FOUND = (230030, "The message id is invalid, record not found.")


def im_error(err: tuple[int, str], detail: str | None = None) -> Result:
    code, msg = err
    return 400, {"code": code, "msg": f"{msg} {detail}" if detail else msg}


def v4_error(code: int, msg: str) -> Result:
    # message/v4/batch_send documents HTTP 200 for its business errors.
    return 200, {"code": code, "msg": msg}


V4_INVALID_PARAM = (10003, "Invalid parameter.")
V4_BAD_MESSAGE = (10002, "Create or send message fail.")


def batch_key(batch_message_id: str) -> str | None:
    """``bm-<hex>`` and ``bm_<hex>`` name the same batch."""
    if len(batch_message_id) > 3 and batch_message_id[:3] in ("bm-", "bm_"):
        return batch_message_id[3:].lower()
    return None


@dataclass
class Batch:
    message_id: str
    app_id: str
    sent_at: float
    msg_type: str
    payload: dict[str, Any]  # content, or the card for interactive
    recipients: list[str]
    timeline: Timeline
    schedule_at: float
    invalid: dict[str, list[str]] = field(default_factory=dict)
    recalled_at: float | None = None

    def horizon(self, now: float) -> float:
        return now if self.recalled_at is None else min(now, self.recalled_at)

    def progress(self, now: float) -> dict[str, Any]:
        t = self.horizon(now)
        scheduled = now >= self.schedule_at
        return {
            "valid_user_ids_count": len(self.recipients) if scheduled else 0,
            "success_user_ids_count": self.timeline.delivered_count(t),
            "read_user_ids_count": self.timeline.read_count(t),
            "recall": self.recalled_at is not None,
            "recall_count": (
                self.timeline.delivered_count(self.recalled_at) if self.recalled_at is not None else 0
            ),
        }


def _json_size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


class World:
    def __init__(self, tenant: Tenant, clock: Clock, reading: ReadingModel) -> None:
        self.tenant = tenant
        self.clock = clock
        self.reading = reading
        self.lock = threading.RLock()
        self._rng = random.Random(f"ids/{reading.seed}")
        self.tokens: dict[str, tuple[str, float]] = {}  # tenant tokens: token -> (app_id, expires_at)
        self.app_tokens: dict[str, tuple[str, float]] = {}
        self._current: dict[tuple[str, str], str] = {}  # (kind, app_id) -> newest token
        self.reset()

    # ------------------------------------------------------------------ housekeeping
    def reset(self) -> None:
        with self.lock:
            self.batches: dict[str, Batch] = {}
            self.batches_by_user: dict[str, list[Batch]] = {}
            self.messages: dict[str, dict[str, Any]] = {}
            self.inbox: dict[str, list[dict[str, Any]]] = {}
            self.chat_log: dict[str, list[dict[str, Any]]] = {}
            self.uuids: dict[tuple[str, str], tuple[str, float]] = {}
            self.urgent_unread: Counter[str] = Counter()
            self.counts: Counter[str] = Counter()
            self.log: list[tuple[float, str, str, int, int | None]] = []
            self.webhook_log: list[dict[str, Any]] = []
            self.tracking = ReadTracking(self)  # who read which im/v1 message (see tracking.py)
            self.uploads: dict[str, dict[str, Any]] = {}  # image_key / file_key -> upload (testing/uploads.py)

    def hex(self, n: int) -> str:
        return f"{self._rng.getrandbits(4 * n):0{n}x}"

    def record(self, method: str, path: str, status: int, code: int | None) -> None:
        self.log.append((self.clock.now(), method, path, status, code))

    # ------------------------------------------------------------------ tokens
    def issue_token(self, kind: str, app_id: str) -> tuple[str, int]:
        """Same token while >= 30 min remain, else a new one (the old stays valid until expiry)."""
        table = self.tokens if kind == "tenant" else self.app_tokens
        with self.lock:
            now = self.clock.now()
            cur = self._current.get((kind, app_id))
            if cur is not None:
                exp = table[cur][1]
                if exp - now >= TOKEN_RENEW_BELOW:
                    return cur, int(exp - now)
            tok = "t-g" + self.hex(39)
            table[tok] = (app_id, now + TOKEN_TTL)
            self._current[(kind, app_id)] = tok
            # forget long-dead tokens so the table stays small
            if len(table) > 64:
                for t, (_, e) in list(table.items()):
                    if e < now - 86400:
                        del table[t]
            return tok, TOKEN_TTL

    def token_app(self, token: str) -> str | None:
        entry = self.tokens.get(token)
        if entry is None or self.clock.now() >= entry[1]:
            return None
        return entry[0]

    def expire_token(self, token: str) -> None:
        with self.lock:
            for table in (self.tokens, self.app_tokens):
                if token in table:
                    table[token] = (table[token][0], self.clock.now())

    def op_token(self, kind: str, body: Any) -> Result:
        if not isinstance(body, dict) or not isinstance(body.get("app_id"), str) or not isinstance(
            body.get("app_secret"), str
        ):
            return 400, {"code": 10003, "msg": "invalid param"}
        app = self.tenant.apps.get(body["app_id"])
        if app is None:
            # UNCONFIRMED: the real code for an unknown app_id; 10003 "invalid param" chosen.
            return 400, {"code": 10003, "msg": "invalid param"}
        if body["app_secret"] != app["app_secret"]:
            return 400, {"code": 10014, "msg": "app secret invalid"}
        tat, expire = self.issue_token("tenant", app["app_id"])
        if kind == "tenant":
            return 200, {"code": 0, "msg": "ok", "tenant_access_token": tat, "expire": expire}
        aat, expire = self.issue_token("app", app["app_id"])
        return 200, {"code": 0, "msg": "ok", "app_access_token": aat, "tenant_access_token": tat,
                     "expire": expire}

    # ------------------------------------------------------------------ batch_send
    def op_batch_send(self, app_id: str, body: Any) -> Result:
        if not isinstance(body, dict):
            return v4_error(*V4_INVALID_PARAM)
        msg_type = body.get("msg_type")
        if msg_type not in BATCH_MSG_TYPES:
            return v4_error(*V4_INVALID_PARAM)
        content, card = body.get("content"), body.get("card")
        if (content is None) == (card is None):
            return v4_error(*V4_INVALID_PARAM)  # exactly one of content / card
        if msg_type == "interactive":
            if card is None:
                return v4_error(*V4_INVALID_PARAM)
            payload = card
        else:
            if content is None:
                return v4_error(*V4_INVALID_PARAM)
            payload = content
        if not isinstance(payload, dict) or not self._batch_payload_ok(msg_type, payload):
            return v4_error(*V4_BAD_MESSAGE)
        lists: dict[str, list[str]] = {}
        for name in ("department_ids", "open_ids", "user_ids", "union_ids"):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return v4_error(*V4_INVALID_PARAM)
            if len(value) > MAX_IDS:
                return v4_error(*V4_INVALID_PARAM)
            lists[name] = value
        if not any(lists.values()):
            return v4_error(*V4_INVALID_PARAM)
        if ROOT_DEPARTMENT in lists.get("department_ids", []):
            return v4_error(*V4_INVALID_PARAM)
        limit = TEXT_LIMIT if msg_type == "text" else RICH_LIMIT
        if _json_size(payload) > limit:
            return v4_error(*V4_BAD_MESSAGE)

        t = self.tenant
        recipients: dict[str, None] = {}
        invalid: dict[str, list[str]] = {
            "invalid_department_ids": [], "invalid_open_ids": [], "invalid_user_ids": [],
            "invalid_union_ids": [],
        }
        for dep in lists.get("department_ids", []):
            members = t.department_members(dep)
            if members is None:
                invalid["invalid_department_ids"].append(dep)
            else:
                recipients.update(dict.fromkeys(members))
        for name, id_type in (("open_ids", "open_id"), ("user_ids", "user_id"), ("union_ids", "union_id")):
            for value in lists.get(name, []):
                user = t.resolve_user(id_type, value)
                if user is None:
                    invalid["invalid_" + name].append(value)
                else:
                    recipients[user["open_id"]] = None
        with self.lock:
            now = self.clock.now()
            hex_id = self.hex(32)
            message_id = "bm-" + hex_id
            people = list(recipients)
            deliver, read = self.reading.plan(hex_id, now, len(people))
            batch = Batch(
                message_id=message_id, app_id=app_id, sent_at=now, msg_type=msg_type, payload=payload,
                recipients=people, timeline=Timeline(people, deliver, read),
                schedule_at=now + self.reading.schedule_delay, invalid=invalid,
            )
            self.batches[hex_id] = batch
            for oid in people:
                self.batches_by_user.setdefault(oid, []).append(batch)
        return 200, {"code": 0, "msg": "ok", "data": {"message_id": message_id, **invalid}}

    @staticmethod
    def _batch_payload_ok(msg_type: str, payload: dict[str, Any]) -> bool:
        if msg_type == "text":
            return isinstance(payload.get("text"), str)
        if msg_type == "image":
            return isinstance(payload.get("image_key"), str)
        if msg_type == "share_chat":
            return isinstance(payload.get("share_chat_id"), str)
        if msg_type == "post":
            post = payload.get("post")
            if not isinstance(post, dict) or not post:
                return False
            # the md tag is not allowed in batch_send posts
            return "\"tag\": \"md\"" not in json.dumps(post) and "\"tag\":\"md\"" not in json.dumps(post)
        return True  # interactive: any card object (or template reference)

    # ------------------------------------------------------------------ batch queries
    def _lookup_batch(self, app_id: str, batch_message_id: str, *, not_sender: tuple[int, str]
                      ) -> Batch | Result:
        key = batch_key(batch_message_id)
        batch = self.batches.get(key) if key else None
        if batch is None or self.clock.now() - batch.sent_at > QUERY_WINDOW:
            return im_error(E_NOT_FOUND)
        if batch.app_id != app_id:
            return im_error(not_sender)
        return batch

    def op_read_user(self, app_id: str, batch_message_id: str) -> Result:
        found = self._lookup_batch(app_id, batch_message_id, not_sender=E_NOT_SENDER)
        if not isinstance(found, Batch):
            return found
        p = found.progress(self.clock.now())
        return 200, {"code": 0, "msg": "ok", "data": {"read_user": {
            "read_count": str(p["read_user_ids_count"]), "total_count": str(p["success_user_ids_count"])}}}

    def op_get_progress(self, app_id: str, batch_message_id: str) -> Result:
        found = self._lookup_batch(app_id, batch_message_id, not_sender=E_NOT_SENDER)
        if not isinstance(found, Batch):
            return found
        p = found.progress(self.clock.now())
        return 200, {"code": 0, "msg": "success", "data": {
            "batch_message_send_progress": {
                "valid_user_ids_count": p["valid_user_ids_count"],
                "success_user_ids_count": p["success_user_ids_count"],
                "read_user_ids_count": p["read_user_ids_count"],
            },
            "batch_message_recall_progress": {"recall": p["recall"], "recall_count": p["recall_count"]},
        }}

    def op_batch_recall(self, app_id: str, batch_message_id: str) -> Result:
        with self.lock:
            found = self._lookup_batch(app_id, batch_message_id, not_sender=E_NO_RECALL_PERMISSION)
            if not isinstance(found, Batch):
                return found
            now = self.clock.now()
            if now - found.sent_at > RECALL_WINDOW:
                return im_error(E_RECALL_WINDOW)
            if found.recalled_at is None:
                found.recalled_at = now
        return 200, {"code": 0, "msg": "success", "data": {}}

    def mark_read(self, batch_message_id: str, open_ids: list[str] | None = None,
                  count: int | None = None) -> int:
        key = batch_key(batch_message_id)
        with self.lock:
            batch = self.batches.get(key) if key else None
            if batch is None:
                raise KeyError(batch_message_id)
            now = self.clock.now()
            t = batch.horizon(now)
            tl = batch.timeline
            if open_ids is None:
                candidates = [o for o in batch.recipients if not tl.is_read(o, t)]
                # delivered ones first, then the rest (forcing a read also forces delivery)
                candidates.sort(key=lambda o: not tl.is_delivered(o, t))
                if count is not None:
                    candidates = candidates[:count]
            else:
                unknown = [o for o in open_ids if o not in tl.deliver]
                if unknown:
                    raise KeyError(f"not recipients of {batch_message_id}: {unknown}")
                candidates = list(open_ids)
            return sum(tl.force_read(o, t) for o in candidates)

    def batch_snapshot(self, batch_message_id: str) -> dict[str, Any]:
        key = batch_key(batch_message_id)
        with self.lock:
            batch = self.batches.get(key) if key else None
            if batch is None:
                raise KeyError(batch_message_id)
            now = self.clock.now()
            t = batch.horizon(now)
            tl = batch.timeline
            return {
                "message_id": batch.message_id,
                "app_id": batch.app_id,
                "sent_at": batch.sent_at,
                "msg_type": batch.msg_type,
                "content": batch.payload,
                "recipients": list(batch.recipients),
                "delivered": [o for o in batch.recipients if tl.is_delivered(o, t)],
                "read": [o for o in batch.recipients if tl.is_read(o, t)],
                "undeliverable": [o for o in batch.recipients if tl.deliver[o] == INF],
                "recalled": batch.recalled_at is not None,
                "recalled_at": batch.recalled_at,
                "progress": batch.progress(now),
                **batch.invalid,
            }

    # ------------------------------------------------------------------ im/v1 messages
    def op_message_create(self, app_id: str, receive_id_type: str | None, body: Any) -> Result:
        if receive_id_type not in RECEIVE_ID_TYPES:
            return im_error(E_PARAM, "receive_id_type is invalid.")
        if not isinstance(body, dict):
            return im_error(E_PARAM, "request body is not a JSON object.")
        receive_id, msg_type, content = body.get("receive_id"), body.get("msg_type"), body.get("content")
        if not isinstance(receive_id, str) or not receive_id:
            return im_error(E_PARAM, "receive_id is required.")
        if msg_type not in IM_MSG_TYPES:
            return im_error(E_PARAM, "msg_type is invalid.")
        if not isinstance(content, str):
            return im_error(E_PARAM, "content must be a JSON string.")
        try:
            parsed = json.loads(content)
        except ValueError:
            return im_error(E_PARAM, "content is not valid JSON.")
        if not isinstance(parsed, dict):
            return im_error(E_PARAM, "content must be a JSON object serialised to a string.")
        uuid = body.get("uuid")
        if uuid is not None and (not isinstance(uuid, str) or len(uuid) > 50):
            return im_error(E_PARAM, "uuid is invalid.")
        limit = TEXT_LIMIT if msg_type == "text" else RICH_LIMIT
        if len(content.encode()) > limit:
            return im_error(E_TOO_LONG)
        t = self.tenant
        open_id: str | None = None
        if receive_id_type == "chat_id":
            chat = t.chats.get(receive_id)
            if chat is None or not t.bot_in_chat(chat, app_id):
                return im_error(E_NOT_IN_CHAT)
            chat_id = receive_id
        else:
            user = t.resolve_user(receive_id_type, receive_id)
            if user is None:
                return im_error(E_NO_AVAILABILITY)
            open_id = user["open_id"]
            chat_id = "oc_" + hashlib.sha256(f"p2p:{app_id}:{open_id}".encode()).hexdigest()[:32]
        with self.lock:
            now = self.clock.now()
            if uuid:
                prev = self.uuids.get((app_id, uuid))
                if prev is not None and now - prev[1] < UUID_WINDOW:
                    return 200, {"code": 0, "msg": "success", "data": self._public(self.messages[prev[0]])}
            ms = str(int(now * 1000))
            message = {
                "message_id": "om_" + self.hex(32),
                "root_id": "",
                "parent_id": "",
                "thread_id": "",
                "msg_type": msg_type,
                "create_time": ms,
                "update_time": ms,
                "deleted": False,
                "updated": False,
                "chat_id": chat_id,
                "sender": {"id": app_id, "id_type": "app_id", "sender_type": "app",
                           "tenant_key": "emulator-tenant"},
                "body": {"content": content},
                "_app_id": app_id,
                "_open_id": open_id,
                "_sent_at": now,
                "_urgent": [],
            }
            self.messages[message["message_id"]] = message
            if uuid:
                self.uuids[(app_id, uuid)] = (message["message_id"], now)
            entry = {"source": "im", "message_id": message["message_id"], "msg_type": msg_type,
                     "content": parsed, "delivered_at": now, "chat_id": chat_id, "app_id": app_id}
            if open_id is not None:
                self.inbox.setdefault(open_id, []).append(entry)
            else:
                self.chat_log.setdefault(chat_id, []).append(entry)
            self.tracking.on_message(message)
        return 200, {"code": 0, "msg": "success", "data": self._public(message)}

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def op_urgent_app(self, app_id: str, message_id: str, user_id_type: str | None, body: Any) -> Result:
        if user_id_type not in USER_ID_TYPES:
            return im_error(E_PARAM, "user_id_type is invalid.")
        if not isinstance(body, dict) or not isinstance(body.get("user_id_list"), list):
            return im_error(E_PARAM, "user_id_list is required.")
        ids = body["user_id_list"]
        if not ids or not all(isinstance(i, str) for i in ids):
            return im_error(E_PARAM, "user_id_list must be a non-empty list of strings.")
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return im_error(E_PARAM, "message_id is invalid.")
            if message["_app_id"] != app_id:
                return im_error(E_NOT_SENDER)
            if message["_open_id"] is not None:
                allowed = {message["_open_id"]}
            else:
                chat = self.tenant.chats[message["chat_id"]]
                if not self.tenant.bot_in_chat(chat, app_id):
                    return im_error(E_NOT_IN_CHAT)
                allowed = set(chat.get("members", []))
            invalid, targets = [], []
            for raw in ids:
                user = self.tenant.resolve_user(user_id_type, raw)
                if user is None or user["open_id"] not in allowed:
                    invalid.append(raw)
                else:
                    targets.append(user["open_id"])
            if any(self.tracking.unread_buzzes(o) >= MAX_UNREAD_URGENT for o in targets):
                return im_error(E_TOO_MANY_URGENT)
            for o in targets:
                self.urgent_unread[o] += 1
                message["_urgent"].append(o)
                self.tracking.remind("buzz", message_id, o)
        return 200, {"code": 0, "msg": "success", "data": {"invalid_user_id_list": invalid}}

    # ------------------------------------------------------------------ custom-bot webhook
    def op_webhook(self, token: str, body: Any) -> Result:
        """Custom group bot: HTTP 200 always, the body carries the verdict."""
        hook = self.tenant.webhooks.get(token)
        if hook is None:
            return 200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid",
                         "data": {}}
        if not isinstance(body, dict):
            return 200, {"code": 9499, "msg": "Bad Request", "data": {}}
        if hook.get("secret"):
            ts, sign = body.get("timestamp"), body.get("sign")
            try:
                ts_int = int(str(ts))
            except ValueError:
                ts_int = None
            # Real time, not the emulator clock: the sender signs with its own wall clock, and a
            # sped-up or advanced emulator clock would otherwise refuse every post after an hour.
            ok = ts_int is not None and isinstance(sign, str) and abs(time.time() - ts_int) <= 3600
            if ok:
                key = f"{ts}\n{hook['secret']}".encode()
                expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
                ok = hmac.compare_digest(expected, str(sign))
            if not ok:
                return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                             "from current time", "data": {}}
        msg_type = body.get("msg_type")
        payload = body.get("card") if msg_type == "interactive" else body.get("content")
        if msg_type not in BATCH_MSG_TYPES or not isinstance(payload, dict):
            return 200, {"code": 9499, "msg": "Bad Request", "data": {}}
        if hook.get("keyword") and hook["keyword"] not in json.dumps(payload, ensure_ascii=False):
            return 200, {"code": 19024, "msg": "Key Words Not Found", "data": {}}
        with self.lock:
            entry = {"source": "webhook", "message_id": "om_" + self.hex(32), "msg_type": msg_type,
                     "content": payload, "delivered_at": self.clock.now(), "chat_id": hook.get("chat_id"),
                     "webhook": token}
            self.webhook_log.append(entry)
            if hook.get("chat_id"):
                self.chat_log.setdefault(hook["chat_id"], []).append(entry)
        return 200, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}

    # ------------------------------------------------------------------ inspection
    def delivered(self, open_id: str) -> list[dict[str, Any]]:
        with self.lock:
            now = self.clock.now()
            out: list[dict[str, Any]] = [dict(e) for e in self.inbox.get(open_id, [])]
            for b in self.batches_by_user.get(open_id, []):
                t = b.horizon(now)
                if b.timeline.is_delivered(open_id, t):
                    out.append({
                        "source": "batch", "batch_message_id": b.message_id, "message_id": b.message_id,
                        "msg_type": b.msg_type, "content": b.payload, "app_id": b.app_id,
                        "delivered_at": b.timeline.deliver[open_id],
                        "read": b.timeline.is_read(open_id, t), "recalled": b.recalled_at is not None,
                    })
            out.sort(key=lambda e: e["delivered_at"])
            return out

    def chat_messages(self, chat_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.chat_log.get(chat_id, [])]

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.counts),
                "batches": len(self.batches),
                "messages": len(self.messages),
                "webhook_messages": len(self.webhook_log),
                "tenant_tokens": len(self.tokens),
                "now": self.clock.now(),
            }
