"""Who has read an im/v1 message: per-person read times, reactions, members, buzzes and replies.

Each person who can see a message (the recipient of a one-to-one message, or the chat's members,
including those who join later) reads it at a time drawn from the emulator's :class:`ReadingModel`
with ``random.Random(f"{seed}/{message_id}/{open_id}")``, so runs repeat. A reminder (a buzz, an
@-mention in a reply, or a new direct message from the same app) draws a second, much sooner read
time for a person who has not read yet (:data:`NUDGE_MEDIAN_FACTOR`): reminders work, but not on
everyone. Some readers react with a THUMBSUP a little after reading (:data:`ACKNOWLEDGE_FRACTION`).

The endpoints follow Feishu's rules (Feishu docs: message read_users, chat-members/get,
message-reaction list, urgent_app, message reply): read_users only for the app's own messages
(230012), within 7 days (230033), while the bot is in the chat (230002); member lists leave bots
out and page with ``page_size`` <= 100; reactions page with ``page_size`` <= 50.
"""

from __future__ import annotations

import base64
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .reading import INF

if TYPE_CHECKING:
    from .world import World

Result = tuple[int, dict[str, Any]]

READ_RECEIPT_WINDOW = 7 * 86400
READ_USERS_MAX_PAGE = 100
MEMBERS_MAX_PAGE, MEMBERS_DEFAULT_PAGE = 100, 20
REACTIONS_MAX_PAGE, REACTIONS_DEFAULT_PAGE = 50, 20
#: A reminded person who has not read draws a new read delay with this fraction of the median
#: (at most :data:`NUDGE_MEDIAN_CAP` seconds) ...
NUDGE_MEDIAN_FACTOR = 0.1
NUDGE_MEDIAN_CAP = 1800.0
#: ... and this fraction of the never-read chance.
NUDGE_NEVER_READ_FACTOR = 0.5
#: Share of readers who react with :data:`ACKNOWLEDGE_EMOJI`, a median minute after reading.
ACKNOWLEDGE_FRACTION = 0.5
ACKNOWLEDGE_EMOJI = "THUMBSUP"
USER_ID_TYPES = frozenset({"open_id", "user_id", "union_id"})
# A mention inside the content string, whose quotes are escaped once more when it is a post or card.
_MENTION = re.compile(r'<at user_id=\\?"([^"\\]+)')

E_PARAM = (230001, "Your request contains an invalid request parameter.")
E_NOT_IN_CHAT = (230002, "The bot can not be outside the group.")
E_NOT_SENDER = (230012, "Bot is NOT the sender of the message.")
E_READ_WINDOW = (230033, "The message read status can only be queried within 7 days.")
E_CHAT_PARAM = (232001, "Your request contains an invalid request parameter.")
E_CHAT_ID = (232006, "Your request specifies a chat_id which is invalid.")
E_CHAT_NOT_MEMBER = (232011, "Operator can NOT be out of the chat.")
E_REACTION_TYPE = (231001, "reaction type is invalid.")
E_REACTION_MESSAGE = (231003, "The message is not found, maybe not exist or deleted.")
E_REACTION_ACCESS = (231008, "The operator has no access to the message.")
E_REACTION_TOKEN = (231012, "The page token is invalid.")


def _error(err: tuple[int, str], detail: str | None = None) -> Result:
    code, msg = err
    return 400, {"code": code, "msg": f"{msg} {detail}" if detail else msg}


@dataclass
class Seat:
    """One person's view of one message: since when they could see it, until when, and when they read it."""

    since: float
    left_at: float = INF
    read_at: float | None = None  # drawn on first use
    nudges: int = 0


@dataclass
class Reminder:
    """A buzz, a reply @-mention or a direct message that reminded someone about a message."""

    kind: str  # "buzz" | "reply" | "message"
    message_id: str
    open_id: str
    at: float
    had_read: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message_id": self.message_id,
            "open_id": self.open_id,
            "at": self.at,
            "had_read": self.had_read,
        }


@dataclass
class Reaction:
    reaction_id: str
    operator_id: str
    operator_type: str  # "user" | "app"
    emoji_type: str
    at: float


@dataclass
class MessageAudience:
    seats: dict[str, Seat] = field(default_factory=dict)
    reactions: list[Reaction] = field(default_factory=list)
    drawn_reactions: set[str] = field(default_factory=set)


