"""FeishuHook: the Feishu Open Platform over ``requests``, for tasks and sensors.

A thin transport over :mod:`airflow_provider_feishu.api`: the protocol module builds each
request and reads each answer; this module sends it with the cached tenant token, retries what
is safe to retry, and never logs a token or secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, TypeVar

import requests
from airflow.sdk import BaseHook

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.endpoints import ApiRequest
from airflow_provider_feishu.api.errors import (
    FeishuAuthError,
    FeishuConfigError,
    FeishuConnectionError,
    FeishuError,
    FeishuTokenInvalidError,
)
from airflow_provider_feishu.api.paging import Steps, drive
from airflow_provider_feishu.api.receipts import ChatMember, DepartmentUser, MessageReaction, ReadReceipt
from airflow_provider_feishu.api.results import BatchProgress, BatchSendResult, ReadStats, SentMessage, UrgentResult
from airflow_provider_feishu.hooks.config import FeishuConnectionConfig, config_from_connection
from airflow_provider_feishu.hooks.header_deadline import call_deadline
from airflow_provider_feishu.hooks.rate_limit import Done, shared_thread_pacer
from airflow_provider_feishu.hooks.retrying import call_with_retries
from airflow_provider_feishu.hooks.session import SessionOwner
from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE, answer_secrets
from airflow_provider_feishu.hooks.transport import ACCEPT_ENCODING, Deadline, read_answer
from airflow_provider_feishu.hooks.upload_source import UploadSource, read_upload

T = TypeVar("T")
R = TypeVar("R")


def describe_transport_error(err: requests.RequestException, timeout: float) -> tuple[str, bool]:
    """A short reason for a failed exchange, and whether Feishu may have processed the request."""
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"could not connect within {timeout:g}s", False
    if isinstance(err, requests.exceptions.ReadTimeout):
        return f"no answer within {timeout:g}s (read timeout)", True
    if isinstance(err, (requests.exceptions.ProxyError, requests.exceptions.SSLError)):
        return f"{type(err).__name__} while connecting", False
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return "the connection dropped while the answer was arriving", True
    if isinstance(err, requests.exceptions.ConnectionError):
        # urllib3 wraps a refused or unresolvable connect in NewConnectionError, a subclass of
        # ConnectTimeoutError: nothing was sent. Anything else (RemoteDisconnected, a reset) came
        # after the request went out.
        from urllib3.exceptions import ConnectTimeoutError

        cause = err.args[0] if err.args else None
        reason = getattr(cause, "reason", cause)
        if isinstance(reason, ConnectTimeoutError):
            return "could not connect (refused or unreachable)", False
        return "the connection dropped before an answer arrived", True
    return f"{type(err).__name__}", True


class FeishuHook(SessionOwner, BaseHook):
    """Calls the Feishu (or Lark) Open Platform as a self-built app.

    Credentials come from a ``feishu`` connection: App ID in *login*, App Secret in *password*,
    and an optional base URL in *host* (else extra ``domain``: ``feishu`` or ``lark``). The
    tenant_access_token is cached per process, so building a new hook for every poke is cheap.

    :param feishu_conn_id: the ``feishu`` connection to use.
    :param timeout: seconds for each HTTP request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries after the first attempt; overrides the ``max_retries`` extra.
    """

    conn_name_attr = "feishu_conn_id"
    default_conn_name = "feishu_default"
    conn_type = "feishu"
    hook_name = "Feishu"
    #: Hooks of one app in a worker process share one keep-alive session (hooks/pool.py).
    shares_session = True

    def __init__(
        self,
        feishu_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(feishu_conn_id, str) or not feishu_conn_id.strip():
            raise FeishuConfigError(f"feishu_conn_id must name a connection, got {feishu_conn_id!r}.")
        self.feishu_conn_id = feishu_conn_id
        self._timeout = timeout
        self._max_retries = max_retries

    # --- connection form (Airflow < 3.2 reads these; 3.2+ reads get_provider_info) -----------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_feishu.get_provider_info import FEISHU_UI_FIELD_BEHAVIOUR

        return FEISHU_UI_FIELD_BEHAVIOUR

    # --- plumbing ----------------------------------------------------------------------------

    @cached_property
    def config(self) -> FeishuConnectionConfig:
        conn = self.get_connection(self.feishu_conn_id)
        config = config_from_connection(conn, timeout=self._timeout, max_retries=self._max_retries)
        _mask(config.app_secret)
        if config.proxy:
            _mask(config.proxy)  # a proxy URL may carry credentials
        return config

    def _exchange(self, request: ApiRequest[T], token: str | None) -> T:
        """One HTTP exchange, no retries, over within the connection's timeout, its answer capped."""
        config = self.config
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept-Encoding": ACCEPT_ENCODING}
        if request.files is not None:
            headers.pop("Content-Type")  # requests sets multipart/form-data with its boundary
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        done = _paced(config, request) if token is not None else None
        deadline = Deadline(config.timeout)
        status: int | None = None
        try:
            with call_deadline(deadline.at):  # the answer's head too must come within the deadline
                response = self.session.request(
                    request.method,
                    config.base_url + request.path,
                    params=request.params,
                    json=request.json,
                    data=request.form,
                    files=request.files,
                    headers=headers,
                    timeout=config.timeout,
                    allow_redirects=False,
                    stream=True,
                )
            status = response.status_code
        except requests.RequestException as err:
            if deadline.remaining() <= 0:
                raise deadline.expired_error(request.name) from None
            reason, may_have_arrived = describe_transport_error(err, config.timeout)
            # `from None`: the urllib3 chain adds nothing the reason does not say.
            raise FeishuConnectionError(request.name, reason, may_have_arrived=may_have_arrived) from None
        finally:
            if done is not None:  # the pacer learns this process's share of the quota from the answer
                done(status, response.headers if status is not None else None)
        body = read_answer(request.name, response, deadline)
        self.log.debug("Feishu %s %s: HTTP %s", request.method, request.name, response.status_code)
        return request.parse(response.status_code, response.headers, body, secrets=answer_secrets(config, token))

    def _exchange_with_retries(self, request: ApiRequest[T], token: str | None) -> T:
        return call_with_retries(
            self._exchange, request, token, policy=self.config.retry, idempotent=request.idempotent, log=self.log
        )

    def call(self, request: ApiRequest[T]) -> T:
        """Send any request built by :mod:`airflow_provider_feishu.api` and return its result.

        On a token-invalid answer the cached token is dropped, a new one fetched, and the call
        repeated once (Feishu refused it before doing anything, so even a send is safe to repeat).
        """
        if not request.auth:
            return self._exchange_with_retries(request, None)
        token = self.get_tenant_access_token()
        try:
            return self._exchange_with_retries(request, token)
        except FeishuTokenInvalidError:
            TOKEN_CACHE.evict(self.config.cache_key, token)
            self.log.info("Feishu refused the cached tenant_access_token; fetching a new one and retrying once.")
            return self._exchange_with_retries(request, self.get_tenant_access_token())

    # --- tokens ------------------------------------------------------------------------------

    def get_tenant_access_token(self, *, force_refresh: bool = False) -> str:
        """The app's tenant_access_token, from the process cache unless it is (nearly) expired."""
        config = self.config
        key = config.cache_key
        if not force_refresh and (token := TOKEN_CACHE.get(key)):
            return token
        with TOKEN_CACHE.fetch_lock(key):
            if not force_refresh and (token := TOKEN_CACHE.get(key)):
                return token  # another thread fetched it while we waited
            try:
                result = self._exchange_with_retries(
                    endpoints.tenant_token_request(config.app_id, config.app_secret), None
                )
            except FeishuAuthError as err:
                err.for_connection(config.conn_id)
                raise
            _mask(result.token)
            TOKEN_CACHE.put(key, result.token, result.expire)
            return result.token

    # --- batch messages ----------------------------------------------------------------------

    def get_batch_message_read_user(self, batch_message_id: str) -> ReadStats:
        """How many recipients have read a batch message, out of how many it reached so far."""
        return self.call(endpoints.read_user_request(batch_message_id))

    def get_batch_message_progress(self, batch_message_id: str) -> BatchProgress:
        """Delivery, reading and recall progress of a batch message."""
        return self.call(endpoints.get_progress_request(batch_message_id))

    def batch_send_message(
        self,
        msg_type: str,
        *,
        content: Mapping[str, Any] | None = None,
        card: Mapping[str, Any] | None = None,
        department_ids: Iterable[str] | None = None,
        open_ids: Iterable[str] | None = None,
        user_ids: Iterable[str] | None = None,
        union_ids: Iterable[str] | None = None,
    ) -> BatchSendResult:
        """Send one message to many users and departments; returns the batch message id and the
        ids Feishu could not use. Not retried once the request may have reached Feishu."""
        request = endpoints.batch_send_request(
            msg_type,
            content=content,
            card=card,
            department_ids=department_ids,
            open_ids=open_ids,
            user_ids=user_ids,
            union_ids=union_ids,
        )
        return self.call(request)

    def recall_batch_message(self, batch_message_id: str) -> None:
        """Recall a batch message from every recipient (Feishu allows this for one day)."""
        self.call(endpoints.recall_batch_request(batch_message_id))

    # --- single messages ---------------------------------------------------------------------

    def send_message(
        self,
        receive_id: str,
        msg_type: str,
        content: str | Mapping[str, Any],
        receive_id_type: str = "open_id",
        uuid: str | None = None,
    ) -> SentMessage:
        """Send one im/v1 message to a user or chat. With ``uuid``, Feishu delivers it at most once
        per hour for that uuid, so it is retried like a read; without, never re-sent blindly."""
        return self.call(
            endpoints.create_message_request(receive_id, msg_type, content, receive_id_type=receive_id_type, uuid=uuid)
        )

    def urgent_app(self, message_id: str, user_ids: Iterable[str], user_id_type: str = "open_id") -> UrgentResult:
        """Buzz users in the Feishu app about a message the bot sent."""
        return self.call(endpoints.urgent_app_request(message_id, user_ids, user_id_type=user_id_type))

    # --- who has read: receipts, members, reactions, replies ----------------------------------

    def run_steps(self, steps: Steps[R]) -> R:
        """Drive sans-IO steps from :mod:`airflow_provider_feishu.api` (paging, read checks) with :meth:`call`."""
        return drive(steps, self.call)

    def get_message_read_users(self, message_id: str, user_id_type: str = "open_id") -> list[ReadReceipt]:
        """Everyone who has read an im/v1 message the bot sent (every page), with when they read it.

        Feishu answers only for the bot's own messages, within 7 days, while the bot is in the chat.
        """
        return self.run_steps(endpoints.all_read_users(message_id, user_id_type=user_id_type))

    def list_chat_members(self, chat_id: str, member_id_type: str = "open_id") -> list[ChatMember]:
        """The people in a chat (every page; Feishu leaves bots out)."""
        return self.run_steps(endpoints.all_chat_members(chat_id, member_id_type=member_id_type))

    def list_message_reactions(
        self, message_id: str, emoji_type: str | None = None, user_id_type: str = "open_id"
    ) -> list[MessageReaction]:
        """People's reactions to a message (every page), optionally of one ``emoji_type``; apps' are left out."""
        return self.run_steps(
            endpoints.all_message_reactions(message_id, emoji_type=emoji_type, user_id_type=user_id_type)
        )

    def list_department_users(
        self,
        department_id: str,
        user_id_type: str = "open_id",
        department_id_type: str = "open_department_id",
        include_sub_departments: bool = True,
    ) -> list[DepartmentUser]:
        """Everyone in a department and (by default) its sub-departments, within the app's contact scope."""
        return self.run_steps(
            endpoints.all_department_users(
                department_id,
                user_id_type=user_id_type,
                department_id_type=department_id_type,
                include_sub_departments=include_sub_departments,
            )
        )

    def reply_message(
        self,
        message_id: str,
        msg_type: str,
        content: str | Mapping[str, Any],
        uuid: str | None = None,
        reply_in_thread: bool = False,
    ) -> SentMessage:
        """Reply to a message in its chat (or thread). With ``uuid`` it is delivered at most once per hour."""
        return self.call(
            endpoints.reply_message_request(message_id, msg_type, content, uuid=uuid, reply_in_thread=reply_in_thread)
        )
    # --- any API, uploads and card updates ----------------------------------------------------

    def call_api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Any:
        """Call any Feishu API with this connection's token, pacing and retries; returns the answer's
        ``data`` (or the whole body if it has none). Only GET is retried once it may have arrived.

        ``path`` starts with ``/open-apis/``; query arguments go in ``params``, never in the path.
        """
        from airflow_provider_feishu.api.generic import call_api_request

        return self.call(call_api_request(method, path, params=params, json=json))

    def upload_image(self, image: UploadSource, image_type: str = "message") -> str:
        """Upload an image (a file path or bytes, at most 10 MB) and return its ``image_key``."""
        from airflow_provider_feishu.api.uploads import MAX_IMAGE_BYTES, upload_image_request

        data, name = read_upload(image, limit=MAX_IMAGE_BYTES, what="image")
        return self.call(upload_image_request(data, image_type, file_name=name))

    def upload_file(
        self, file: UploadSource, file_type: str, file_name: str | None = None, duration: int | None = None
    ) -> str:
        """Upload a file (a path or bytes, at most 30 MB) and return its ``file_key``.

        ``file_name`` defaults to the path's name (required for bytes); ``duration`` is in
        milliseconds, for opus and mp4.
        """
        from airflow_provider_feishu.api.uploads import MAX_FILE_BYTES, upload_file_request

        data, name = read_upload(file, limit=MAX_FILE_BYTES, what="file")
        return self.call(upload_file_request(data, file_type, file_name or name, duration=duration))

    def update_card(self, message_id: str, card: Mapping[str, Any] | str) -> None:
        """Replace the card of an interactive message this app sent (within 14 days of sending)."""
        from airflow_provider_feishu.api.cards import update_card_request

        self.call(update_card_request(message_id, card))

    # --- connection test ---------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a fresh tenant token (never from the cache); sends nothing to anyone."""
        try:
            self.get_tenant_access_token(force_refresh=True)
        except FeishuError as err:
            from airflow_provider_feishu.hooks.config import test_failure_text

            return False, test_failure_text(err, self.feishu_conn_id)
        return True, f"Connected to {self.config.base_url} as app {self.config.app_id}."


def _paced(config: FeishuConnectionConfig, request: ApiRequest[Any]) -> Done | None:
    """Wait for this process's turn at the app's quota for the request's API; None if unpaced.

    Hooks of one app in this process share one adaptive pacer per API (Feishu limits each API of
    an app, 50/s and 1000/min by default, across all processes)."""
    if not config.rate_limits:
        return None
    pacer = shared_thread_pacer(
        config.base_url, config.app_id, request.name, config.rate_limits, config.rate_limit_share
    )
    return pacer.acquire()


def _mask(secret: str) -> None:
    """Register a runtime secret with Airflow's log masker (and the supervisor's)."""
    from airflow.sdk.log import mask_secret

    mask_secret(secret)
