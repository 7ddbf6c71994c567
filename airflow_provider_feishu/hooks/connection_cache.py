"""A ``feishu`` connection's settings for async clients, looked up once for many and off the event loop.

When a triggerer starts 1,000 waits at once, each used to look up its connection (Airflow's async
lookup reads configuration and loads the secrets backends on the loop first), validate it, mask
its secret and build its client, all before its first ``await`` that really waits: seconds of
blocked event loop. Now the starts are spread over consecutive loop turns
(:func:`staggered_start`), concurrent lookups of one connection share one (single flight), the
validated settings are reused for :data:`CONFIG_TTL` seconds, and the one-off CPU work (the SSL
context) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from typing import Any

from airflow_provider_feishu.hooks.config import FeishuConnectionConfig, config_from_connection

#: Seconds a looked-up connection is reused by new clients (a rotated secret is seen after this).
CONFIG_TTL = 30.0
#: Seconds between the starts of clients that start in the same instant (2,000 starts per second).
START_SPACING = 0.0005

ConfigKey = tuple[Any, ...]

_configs: dict[ConfigKey, tuple[float, FeishuConnectionConfig]] = {}
_in_flight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ConfigKey, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)
_next_start: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = weakref.WeakKeyDictionary()


async def aget_connection(conn_id: str) -> Any:
    """The connection, fetched without blocking the loop (common-compat covers Airflow < 3.3.2)."""
    try:
        from airflow.providers.common.compat.connection import get_async_connection
    except ImportError:
        # An older common-compat (e.g. 1.7.4, the one Airflow 3.1.0 shipped with): do what newer
        # ones do before Airflow 3.3.2 and run the sync lookup in a worker thread. Airflow 3.1.0's
        # BaseHook.aget_connection needs the task supervisor even for a connection from an
        # environment variable, and masks secrets with a blocking call on the loop.
        from airflow.sdk import BaseHook
        from asgiref.sync import sync_to_async

        return await sync_to_async(BaseHook.get_connection)(conn_id)
    return await get_async_connection(conn_id)


async def amask(secret: str) -> None:
    """Register a runtime secret with Airflow's log masker without blocking the loop."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
        return
    await amask_secret(secret)


async def staggered_start() -> None:
    """Wait for this start's turn: starts in one instant go :data:`START_SPACING` apart.

    Each start does some milliseconds of work before its first real wait; a thousand of them in
    one loop turn would block every other coroutine of the triggerer for seconds.
    """
    loop = asyncio.get_running_loop()
    now = loop.time()
    turn = max(now, _next_start.get(loop, now))
    _next_start[loop] = turn + START_SPACING
    if turn > now:
        await asyncio.sleep(turn - now)


def _key(conn_id: str, timeout: float | None, max_retries: int | None) -> ConfigKey:
    # A connection from an environment variable changes with it (tests, `airflow connections`);
    # one from a secrets backend or the metastore is reused for CONFIG_TTL seconds.
    return (conn_id, timeout, max_retries, os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"))


async def aconfig_from_conn_id(
    conn_id: str, *, timeout: float | None = None, max_retries: int | None = None
) -> FeishuConnectionConfig:
    """The validated settings of ``conn_id``, its secrets masked: from the cache, from a lookup
    already under way in this loop, or from a new lookup."""
    key = _key(conn_id, timeout, max_retries)
    cached = _configs.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    loop = asyncio.get_running_loop()
    lookups = _in_flight.setdefault(loop, {})
    pending = lookups.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[Any] = loop.create_future()
    future.add_done_callback(_retrieve)
    lookups[key] = future
    try:
        await warm_up()
        conn = await aget_connection(conn_id)
        config = config_from_connection(conn, timeout=timeout, max_retries=max_retries)
        await amask(config.app_secret)
        if config.proxy:
            await amask(config.proxy)  # a proxy URL may carry credentials
    except BaseException as err:
        if isinstance(err, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(err)
        raise
    finally:
        lookups.pop(key, None)
    _configs[key] = (time.monotonic() + CONFIG_TTL, config)
    future.set_result(config)
    return config


def _retrieve(future: asyncio.Future[Any]) -> None:
    # The starter re-raises the error itself; mark it retrieved for when nobody else waited.
    if not future.cancelled():
        future.exception()


async def warm_up() -> None:
    """Build the process's SSL context in a worker thread (loading the CA bundle takes ~0.3 s)."""
    from airflow_provider_feishu.hooks.pool import shared_ssl_context

    if shared_ssl_context.cache_info().currsize == 0:
        await asyncio.to_thread(shared_ssl_context)


def clear_config_cache() -> None:
    """Forget every looked-up connection (tests; after rotating a secret in a long-lived process)."""
    _configs.clear()
