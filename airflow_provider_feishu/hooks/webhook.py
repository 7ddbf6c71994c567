"""FeishuWebhookHook: post to a Feishu / Lark group through a custom bot's webhook.

A custom bot needs no app: its webhook URL is the credential, and an optional signing secret
proves the sender. This hook reads both from a ``feishu_webhook`` connection, signs each post,
paces posts under the bot's limits (5/s, 100/min) in this process, reads every answer with the
same envelope parser as the app APIs, and retries only what Feishu certainly did not process.

The webhook URL (it contains the token) and the secret never appear in a log line, an exception
text or a repr: errors name "the webhook of connection X" instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.sdk import BaseHook

from airflow_provider_feishu.api.errors import FeishuConfigError, FeishuConnectionError, FeishuError
from airflow_provider_feishu.api.webhook import (
    WEBHOOK_PER_MINUTE,
    WEBHOOK_PER_SECOND,
    WebhookRequest,
    webhook_request,
)
from airflow_provider_feishu.hooks.header_deadline import call_deadline
from airflow_provider_feishu.hooks.rate_limit import ReservationPacer
from airflow_provider_feishu.hooks.retrying import acall_with_retries, call_with_retries
from airflow_provider_feishu.hooks.session import USER_AGENT, SessionOwner
from airflow_provider_feishu.hooks.transport import ACCEPT_ENCODING, Deadline, aread_answer, read_answer
from airflow_provider_feishu.hooks.webhook_config import CONN_TYPE, WebhookConfig, webhook_config_from_connection

if TYPE_CHECKING:
    from airflow_provider_feishu.messages import Message

#: Seconds added to each pacing window: Feishu counts arrivals, and latency varies.
PACER_SLACK = 0.2


# --- pacing ----------------------------------------------------------------------------------


class WebhookPacer(ReservationPacer):
    """Keeps one process's posts to one bot under 5/s and 100/min; safe across threads and loops."""

    def __init__(
        self,
        per_second: int = WEBHOOK_PER_SECOND,
        per_minute: int = WEBHOOK_PER_MINUTE,
        *,
        slack: float = PACER_SLACK,
    ) -> None:
        super().__init__(((per_second, 1.0), (per_minute, 60.0)), slack=slack)


_pacers: dict[str, WebhookPacer] = {}
_pacers_guard = threading.Lock()


def webhook_pacer(config: WebhookConfig) -> WebhookPacer:
    """The pacer every hook in this process shares for one bot."""
    with _pacers_guard:
        pacer = _pacers.get(config.pacer_key)
        if pacer is None:
            pacer = _pacers[config.pacer_key] = WebhookPacer()
        return pacer


# --- keeping the token out of HTTP client logs ------------------------------------------------


class _SecretScrubber(logging.Filter):
    """Replaces known webhook tokens and secrets in records of HTTP client loggers.

    urllib3 logs the request path at DEBUG and httpx logs the full URL at INFO; for a webhook that
    path is the credential. Airflow's masker covers task logs only, so these loggers get a filter.
    """

    LOGGERS = ("urllib3.connectionpool", "httpx", "httpcore", "requests")

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._installed = False
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s)
            if not self._installed:
                for name in self.LOGGERS:
                    logging.getLogger(name).addFilter(self)
                self._installed = True

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if any(s in text for s in secrets):
            for s in secrets:
                text = text.replace(s, "***")
            record.msg, record.args = text, None
        return True


_SCRUBBER = _SecretScrubber()


def _mask(config: WebhookConfig) -> None:
    """Register the token and secret with Airflow's masker and with our HTTP-log scrubber."""
    from airflow.sdk.log import mask_secret

    _SCRUBBER.add(config.secrets)
    for secret in config.secrets:
        mask_secret(secret)


async def _amask(config: WebhookConfig) -> None:
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - Airflow < 3.3.2
        _mask(config)
        return
    _SCRUBBER.add(config.secrets)
    for secret in config.secrets:
        await amask_secret(secret)


# --- the hook --------------------------------------------------------------------------------


