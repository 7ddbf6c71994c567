"""Updating a card the bot sent (PATCH im/v1/messages/:message_id), checked before sending.

Feishu's rules (Feishu docs: im-v1/message/patch): only ``interactive`` messages this app sent,
not recalled, at most 14 days old, at most 5 updates per second per message, card body at most
30 KB, and the card must be "shared" (``config.update_multi: true``) both when sent and when
updated. :func:`shared_card` adds that flag; :func:`update_card_request` adds it to the update.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_feishu.api import results
from airflow_provider_feishu.api.endpoints import ApiRequest, _path_id, require_id
from airflow_provider_feishu.api.errors import FeishuConfigError

MAX_CARD_BYTES = 30 * 1024  # card/post content (Feishu docs: im-v1/message/create)
CARD_UPDATE_WINDOW_SECONDS = 14 * 86400  # (Feishu docs: im-v1/message/patch)
CARD_UPDATES_PER_SECOND = 5  # per message (Feishu docs: im-v1/message/patch)


def shared_card(card: Mapping[str, Any] | str) -> dict[str, Any]:
    """``card`` (a dict or a JSON object string) with ``config.update_multi`` set, so it can be updated."""
    from airflow_provider_feishu.messages import raw_card_message

    try:
        card = raw_card_message(card).body
    except ValueError as err:
        raise FeishuConfigError(str(err)) from None
    if card.get("type") == "template":
        return dict(card)  # a card template reference: its config lives in the template
    config = card.get("config")
    config = dict(config) if isinstance(config, Mapping) else {}
    config.setdefault("update_multi", True)
    return {**card, "config": config}


def update_card_request(message_id: str, card: Mapping[str, Any] | str) -> ApiRequest[None]:
    """PATCH im/v1/messages/:message_id — replace the card of an interactive message the app sent.

    Repeating an update leaves the same card, so it is retried like a read.
    """
    mid = _path_id(require_id("message_id", message_id))
    content = json.dumps(shared_card(card), ensure_ascii=False, separators=(",", ":"))
    if len(content.encode()) > MAX_CARD_BYTES:
        raise FeishuConfigError(
            f"the card is {len(content.encode()):,} bytes as JSON; Feishu takes at most {MAX_CARD_BYTES:,}. "
            "Show fewer rows or shorter text."
        )
    return ApiRequest(
        name="message_patch",
        method="PATCH",
        path=f"/open-apis/im/v1/messages/{mid}",
        parser=results.parse_nothing,
        json={"content": content},
    )
