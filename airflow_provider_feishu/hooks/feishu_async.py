"""AsyncFeishuClient: the async twin of FeishuHook, over one ``httpx.AsyncClient``.

For triggers, which share one event loop in the triggerer and must never block it. The same
protocol module builds requests and reads answers, the same retry policy decides what to
repeat, and the same process-wide token cache holds the token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx
from tenacity import AsyncRetrying

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.endpoints import ApiRequest
from airflow_provider_feishu.api.errors import FeishuConnectionError, FeishuTokenInvalidError
from airflow_provider_feishu.api.results import BatchProgress, ReadStats
from airflow_provider_feishu.api.retry_policy import tenacity_kwargs
from airflow_provider_feishu.hooks.config import FeishuConnectionConfig
from airflow_provider_feishu.hooks.connection_cache import (
    aconfig_from_conn_id,
    aget_connection,  # noqa: F401  (re-exported: the webhook hook imports it from here)
    amask,
    staggered_start,
)
from airflow_provider_feishu.hooks.pool import acquire_async_client, release_async_client
from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE, answer_secrets
from airflow_provider_feishu.hooks.transport import ACCEPT_ENCODING, Deadline, aread_answer

T = TypeVar("T")

log = logging.getLogger(__name__)


class RequestPacer(Protocol):
    """Something that makes a caller wait until one more request fits Feishu's rate limit.

    ``acquire`` may return a callable: it is called once the answer (or the failure) is in, with
    the HTTP status and headers (None, None without an answer), so a pacer can count a request as
    "at the server" until then and learn from a 429 (the server sees it later than we send).
    """

    async def acquire(self) -> Callable[[int | None, Mapping[str, str] | None], None] | None: ...


def describe_transport_error(err: httpx.HTTPError, timeout: float) -> tuple[str, bool]:
    """A short reason for a failed exchange, and whether Feishu may have processed the request."""
    if isinstance(err, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return f"could not connect within {timeout:g}s", False
    if isinstance(err, httpx.ConnectError):
        return "could not connect (refused or unreachable)", False
    if isinstance(err, httpx.TimeoutException):
        return f"no answer within {timeout:g}s (read timeout)", True
    if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "the connection dropped before a full answer arrived", True
    return type(err).__name__, True


class AsyncFeishuClient:
    """Async Feishu calls over the app's pooled ``httpx.AsyncClient`` in this event loop.

    Use ``async with AsyncFeishuClient.from_conn_id("feishu_default") as client``, or build it
    from a :class:`FeishuConnectionConfig`. With ``share_rate_limit`` every client of the app in this
    event loop shares one pacer per API at the connection's rate limits (what triggers use);
    ``pacer`` (optional) replaces that and is awaited before every request,
    so many clients of one app can share Feishu's rate limit.
    """

    def __init__(
        self,
        config: FeishuConnectionConfig,
        *,
        pacer: RequestPacer | None = None,
        share_rate_limit: bool = False,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.config = config
        self.pacer = pacer
        self.share_rate_limit = share_rate_limit
        self.log = logger or log
        # Clients of one app in one event loop share one warm connection pool (hooks/pool.py).
        self._client = acquire_async_client(config)
        self._released = False

    @classmethod
    async def from_conn_id(
        cls, conn_id: str, *, timeout: float | None = None, max_retries: int | None = None, **kwargs: Any
    ) -> AsyncFeishuClient:
        # Clients that start together go in turn, and share one lookup (hooks/connection_cache.py).
        await staggered_start()
        return cls(await aconfig_from_conn_id(conn_id, timeout=timeout, max_retries=max_retries), **kwargs)

    async def aclose(self) -> None:
        """Give back the app's pooled client (the last user closes it)."""
        if not self._released:
            self._released = True
            await release_async_client(self._client)

    async def __aenter__(self) -> AsyncFeishuClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _pacer_for(self, request: ApiRequest[Any]) -> RequestPacer | None:
        if self.pacer is not None:
            return self.pacer
        if self.share_rate_limit and request.auth and self.config.rate_limits:
            from airflow_provider_feishu.hooks.rate_limit import shared_pacer

            config = self.config
            return shared_pacer(
                config.base_url, config.app_id, request.name, config.rate_limits, config.rate_limit_share
            )
        return None

    async def _exchange(self, request: ApiRequest[T], token: str | None) -> T:
        """One HTTP exchange, no retries, over within the connection's timeout, its answer capped."""
        pacer = self._pacer_for(request)
        done = await pacer.acquire() if pacer is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept-Encoding": ACCEPT_ENCODING}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        deadline = Deadline(self.config.timeout)
        status: int | None = None
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with self._client.stream(
                    request.method, request.path, params=request.params, json=request.json, headers=headers
                ) as response:
                    status = response.status_code
                    body = await aread_answer(request.name, response, deadline)
        except TimeoutError:
            raise deadline.expired_error(request.name) from None
        except httpx.HTTPError as err:
            reason, may_have_arrived = describe_transport_error(err, self.config.timeout)
            raise FeishuConnectionError(request.name, reason, may_have_arrived=may_have_arrived) from None
        finally:
            if done is not None:  # the pacer learns this process's share of the quota from the answer
                done(status, response.headers if status is not None else None)
        secrets = answer_secrets(self.config, token)
        return request.parse(response.status_code, response.headers, body, secrets=secrets)

    async def _exchange_with_retries(self, request: ApiRequest[T], token: str | None) -> T:
        retrying = AsyncRetrying(**tenacity_kwargs(self.config.retry, idempotent=request.idempotent, logger=self.log))
        return await retrying(self._exchange, request, token)

    async def call(self, request: ApiRequest[T]) -> T:
        """Send a request with the cached token; on a token-invalid answer, refetch and retry once."""
        if not request.auth:
            return await self._exchange_with_retries(request, None)
        token = await self.get_tenant_access_token()
        try:
            return await self._exchange_with_retries(request, token)
        except FeishuTokenInvalidError:
            TOKEN_CACHE.evict(self.config.cache_key, token)
            self.log.info("Feishu refused the cached tenant_access_token; fetching a new one and retrying once.")
            return await self._exchange_with_retries(request, await self.get_tenant_access_token())

    async def get_tenant_access_token(self, *, force_refresh: bool = False) -> str:
        key = self.config.cache_key
        if not force_refresh and (token := TOKEN_CACHE.get(key)):
            return token
        async with TOKEN_CACHE.async_fetch_lock(key):
            if not force_refresh and (token := TOKEN_CACHE.get(key)):
                return token
            result = await self._exchange_with_retries(
                endpoints.tenant_token_request(self.config.app_id, self.config.app_secret), None
            )
            await amask(result.token)
            TOKEN_CACHE.put(key, result.token, result.expire)
            return result.token

    async def get_batch_message_read_user(self, batch_message_id: str) -> ReadStats:
        return await self.call(endpoints.read_user_request(batch_message_id))

    async def get_batch_message_progress(self, batch_message_id: str) -> BatchProgress:
        return await self.call(endpoints.get_progress_request(batch_message_id))
