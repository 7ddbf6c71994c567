"""The custom group-bot webhook, sans I/O: where it lives, how to sign, how to read its answer.

A custom bot is reached at ``<origin>/open-apis/bot/v2/hook/<token>`` with no access token: the
URL itself is the credential (Feishu docs: custom bot guide,
https://open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN). A bot may also require a signature: the
timestamp in seconds and ``sign`` = Base64(HMAC-SHA256(key=``"<timestamp>\\n<secret>"``, msg=b"")),
both at the top level of the JSON body. Answers come with HTTP 200 even on errors; the body is
read by :func:`~airflow_provider_feishu.api.envelope.parse_envelope` like every other answer, and
only the hint of a few webhook codes is tailored here.

Nothing in this module ever puts the token or the secret into a message, an exception or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_feishu.api.endpoints import ApiRequest
from airflow_provider_feishu.api.envelope import parse_envelope
from airflow_provider_feishu.api.errors import FeishuConfigError, FeishuRateLimitError

HOOK_PATH_PREFIX = "/open-apis/bot/v2/hook/"
#: Feishu's limits per custom bot
#: (Feishu docs: Rate limits, https://open.feishu.cn/document/server-docs/api-call-guide/rate-limit).
WEBHOOK_PER_SECOND = 5
WEBHOOK_PER_MINUTE = 100
WEBHOOK_MSG_TYPES = ("text", "post", "interactive", "image", "share_chat")

# Tokens seen in the wild are UUIDs (hex and dashes); allow the URL-safe alphabet, nothing else.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,200}")

#: Webhook-specific hints, replacing the app-API hint for the same code.
_WEBHOOK_HINTS = {
    11232: (
        "The custom bot's rate limit (5 per second, 100 per minute) was hit; sends are paced per process, "
        "so several processes share one bot: spread them out or use separate bots."
    ),
}


def sign(timestamp: int | str, secret: str) -> str:
    """The ``sign`` of a signed custom bot for ``timestamp`` (Unix seconds).

    HMAC-SHA256 keyed by ``"<timestamp>\\n<secret>"`` over an empty message, Base64 (standard
    alphabet, padded), exactly as Feishu's official sample.
    """
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def split_webhook_reference(text: str) -> tuple[str | None, str]:
    """``(origin, token)`` from a full webhook URL, or ``(None, token)`` from a bare token.

    Raises :class:`FeishuConfigError` whose text never repeats ``text`` (it is a credential).
    """
    value = text.strip()
    if "://" not in value:
        if not _TOKEN.fullmatch(value):
            raise FeishuConfigError(
                "is neither a webhook URL (https://open.feishu.cn/open-apis/bot/v2/hook/...) nor a bare "
                "webhook token (letters, digits, '-' and '_')."
            )
        return None, value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise FeishuConfigError("is not a valid webhook URL.") from None
    if parts.query or parts.fragment:
        raise FeishuConfigError("must not have a query string or fragment after the webhook token.")
    if not parts.path.startswith(HOOK_PATH_PREFIX):
        raise FeishuConfigError(f"must be a custom-bot webhook URL whose path starts with {HOOK_PATH_PREFIX}.")
    token = parts.path[len(HOOK_PATH_PREFIX) :].rstrip("/")
    if not _TOKEN.fullmatch(token):
        raise FeishuConfigError("does not end with a valid webhook token.")
    return f"{parts.scheme}://{parts.netloc}", token


@dataclass(frozen=True, repr=False)
class WebhookRequest(ApiRequest[Mapping[str, Any]]):
    """A webhook POST. Its path holds the token, so its repr never shows the path or body."""

    def __repr__(self) -> str:
        return f"WebhookRequest(name={self.name!r}, path='{HOOK_PATH_PREFIX}***')"

    def parse(
        self, status: int, headers: Mapping[str, str], body: bytes, *, secrets: Collection[str] = ()
    ) -> Mapping[str, Any]:
        """The decoded success body, or the taxonomy error (with a webhook hint where one fits)."""
        try:
            return self.parser(self.name, parse_envelope(self.name, status, headers, body, secrets=secrets))
        except FeishuRateLimitError as err:
            hint = _WEBHOOK_HINTS.get(err.code) if err.code is not None else None
            if hint is None:
                raise
            tailored = FeishuRateLimitError(
                api=err.api,
                code=err.code,
                msg=err.msg,
                http_status=err.http_status,
                log_id=err.log_id,
                hint=hint,
                retry_after=err.retry_after,
            )
        raise tailored  # outside the except block: no chained copy of the first error


def _keep_envelope(api: str, envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(envelope)


def webhook_payload_check(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` validated as a webhook message body (no signing fields)."""
    if not isinstance(payload, Mapping):
        raise FeishuConfigError(f"a webhook payload must be a dict, got {type(payload).__name__}.")
    body = dict(payload)
    if "timestamp" in body or "sign" in body:
        raise FeishuConfigError("the payload must not carry 'timestamp' or 'sign'; the hook signs it.")
    msg_type = body.get("msg_type")
    if msg_type not in WEBHOOK_MSG_TYPES:
        raise FeishuConfigError(
            f"payload msg_type must be one of {', '.join(WEBHOOK_MSG_TYPES)}; got {msg_type!r:.40}."
        )
    key = "card" if msg_type == "interactive" else "content"
    if not isinstance(body.get(key), Mapping):
        raise FeishuConfigError(
            f"a {msg_type} webhook payload needs an object in '{key}' (webhooks take objects, not JSON strings)."
        )
    return body


def webhook_request(
    token: str,
    payload: Mapping[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    label: str = "webhook",
) -> WebhookRequest:
    """POST ``payload`` to the custom bot ``token``; signed when ``secret`` is given.

    Not idempotent: a webhook has no idempotency key, so it may only be repeated when Feishu
    certainly did not process it. ``label`` names the webhook in errors (never the token).
    """
    if not _TOKEN.fullmatch(token or ""):
        raise FeishuConfigError(f"{label}: the webhook token is not valid.")
    body = webhook_payload_check(payload)
    if secret:
        ts = int(time.time()) if timestamp is None else int(timestamp)
        body = {"timestamp": str(ts), "sign": sign(ts, secret), **body}
    return WebhookRequest(
        name=label,
        method="POST",
        path=HOOK_PATH_PREFIX + token,
        parser=_keep_envelope,
        json=body,
        auth=False,
        idempotent=False,
    )
