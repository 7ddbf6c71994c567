"""What a notifier says: the user's text or card, or a readable default card built from the context.

Shared by :class:`~airflow_provider_feishu.notifications.feishu.FeishuNotifier` (app bot, im/v1)
and :class:`~airflow_provider_feishu.notifications.webhook.FeishuWebhookNotifier` (custom bot).
Pure functions over the callback context; no I/O and nothing heavy imported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_feishu import messages
from airflow_provider_feishu.id_lists import id_list
from airflow_provider_feishu.messages import Message

#: Longest exception text put on a card (cards are limited to 30 KB).
MAX_ERROR_CHARS = 1000
#: A footer on every default card. It also satisfies a custom bot's keyword rule "airflow".
FOOTER = "Apache Airflow · airflow-provider-feishu"

_FAILED_STATES = {"failed", "up_for_retry", "upstream_failed"}


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property may need a live supervisor (log_url reads config)
        return None


def _redact(text: str) -> str:
    """``text`` with every secret Airflow knows about masked (an exception may quote one)."""
    from airflow_provider_feishu.version_compat import redact

    redacted = redact(text)
    return redacted if isinstance(redacted, str) else text


def _md(text: str) -> str:
    """Plain text made safe for a lark_md block (no tags, no accidental @mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _state(context: Mapping[str, Any]) -> str | None:
    ti = context.get("ti") or context.get("task_instance")
    state = _attr(ti, "state") if ti is not None else None
    if state is None and context.get("dag_run") is not None:
        state = _attr(context["dag_run"], "state")
    return str(getattr(state, "value", state)) if state is not None else None


def facts(context: Mapping[str, Any]) -> dict[str, Any]:
    """The ids a notification is about: dag, task, run, map index, try, log URL, exception, reason."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    map_index = _attr(ti, "map_index")
    exception = context.get("exception")
    return {
        "dag_id": _attr(ti, "dag_id") or _attr(dag_run, "dag_id") or _attr(dag, "dag_id"),
        "task_id": _attr(ti, "task_id"),
        "run_id": context.get("run_id") or _attr(ti, "run_id") or _attr(dag_run, "run_id"),
        "map_index": map_index if isinstance(map_index, int) and map_index >= 0 else None,
        "try_number": _attr(ti, "try_number"),
        "log_url": _attr(ti, "log_url") if ti is not None else None,
        "exception": exception,
        "reason": context.get("reason"),
        "state": _state(context),
    }


def default_message(context: Mapping[str, Any]) -> Message:
    """A card about the task (or DAG run) in ``context``: red on failure, green on success.

    Lists the dag, task, run ids and the try, the exception (redacted, shortened) and a link to
    the task's log (``ti.log_url``).
    """
    f = facts(context)
    failed = f["exception"] is not None or f["state"] in _FAILED_STATES
    subject = f"{f['dag_id']}.{f['task_id']}" if f["task_id"] else str(f["dag_id"] or "DAG run")
    if f["map_index"] is not None:
        subject += f"[{f['map_index']}]"
    if failed:
        verb, template = ("failed", "red") if f["state"] != "up_for_retry" else ("failed, will retry", "orange")
    elif f["state"] == "success":
        verb, template = "succeeded", "green"
    else:
        verb, template = (f"is {f['state']}" if f["state"] else "needs attention"), "blue"
    kind = "Task" if f["task_id"] else "DAG run"
    lines = []
    if f["dag_id"]:
        lines.append(f"**DAG:** {_md(str(f['dag_id']))}")
    if f["task_id"]:
        task = str(f["task_id"]) + (f" (map index {f['map_index']})" if f["map_index"] is not None else "")
        lines.append(f"**Task:** {_md(task)}")
    if f["run_id"]:
        lines.append(f"**Run:** {_md(str(f['run_id']))}")
    if f["try_number"]:
        lines.append(f"**Try:** {f['try_number']}")
    if f["exception"] is not None:
        error = _redact(
            f"{type(f['exception']).__name__}: {f['exception']}"
            if isinstance(f["exception"], BaseException)
            else str(f["exception"])
        )
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        lines.append(f"**Error:** {_md(error)}")
    if f["reason"]:
        lines.append(f"**Reason:** {_md(str(f['reason']))}")
    if f["log_url"]:
        lines.append(f"[Open the task log]({f['log_url']})")
    note = {"tag": "note", "elements": [{"tag": "plain_text", "content": FOOTER}]}
    return messages.card_message(f"{kind} {verb}: {subject}", lines, template=template, extra_elements=[note])


def _mention_line(at_user_ids: Iterable[str], at_all: bool) -> str:
    tags = [f"<at id={uid}></at>" for uid in at_user_ids]
    if at_all:
        tags.append("<at id=all></at>")
    return " ".join(tags)


def build_message(
    context: Mapping[str, Any],
    *,
    text: str | None = None,
    title: str | None = None,
    template: str | None = None,
    at_user_ids: Any = None,
    at_all: bool = False,
) -> Message:
    """The notification: a text message (``text``), a card (``title`` and ``text`` as markdown),
    or the :func:`default_message` card (neither). Mentions go into the text, or a card line."""
    ids = id_list("at_user_ids", at_user_ids)
    if title:
        lines = [text] if text else []
        if ids or at_all:
            lines.append(_mention_line(ids, at_all))
        return messages.card_message(title, lines, template=template or "blue")
    if text:
        return messages.text_message(text, mentions=ids, mention_everyone=at_all)
    message = default_message(context)
    if ids or at_all:
        card = dict(message.body)
        mention = {"tag": "div", "text": {"tag": "lark_md", "content": _mention_line(ids, at_all)}}
        card["elements"] = [*card["elements"][:-1], mention, card["elements"][-1]]
        if template:
            card["header"] = {**card["header"], "template": template}
        return messages.raw_card_message(card)
    if template:
        card = dict(message.body)
        card["header"] = {**card["header"], "template": template}
        return messages.raw_card_message(card)
    return message


def notification_uuid(
    context: Mapping[str, Any], receive_id_type: str, receive_id: str, message: Message
) -> str | None:
    """An im/v1 idempotency key for this notification, or None when the context names no run.

    The same callback for the same task try, recipient and content gives the same uuid, so a
    retried callback is delivered once (Feishu keeps uuids for an hour). Without a run to name
    (e.g. an async deadline alert without context) there is no safe key, and no uuid is sent.
    """
    f = facts(context)
    if not f["run_id"] or not f["dag_id"]:
        return None
    key = json.dumps(
        [
            f["dag_id"],
            f["run_id"],
            f["task_id"],
            f["map_index"],
            f["try_number"],
            receive_id_type,
            receive_id,
            message.msg_type,
            message.im_content(),
        ],
        ensure_ascii=False,
        default=str,
    )
    return "afn-" + hashlib.sha256(key.encode()).hexdigest()[:44]
