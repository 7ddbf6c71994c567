"""The settings of a ``feishu`` connection, validated before any request is made.

Reads an Airflow connection (JSON or URI form; URI extras arrive as strings, and older forms
prefix extras with ``extra__feishu__``) into a :class:`FeishuConnectionConfig`. Every problem
is a :class:`FeishuConfigError` that names the connection and the field to fix.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_feishu.api.endpoints import DOMAINS
from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.retry_policy import RetryPolicy
from airflow_provider_feishu.hooks.rate_limit import FEISHU_PER_MINUTE, FEISHU_PER_SECOND

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4


class ConnectionLike(Protocol):
    conn_id: str
    host: str | None
    login: str | None
    password: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict: ...


@dataclass(frozen=True)
class FeishuConnectionConfig:
    """Where and as whom to call Feishu, with the transport settings."""

    conn_id: str
    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    proxy: str | None = field(default=None, repr=False)  # may embed proxy credentials
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: (limit, seconds) windows this process keeps each API of the app under; () = no pacing.
    rate_limits: tuple[tuple[int, float], ...] = ((FEISHU_PER_SECOND, 1.0), (FEISHU_PER_MINUTE, 60.0))
    #: A pinned fraction of ``rate_limits`` for this process; None = learn the share from 429s.
    rate_limit_share: float | None = None

    @property
    def cache_key(self) -> tuple[str, str, str]:
        """(base URL, App ID, secret digest): a wrong or rotated secret never shares a token."""
        digest = hashlib.sha256(self.app_secret.encode()).hexdigest()[:32]
        return (self.base_url, self.app_id, digest)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.app_secret,)


def extra_value(extras: Mapping[str, Any], name: str, conn_type: str = "feishu") -> Any:
    """An extra by its plain name, or by the legacy ``extra__<type>__<name>`` key."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__{conn_type}__{name}")
    return None if value == "" else value


def _fail(conn_id: str, field_name: str, problem: str) -> FeishuConfigError:
    return FeishuConfigError(f"Feishu connection {conn_id!r}: {field_name} {problem}")


def _number(conn_id: str, extras: Mapping[str, Any], name: str, default: float, *, minimum: float) -> float:
    raw = extra_value(extras, name)
    if raw is None:
        return default
    try:
        value = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        raise _fail(conn_id, f"extra '{name}'", f"must be a number, got {raw!r:.40}.") from None
    if not value >= minimum or value == float("inf"):
        raise _fail(conn_id, f"extra '{name}'", f"must be a finite number >= {minimum:g}, got {raw!r:.40}.")
    return value


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def resolve_base_url(conn_id: str, host: str | None, port: int | None, domain: Any) -> str:
    """The API origin: ``host`` if set (private deployment, emulator), else the ``domain``'s."""
    if host is None or not str(host).strip():
        name = "feishu" if domain in (None, "") else str(domain).strip().lower()
        if name not in DOMAINS:
            raise _fail(conn_id, "extra 'domain'", f"must be one of {', '.join(DOMAINS)}; got {domain!r:.40}.")
        return DOMAINS[name]
    text = str(host).strip()
    if "://" not in text:
        # URI-form connections drop the scheme: https, except on loopback (the local emulator).
        bare = text.split("/")[0].rsplit(":", 1)[0].strip("[]")
        text = ("http://" if _is_loopback(bare) else "https://") + text
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
        url_port = parts.port
    except ValueError as err:
        raise _fail(conn_id, "host", f"is not a valid URL ({err}): {host!r:.80}.") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise _fail(conn_id, "host", f"must look like https://open.example.com, got {host!r:.80}.")
    if parts.username or parts.password:
        raise _fail(conn_id, "host", "must not embed credentials; put the App ID and Secret in login / password.")
    if parts.query or parts.fragment:
        raise _fail(conn_id, "host", f"must not have a query or fragment: {host!r:.80}.")
    if any(c.isspace() for c in text) or any(c in hostname for c in "!$&'()*+,;=%"):
        raise _fail(conn_id, "host", f"has characters a host name cannot have: {host!r:.80}.")
    if parts.scheme == "http" and not _is_loopback(hostname):
        raise _fail(conn_id, "host", "must use https (plain http is only allowed for 127.0.0.1 / localhost).")
    netloc = parts.netloc
    if url_port is None and port not in (None, ""):
        try:
            port_number = int(port)
        except (TypeError, ValueError):
            port_number = -1
        if not 0 < port_number <= 65535:
            raise _fail(conn_id, "port", f"must be between 1 and 65535, got {port!r:.40}.")
        netloc = f"{netloc}:{port_number}"
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{netloc}{path}"


