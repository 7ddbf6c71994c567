"""FeishuNotifier (app bot, im/v1) and FeishuWebhookNotifier (custom bot) against the emulator."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest

from airflow_provider_feishu.api.errors import FeishuAuthError, FeishuConnectionError
from airflow_provider_feishu.notifications.feishu import FeishuNotifier, send_feishu_notification
from airflow_provider_feishu.notifications.webhook import FeishuWebhookNotifier, send_feishu_webhook_notification
from airflow_provider_feishu.testing import FeishuEmulator

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
PLATFORM_CHAT = "oc_35045226853e38407cda43fb1cde7840"  # "Platform team" in the default tenant
LOG_URL = "http://localhost:8080/dags/nightly/runs/manual__1/tasks/load?try_number=1"


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST))
        signed = emulator.tenant["webhooks"][1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps(
                {
                    "conn_type": "feishu_webhook",
                    "password": emulator.webhook_url(1),
                    "extra": {"secret": signed["secret"], **FAST},
                }
            ),
        )
        yield emulator


def context(try_number: int = 1, **extra):
    ti = SimpleNamespace(
        dag_id="nightly",
        task_id="load",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        log_url=LOG_URL,
        state="failed",
    )
    return {"ti": ti, "run_id": "manual__1", "exception": ValueError("boom"), **extra}


def im_messages(emu):
    return [m for m in emu.chat_messages(PLATFORM_CHAT) if m["source"] == "im"]


@pytest.mark.parametrize(
    "make",
    [
        lambda ids: FeishuNotifier(receive_id="oc_1", text="x", at_user_ids=ids),
        lambda ids: FeishuWebhookNotifier(text="x", at_user_ids=ids),
    ],
    ids=["app_bot", "webhook"],
)
def test_literal_non_string_mentions_fail_when_the_dag_is_parsed(make):
    with pytest.raises(ValueError, match=r"at_user_ids\[1\] must be an id string, got int 1"):
        make(["ou_1", 1])
    make("{{ params.mentions }}")  # a template is checked after rendering


def test_aliases():
    assert send_feishu_notification is FeishuNotifier
    assert send_feishu_webhook_notification is FeishuWebhookNotifier


def test_feishu_notifier_sends_the_failure_card_once_even_if_called_twice(emu):
    notifier = FeishuNotifier(receive_id=PLATFORM_CHAT)
    notifier(context())
    FeishuNotifier(receive_id=PLATFORM_CHAT)(context())  # the callback retried: same event, same uuid
    (message,) = im_messages(emu)
    assert message["msg_type"] == "interactive"
    assert message["content"]["header"]["title"]["content"] == "Task failed: nightly.load"
    assert {"tag": "div", "text": {"tag": "lark_md", "content": f"[Open the task log]({LOG_URL})"}} in message[
        "content"
    ]["elements"]
    assert emu.request_count("message_create") == 2
    FeishuNotifier(receive_id=PLATFORM_CHAT)(context(try_number=2))  # a new try is a new event
    assert len(im_messages(emu)) == 2


def test_feishu_notifier_retries_a_dropped_send_safely(emu):
    """With a uuid the send is idempotent: a drop after processing is retried, and still posts once."""
    emu.inject("/open-apis/im/v1/messages", kind="drop_after")
    FeishuNotifier(receive_id=PLATFORM_CHAT)(context())
    assert emu.request_count("message_create") == 2
    assert len(im_messages(emu)) == 1


def test_feishu_notifier_templated_text_to_a_user(emu):
    user = emu.users[0]["open_id"]
    notifier = FeishuNotifier(
        receive_id="{{ params.who }}",
        receive_id_type="open_id",
        text="{{ ti.task_id }} of {{ ti.dag_id }} failed: {{ exception }}",
    )
    notifier(context(params={"who": user}))
    (message,) = emu.delivered(user)
    assert message["msg_type"] == "text"
    assert message["content"] == {"text": "load of nightly failed: boom"}


def test_feishu_notifier_async(emu):
    notifier = FeishuNotifier(receive_id=PLATFORM_CHAT, title="Deadline missed", text="**nightly** is late")

    async def main() -> None:
        await notifier.async_notify(context())
        await notifier.async_notify(context())  # same event: delivered once

    asyncio.run(main())
    (message,) = im_messages(emu)
    assert message["content"]["header"]["title"]["content"] == "Deadline missed"


def test_feishu_notifier_awaitable_with_context(emu):
    notifier = FeishuNotifier(receive_id=PLATFORM_CHAT, text="{{ ti.task_id }} awaited", context=context())

    async def main() -> None:
        await notifier

    asyncio.run(main())
    assert [m["content"] for m in im_messages(emu)] == [{"text": "load awaited"}]


def test_webhook_notifier_default_card(emu):
    FeishuWebhookNotifier()(context())
    (message,) = emu.webhook_messages()
    assert message["msg_type"] == "interactive"
    card = message["content"]
    assert card["header"] == {"title": {"tag": "plain_text", "content": "Task failed: nightly.load"}, "template": "red"}
    assert {"tag": "div", "text": {"tag": "lark_md", "content": "**Error:** ValueError: boom"}} in card["elements"]


def test_webhook_notifier_templated_text_with_mentions(emu):
    notifier = FeishuWebhookNotifier(text="{{ ti.dag_id }} broke", at_user_ids="{{ params.oncall }}", at_all=True)
    notifier(context(params={"oncall": "ou_1,ou_2"}))
    assert emu.webhook_messages()[0]["content"] == {
        "text": '<at user_id="ou_1"></at> <at user_id="ou_2"></at> <at user_id="all">所有人</at> nightly broke'
    }


def test_webhook_notifier_async_runs_in_the_loop(emu):
    async def main() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await FeishuWebhookNotifier(title="Async", text="from the triggerer").async_notify(context())
        task.cancel()

    asyncio.run(main())
    assert emu.webhook_messages()[0]["content"]["header"]["title"]["content"] == "Async"


def test_webhook_notifier_errors_raise_without_secrets(emu, monkeypatch, caplog, capsys):
    hook = emu.tenant["webhooks"][1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
        json.dumps({"conn_type": "feishu_webhook", "password": emu.webhook_url(1), "extra": {"secret": "wrong-one"}}),
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FeishuAuthError) as info:
        FeishuWebhookNotifier()(context())
    emu.inject("/open-apis/bot/v2/hook/*", kind="drop_after")
    monkeypatch.setenv(
        "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
        json.dumps(
            {"conn_type": "feishu_webhook", "password": emu.webhook_url(1), "extra": {"secret": hook["secret"]}}
        ),
    )
    with pytest.raises(FeishuConnectionError) as dropped:
        asyncio.run(FeishuWebhookNotifier().async_notify(context()))
    assert len(emu.webhook_messages()) == 1  # delivered once, not re-sent
    out = capsys.readouterr()
    blob = "\n".join(
        [str(info.value), repr(info.value), str(dropped.value), out.out, out.err]
        + [r.getMessage() for r in caplog.records]
    )
    assert "Failed to send notification" in blob
    assert hook["token"] not in blob and hook["secret"] not in blob


def test_notifier_modules_import_light():
    code = (
        "import sys; from airflow.sdk import BaseNotifier; before = set(sys.modules);"
        "import airflow_provider_feishu.notifications.feishu, airflow_provider_feishu.notifications.webhook;"
        "new = set(sys.modules) - before;"
        "heavy = sorted(m for m in new if m.split('.')[0] in ('requests', 'httpx', 'tenacity', 'urllib3')"
        " or m.startswith('airflow_provider_feishu.hooks'));"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
