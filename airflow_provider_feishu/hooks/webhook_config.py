"""The settings of a ``feishu_webhook`` connection (a group's custom bot), validated up front.

*password* holds the webhook URL or just its token; extra ``secret`` the signing secret. Every
problem is a :class:`FeishuConfigError` that names the connection and the field, never the token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.retry_policy import RetryPolicy
from airflow_provider_feishu.api.webhook import split_webhook_reference
from airflow_provider_feishu.hooks.config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ConnectionLike,
    _number,
    extra_value,
    resolve_base_url,
)

CONN_TYPE = "feishu_webhook"


@dataclass(frozen=True)
class WebhookConfig:
    """Where a custom bot lives and how to sign for it; the token and secret stay out of repr."""

    conn_id: str
    base_url: str
    token: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    proxy: str | None = field(default=None, repr=False)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def label(self) -> str:
        """How errors and logs name this webhook (never by its URL)."""
        return f"webhook of connection {self.conn_id!r}"

    @property
    def signed(self) -> bool:
        return bool(self.secret)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Texts to scrub from anything kept from a response."""
        return tuple(s for s in (self.token, self.secret) if s)

    @property
    def pacer_key(self) -> str:
        """Identifies the bot for pacing without holding its token in clear."""
        return hashlib.sha256(f"{self.base_url}\n{self.token}".encode()).hexdigest()


def _fail(conn_id: str, field_name: str, problem: str) -> FeishuConfigError:
    return FeishuConfigError(f"Feishu webhook connection {conn_id!r}: {field_name} {problem}")


def webhook_config_from_connection(
    conn: ConnectionLike, *, timeout: float | None = None, max_retries: int | None = None
) -> WebhookConfig:
    """Validate a ``feishu_webhook`` connection; explicit ``timeout`` / ``max_retries`` win.

    *password* holds the full webhook URL (its origin then wins over *host* / ``domain``) or just
    the token (the origin then comes from *host*, else extra ``domain``: feishu or lark). Extra
    ``secret`` is the signing secret. No error text ever repeats the password or the secret.
    """
    conn_id = conn.conn_id or "<unnamed>"
    password = conn.password or ""
    if not password.strip():
        raise _fail(
            conn_id,
            "password (webhook URL or token)",
            "is empty: paste the custom bot's webhook URL, or just its token, into the Password field.",
        )
    try:
        origin, token = split_webhook_reference(password)
    except FeishuConfigError as err:
        raise _fail(conn_id, "password (webhook URL or token)", str(err)) from None
    extras = conn.extra_dejson or {}
    if origin is not None:
        try:
            base_url = resolve_base_url(conn_id, origin, None, None)
        except FeishuConfigError:
            # resolve_base_url quotes the host; the origin carries no token, but stay terse anyway.
            raise _fail(
                conn_id,
                "password (webhook URL)",
                "has an unusable host: it must be https (plain http only on 127.0.0.1 / localhost), without user info.",
            ) from None
    else:
        base_url = resolve_base_url(conn_id, conn.host, conn.port, extra_value(extras, "domain", CONN_TYPE))
    secret = extra_value(extras, "secret", CONN_TYPE)
    if secret is not None and not isinstance(secret, str):
        raise _fail(conn_id, "extra 'secret'", "must be a string (the bot's signing secret).")
    secret = secret.strip() if secret else None
    if timeout is None:
        timeout = _number(conn_id, extras, "timeout", DEFAULT_TIMEOUT, minimum=0.001)
    elif not timeout > 0:
        raise _fail(conn_id, "timeout argument", f"must be > 0, got {timeout!r}.")
    if max_retries is None:
        max_retries = int(_number(conn_id, extras, "max_retries", DEFAULT_MAX_RETRIES, minimum=0))
    elif max_retries < 0:
        raise _fail(conn_id, "max_retries argument", f"must be >= 0, got {max_retries!r}.")
    defaults = RetryPolicy()
    retry = RetryPolicy(
        max_attempts=max_retries + 1,
        base_delay=_number(conn_id, extras, "retry_base_delay", defaults.base_delay, minimum=0),
        max_delay=_number(conn_id, extras, "retry_max_delay", defaults.max_delay, minimum=0),
        max_rate_limit_wait=_number(conn_id, extras, "max_rate_limit_wait", defaults.max_rate_limit_wait, minimum=0),
    )
    proxy = extra_value(extras, "proxy", CONN_TYPE)
    if proxy is not None and not isinstance(proxy, str):
        raise _fail(conn_id, "extra 'proxy'", "must be a URL string such as http://proxy:3128.")
    config = WebhookConfig(
        conn_id=conn_id,
        base_url=base_url,
        token=token,
        secret=secret or None,
        timeout=timeout,
        proxy=proxy or None,
        retry=retry,
    )
    return config
