"""FeishuMessageReadTrigger: serialization, and its wait against the emulator (no Airflow run)."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from airflow_provider_feishu.triggers.message_read import FeishuMessageReadTrigger

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator(reading=ReadingModel(never_read_fraction=1.0)) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


def test_serialize_round_trips_without_secrets(emu):
    trigger = FeishuMessageReadTrigger(
        target={"message_ids": {"a": "om_1"}, "acknowledge": "OK"},
        threshold=0.8,
        deadline=123.0,
        known_read=["a"],
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_feishu.triggers.message_read.FeishuMessageReadTrigger"
    again = FeishuMessageReadTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs["known_read"] == ["a"] and emu.app_secret not in repr(kwargs)


def test_wait_reaches_when_people_read_and_remembers_known_readers(emu):
    hook = FeishuHook()
    people = [u["open_id"] for u in emu.users[:4]]
    ids = {p: hook.send_message(p, "text", {"text": "hi"}).message_id for p in people}
    emu.mark_message_read(ids[people[1]])
    emu.mark_message_read(ids[people[2]])
    trigger = FeishuMessageReadTrigger(
        target={"message_ids": ids}, threshold=0.75, deadline=time.time() + 10, poll_interval=0.05,
        known_read=[people[0]],  # the sensor saw this one read already: not asked again
    )  # fmt: skip
    event = asyncio.run(trigger.wait())
    assert event["status"] == "reached", event
    assert event["report"]["read"] == people[:3]
    asked = [e[2] for e in emu.requests_log if e[2].endswith("/read_users")]
    assert f"/open-apis/im/v1/messages/{ids[people[0]]}/read_users" not in asked


def test_deadline_event_carries_the_last_report(emu):
    chat = emu.chats[1]
    mid = FeishuHook().send_message(chat["chat_id"], "text", {"text": "x"}, receive_id_type="chat_id").message_id
    trigger = FeishuMessageReadTrigger(
        target={"message_id": mid, "chat_id": chat["chat_id"]}, threshold=0.5, deadline=time.time() + 0.3,
        poll_interval=0.05,
    )  # fmt: skip
    event = asyncio.run(trigger.wait())
    assert event["status"] == "deadline" and event["report"]["total_count"] == 30
    assert "read 0/30" in event["message"]


def test_a_missing_connection_is_an_error_event(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FEISHU_DEFAULT", raising=False)
    trigger = FeishuMessageReadTrigger(
        target={"message_id": "om_1", "chat_id": "oc_1"}, threshold=0.5, deadline=time.time() + 1,
        feishu_conn_id="feishu_nowhere",
    )  # fmt: skip
    event = asyncio.run(trigger.wait())
    assert event["status"] == "error" and "Cannot check who has read" in event["message"]
