"""The error taxonomy: what went wrong on a Feishu call, in types a caller can act on.

Every failure that leaves the protocol module or a transport is one of these. Each carries the
Feishu ``code``, ``msg``, ``log_id`` (quote it to Feishu support), the HTTP status, and a hint that
says what to fix. None of them ever carries a token or a secret: messages are built from the
response only, never from the request.
"""

from __future__ import annotations

from typing import Any, Self


class FeishuError(Exception):
    """Base class of everything this provider raises about Feishu."""

    #: Whether repeating the same request later may succeed (rate limits, 5xx, dropped connections).
    retryable: bool = False


class FeishuConfigError(FeishuError, ValueError):
    """The connection or the arguments are wrong; raised before any request is made."""


class FeishuAPIError(FeishuError):
    """Feishu answered with a non-zero ``code`` (or an HTTP error status)."""

    default_hint = ""

    def __init__(
        self,
        *,
        api: str,
        code: int | None,
        msg: str,
        http_status: int | None = None,
        log_id: str | None = None,
        hint: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.api = api
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.log_id = log_id
        self.hint = hint if hint is not None else self.default_hint
        if retryable is not None:
            self.retryable = retryable
        #: The Airflow connection whose credentials were used, when the caller knows it.
        self.conn_id: str | None = None
        super().__init__(self._render())

    def for_connection(self, conn_id: str) -> Self:
        """This error with ``conn_id`` named in its text, so the user knows which connection to fix."""
        self.conn_id = conn_id
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        parts = [f"Feishu {self.api} failed: code={self.code} msg={self.msg!r}"]
        if self.conn_id:
            parts[0] = f"Feishu connection {self.conn_id!r}: {parts[0]}"
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.log_id:
            parts.append(f"log_id={self.log_id}")
        text = ", ".join(parts) + "."
        if self.hint:
            text += f" Hint: {self.hint}"
        return text


class FeishuRateLimitError(FeishuAPIError):
    """Over Feishu's frequency limit (HTTP 429 / code 99991400). ``retry_after`` is in seconds."""

    retryable = True
    default_hint = "Feishu rate-limited this app; slow down (fewer concurrent waits or a longer poke_interval)."

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)


class FeishuAuthError(FeishuAPIError):
    """The credentials were refused (wrong App ID or App Secret, app disabled, missing token)."""

    default_hint = (
        "Check the connection's App ID (login) and App Secret (password) against the app's "
        "'Credentials & Basic Info' page in the Feishu developer console."
    )


class FeishuTokenInvalidError(FeishuAuthError):
    """The tenant_access_token was refused as invalid or expired: evict it, fetch anew, retry once."""

    default_hint = "The tenant_access_token was rejected; it is refreshed automatically once."


class FeishuPermissionError(FeishuAPIError):
    """The app lacks a scope or an ability (bot) the call needs."""

    default_hint = (
        "Grant the app the scopes this call needs (im:message:send_multi_users / "
        "im:message:send_multi_depts for batch messages, im:message for single messages), enable "
        "its bot ability, publish a new app version, and check the recipients are in its "
        "availability scope."
    )


class FeishuNotFoundError(FeishuAPIError):
    """The id names nothing Feishu knows (or the record is older than Feishu keeps it)."""

    default_hint = (
        "Check the id: a batch_message_id comes from batch_send by this same app and can only be queried for 30 days."
    )


class FeishuNotSenderError(FeishuAPIError):
    """The message exists but was sent by another app; a bot can only act on its own messages."""

    default_hint = "Use the connection (App ID) of the app that sent this message."


class FeishuBadRequestError(FeishuAPIError):
    """Feishu refused the request's parameters or content."""

    default_hint = "Fix the request parameters (ids, msg_type, content shape or size)."


class FeishuServerError(FeishuAPIError):
    """Feishu failed on its side (HTTP 5xx, or an internal-error code); worth a retry."""

    retryable = True
    default_hint = "Feishu had an internal error; the call is retried with backoff where that is safe."


class FeishuProtocolError(FeishuAPIError):
    """The response was not the JSON envelope Feishu promises (an HTML error page, an empty body).

    ``snippet`` keeps a short, whitespace-folded start of the body for diagnosis.
    """

    default_hint = "A proxy or gateway answered instead of Feishu; check the host and any proxy settings."

    def __init__(self, *, snippet: str = "", **kwargs: Any) -> None:
        self.snippet = snippet
        super().__init__(**kwargs)

    def _render(self) -> str:
        text = super()._render()
        return f"{text} Body starts: {self.snippet!r}" if self.snippet else text


class FeishuConnectionError(FeishuError):
    """The HTTP exchange itself failed: refused, timed out, or dropped mid-way.

    ``may_have_arrived`` tells whether Feishu may have processed the request (a read timeout or a
    connection dropped after sending): a send must then not be repeated blindly.
    """

    retryable = True

    def __init__(self, api: str, reason: str, *, may_have_arrived: bool) -> None:
        self.api = api
        self.reason = reason
        self.may_have_arrived = may_have_arrived
        super().__init__(f"Feishu {api} failed: {reason}")


def certainly_not_processed(exc: BaseException) -> bool:
    """Whether Feishu certainly did not act on a failed request: it refused it with a business code
    (a rate limit included), or the request never left. A server error, a garbled answer or a
    connection lost after sending may hide a request that Feishu did process, so a send that
    failed so must not be repeated blindly (by the retry policy or by an Airflow task retry)."""
    if isinstance(exc, FeishuConnectionError):
        return not exc.may_have_arrived
    if isinstance(exc, (FeishuServerError, FeishuProtocolError)):
        return False
    return isinstance(exc, (FeishuAPIError, FeishuConfigError))
