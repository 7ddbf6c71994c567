"""Async clients that start together share one connection lookup and start in turn."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.hooks import connection_cache
from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient


def conn_json(secret: str = "s3cret", host: str = "http://127.0.0.1:9") -> str:
    return json.dumps({"conn_type": "feishu", "login": "cli_a", "password": secret, "host": host})


@pytest.fixture
def lookups(monkeypatch):
    """Count the connection lookups that really happen."""
    connection_cache.clear_config_cache()
    seen: list[str] = []
    real = connection_cache.aget_connection

    async def counting(conn_id: str):
        seen.append(conn_id)
        await asyncio.sleep(0.01)  # a lookup takes a while: others arrive meanwhile
        return await real(conn_id)

    monkeypatch.setattr(connection_cache, "aget_connection", counting)
    yield seen
    connection_cache.clear_config_cache()


def test_clients_starting_together_share_one_lookup(monkeypatch, lookups):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn_json())

    async def scenario():
        clients = await asyncio.gather(*(AsyncFeishuClient.from_conn_id("feishu_default") for _ in range(50)))
        later = await AsyncFeishuClient.from_conn_id("feishu_default")  # from the cache
        for client in [*clients, later]:
            await client.aclose()
        return clients, later

    clients, later = asyncio.run(scenario())
    assert lookups == ["feishu_default"]
    assert {c.config.app_secret for c in clients} == {"s3cret"} and later.config is clients[0].config


def test_a_changed_environment_connection_is_looked_up_again(monkeypatch, lookups):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn_json("one"))
    first = asyncio.run(connection_cache.aconfig_from_conn_id("feishu_default"))
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn_json("two"))
    second = asyncio.run(connection_cache.aconfig_from_conn_id("feishu_default"))
    assert (first.app_secret, second.app_secret) == ("one", "two")
    assert len(lookups) == 2


def test_a_failed_lookup_fails_every_waiter_and_is_not_cached(monkeypatch, lookups):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn_json(host="ftp://nowhere"))

    async def scenario():
        return await asyncio.gather(
            *(connection_cache.aconfig_from_conn_id("feishu_default") for _ in range(5)), return_exceptions=True
        )

    results = asyncio.run(scenario())
    assert all(isinstance(r, FeishuConfigError) and "host" in str(r) for r in results)
    assert len(lookups) == 1
    asyncio.run(scenario())
    assert len(lookups) == 2  # the error was not cached


def test_starts_in_one_instant_are_spread_over_loop_turns():
    async def scenario():
        loop = asyncio.get_running_loop()
        begin = loop.time()
        await asyncio.gather(*(connection_cache.staggered_start() for _ in range(20)))
        return connection_cache._next_start[loop] - begin

    spread = asyncio.run(scenario())
    assert spread >= 20 * connection_cache.START_SPACING
