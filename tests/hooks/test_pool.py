"""One warm connection pool per app: counted in connections the emulator saw, not in time."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from airflow_provider_feishu.hooks import pool
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient
from airflow_provider_feishu.testing import FeishuEmulator


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator(rate_limits=False) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json())
        yield emulator


def sent_batch(emu) -> str:
    users = [u["open_id"] for u in emu.users[:5]]
    return FeishuHook().batch_send_message("text", content={"text": "hi"}, open_ids=users).batch_message_id


def test_sync_hooks_of_one_app_share_one_connection(emu):
    bid = sent_batch(emu)
    emu.app.client_connections.clear()
    for _ in range(10):
        FeishuHook().get_batch_message_read_user(bid)  # a new hook per call, as every poke builds one
    assert emu.connections_seen == 1
    # Before: each hook had its own session, so each opened its own connection.
    emu.app.client_connections.clear()
    for _ in range(10):
        hook = FeishuHook()
        hook.shares_session = False
        hook.get_batch_message_read_user(bid)
        hook.close()
    assert emu.connections_seen == 10


@pytest.mark.timeout(60)
def test_async_clients_of_one_app_share_one_pool_kept_warm_past_httpx_default(emu):
    bid = sent_batch(emu)

    async def scenario() -> tuple[int, int, int, int]:
        emu.app.client_connections.clear()
        clients = [await AsyncFeishuClient.from_conn_id("feishu_default") for _ in range(20)]
        assert len({id(c._client) for c in clients}) == 2  # CLIENTS_PER_POOL each
        assert pool.async_pool_users(clients[0].config) == [10, 10]
        for client in clients:
            await client.get_batch_message_read_user(bid)
        first = emu.connections_seen
        # Idle longer than httpx's default keep-alive (5 s): the pooled connection is still open.
        await asyncio.sleep(6)
        await clients[0].get_batch_message_read_user(bid)
        warm = emu.connections_seen
        shared = clients[0]._client
        for client in clients:
            await client.aclose()
            await client.aclose()  # closing twice gives back once
        assert pool.async_pool_users(clients[0].config) == []
        assert shared.is_closed  # the last user closed it
        # Before: one default httpx client per trigger, each idle past 5 s, opens anew.
        emu.app.client_connections.clear()
        for _ in range(2):
            async with httpx.AsyncClient(base_url=emu.base_url) as own:
                (await own.get("/open-apis/im/v1/batch_messages/x/read_user")).read()
        before_pooling = emu.connections_seen
        async with httpx.AsyncClient(base_url=emu.base_url) as own:
            await own.get("/open-apis/im/v1/batch_messages/x/read_user")
            await asyncio.sleep(6)
            await own.get("/open-apis/im/v1/batch_messages/x/read_user")
        return first, warm, before_pooling, emu.connections_seen - before_pooling

    first, warm, before_pooling, idle_default = asyncio.run(scenario())
    assert (first, warm) == (2, 2)  # 21 calls of 20 clients over one connection per pool
    assert before_pooling == 2
    assert idle_default == 2  # httpx's default pool dropped the idle connection


def test_outside_a_loop_a_client_gets_its_own_pool(emu):
    from airflow_provider_feishu.hooks.config import config_from_connection

    config = FeishuHook().config
    client = AsyncFeishuClient(config_from_connection(FeishuHook().get_connection("feishu_default")))
    assert client._client is not None and config.app_id == client.config.app_id
    asyncio.run(client.aclose())
    assert client._client.is_closed
