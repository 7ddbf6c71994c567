"""AsyncFeishuClient over real HTTP against the emulator: same protocol, cache and retry policy."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_feishu.api.errors import FeishuAuthError, FeishuConnectionError, FeishuNotFoundError
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient
from airflow_provider_feishu.testing import FeishuEmulator

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
BATCH_PATH = "/open-apis/im/v1/batch_messages/*"


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


def send_batch(emu, n: int = 10) -> str:
    users = [u["open_id"] for u in emu.users[:n]]
    return FeishuHook().batch_send_message("text", content={"text": "hi"}, open_ids=users).batch_message_id


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_async_reads_share_the_sync_token(emu):
    batch_id = send_batch(emu)
    emu.advance(60)
    emu.mark_read(batch_id, count=4)

    async def read():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            stats = await client.get_batch_message_read_user(batch_id)
            progress = await client.get_batch_message_progress(batch_id)
            return stats, progress

    stats, progress = run(read())
    assert (stats.read_count, stats.total_count) == (4, 10)
    assert progress.valid_user_ids_count == 10
    assert emu.request_count("tenant_access_token") == 1  # the sync send fetched it; async reused it


def test_concurrent_async_callers_fetch_one_token(emu):
    batch_id = send_batch(emu)
    from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE

    TOKEN_CACHE.clear()
    before = emu.request_count("tenant_access_token")

    async def many():
        clients = [await AsyncFeishuClient.from_conn_id("feishu_default") for _ in range(20)]
        try:
            await asyncio.gather(*(c.get_batch_message_read_user(batch_id) for c in clients))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    run(many())
    assert emu.request_count("tenant_access_token") - before == 1


def test_async_retries_and_token_refresh(emu):
    batch_id = send_batch(emu)
    emu.inject(BATCH_PATH, times=2, kind="html_502")

    async def read():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            await client.get_batch_message_read_user(batch_id)
            emu.inject(BATCH_PATH, kind="expire_token")
            return await client.get_batch_message_read_user(batch_id)

    run(read())
    assert emu.request_count("read_user") == 5  # 2 faults + 1, then expired + 1
    assert emu.request_count("tenant_access_token") == 2


def test_async_permanent_error_is_not_retried(emu):
    async def read():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            await client.get_batch_message_read_user("bm-unknown")

    with pytest.raises(FeishuNotFoundError):
        run(read())
    assert emu.request_count("read_user") == 1


def test_async_dropped_connection_is_classified(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra={**FAST_RETRIES, "max_retries": 0}))
    batch_id = send_batch(emu)
    emu.inject(BATCH_PATH, kind="drop_after")

    async def read():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            await client.get_batch_message_read_user(batch_id)

    with pytest.raises(FeishuConnectionError) as info:
        run(read())
    assert info.value.may_have_arrived is True


def test_async_refused_credentials_name_the_connection(emu, monkeypatch):
    import json

    wrong = json.loads(emu.connection_json(extra=FAST_RETRIES))
    wrong["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WRONG", json.dumps(wrong))

    async def read():
        async with await AsyncFeishuClient.from_conn_id("feishu_wrong") as client:
            await client.get_batch_message_read_user("bm-" + "0" * 32)

    with pytest.raises(FeishuAuthError) as info:
        run(read())
    assert str(info.value).startswith("Feishu connection 'feishu_wrong': Feishu tenant_access_token failed: code=10014")
    assert "not-the-secret" not in str(info.value)