class FeishuWebhookHook(SessionOwner, BaseHook):
    """Posts messages into a Feishu (or Lark) group through a custom bot's webhook.

    The ``feishu_webhook`` connection holds the webhook URL, or only its token, in *password*;
    the optional signing secret in extra ``secret``; and, for a bare token, the origin in *host*
    (a private deployment, the local emulator) or extra ``domain`` (``feishu`` or ``lark``).

    Sends are never repeated blindly: a webhook has no idempotency key, so only a rate-limit
    refusal (11232 / HTTP 429) or a connection that failed before the request went out is
    retried. A send whose answer was lost may have been delivered, and raises instead.

    :param feishu_webhook_conn_id: the ``feishu_webhook`` connection to use.
    :param timeout: seconds for each HTTP request; overrides the connection's ``timeout`` extra.
    :param max_retries: retries after the first attempt; overrides the ``max_retries`` extra.

    .. code-block:: python

        hook = FeishuWebhookHook(feishu_webhook_conn_id="feishu_webhook_default")
        hook.send_text("Nightly load finished", at_user_ids=["ou_123"])
        hook.send_card("Load failed", ["**table** orders", "[log](https://airflow/...)"], template="red")
    """

    conn_name_attr = "feishu_webhook_conn_id"
    default_conn_name = "feishu_webhook_default"
    conn_type = CONN_TYPE
    hook_name = "Feishu Webhook (custom bot)"

    def __init__(
        self,
        feishu_webhook_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(feishu_webhook_conn_id, str) or not feishu_webhook_conn_id.strip():
            raise FeishuConfigError(f"feishu_webhook_conn_id must name a connection, got {feishu_webhook_conn_id!r}.")
        self.feishu_webhook_conn_id = feishu_webhook_conn_id
        self._timeout = timeout
        self._max_retries = max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(feishu_webhook_conn_id={self.feishu_webhook_conn_id!r})"

    # --- connection form (Airflow < 3.2 reads this; 3.2+ reads get_provider_info) -----------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_provider_feishu.get_provider_info import FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR

        return FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR

    # --- configuration -----------------------------------------------------------------------

    @cached_property
    def config(self) -> WebhookConfig:
        """The validated connection (fetched once); registers the token and secret for masking."""
        conn = self.get_connection(self.feishu_webhook_conn_id)
        config = webhook_config_from_connection(conn, timeout=self._timeout, max_retries=self._max_retries)
        _mask(config)
        return config

    async def aget_config(self) -> WebhookConfig:
        """:attr:`config` without blocking the event loop (for triggers and async notifiers)."""
        if "config" not in self.__dict__:
            from airflow_provider_feishu.hooks.feishu_async import aget_connection

            conn = await aget_connection(self.feishu_webhook_conn_id)
            config = webhook_config_from_connection(conn, timeout=self._timeout, max_retries=self._max_retries)
            await _amask(config)
            self.__dict__["config"] = config
        return self.__dict__["config"]

    # --- sending -----------------------------------------------------------------------------

    def _request(self, config: WebhookConfig, payload: Mapping[str, Any]) -> WebhookRequest:
        return webhook_request(config.token, payload, secret=config.secret, label=config.label)

    def _exchange(self, config: WebhookConfig, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """One paced, freshly signed POST; no retries."""
        webhook_pacer(config).wait()
        request = self._request(config, payload)  # sign per attempt: the timestamp must be fresh
        failure: tuple[str, bool] | None = None
        deadline = Deadline(config.timeout)
        try:
            with call_deadline(deadline.at):  # the answer's head too must come within the deadline
                response = self.session.post(
                    config.base_url + request.path,
                    json=request.json,
                    headers={"Content-Type": "application/json; charset=utf-8", "Accept-Encoding": ACCEPT_ENCODING},
                    timeout=config.timeout,
                    allow_redirects=False,
                    stream=True,
                )
        except requests.RequestException as err:
            from airflow_provider_feishu.hooks.feishu import describe_transport_error

            failure = describe_transport_error(err, config.timeout)
            if deadline.remaining() <= 0:
                failure = (deadline.expired_error(config.label).reason, True)
        if failure is not None:
            # Raised outside the except block: the requests error (its text holds the URL) is not
            # even kept as __context__.
            raise FeishuConnectionError(config.label, failure[0], may_have_arrived=failure[1])
        body = read_answer(config.label, response, deadline)
        return request.parse(response.status_code, response.headers, body, secrets=config.secrets)

    def send(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """Post a ready webhook body (``{"msg_type": ..., "content" | "card": {...}}``).

        Signs it when the connection has a secret. Returns Feishu's (token-free) answer; raises a
        :class:`~airflow_provider_feishu.api.errors.FeishuError` on any refusal.
        """
        config = self.config
        webhook_request(config.token, payload, label=config.label)  # validate before any wait
        result = call_with_retries(self._exchange, config, payload, policy=config.retry, idempotent=False, log=self.log)
        self.log.info("Posted a message (msg_type=%s) to the %s.", payload.get("msg_type"), config.label)
        return result

    def send_message(self, message: Message) -> Mapping[str, Any]:
        """Post a message built with :mod:`airflow_provider_feishu.messages`."""
        return self.send(message.webhook_payload())

    def send_text(
        self, text: str, *, at_user_ids: Iterable[str] | None = None, at_all: bool = False
    ) -> Mapping[str, Any]:
        """Post a text message, @mentioning ``at_user_ids`` (open_ids) and, with ``at_all``, everyone."""
        from airflow_provider_feishu import messages

        return self.send_message(messages.text_message(text, mentions=_ids(at_user_ids), mention_everyone=at_all))

    def send_card(self, title: str, lines: str | Iterable[str] = (), *, template: str = "blue") -> Mapping[str, Any]:
        """Post an interactive card: ``title`` in a header coloured ``template`` (blue, green, red,
        orange, grey, ...), then one markdown block (``lark_md``) per line of ``lines``."""
        from airflow_provider_feishu import messages

        blocks = [lines] if isinstance(lines, str) else list(lines)
        return self.send_message(messages.card_message(title, blocks, template=template))

    # --- async -------------------------------------------------------------------------------

    async def asend(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """:meth:`send` over ``httpx``, for the triggerer and async notifiers; never blocks the loop."""
        import httpx

        from airflow_provider_feishu.hooks.feishu_async import describe_transport_error

        config = await self.aget_config()
        webhook_request(config.token, payload, label=config.label)
        pacer = webhook_pacer(config)
        async with httpx.AsyncClient(
            timeout=config.timeout, proxy=config.proxy, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        ) as client:

            async def exchange() -> Mapping[str, Any]:
                await pacer.await_turn()
                request = self._request(config, payload)
                failure: tuple[str, bool] | None = None
                deadline = Deadline(config.timeout)
                try:
                    async with asyncio.timeout(deadline.remaining()):
                        async with client.stream(
                            "POST",
                            config.base_url + request.path,
                            json=request.json,
                            headers={"Accept-Encoding": ACCEPT_ENCODING},
                        ) as response:
                            body = await aread_answer(config.label, response, deadline)
                except TimeoutError:
                    failure = (deadline.expired_error(config.label).reason, True)
                except httpx.HTTPError as err:
                    failure = describe_transport_error(err, config.timeout)
                if failure is not None:
                    raise FeishuConnectionError(config.label, failure[0], may_have_arrived=failure[1])
                return request.parse(response.status_code, response.headers, body, secrets=config.secrets)

            result = await acall_with_retries(exchange, policy=config.retry, idempotent=False, log=self.log)
        self.log.info("Posted a message (msg_type=%s) to the %s.", payload.get("msg_type"), config.label)
        return result

    async def asend_message(self, message: Message) -> Mapping[str, Any]:
        """:meth:`send_message`, async."""
        return await self.asend(message.webhook_payload())

    # --- connection test ---------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Validate the connection without posting anything.

        A custom bot has no read-only call: any accepted POST is a message in the group, and the
        only way to check a token or a secret is to send one. So this checks what can be checked
        offline (the URL or token, the host, the secret's presence) and reports where posts go.
        """
        try:
            config = self.config
        except FeishuError as err:
            from airflow_provider_feishu.hooks.config import test_failure_text

            return False, test_failure_text(err, self.feishu_webhook_conn_id)
        except Exception as err:  # e.g. AirflowNotFoundException: the connection does not exist
            # Name the connection: Airflow 3.1.0 says only "cannot import name 'SUPERVISOR_COMMS'"
            # for a missing one when called outside a task (later versions name it themselves).
            return False, f"connection {self.feishu_webhook_conn_id!r}: {type(err).__name__}: {err}"
        signing = "signed with the secret from extra 'secret'" if config.signed else "unsigned (no extra 'secret')"
        # Names the bot by where it posts, not by connection id: Airflow's Test button checks a copy
        # stored under a random temporary id, which would mean nothing to the user.
        return True, (
            f"The custom bot posts to {config.base_url}, {signing}. Nothing was sent: a custom bot "
            "can only be tested by posting a message into its group."
        )


def _ids(values: Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        raise FeishuConfigError("at_user_ids must be a list of open_ids, not a single string.")
    return list(values)
