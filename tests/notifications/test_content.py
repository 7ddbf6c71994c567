"""Notification content: the default failure card, text / card choices, mentions and the uuid."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from airflow_provider_feishu.notifications.content import (
    FOOTER,
    build_message,
    default_message,
    notification_uuid,
)

LOG_URL = "http://localhost:8080/dags/nightly/runs/manual__1/tasks/load?try_number=2"


def ti(**overrides):
    values = {
        "dag_id": "nightly",
        "task_id": "load",
        "run_id": "manual__1",
        "map_index": -1,
        "try_number": 2,
        "log_url": LOG_URL,
        "state": "failed",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def failure_context(**ti_overrides):
    return {"ti": ti(**ti_overrides), "exception": ValueError("the <b>load</b> broke"), "run_id": "manual__1"}


def test_default_failure_card_exact_shape():
    message = default_message(failure_context())
    assert message.msg_type == "interactive"
    assert message.body == {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": "Task failed: nightly.load"}, "template": "red"},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": "**DAG:** nightly"}},
            {"tag": "div", "text": {"tag": "lark_md", "content": "**Task:** load"}},
            {"tag": "div", "text": {"tag": "lark_md", "content": "**Run:** manual__1"}},
            {"tag": "div", "text": {"tag": "lark_md", "content": "**Try:** 2"}},
            {
                "tag": "div",
                "text": {"tag": "lark_md", "content": "**Error:** ValueError: the &lt;b&gt;load&lt;/b&gt; broke"},
            },
            {"tag": "div", "text": {"tag": "lark_md", "content": f"[Open the task log]({LOG_URL})"}},
            {"tag": "note", "elements": [{"tag": "plain_text", "content": FOOTER}]},
        ],
    }
    # the same card in the two shapes: object for webhooks, JSON string for im/v1
    assert message.webhook_payload() == {"msg_type": "interactive", "card": message.body}
    assert json.loads(message.im_content()) == message.body


def test_default_card_mapped_task_retry_and_success():
    retrying = default_message({"ti": ti(map_index=3, state="up_for_retry"), "exception": RuntimeError("x")})
    assert retrying.body["header"]["title"]["content"] == "Task failed, will retry: nightly.load[3]"
    assert retrying.body["header"]["template"] == "orange"
    assert {"tag": "div", "text": {"tag": "lark_md", "content": "**Task:** load (map index 3)"}} in retrying.body[
        "elements"
    ]
    success = default_message({"ti": ti(state="success")})
    assert success.body["header"] == {
        "title": {"tag": "plain_text", "content": "Task succeeded: nightly.load"},
        "template": "green",
    }


def test_default_card_for_a_dag_run_callback():
    dag_run = SimpleNamespace(dag_id="nightly", run_id="scheduled__2", state="failed")
    card = default_message({"dag_run": dag_run, "reason": "task_failure"}).body
    assert card["header"]["title"]["content"] == "DAG run failed: nightly"
    assert {"tag": "div", "text": {"tag": "lark_md", "content": "**Reason:** task_failure"}} in card["elements"]


def test_default_card_with_empty_context():
    card = default_message({}).body
    assert card["header"]["title"]["content"] == "DAG run needs attention: DAG run"


def test_long_exception_is_shortened():
    card = default_message({"ti": ti(), "exception": ValueError("x" * 5000)}).body
    error = next(e["text"]["content"] for e in card["elements"] if "**Error:**" in e.get("text", {}).get("content", ""))
    assert len(error) < 1100 and error.endswith("…")


def test_text_with_mentions_and_card_with_title():
    text = build_message({}, text="load done", at_user_ids="ou_a, ou_b", at_all=True)
    assert text.webhook_payload() == {
        "msg_type": "text",
        "content": {
            "text": '<at user_id="ou_a"></at> <at user_id="ou_b"></at> <at user_id="all">所有人</at> load done'
        },
    }
    card = build_message({}, title="Report", text="**3** rows", template="green", at_user_ids=["ou_a"])
    assert card.body["header"] == {"title": {"tag": "plain_text", "content": "Report"}, "template": "green"}
    assert card.body["elements"] == [
        {"tag": "div", "text": {"tag": "lark_md", "content": "**3** rows"}},
        {"tag": "div", "text": {"tag": "lark_md", "content": "<at id=ou_a></at>"}},
    ]


def test_default_card_with_mentions_and_colour():
    card = build_message(failure_context(), at_all=True, template="carmine").body
    assert card["header"]["template"] == "carmine"
    assert card["elements"][-2] == {"tag": "div", "text": {"tag": "lark_md", "content": "<at id=all></at>"}}
    assert card["elements"][-1]["tag"] == "note"


def test_mentions_split_on_newlines_and_commas():
    text = build_message(failure_context(), text="hi", at_user_ids="ou_1,\nou_2 ou_3").body["text"]
    assert text.count("<at user_id=") == 3 and 'user_id="ou_3"' in text


def test_a_non_string_mention_is_an_error_naming_the_item():
    with pytest.raises(ValueError, match=r"at_user_ids\[0\] must be an id string, got NoneType None"):
        build_message(failure_context(), text="hi", at_user_ids=[None, 1, "ou_1"])


def test_uuid_is_stable_per_event_and_differs_otherwise():
    message = default_message(failure_context())
    first = notification_uuid(failure_context(), "chat_id", "oc_1", message)
    assert first is not None and len(first) <= 50
    assert notification_uuid(failure_context(), "chat_id", "oc_1", message) == first
    assert notification_uuid(failure_context(try_number=3), "chat_id", "oc_1", message) != first
    assert notification_uuid(failure_context(), "chat_id", "oc_2", message) != first
    assert notification_uuid(failure_context(), "chat_id", "oc_1", build_message({}, text="other")) != first
    assert notification_uuid({}, "chat_id", "oc_1", message) is None  # nothing names the event
