"""Reading Feishu's response envelope and turning failures into the error taxonomy.

Pure functions over (status, headers, body bytes): both transports (requests and httpx) call
:func:`parse_envelope` and nothing else decides what a response means.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from airflow_provider_feishu.api.errors import (
    FeishuAPIError,
    FeishuAuthError,
    FeishuBadRequestError,
    FeishuNotFoundError,
    FeishuNotSenderError,
    FeishuPermissionError,
    FeishuProtocolError,
    FeishuRateLimitError,
    FeishuServerError,
    FeishuTokenInvalidError,
)

RATE_LIMIT_CODE = 99991400
# code -> (error class, hint or None for the class default). Sources (Feishu docs): the generic error codes,
# https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code; Rate limits; each API's own
# page (批量发送消息, 发送消息, the batch_messages read_user / get_progress / delete pages); the custom bot guide,
# https://open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN.
_CODES: dict[int, tuple[type[FeishuAPIError], str | None]] = {
    # rate limits
    RATE_LIMIT_CODE: (FeishuRateLimitError, None),
    230020: (FeishuRateLimitError, "Feishu's per-chat frequency limit was hit; space the sends out."),
    11232: (FeishuRateLimitError, "Feishu's tenant message rate limit was hit; avoid bursts on the hour."),
    # auth
    10014: (FeishuAuthError, "The App Secret is wrong or was rotated: update the connection's password."),
    99991543: (FeishuAuthError, None),
    99991661: (FeishuAuthError, "The request carried no access token."),
    99991662: (FeishuAuthError, "The app is disabled or not installed in this tenant."),
    99991673: (FeishuAuthError, "The app is not available in this tenant; check its status in the console."),
    99991663: (FeishuTokenInvalidError, None),
    99991664: (FeishuTokenInvalidError, None),
    99991671: (FeishuTokenInvalidError, None),
    19001: (FeishuAuthError, "The webhook token is invalid: copy the bot's webhook URL again."),
    19021: (
        FeishuAuthError,
        "The webhook signature failed: check the signing secret and that this machine's clock is right.",
    ),
    19022: (FeishuPermissionError, "This machine's IP is not in the custom bot's allow-list."),
    # permission
    99991672: (FeishuPermissionError, None),
    99991676: (FeishuPermissionError, None),
    230027: (FeishuPermissionError, None),
    230006: (FeishuPermissionError, "Enable the bot ability of the app and publish a new version."),
    11203: (FeishuPermissionError, "Grant the scope im:message:send_multi_users and publish the app."),
    11204: (FeishuPermissionError, "Grant the scope im:message:send_multi_depts and publish the app."),
    11205: (FeishuPermissionError, "Enable the bot ability of the app and publish a new version."),
    230013: (FeishuPermissionError, "The recipient is outside the app's availability scope."),
    230002: (FeishuPermissionError, "Add the bot to the chat first."),
    # not found / not sender
    230030: (FeishuNotFoundError, None),
    230012: (FeishuNotSenderError, None),
    230026: (FeishuNotSenderError, "Only the app that sent a batch message can recall it."),
    # bad request
    230001: (FeishuBadRequestError, None),
    10003: (FeishuBadRequestError, None),
    10002: (FeishuBadRequestError, "Check msg_type and the content shape for this API."),
    230025: (FeishuBadRequestError, "The message content is too long (text 150 KB, post/card 30 KB)."),
    230009: (FeishuBadRequestError, "A batch message can only be recalled within one day of sending."),
    19024: (FeishuBadRequestError, "The custom bot requires a keyword that the message does not contain."),
    9499: (FeishuBadRequestError, "The webhook body was malformed."),
    # server side; 11246 "Service Internal Error" is documented as retryable
    # (Feishu docs: 批量发送消息).
    11246: (FeishuServerError, None),
    # batch_send's daily cap: a rate limit, but retrying before tomorrow does not help.
    11247: (FeishuRateLimitError, "batch_send's daily cap (500,000 messages per app) is used up."),
}
# Uploads and card updates (Feishu docs: im-v1/image/create, im-v1/file/create, im-v1/message/patch).
_CODES.update(
    {
        234001: (FeishuBadRequestError, "Check the upload's form fields (image_type, file_type, file_name)."),
        234006: (FeishuBadRequestError, "The upload is too big: images at most 10 MB, files at most 30 MB."),
        234007: (FeishuPermissionError, "Enable the bot ability of the app and publish a new version."),
        234010: (FeishuBadRequestError, "The upload is empty."),
        234011: (FeishuBadRequestError, "Feishu cannot read this image format; upload it with upload_file instead."),
        234039: (FeishuBadRequestError, "The image's resolution is too high; upload it with upload_file instead."),
        232096: (FeishuServerError, None),  # "meta data writing stopped, retry later"
        230011: (FeishuBadRequestError, "The message was recalled."),
        230031: (FeishuBadRequestError, "A card can only be updated within 14 days of sending it."),
    }
)
_NOT_RETRYABLE_RATE_LIMITS = frozenset({11247})
# Who has read: read_users, chat members, reactions, urgent_app, reply (Feishu docs: message
# read_users, chat-members/get, message-reaction list, buzz-messages urgent_app, message reply).
_CODES.update(
    {
        230033: (
            FeishuNotFoundError,
            "Feishu reports who read a message only within 7 days of sending; send a new message to track reads.",
        ),
        230110: (FeishuNotFoundError, "The message was deleted."),
        230023: (
            FeishuBadRequestError,
            "The person has 200 unread buzzes; they must read some of those chats before they can be buzzed again.",
        ),
        230024: (FeishuPermissionError, "The tenant's buzz quota is used up; ask a Feishu admin."),
        230052: (FeishuPermissionError, "The chat lets only its owner or admins buzz; make the bot an admin."),
        232001: (FeishuBadRequestError, None),
        232006: (FeishuNotFoundError, "The chat_id is invalid; copy it from the chat's settings or a send result."),
        232009: (FeishuNotFoundError, "The chat was dissolved."),
        232010: (FeishuPermissionError, "The chat belongs to another tenant."),
        232011: (FeishuPermissionError, "The bot is not in this chat; add the bot to the chat first."),
        232025: (FeishuPermissionError, "Enable the bot ability of the app and publish a new version."),
        232033: (FeishuPermissionError, "External chats are not readable by this app."),
        231001: (FeishuBadRequestError, "The emoji_type is not one Feishu knows; it is case-sensitive (THUMBSUP, OK)."),
        231003: (FeishuNotFoundError, "The message does not exist or was recalled."),
        231008: (FeishuPermissionError, "The bot cannot see this message; it must be in the message's chat."),
        231012: (FeishuBadRequestError, None),
        231018: (FeishuPermissionError, "The message is not visible to the bot."),
        # contact/v3 (departments and their people)
        40004: (FeishuPermissionError, "The department is outside the app's contact scope; widen it in the console."),
        40014: (FeishuPermissionError, "The app may not read this department's parent; widen its contact scope."),
        41050: (FeishuPermissionError, "A person is outside the app's contact scope."),
        40011: (FeishuBadRequestError, None),
        40012: (FeishuBadRequestError, None),
        43010: (FeishuBadRequestError, "The department is too large to list recursively; list its sub-departments."),
    }
)
#: Codes that mean "this tenant_access_token is no good": evict, refetch, retry once
#: (the official Go SDK, larksuite/oapi-sdk-go core/httptransport.go, retries on the same three). Derived from
#: the table above.
TOKEN_INVALID_CODES = frozenset(code for code, (cls, _) in _CODES.items() if cls is FeishuTokenInvalidError)

_SNIPPET_CHARS = 120
_MAX_MSG_CHARS = 500
_TAGS = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")
_INT_TEXT = re.compile(r"-?[0-9]+")


_MAX_LOG_ID_CHARS = 128
#: A secret's prefix this long or longer that ends a cut text is scrubbed too (shorter ones say
#: nothing of the secret and would eat ordinary words).
_MIN_PREFIX_CHARS = 4


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def log_id_of(
    envelope: Mapping[str, Any] | None, headers: Mapping[str, str], secrets: Collection[str] = ()
) -> str | None:
    """Feishu's request id for support: ``error.log_id`` in the body, else ``X-Tt-Logid``.

    Scrubbed and cut like any text of an answer: a hostile server can echo a token there too.
    """
    log_id: str | None = None
    if envelope is not None:
        error = envelope.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("log_id"), str) and error["log_id"]:
            log_id = str(error["log_id"])
    if log_id is None:
        lowered = lower_headers(headers)
        log_id = lowered.get("x-tt-logid") or lowered.get("x-request-id") or None
    return scrub_and_cut(log_id, secrets, _MAX_LOG_ID_CHARS) if log_id else None


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit window resets (``x-ogw-ratelimit-reset``), if given and sane."""
    raw = lower_headers(headers).get("x-ogw-ratelimit-reset")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if 0 <= value < 86400 else None


