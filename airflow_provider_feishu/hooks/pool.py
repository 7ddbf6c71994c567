"""One warm connection pool per app: an ``httpx.AsyncClient`` per event loop, a ``requests.Session`` per process.

Against the real Feishu every new connection is a TLS handshake across the internet. Triggers poll
every 30 to 60 s and httpx drops an idle connection after 5 s, so a client per trigger opened a new
connection for almost every call (measured: 3,053 connections for 6,940 calls). The clients of
one app in one event loop therefore share ``httpx.AsyncClient`` pools (:data:`CLIENTS_PER_POOL`
clients each) whose idle connections live :data:`KEEPALIVE_EXPIRY` seconds, and all sync hooks of
one app in a worker process share one ``requests.Session``. Sharing also builds the client, its
SSL context and its view of the environment's proxies once per pool instead of once per trigger.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    import requests

    from airflow_provider_feishu.hooks.config import FeishuConnectionConfig

#: Seconds an idle pooled connection is kept: longer than a wait's usual poll interval (60 s), so
#: one wait's next poll still finds it open. A server that closes it sooner costs a new connection.
KEEPALIVE_EXPIRY = 120.0
#: Idle connections kept open per pool (httpx's default is 20); concurrent calls beyond it still run.
MAX_KEEPALIVE = 32
#: No cap on connections at once (httpx's default is 100): the pacer bounds concurrency, and with a
#: cap, requests cut short by the call's deadline held pool slots long enough that a hundred waits
#: polling through faults queued for the pool (measured with tests/reliability/test_soak.py).
MAX_CONNECTIONS = None
#: Connections a shared session keeps per host (requests' default is 10).
SESSION_POOL_SIZE = 32

USER_AGENT = "airflow-provider-feishu"

#: Clients sharing one pool at most. httpcore hands out connections in O(waiting requests x
#: connections) under a lock, and one pool for 100 clients calling at once (pacing off) served
#: fewer calls than 100 private pools in our runs; with pacing on, a pool of 10 triggers still
#: sees a call every few seconds, well within the keep-alive.
CLIENTS_PER_POOL = 10

PoolKey = tuple[Any, ...]


def _pool_key(config: FeishuConnectionConfig) -> PoolKey:
    return (config.base_url, config.app_id, config.proxy, config.timeout)


@functools.cache
def shared_ssl_context() -> Any:
    """One verifying SSL context for every client of the process.

    httpx builds a fresh context (loading the CA bundle, ~50 ms of CPU) for each client unless given
    one; in the triggerer that blocks the shared event loop once per trigger start.
    """
    import httpx

    return httpx.create_ssl_context()


class _Pooled:
    __slots__ = ("client", "users")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.users = 0


_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PoolKey, _Pooled]] = (
    weakref.WeakKeyDictionary()
)


def new_async_client(config: FeishuConnectionConfig) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``config`` with warm, long-lived keep-alive connections."""
    import httpx

    return httpx.AsyncClient(
        base_url=config.base_url,
        timeout=config.timeout,
        verify=shared_ssl_context(),
        proxy=config.proxy,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
    )


def acquire_async_client(config: FeishuConnectionConfig) -> httpx.AsyncClient:
    """The app's pooled client in the running event loop (a private one outside a loop).

    Every call must be matched by one :func:`release_async_client`; the last release closes it.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return new_async_client(config)
    pools = _async_pools.setdefault(loop, {})
    key = _pool_key(config)
    shard = 0
    while (pooled := pools.get((*key, shard))) is not None and pooled.users >= CLIENTS_PER_POOL:
        shard += 1
    if pooled is None or pooled.client.is_closed:
        pooled = pools[(*key, shard)] = _Pooled(new_async_client(config))
    pooled.users += 1
    return pooled.client


async def release_async_client(client: httpx.AsyncClient) -> None:
    """Give back a client from :func:`acquire_async_client`; closes it when nobody uses it any more."""
    try:
        pools = _async_pools.get(asyncio.get_running_loop(), {})
    except RuntimeError:
        pools = {}
    for key, pooled in list(pools.items()):
        if pooled.client is client:
            pooled.users -= 1
            if pooled.users > 0:
                return
            del pools[key]
            break
    await client.aclose()


def async_pool_users(config: FeishuConnectionConfig) -> list[int]:
    """How many clients use each of the app's pools in the running loop (for tests and metrics)."""
    pools = _async_pools.get(asyncio.get_running_loop(), {})
    key = _pool_key(config)
    return [pooled.users for shard_key, pooled in pools.items() if shard_key[:-1] == key]


_sessions: dict[PoolKey, requests.Session] = {}
_sessions_guard = threading.Lock()


def new_session(proxy: str | None) -> requests.Session:
    """A keep-alive session with our User-Agent and ``proxy`` (if any)."""
    import requests

    from airflow_provider_feishu.hooks.header_deadline import HeadDeadlineAdapter

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = HeadDeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def shared_session(config: FeishuConnectionConfig) -> requests.Session:
    """The app's session in this process, shared by the hooks of all threads (requests' connection
    pool is thread-safe; each request takes its own connection from it)."""
    key = _pool_key(config)[:3]
    with _sessions_guard:
        session = _sessions.get(key)
        if session is None:
            from airflow_provider_feishu.hooks.header_deadline import HeadDeadlineAdapter

            session = _sessions[key] = new_session(config.proxy)
            adapter = HeadDeadlineAdapter(pool_maxsize=SESSION_POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        return session


def _forget_after_fork() -> None:
    # A forked worker must not use its parent's sockets (or a lock a parent thread held): it
    # builds its own pools.
    global _sessions_guard
    _sessions_guard = threading.Lock()
    _sessions.clear()
    _async_pools.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
