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

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.endpoints import ApiRequest
from airflow_provider_feishu.api.errors import FeishuAuthError, FeishuConnectionError, FeishuTokenInvalidError
from airflow_provider_feishu.api.paging import Steps, adrive
from airflow_provider_feishu.api.receipts import ChatMember, DepartmentUser, MessageReaction, ReadReceipt
from airflow_provider_feishu.api.results import BatchProgress, ReadStats, SentMessage
from airflow_provider_feishu.hooks.config import FeishuConnectionConfig
from airflow_provider_feishu.hooks.connection_cache import (
    aconfig_from_conn_id,
    aget_connection,  # noqa: F401  (re-exported: the webhook hook imports it from here)
    amask,
    staggered_start,
)
from airflow_provider_feishu.hooks.pool import acquire_async_client, release_async_client
from airflow_provider_feishu.hooks.retrying import acall_with_retries
from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE, answer_secrets
from airflow_provider_feishu.hooks.transport import ACCEPT_ENCODING, Deadline, aread_answer
from airflow_provider_feishu.hooks.upload_source import UploadSource, read_upload

T = TypeVar("T")
R = TypeVar("R")

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
        if request.files is not None:
            headers.pop("Content-Type")  # httpx sets multipart/form-data with its boundary
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        deadline = Deadline(self.config.timeout)
        status: int | None = None
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with self._client.stream(
                    request.method,
                    request.path,
                    params=request.params,
                    json=request.json,
                    data=request.form,
                    files=request.files,
                    headers=headers,
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
        return await acall_with_retries(
            self._exchange, request, token, policy=self.config.retry, idempotent=request.idempotent, log=self.log
        )

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
            try:
                result = await self._exchange_with_retries(
                    endpoints.tenant_token_request(self.config.app_id, self.config.app_secret), None
                )
            except FeishuAuthError as err:
                err.for_connection(self.config.conn_id)
                raise
            await amask(result.token)
            TOKEN_CACHE.put(key, result.token, result.expire)
            return result.token

    async def get_batch_message_read_user(self, batch_message_id: str) -> ReadStats:
        return await self.call(endpoints.read_user_request(batch_message_id))

    async def get_batch_message_progress(self, batch_message_id: str) -> BatchProgress:
        return await self.call(endpoints.get_progress_request(batch_message_id))

    # --- who has read: receipts, members, reactions, replies ----------------------------------

    async def run_steps(self, steps: Steps[R]) -> R:
        """Drive sans-IO steps from :mod:`airflow_provider_feishu.api` (paging, read checks) with :meth:`call`."""
        return await adrive(steps, self.call)

    async def get_message_read_users(self, message_id: str, user_id_type: str = "open_id") -> list[ReadReceipt]:
        """Everyone who has read an im/v1 message the bot sent (every page), with when they read it.

        Feishu answers only for the bot's own messages, within 7 days, while the bot is in the chat.
        """
        return await self.run_steps(endpoints.all_read_users(message_id, user_id_type=user_id_type))

    async def list_chat_members(self, chat_id: str, member_id_type: str = "open_id") -> list[ChatMember]:
        """The people in a chat (every page; Feishu leaves bots out)."""
        return await self.run_steps(endpoints.all_chat_members(chat_id, member_id_type=member_id_type))

    async def list_message_reactions(
        self, message_id: str, emoji_type: str | None = None, user_id_type: str = "open_id"
    ) -> list[MessageReaction]:
        """People's reactions to a message (every page), optionally of one ``emoji_type``; apps' are left out."""
        return await self.run_steps(
            endpoints.all_message_reactions(message_id, emoji_type=emoji_type, user_id_type=user_id_type)
        )

    async def list_department_users(
        self,
        department_id: str,
        user_id_type: str = "open_id",
        department_id_type: str = "open_department_id",
        include_sub_departments: bool = True,
    ) -> list[DepartmentUser]:
        """Everyone in a department and (by default) its sub-departments, within the app's contact scope."""
        return await self.run_steps(
            endpoints.all_department_users(
                department_id,
                user_id_type=user_id_type,
                department_id_type=department_id_type,
                include_sub_departments=include_sub_departments,
            )
        )

    async def reply_message(
        self,
        message_id: str,
        msg_type: str,
        content: str | Mapping[str, Any],
        uuid: str | None = None,
        reply_in_thread: bool = False,
    ) -> SentMessage:
        """Reply to a message in its chat (or thread). With ``uuid`` it is delivered at most once per hour."""
        return await self.call(
            endpoints.reply_message_request(message_id, msg_type, content, uuid=uuid, reply_in_thread=reply_in_thread)
        )
    # --- any API, uploads and card updates ----------------------------------------------------

    async def call_api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call any Feishu API; the answer's ``data`` (or whole body). See ``FeishuHook.call_api``."""
        from airflow_provider_feishu.api.generic import call_api_request

        return await self.call(call_api_request(method, path, params=params, json=json))

    async def upload_image(self, image: UploadSource, image_type: str = "message") -> str:
        """Upload an image (a path or bytes, at most 10 MB); returns its ``image_key``."""
        from airflow_provider_feishu.api.uploads import MAX_IMAGE_BYTES, upload_image_request

        data, name = await asyncio.to_thread(read_upload, image, limit=MAX_IMAGE_BYTES, what="image")
        return await self.call(upload_image_request(data, image_type, file_name=name))

    async def upload_file(
        self, file: UploadSource, file_type: str, file_name: str | None = None, duration: int | None = None
    ) -> str:
        """Upload a file (a path or bytes, at most 30 MB); returns its ``file_key``."""
        from airflow_provider_feishu.api.uploads import MAX_FILE_BYTES, upload_file_request

        data, name = await asyncio.to_thread(read_upload, file, limit=MAX_FILE_BYTES, what="file")
        return await self.call(upload_file_request(data, file_type, file_name or name, duration=duration))

    async def update_card(self, message_id: str, card: Mapping[str, Any] | str) -> None:
        """Replace the card of an interactive message this app sent (within 14 days of sending)."""
        from airflow_provider_feishu.api.cards import update_card_request

        await self.call(update_card_request(message_id, card))