def scrub(text: str, secrets: Collection[str]) -> str:
    """``text`` with every secret replaced by ``***`` (for texts that echo a request)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def scrub_and_cut(text: str, secrets: Collection[str], limit: int) -> str:
    """``text`` scrubbed, then cut to ``limit`` characters, then rid of any secret's prefix that
    the cut left at its end (a secret that straddled the cut must not survive in part)."""
    text = scrub(text, secrets)[:limit]
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), _MIN_PREFIX_CHARS - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + "***"
                break
    return text


def snippet_of(body: bytes, secrets: Collection[str] = ()) -> str:
    """A short, single-line, secret-free start of a body that is not JSON (tags stripped)."""
    text = scrub(body[:8192].decode("utf-8", errors="replace"), secrets)
    return scrub_and_cut(_SPACE.sub(" ", _TAGS.sub(" ", text)).strip(), secrets, _SNIPPET_CHARS)


def _as_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses; int() also
        # refuses more than sys.get_int_max_str_digits() digits.
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def error_for(
    api: str,
    *,
    status: int,
    code: int | None,
    msg: str,
    headers: Mapping[str, str],
    log_id: str | None,
) -> FeishuAPIError:
    """The taxonomy member for a failed call, from its Feishu code first and HTTP status second."""
    known = _CODES.get(code) if code is not None else None
    if status == 429 or code == RATE_LIMIT_CODE:
        return FeishuRateLimitError(
            api=api, code=code, msg=msg, http_status=status, log_id=log_id, retry_after=retry_after_of(headers)
        )
    if known is not None:
        cls, hint = known
        kwargs: dict[str, Any] = {"api": api, "code": code, "msg": msg, "http_status": status, "log_id": log_id}
        if hint is not None:
            kwargs["hint"] = hint
        if cls is FeishuRateLimitError:
            kwargs["retry_after"] = retry_after_of(headers)
            if code in _NOT_RETRYABLE_RATE_LIMITS:
                kwargs["retryable"] = False
        return cls(**kwargs)
    if status >= 500:
        return FeishuServerError(api=api, code=code, msg=msg, http_status=status, log_id=log_id)
    if status in (401,):
        return FeishuAuthError(api=api, code=code, msg=msg, http_status=status, log_id=log_id)
    if status == 403:
        return FeishuPermissionError(api=api, code=code, msg=msg, http_status=status, log_id=log_id)
    if status == 404 and code is None:
        return FeishuNotFoundError(
            api=api,
            code=code,
            msg=msg,
            http_status=status,
            log_id=log_id,
            hint="The path does not exist on this host: check the connection's host / domain.",
        )
    return FeishuAPIError(
        api=api,
        code=code,
        msg=msg,
        http_status=status,
        log_id=log_id,
        hint="See https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code",
    )


class DuplicateKeyError(ValueError):
    """A JSON object with the same key twice (json.loads would silently keep the last)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


