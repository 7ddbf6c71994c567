"""PATCH im/v1/messages/:message_id: updating a card the app sent, with Feishu's rules.

Rules (Feishu docs: im-v1/message/patch): only ``interactive`` messages, only by the app that sent
them, only within 14 days of sending, at most 5 updates per second per message (230020), card at
most 30 KB (230025). Each message keeps every card it showed, for inspection
(``FeishuEmulator.card(message_id)`` and ``card_history``).
"""

from __future__ import annotations

import json
from typing import Any

from .world import E_NOT_SENDER, E_PARAM, E_TOO_LONG, RICH_LIMIT, Result, World, im_error

CARD_UPDATE_WINDOW = 14 * 86400
CARD_UPDATES_PER_SECOND = 5

E_FREQUENCY = (230020, "This operation triggers the frequency limit.")
E_UPDATE_WINDOW = (230031, "The message can only be modified within 14 days.")
E_CARD_BUILD = (230099, "Failed to create card content.")


def op_message_patch(world: World, app_id: str, message_id: str, body: Any) -> Result:
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        return im_error(E_PARAM, "content is required and must be a JSON string.")
    content = body["content"]
    try:
        card = json.loads(content)
    except ValueError:
        card = None
    if not isinstance(card, dict):
        return im_error(E_CARD_BUILD, "content is not a JSON object.")
    if len(content.encode()) > RICH_LIMIT:
        return im_error(E_TOO_LONG)
    with world.lock:
        message = world.messages.get(message_id)
        if message is None:
            return im_error(E_PARAM, "message_id is invalid.")
        if message["_app_id"] != app_id:
            # UNCONFIRMED which code Feishu uses here; the one for "not the sender" elsewhere in im/v1.
            return im_error(E_NOT_SENDER)
        if message["msg_type"] != "interactive":
            return im_error(E_PARAM, "only interactive (card) messages can be updated.")
        now = world.clock.now()
        if now - message["_sent_at"] > CARD_UPDATE_WINDOW:
            return im_error(E_UPDATE_WINDOW)
        recent = [t for t in message.setdefault("_card_updates", []) if now - t < 1.0]
        if len(recent) >= CARD_UPDATES_PER_SECOND:
            return im_error(E_FREQUENCY)
        message["_card_updates"] = [*recent, now]
        message.setdefault("_cards", [json.loads(message["body"]["content"])]).append(card)
        message["body"] = {"content": content}
        message["updated"] = True
        message["update_time"] = str(int(now * 1000))
        # What the recipients see: the inbox or chat entry shows the newest card.
        for entry in [*world.inbox.get(message["_open_id"] or "", []), *world.chat_log.get(message["chat_id"], [])]:
            if entry.get("message_id") == message_id:
                entry["content"] = card
                entry["updated_at"] = now
    return 200, {"code": 0, "msg": "success", "data": {}}


def card_history(world: World, message_id: str) -> list[dict[str, Any]]:
    """Every card an interactive message has shown, oldest first (KeyError for an unknown id)."""
    with world.lock:
        message = world.messages[message_id]
        if message["msg_type"] != "interactive":
            raise KeyError(f"message {message_id} is a {message['msg_type']} message, not a card")
        cards = message.get("_cards") or [json.loads(message["body"]["content"])]
        return [json.loads(json.dumps(c)) for c in cards]