class ReadTracking:
    """Per-person reads of im/v1 messages; one per :class:`World`, guarded by the world's lock."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.audiences: dict[str, MessageAudience] = {}
        self.messages_of: dict[str, list[str]] = {}  # open_id -> ids of the messages they can see
        self.reminders: list[Reminder] = []
        self.extra_unread_buzzes: dict[str, int] = {}
        self.acknowledge_fraction = ACKNOWLEDGE_FRACTION
        self._direct_message_kind = "message"  # "reply" while a one-to-one reply is created

    # ------------------------------------------------------------------ the reading curve
    def _rng(self, *parts: object) -> random.Random:
        return random.Random("/".join([str(self.world.reading.seed), *map(str, parts)]))

    def _draw_delay(self, rng: random.Random, *, nudged: bool) -> float:
        model = self.world.reading
        never = model.never_read_fraction * (NUDGE_NEVER_READ_FACTOR if nudged else 1.0)
        if rng.random() < never:
            return INF
        median = model.median_seconds
        if nudged:
            median = min(median * NUDGE_MEDIAN_FACTOR, NUDGE_MEDIAN_CAP)
        if model.distribution == "exponential":
            return rng.expovariate(math.log(2) / median)
        return rng.lognormvariate(math.log(median), model.sigma)

    def read_at(self, message_id: str, open_id: str) -> float:
        """When ``open_id`` reads (or read) the message; ``inf`` = never, or not in its audience."""
        seat = self.audiences.get(message_id, MessageAudience()).seats.get(open_id)
        if seat is None:
            return INF
        if seat.read_at is None:
            seat.read_at = seat.since + self._draw_delay(self._rng(message_id, open_id), nudged=False)
        return seat.read_at if seat.read_at <= seat.left_at else INF

    def has_read(self, message_id: str, open_id: str, now: float | None = None) -> bool:
        return self.read_at(message_id, open_id) <= (self.world.clock.now() if now is None else now)

    def readers(self, message_id: str) -> list[tuple[str, float]]:
        """``(open_id, read_at)`` of everyone who has read by now, earliest first."""
        now = self.world.clock.now()
        audience = self.audiences.get(message_id)
        if audience is None:
            return []
        out = [(o, self.read_at(message_id, o)) for o in audience.seats]
        return sorted(((o, t) for o, t in out if t <= now), key=lambda pair: (pair[1], pair[0]))

    def remind(self, kind: str, message_id: str, open_id: str) -> None:
        """``open_id`` was reminded about the message: if they have not read, they likely read soon."""
        now = self.world.clock.now()
        seat = self.audiences.get(message_id, MessageAudience()).seats.get(open_id)
        if seat is None:
            return
        had_read = self.has_read(message_id, open_id, now)
        self.reminders.append(Reminder(kind, message_id, open_id, now, had_read))
        if had_read:
            return
        seat.nudges += 1
        delay = self._draw_delay(self._rng(message_id, open_id, "nudge", seat.nudges), nudged=True)
        assert seat.read_at is not None  # drawn by has_read above
        seat.read_at = min(seat.read_at, now + delay)

    # ------------------------------------------------------------------ events from the world
    def on_message(self, message: dict[str, Any]) -> None:
        """A new im/v1 message: its audience is the recipient, or the chat's members now."""
        now = message["_sent_at"]
        self.audiences.setdefault(message["message_id"], MessageAudience())
        person = message["_open_id"]
        if person is not None:
            # A new direct message reminds the person of this app's earlier messages they have not read.
            for mid in self.messages_of.get(person, []):
                other = self.world.messages[mid]
                if (
                    other["_app_id"] == message["_app_id"]
                    and now - other["_sent_at"] <= READ_RECEIPT_WINDOW
                    and not self.has_read(mid, person, now)
                ):
                    self.remind(self._direct_message_kind, mid, person)
            self._seat(message["message_id"], person, now)
            return
        chat = self.world.tenant.chats.get(message["chat_id"], {})
        for open_id in chat.get("members", []):
            if open_id in self.world.tenant.by_open_id:
                self._seat(message["message_id"], open_id, now)

    def _seat(self, message_id: str, open_id: str, since: float) -> None:
        self.audiences.setdefault(message_id, MessageAudience()).seats[open_id] = Seat(since=since)
        seen = self.messages_of.setdefault(open_id, [])
        if message_id not in seen:
            seen.append(message_id)

    def on_join(self, chat_id: str, open_id: str) -> None:
        now = self.world.clock.now()
        for mid, message in self.world.messages.items():
            if message["chat_id"] == chat_id and message["_open_id"] is None:
                seat = self.audiences.setdefault(mid, MessageAudience()).seats.get(open_id)
                if seat is None or seat.left_at <= now:
                    self._seat(mid, open_id, now)

    def on_leave(self, chat_id: str, open_id: str) -> None:
        now = self.world.clock.now()
        for mid, message in self.world.messages.items():
            seat = self.audiences.get(mid, MessageAudience()).seats.get(open_id)
            if message["chat_id"] == chat_id and seat is not None:
                self.read_at(mid, open_id)  # fix the read time before the seat closes
                seat.left_at = min(seat.left_at, now)

    def unread_buzzes(self, open_id: str) -> int:
        """Buzzes ``open_id`` got about messages they have not read yet (Feishu refuses at 200)."""
        now = self.world.clock.now()
        return self.extra_unread_buzzes.get(open_id, 0) + sum(
            1
            for r in self.reminders
            if r.kind == "buzz" and r.open_id == open_id and not self.has_read(r.message_id, open_id, now)
        )

    # ------------------------------------------------------------------ reactions
    def reactions(self, message_id: str) -> list[Reaction]:
        """Reactions so far: explicit ones plus the THUMBSUPs some readers add after reading."""
        audience = self.audiences.get(message_id)
        if audience is None:
            return []
        now = self.world.clock.now()
        for open_id in audience.seats:
            if open_id in audience.drawn_reactions:
                continue
            read = self.read_at(message_id, open_id)
            if read == INF:
                continue
            rng = self._rng(message_id, open_id, "reaction")
            if rng.random() >= self.acknowledge_fraction:
                audience.drawn_reactions.add(open_id)
                continue
            at = read + rng.expovariate(math.log(2) / 60.0)
            if at <= now:
                audience.drawn_reactions.add(open_id)
                audience.reactions.append(Reaction(self.world.hex(16), open_id, "user", ACKNOWLEDGE_EMOJI, at))
        return sorted((r for r in audience.reactions if r.at <= now), key=lambda r: r.at)

    def react(self, message_id: str, operator_id: str, emoji_type: str, operator_type: str = "user") -> None:
        audience = self.audiences.get(message_id)
        if audience is None:
            raise KeyError(message_id)
        if operator_type == "user":
            audience.drawn_reactions.add(operator_id)  # an explicit reaction replaces the drawn one
        audience.reactions.append(
            Reaction(self.world.hex(16), operator_id, operator_type, emoji_type, self.world.clock.now())
        )

    # ------------------------------------------------------------------ endpoint helpers
    def _user_id(self, open_id: str, id_type: str) -> str:
        user = self.world.tenant.by_open_id.get(open_id, {})
        return str(user.get(id_type) or open_id)

    @staticmethod
    def _page_size(query: dict[str, list[str]], default: int, maximum: int) -> int | None:
        raw = query.get("page_size", [str(default)])[0]
        try:
            size = int(raw)
        except ValueError:
            return None
        return size if 1 <= size <= maximum else None

    @staticmethod
    def _page(items: list[Any], query: dict[str, list[str]], size: int, scope: str) -> tuple[list[Any], dict] | None:
        """A slice of ``items`` from the page token in ``query``; None when the token is not ours."""
        token = query.get("page_token", [None])[0]
        offset = 0
        if token:
            try:
                owner, _, number = base64.urlsafe_b64decode(token.encode()).decode().rpartition("|")
                offset = int(number)
            except (ValueError, UnicodeDecodeError):
                return None
            if owner != scope or offset < 0:
                return None
        chunk = items[offset : offset + size]
        more = offset + size < len(items)
        paging: dict[str, Any] = {"has_more": more}
        if more:
            paging["page_token"] = base64.urlsafe_b64encode(f"{scope}|{offset + size}".encode()).decode()
        return chunk, paging

    def _own_message(self, app_id: str, message_id: str) -> dict[str, Any] | Result:
        message = self.world.messages.get(message_id)
        if message is None:
            return _error(E_PARAM, "message_id is invalid.")
        if message["_app_id"] != app_id:
            return _error(E_NOT_SENDER)
        return message

    def _bot_in_chat(self, message: dict[str, Any], app_id: str) -> bool:
        if message["_open_id"] is not None:
            return True
        chat = self.world.tenant.chats.get(message["chat_id"])
        return chat is not None and self.world.tenant.bot_in_chat(chat, app_id)

    # ------------------------------------------------------------------ endpoints
    def op_read_users(self, app_id: str, message_id: str, query: dict[str, list[str]]) -> Result:
        id_type = query.get("user_id_type", ["open_id"])[0]
        size = self._page_size(query, 20, READ_USERS_MAX_PAGE)
        if id_type not in USER_ID_TYPES or size is None:
            return _error(E_PARAM, "user_id_type or page_size is invalid.")
        with self.world.lock:
            found = self._own_message(app_id, message_id)
            if not isinstance(found, dict):
                return found
            if self.world.clock.now() - found["_sent_at"] > READ_RECEIPT_WINDOW:
                return _error(E_READ_WINDOW)
            if not self._bot_in_chat(found, app_id):
                return _error(E_NOT_IN_CHAT)
            page = self._page(self.readers(message_id), query, size, message_id)
            if page is None:
                return _error(E_PARAM, "page_token is invalid.")
            chunk, paging = page
            items = [
                {
                    "user_id_type": id_type,
                    "user_id": self._user_id(o, id_type),
                    "timestamp": str(int(t * 1000)),
                    "tenant_key": "emulator-tenant",
                }
                for o, t in chunk
            ]
        return 200, {"code": 0, "msg": "success", "data": {"items": items, **paging}}

    def op_chat_members(self, app_id: str, chat_id: str, query: dict[str, list[str]]) -> Result:
        id_type = query.get("member_id_type", ["open_id"])[0]
        size = self._page_size(query, MEMBERS_DEFAULT_PAGE, MEMBERS_MAX_PAGE)
        if id_type not in USER_ID_TYPES or size is None:
            return _error(E_CHAT_PARAM, "member_id_type or page_size is invalid.")
        with self.world.lock:
            chat = self.world.tenant.chats.get(chat_id)
            if chat is None:
                return _error(E_CHAT_ID)
            if not self.world.tenant.bot_in_chat(chat, app_id):
                return _error(E_CHAT_NOT_MEMBER)
            # Bots are never listed (Feishu docs: chat-members/get); only people are.
            people = [o for o in chat.get("members", []) if o in self.world.tenant.by_open_id]
            page = self._page(people, query, size, chat_id)
            if page is None:
                return _error(E_CHAT_PARAM, "page_token is invalid.")
            chunk, paging = page
            items = [
                {
                    "member_id_type": id_type,
                    "member_id": self._user_id(o, id_type),
                    "name": self.world.tenant.by_open_id[o].get("name", ""),
                    "tenant_key": "emulator-tenant",
                }
                for o in chunk
            ]
        return 200, {"code": 0, "msg": "success", "data": {"items": items, "member_total": len(people), **paging}}

    def op_reactions(self, app_id: str, message_id: str, query: dict[str, list[str]]) -> Result:
        id_type = query.get("user_id_type", ["open_id"])[0]
        size = self._page_size(query, REACTIONS_DEFAULT_PAGE, REACTIONS_MAX_PAGE)
        if id_type not in USER_ID_TYPES or size is None:
            return _error(E_PARAM, "user_id_type or page_size is invalid.")
        emoji = query.get("reaction_type", [None])[0]
        if emoji is not None and not re.fullmatch(r"[A-Za-z0-9_]+", emoji):
            return _error(E_REACTION_TYPE)
        with self.world.lock:
            message = self.world.messages.get(message_id)
            if message is None:
                return _error(E_REACTION_MESSAGE)
            if not self._bot_in_chat(message, app_id):
                return _error(E_REACTION_ACCESS)
            found = [r for r in self.reactions(message_id) if emoji is None or r.emoji_type == emoji]
            page = self._page(found, query, size, message_id + "/reactions")
            if page is None:
                return _error(E_REACTION_TOKEN)
            chunk, paging = page
            items = [
                {
                    "reaction_id": r.reaction_id,
                    "operator": {
                        "operator_id": r.operator_id
                        if r.operator_type == "app"
                        else self._user_id(r.operator_id, id_type),
                        "operator_type": r.operator_type,
                    },
                    "action_time": str(int(r.at * 1000)),
                    "reaction_type": {"emoji_type": r.emoji_type},
                }
                for r in chunk
            ]
        return 200, {"code": 0, "msg": "success", "data": {"items": items, **paging}}

    def op_reply(self, app_id: str, message_id: str, body: Any) -> Result:
        if not isinstance(body, dict):
            return _error(E_PARAM, "request body is not a JSON object.")
        with self.world.lock:
            parent = self.world.messages.get(message_id)
            if parent is None:
                return _error(E_PARAM, "message_id is invalid.")
            if not self._bot_in_chat(parent, app_id):
                return _error(E_NOT_IN_CHAT)
            create = {k: body[k] for k in ("msg_type", "content", "uuid") if k in body}
            if parent["_open_id"] is not None:
                self._direct_message_kind = "reply"
                try:
                    status, out = self.world.op_message_create(
                        app_id, "open_id", {**create, "receive_id": parent["_open_id"]}
                    )
                finally:
                    self._direct_message_kind = "message"
            else:
                status, out = self.world.op_message_create(
                    app_id, "chat_id", {**create, "receive_id": parent["chat_id"]}
                )
            if status != 200:
                return status, out
            reply = self.world.messages[out["data"]["message_id"]]
            if not reply["parent_id"]:
                reply["parent_id"] = message_id
                reply["root_id"] = parent["root_id"] or message_id
                if body.get("reply_in_thread") is True:
                    reply["thread_id"] = parent["thread_id"] or "omt_" + self.world.hex(16)
                mentioned = _MENTION.findall(str(body.get("content", "")))
                for open_id in dict.fromkeys(mentioned):
                    self.remind("reply", message_id, open_id)
            return 200, {"code": 0, "msg": "success", "data": self.world._public(reply)}

    # ------------------------------------------------------------------ inspection
    def snapshot(self, message_id: str) -> dict[str, Any]:
        with self.world.lock:
            audience = self.audiences.get(message_id)
            if audience is None:
                raise KeyError(message_id)
            now = self.world.clock.now()
            current = [o for o, s in audience.seats.items() if s.left_at > now]
            read = dict(self.readers(message_id))
            return {
                "message_id": message_id,
                "audience": current,
                "read": read,
                "unread": [o for o in current if o not in read],
                "reminders": [r.to_dict() for r in self.reminders if r.message_id == message_id],
            }

    def mark_read(self, message_id: str, open_ids: list[str] | None = None) -> int:
        with self.world.lock:
            audience = self.audiences.get(message_id)
            if audience is None:
                raise KeyError(message_id)
            now = self.world.clock.now()
            targets = list(audience.seats) if open_ids is None else open_ids
            newly = 0
            for open_id in targets:
                seat = audience.seats.get(open_id)
                if seat is None:
                    raise KeyError(f"{open_id} cannot see {message_id}")
                if not self.has_read(message_id, open_id, now):
                    seat.read_at = now
                    newly += 1
            return newly

    def set_membership(self, chat_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        with self.world.lock:
            chat = self.world.tenant.chats[chat_id]
            members: list[str] = chat.setdefault("members", [])
            for open_id in add:
                if open_id not in members:
                    members.append(open_id)
                    self.on_join(chat_id, open_id)
            for open_id in remove:
                if open_id in members:
                    members.remove(open_id)
                    self.on_leave(chat_id, open_id)
            return list(members)


def tracking_admin(tracking: ReadTracking, method: str, path: str, body: Any) -> tuple[int, Any] | None:
    """The emulator admin API for read tracking, or None when ``path`` is not one of its endpoints.

    * ``GET /im_messages/<id>``: audience, readers (open_id -> epoch seconds), unread, reminders;
    * ``POST /im_messages/<id>/read`` ``{"open_ids": [...]}``: force reads now;
    * ``POST /im_messages/<id>/reactions`` ``{"open_id", "emoji_type", "operator_type"}``;
    * ``POST /chats/<id>/members`` ``{"add": [...], "remove": [...]}``;
    * ``POST /chats/<id>/bot`` ``{"present": false}``: the bot leaves (or rejoins) the chat;
    * ``GET /reminders``: every buzz, reply mention and direct-message reminder, with ``had_read``.
    """
    parts = path.strip("/").split("/")
    if parts == ["reminders"] and method == "GET":
        with tracking.world.lock:
            return 200, {"reminders": [r.to_dict() for r in tracking.reminders]}
    if len(parts) >= 2 and parts[0] == "im_messages":
        mid = parts[1]
        if len(parts) == 2 and method == "GET":
            return 200, tracking.snapshot(mid)
        if parts[2:] == ["read"] and method == "POST":
            return 200, {"ok": True, "newly_read": tracking.mark_read(mid, body.get("open_ids"))}
        if parts[2:] == ["reactions"] and method == "POST":
            with tracking.world.lock:
                tracking.react(
                    mid, body["open_id"], body.get("emoji_type", ACKNOWLEDGE_EMOJI), body.get("operator_type", "user")
                )
            return 200, {"ok": True}
    if len(parts) == 3 and parts[0] == "chats" and method == "POST":
        if parts[2] == "members":
            members = tracking.set_membership(parts[1], add=body.get("add", []), remove=body.get("remove", []))
            return 200, {"ok": True, "members": members}
        if parts[2] == "bot":
            with tracking.world.lock:
                tracking.world.tenant.chats[parts[1]]["bot_member"] = bool(body.get("present", True))
            return 200, {"ok": True}
    return None


__all__ = ["ReadTracking", "Reminder", "tracking_admin"]
