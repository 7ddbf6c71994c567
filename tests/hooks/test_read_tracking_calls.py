"""Who-has-read calls of FeishuHook and AsyncFeishuClient over real HTTP against the emulator."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.errors import (
    FeishuNotFoundError,
    FeishuNotSenderError,
    FeishuPermissionError,
    FeishuProtocolError,
)
from airflow_provider_feishu.hooks.config import config_from_connection
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator(reading=ReadingModel(median_seconds=600, never_read_fraction=0.1)) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


def all_hands(emu) -> str:
    return emu.chats[0]["chat_id"]


def test_sync_listings_follow_three_or_more_pages(emu, monkeypatch):
    # 120 members; smaller pages force the walk over 3+ pages (Feishu's max is 100).
    monkeypatch.setattr(endpoints, "CHAT_MEMBERS_PAGE_SIZE", 50)
    monkeypatch.setattr(endpoints, "READ_USERS_PAGE_SIZE", 30)
    hook = FeishuHook()
    members = hook.list_chat_members(all_hands(emu))
    assert [m.member_id for m in members] == emu.chats[0]["members"]
    assert members[0].name == emu.users[0]["name"]
    sent = hook.send_message(all_hands(emu), "text", {"text": "notice"}, receive_id_type="chat_id")
    emu.advance(3600)
    readers = hook.get_message_read_users(sent.message_id)
    truth = emu.message_reads(sent.message_id)["read"]
    assert {r.user_id for r in readers} == set(truth) and len(readers) > 60
    assert all(r.read_at.tzinfo is not None for r in readers)
    pages = [e for e in emu.requests_log if e[2].endswith("/read_users")]
    assert len(pages) >= 3


def test_reactions_and_reply(emu):
    hook = FeishuHook()
    sent = hook.send_message(all_hands(emu), "text", {"text": "notice"}, receive_id_type="chat_id")
    person = emu.chats[0]["members"][5]
    emu.react(sent.message_id, person, "DONE")
    emu.react(sent.message_id, emu.app_id, "DONE", operator_type="app")
    reactions = hook.list_message_reactions(sent.message_id, emoji_type="DONE")
    assert [(r.user_id, r.emoji_type) for r in reactions] == [(person, "DONE")]
    reply = hook.reply_message(sent.message_id, "text", {"text": "thanks"}, uuid="reply-1")
    again = hook.reply_message(sent.message_id, "text", {"text": "thanks"}, uuid="reply-1")
    assert reply.message_id == again.message_id != sent.message_id


def test_errors_are_typed(emu, monkeypatch):
    hook = FeishuHook()
    sent = hook.send_message(all_hands(emu), "text", {"text": "notice"}, receive_id_type="chat_id")
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_OTHER", emu.connection_json(app_id=emu.apps[1]["app_id"]))
    with pytest.raises(FeishuNotSenderError):
        FeishuHook("feishu_other").get_message_read_users(sent.message_id)
    with pytest.raises(FeishuPermissionError, match="232011"):
        hook.list_chat_members(emu.chats[2]["chat_id"])
    emu.advance(8 * 86400)
    with pytest.raises(FeishuNotFoundError, match="7 days"):
        FeishuHook().get_message_read_users(sent.message_id)


def test_a_repeating_page_token_stops_the_walk(emu):
    body = {"code": 0, "msg": "ok", "data": {"items": [], "has_more": True, "page_token": "same"}}
    emu.inject("/open-apis/im/v1/chats/*", times=None, status=200, body=body)
    with pytest.raises(FeishuProtocolError, match="repeated"):
        FeishuHook().list_chat_members(all_hands(emu))
    assert emu.request_count("chat_members") == 2


def test_async_client_lists_the_same(emu):
    sent = FeishuHook().send_message(all_hands(emu), "text", {"text": "notice"}, receive_id_type="chat_id")
    emu.advance(3600)
    emu.react(sent.message_id, emu.chats[0]["members"][0], "THUMBSUP")

    async def listings():
        async with AsyncFeishuClient(config_from_connection(_conn(emu))) as client:
            return (
                await client.list_chat_members(all_hands(emu)),
                await client.get_message_read_users(sent.message_id),
                await client.list_message_reactions(sent.message_id, "THUMBSUP"),
                await client.reply_message(sent.message_id, "text", {"text": "ok"}),
            )

    members, readers, reactions, reply = asyncio.run(listings())
    assert len(members) == 120
    assert {r.user_id for r in readers} == set(emu.message_reads(sent.message_id)["read"])
    assert emu.chats[0]["members"][0] in {r.user_id for r in reactions}
    assert reply.message_id.startswith("om_")


def _conn(emu):
    from airflow.sdk import Connection

    return Connection.from_json(emu.connection_json(extra=FAST_RETRIES), conn_id="feishu_default")


def test_department_users_follow_sub_departments_and_pages(emu, monkeypatch):
    monkeypatch.setattr(endpoints, "CONTACT_PAGE_SIZE", 8)
    eng = next(d for d in emu.departments if d["department_id"] == "eng")
    hook = FeishuHook()
    everyone = hook.list_department_users(eng["open_department_id"])
    assert sorted(u.open_id for u in everyone) == sorted(emu.department_members("eng"))
    direct = hook.list_department_users("eng", department_id_type="department_id", include_sub_departments=False)
    assert len(direct) == 30 and all(u.email and u.name for u in direct)
    assert {u.id_of("user_id") for u in direct} <= {u["user_id"] for u in emu.users}
    with pytest.raises(FeishuPermissionError, match="40004"):
        hook.list_department_users("od-unknown")


def test_async_department_users(emu):
    async def listing():
        async with AsyncFeishuClient(config_from_connection(_conn(emu))) as client:
            return await client.list_department_users("sales", department_id_type="department_id")

    assert len(asyncio.run(listing())) == 30
