"""Nothing is sent twice: a send whose answer is lost after Feishu processed it is delivered once.

The emulator processes the request and then drops the connection (``drop_after``) or answers
after the client's timeout (``delay``). For every send path, its delivery log must then show
exactly one message per recipient, whatever the hook, the operator or Airflow's task retry does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _support import CREATE_PATH, SEND_PATH, connect, open_ids

from airflow_provider_feishu.api.errors import FeishuConnectionError
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook
from airflow_provider_feishu.notifications.feishu import FeishuNotifier
from airflow_provider_feishu.notifications.webhook import FeishuWebhookNotifier
from airflow_provider_feishu.testing import FeishuEmulator

pytestmark = pytest.mark.timeout(120, method="thread")

DAG_FILE = Path(__file__).parents[1] / "dags" / "reliability_send_once.py"
PLATFORM_CHAT = "oc_35045226853e38407cda43fb1cde7840"
WEBHOOK_PATH = "/open-apis/bot/v2/hook/*"
# Each way an answer gets lost after processing; the delay outlives the 0.5 s client timeout.
LOST: dict[str, dict[str, Any]] = {"drop-after": {"kind": "drop_after"}, "timeout": {"kind": "delay", "delay": 1.0}}


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        connect(monkeypatch, emulator)
        webhook = emulator.tenant["webhooks"][1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps(
                {
                    "conn_type": "feishu_webhook",
                    "password": emulator.webhook_url(1),
                    "extra": {"secret": webhook["secret"], "timeout": 0.5, "retry_base_delay": 0.01},
                }
            ),
        )
        yield emulator


def settle(kind: str) -> None:
    if kind == "timeout":
        time.sleep(0.8)  # let the delayed request finish processing on the emulator


def assert_one_each(emu: FeishuEmulator, users: list[str], source: str, lost: str = "drop-after") -> None:
    """Exactly one message per recipient; at most one after a timeout (see :func:`expected`)."""
    for user in users:
        got = [m for m in emu.delivered(user) if m["source"] == source]
        assert len(got) == expected(lost), (user, got)


def expected(lost: str) -> int:
    """Deliveries a lost answer leaves: drop_after processed the request. The ``delay`` fault reads the
    body only after its sleep, when the timed-out client has gone, so the emulator never processes it:
    what matters there is that nothing was sent again (request counts)."""
    return 1 if lost == "drop-after" else 0


def context(try_number: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id="reliability", task_id="load", run_id="manual__1", map_index=-1, try_number=try_number, state="failed"
    )
    return {"ti": ti, "run_id": "manual__1", "exception": ValueError("boom")}


@pytest.mark.parametrize("lost", LOST)
def test_hook_batch_send_is_not_repeated(emu, lost):
    users = open_ids(emu, 5)
    emu.inject(SEND_PATH, **LOST[lost])
    with pytest.raises(FeishuConnectionError) as info:
        FeishuHook().batch_send_message("text", content={"text": "once"}, open_ids=users)
    assert info.value.may_have_arrived
    settle(lost)
    emu.advance(10)
    assert emu.request_count("batch_send") == 1
    assert len(emu.batches()) == expected(lost)
    assert_one_each(emu, users, "batch", lost)


@pytest.mark.parametrize("lost", LOST)
def test_hook_send_message_without_uuid_is_not_repeated(emu, lost):
    user = open_ids(emu, 1)[0]
    emu.inject(CREATE_PATH, **LOST[lost])
    with pytest.raises(FeishuConnectionError):
        FeishuHook().send_message(user, "text", {"text": "once"})
    settle(lost)
    assert emu.request_count("message_create") == 1
    assert_one_each(emu, [user], "im", lost)


@pytest.mark.parametrize("lost", LOST)
def test_hook_send_message_with_uuid_is_retried_and_delivered_once(emu, lost):
    user = open_ids(emu, 1)[0]
    emu.inject(CREATE_PATH, **LOST[lost])
    sent = FeishuHook().send_message(user, "text", {"text": "once"}, uuid="reliability-uuid-1")
    settle(lost)
    assert sent.message_id.startswith("om_")
    assert emu.request_count("message_create") == 2  # retried: the uuid makes it safe
    assert_one_each(emu, [user], "im")


@pytest.mark.parametrize("lost", LOST)
def test_webhook_hook_post_is_not_repeated(emu, lost):
    emu.inject(WEBHOOK_PATH, **LOST[lost])
    with pytest.raises(FeishuConnectionError):
        FeishuWebhookHook().send_text("once")
    settle(lost)
    assert emu.request_count("webhook") == 1
    assert len(emu.webhook_messages()) == expected(lost)


@pytest.mark.parametrize("lost", LOST)
def test_feishu_notifier_delivers_once(emu, lost):
    emu.inject(CREATE_PATH, **LOST[lost])
    FeishuNotifier(receive_id=PLATFORM_CHAT)(context())  # retried with its uuid
    FeishuNotifier(receive_id=PLATFORM_CHAT)(context())  # the callback itself run twice
    settle(lost)
    im = [m for m in emu.chat_messages(PLATFORM_CHAT) if m["source"] == "im"]
    assert len(im) == 1


@pytest.mark.parametrize("lost", LOST)
def test_feishu_notifier_async_delivers_once(emu, lost):
    emu.inject(CREATE_PATH, **LOST[lost])
    asyncio.run(FeishuNotifier(receive_id=PLATFORM_CHAT).async_notify(context()))  # type: ignore[arg-type]
    settle(lost)
    im = [m for m in emu.chat_messages(PLATFORM_CHAT) if m["source"] == "im"]
    assert len(im) == 1


@pytest.mark.parametrize("lost", LOST)
def test_webhook_notifier_posts_at_most_once(emu, lost):
    emu.inject(WEBHOOK_PATH, **LOST[lost])
    with pytest.raises(FeishuConnectionError):  # logged and re-raised by BaseNotifier
        FeishuWebhookNotifier(text="once")(context())
    settle(lost)
    assert emu.request_count("webhook") == 1
    assert len(emu.webhook_messages()) == expected(lost)


# --- operators under dag.test(), with retries=1 -------------------------------------------------


def load_dags() -> dict:
    spec = importlib.util.spec_from_file_location("reliability_send_once", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"batch": module.batch_dag, "message": module.message_dag}


def try_numbers(run: Any) -> dict[str, int]:
    return {ti.task_id: ti.try_number for ti in run.get_task_instances()}


@pytest.mark.usefixtures("airflow_db")
def test_batch_send_operator_is_not_resent_by_a_task_retry(emu):
    users = open_ids(emu, 5)
    emu.inject(SEND_PATH, kind="drop_after")
    run = load_dags()["batch"].test(run_conf={"open_ids": users})
    emu.advance(10)
    assert emu.request_count("batch_send") == 1, "a task retry sent the batch again"
    assert_one_each(emu, users, "batch")
    assert str(getattr(run.state, "value", run.state)) == "failed"  # said clearly, not re-sent


@pytest.mark.usefixtures("airflow_db")
def test_send_message_operator_task_retry_delivers_once(emu, monkeypatch):
    connect(monkeypatch, emu, max_retries=0)  # the hook gives up at once: Airflow's task retry resends
    user = open_ids(emu, 1)[0]
    emu.inject(CREATE_PATH, kind="drop_after")
    run = load_dags()["message"].test(run_conf={"open_id": user})
    assert str(getattr(run.state, "value", run.state)) == "success"
    assert try_numbers(run)["send"] == 2  # the first try failed, the retry succeeded
    assert emu.request_count("message_create") == 2
    assert_one_each(emu, [user], "im")