def parse_envelope(
    api: str, status: int, headers: Mapping[str, str], body: bytes, *, secrets: Collection[str] = ()
) -> Mapping[str, Any]:
    """The decoded envelope of a successful call, or the matching :class:`FeishuError` raised.

    Success means ``code == 0`` and a 2xx status. Webhook bodies that only carry the legacy
    ``StatusCode`` are read the same way. ``secrets`` are scrubbed from any text kept from the body,
    in case a gateway echoes the request.
    """
    if not body.strip():
        if status == 429:
            raise error_for(
                api,
                status=status,
                code=None,
                msg="empty body",
                headers=headers,
                log_id=log_id_of(None, headers, secrets),
            )
        raise FeishuProtocolError(
            api=api,
            code=None,
            msg="empty response body",
            http_status=status,
            log_id=log_id_of(None, headers, secrets),
            retryable=status >= 500 or status == 0,
        )
    try:
        envelope = json.loads(body, object_pairs_hook=_object_without_duplicate_keys)
    except DuplicateKeyError as err:
        # {"code": 1, "code": 0} must not read as success: refuse the answer rather than guess.
        raise FeishuProtocolError(
            api=api,
            code=None,
            msg=f"the answer repeats the key {scrub_and_cut(err.key, secrets, 40)!r} in one object",
            http_status=status,
            log_id=log_id_of(None, headers, secrets),
        ) from None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly nested JSON
        envelope = None
    if not isinstance(envelope, Mapping):
        if status == 429:
            raise error_for(
                api,
                status=status,
                code=None,
                msg="rate limited",
                headers=headers,
                log_id=log_id_of(None, headers, secrets),
            )
        raise FeishuProtocolError(
            api=api,
            code=None,
            msg="response is not a JSON object",
            http_status=status,
            log_id=log_id_of(None, headers, secrets),
            snippet=snippet_of(body, secrets),
            retryable=status >= 500,
        )

    raw_code = envelope.get("code", envelope.get("StatusCode"))
    code = _as_code(raw_code)
    raw_msg = envelope.get("msg", envelope.get("StatusMessage", ""))
    msg = scrub_and_cut(raw_msg if isinstance(raw_msg, str) else str(raw_msg), secrets, _MAX_MSG_CHARS)
    log_id = log_id_of(envelope, headers, secrets)

    if code == 0 and 200 <= status < 300:
        return envelope
    if code is None and 200 <= status < 300:
        raise FeishuProtocolError(
            api=api,
            code=None,
            msg="response has no integer 'code'",
            http_status=status,
            log_id=log_id,
            snippet=snippet_of(body, secrets),
        )
    raise error_for(api, status=status, code=code, msg=msg, headers=headers, log_id=log_id)