def config_from_connection(
    conn: ConnectionLike, *, timeout: float | None = None, max_retries: int | None = None
) -> FeishuConnectionConfig:
    """Validate a ``feishu`` connection; explicit ``timeout`` / ``max_retries`` win over extras."""
    conn_id = conn.conn_id or "<unnamed>"
    app_id = (conn.login or "").strip()
    if not app_id:
        raise _fail(conn_id, "login (App ID)", "is empty: put the app's App ID (cli_...) in the Login field.")
    secret = conn.password or ""
    if not secret.strip():
        raise _fail(conn_id, "password (App Secret)", "is empty: put the app's App Secret in the Password field.")
    extras = conn.extra_dejson or {}
    base_url = resolve_base_url(conn_id, conn.host, conn.port, extra_value(extras, "domain"))
    if timeout is None:
        timeout = _number(conn_id, extras, "timeout", DEFAULT_TIMEOUT, minimum=0.001)
    elif not timeout > 0:
        raise _fail(conn_id, "timeout argument", f"must be > 0, got {timeout!r}.")
    if max_retries is None:
        retries = _number(conn_id, extras, "max_retries", DEFAULT_MAX_RETRIES, minimum=0)
        if retries != int(retries):
            raise _fail(conn_id, "extra 'max_retries'", f"must be a whole number, got {retries:g}.")
        max_retries = int(retries)
    elif max_retries < 0:
        raise _fail(conn_id, "max_retries argument", f"must be >= 0, got {max_retries!r}.")
    defaults = RetryPolicy()
    retry = RetryPolicy(
        max_attempts=max_retries + 1,
        base_delay=_number(conn_id, extras, "retry_base_delay", defaults.base_delay, minimum=0),
        max_delay=_number(conn_id, extras, "retry_max_delay", defaults.max_delay, minimum=0),
        max_rate_limit_wait=_number(conn_id, extras, "max_rate_limit_wait", defaults.max_rate_limit_wait, minimum=0),
    )
    rate_limits = tuple(
        (int(limit), period)
        for name, default, period in (
            ("rate_limit_per_second", FEISHU_PER_SECOND, 1.0),
            ("rate_limit_per_minute", FEISHU_PER_MINUTE, 60.0),
        )
        if (limit := _number(conn_id, extras, name, default, minimum=0)) >= 1
    )
    share = extra_value(extras, "rate_limit_share")
    rate_limit_share = None if share is None else _number(conn_id, extras, "rate_limit_share", 1.0, minimum=0)
    if rate_limit_share is not None and not 0 < rate_limit_share <= 1:
        raise _fail(conn_id, "extra 'rate_limit_share'", f"must be a fraction in (0, 1], got {share!r:.40}.")
    proxy = extra_value(extras, "proxy")
    if proxy is not None and not isinstance(proxy, str):
        raise _fail(conn_id, "extra 'proxy'", "must be a URL string such as http://proxy:3128.")
    return FeishuConnectionConfig(
        conn_id=conn_id,
        base_url=base_url,
        app_id=app_id,
        app_secret=secret,
        timeout=timeout,
        proxy=proxy or None,
        retry=retry,
        rate_limits=rate_limits,
        rate_limit_share=rate_limit_share,
    )


def test_failure_text(error: Exception, conn_id: str | None) -> str:
    """A failed connection test's message without the connection id.

    Airflow's Test button tests a copy of the connection stored under a random temporary id, so a
    message naming that id would point the user at a connection they never made.
    """
    text = str(error)
    return text.replace(f" {conn_id!r}", "") if conn_id else text
