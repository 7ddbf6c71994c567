"""parse_envelope / error_for: every Feishu answer becomes the envelope or the right FeishuError."""

from __future__ import annotations

import json

import pytest

from airflow_provider_feishu.api.envelope import TOKEN_INVALID_CODES, error_for, parse_envelope
from airflow_provider_feishu.api.errors import (
    FeishuAPIError,
    FeishuAuthError,
    FeishuBadRequestError,
    FeishuError,
    FeishuNotFoundError,
    FeishuNotSenderError,
    FeishuPermissionError,
    FeishuProtocolError,
    FeishuRateLimitError,
    FeishuServerError,
    FeishuTokenInvalidError,
)

API = "read_user"


def body_of(obj) -> bytes:
    return json.dumps(obj).encode()


def raised(status: int, headers: dict, body: bytes, secrets=()) -> FeishuError:
    with pytest.raises(FeishuError) as info:
        parse_envelope(API, status, headers, body, secrets=secrets)
    return info.value


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "envelope",
    [
        {"code": 0, "msg": "ok", "data": {"read_user": {"read_count": "1", "total_count": "2"}}},
        {"code": 0, "msg": "success"},
        {"code": "0", "msg": "ok"},  # a code sent as a string still counts
        {"StatusCode": 0, "StatusMessage": "success"},  # legacy webhook envelope
    ],
)
@pytest.mark.parametrize("status", [200, 201, 204])
def test_code_zero_with_2xx_returns_the_envelope(envelope, status):
    assert parse_envelope(API, status, {}, body_of(envelope)) == envelope


@pytest.mark.parametrize("status", [400, 429, 500, 502])
def test_code_zero_with_error_status_is_not_success(status):
    err = raised(status, {}, body_of({"code": 0, "msg": "ok"}))
    assert isinstance(err, FeishuAPIError)
    assert err.http_status == status


# --- error codes → classes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls", "retryable"),
    [
        (429, 99991400, FeishuRateLimitError, True),
        (400, 99991400, FeishuRateLimitError, True),  # legacy: rate limit on HTTP 400
        (429, None, FeishuRateLimitError, True),  # a bare 429 without a code
        (429, 230001, FeishuRateLimitError, True),  # HTTP 429 wins over the code
        (400, 230020, FeishuRateLimitError, True),
        (400, 11232, FeishuRateLimitError, True),
        (400, 11247, FeishuRateLimitError, False),  # daily cap: retrying today does not help
        (400, 10014, FeishuAuthError, False),
        (400, 99991543, FeishuAuthError, False),
        (400, 99991661, FeishuAuthError, False),
        (400, 99991662, FeishuAuthError, False),
        (400, 99991663, FeishuTokenInvalidError, False),
        (401, 99991664, FeishuTokenInvalidError, False),
        (400, 99991671, FeishuTokenInvalidError, False),
        (400, 99991672, FeishuPermissionError, False),
        (400, 230027, FeishuPermissionError, False),
        (400, 11203, FeishuPermissionError, False),
        (400, 11204, FeishuPermissionError, False),
        (400, 230030, FeishuNotFoundError, False),
        (400, 230012, FeishuNotSenderError, False),
        (400, 230026, FeishuNotSenderError, False),
        (400, 230001, FeishuBadRequestError, False),
        (400, 10003, FeishuBadRequestError, False),
        (400, 11246, FeishuServerError, True),
        (200, 11246, FeishuServerError, True),
        (500, None, FeishuServerError, True),
        (500, 1234567, FeishuServerError, True),
        (502, 1, FeishuServerError, True),
        (503, 42, FeishuServerError, True),
        (504, 7, FeishuServerError, True),
        (401, 1234567, FeishuAuthError, False),
        (403, 1234567, FeishuPermissionError, False),
        (404, None, FeishuNotFoundError, False),
    ],
)
def test_error_code_maps_to_class(status, code, cls, retryable):
    envelope = {"msg": "boom"} if code is None else {"code": code, "msg": "boom"}
    err = raised(status, {}, body_of(envelope))
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.code == code
    assert err.http_status == status
    assert err.msg == "boom"
    assert err.api == API


@pytest.mark.parametrize("code", sorted(TOKEN_INVALID_CODES))
def test_token_invalid_codes_are_auth_errors_too(code):
    err = raised(400, {}, body_of({"code": code, "msg": "invalid token"}))
    assert isinstance(err, FeishuTokenInvalidError)
    assert isinstance(err, FeishuAuthError)


@pytest.mark.parametrize("status", [200, 400, 418])
def test_unknown_code_is_plain_api_error_not_retryable(status):
    err = raised(status, {}, body_of({"code": 1234567, "msg": "what"}))
    assert type(err) is FeishuAPIError
    assert err.retryable is False
    assert err.code == 1234567
    assert "generic-error-code" in str(err)  # points at the generic error-code page


@pytest.mark.parametrize(
    ("raw_code", "expected"),
    [(" 230030 ", 230030), ("230030", 230030), ("-1", -1)],
)
def test_string_codes_are_read_as_integers(raw_code, expected):
    err = raised(400, {}, body_of({"code": raw_code, "msg": "x"}))
    assert err.code == expected


# --- rate limit: retry_after -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"x-ogw-ratelimit-reset": "52"}, 52.0),
        ({"X-Ogw-Ratelimit-Reset": " 7 "}, 7.0),
        ({"X-OGW-RATELIMIT-RESET": "0.5"}, 0.5),
        ({"x-ogw-ratelimit-reset": "0"}, 0.0),
        ({}, None),
        ({"x-ogw-ratelimit-reset": ""}, None),
        ({"x-ogw-ratelimit-reset": "soon"}, None),
        ({"x-ogw-ratelimit-reset": "-3"}, None),
        ({"x-ogw-ratelimit-reset": "nan"}, None),
        ({"x-ogw-ratelimit-reset": "inf"}, None),
        ({"x-ogw-ratelimit-reset": "86400"}, None),  # a day or more is not a sane window
        ({"x-ogw-ratelimit-limit": "100"}, None),  # a different header
    ],
)
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, body_of({"code": 99991400, "msg": "request trigger frequency limit"})),
        (400, body_of({"code": 99991400, "msg": "request trigger frequency limit"})),
        (429, b""),
        (429, b"<html><body>Too Many Requests</body></html>"),
    ],
)
def test_rate_limit_retry_after_from_header(headers, retry_after, status, body):
    err = raised(status, headers, body)
    assert type(err) is FeishuRateLimitError
    assert err.retryable is True
    assert err.retry_after == retry_after


def test_business_rate_limit_reads_retry_after_too():
    err = raised(400, {"x-ogw-ratelimit-reset": "3"}, body_of({"code": 230020, "msg": "chat limit"}))
    assert type(err) is FeishuRateLimitError
    assert err.retry_after == 3.0


# --- not an envelope → FeishuProtocolError ---------------------------------------------------

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    + b"<p>padding</p>\n" * 200
    + b"</body>\r\n</html>"
)


@pytest.mark.parametrize(
    ("status", "body", "retryable", "snippet"),
    [
        (502, HTML_502, True, None),
        (200, b"", False, ""),
        (200, b"   \n\t ", False, ""),
        (502, b"", True, ""),
        (503, b"\n", True, ""),
        (200, b"{not json", False, "{not json"),
        (500, b"{not json", True, "{not json"),
        (200, b'{"code": 0,', False, '{"code": 0,'),
        (200, b"[1, 2, 3]", False, "[1, 2, 3]"),
        (200, b'"just a string"', False, '"just a string"'),
        (200, b"42", False, "42"),
        (200, b"null", False, "null"),
        (200, b"\xff\xfe\x00garbage", False, None),
        (200, b'{"msg": "ok", "data": {}}', False, '{"msg": "ok", "data": {}}'),  # JSON without code
        (200, b'{"code": null, "msg": "ok"}', False, None),
        (200, b'{"code": "zero", "msg": "ok"}', False, None),
        (200, b'{"code": true, "msg": "ok"}', False, None),  # a boolean is not a code
        (200, b'{"code": 0.0, "msg": "ok"}', False, None),
        (200, b'{"code": "\xc2\xb2", "msg": "ok"}', False, None),  # "²".isdigit() but not a number
        (200, b'{"code": "--5", "msg": "ok"}', False, None),
        pytest.param(200, b'{"code": "' + b"9" * 5000 + b'"}', False, None, id="5000-digit-code"),
        pytest.param(200, b"[" * 100_000, False, None, id="nested-past-recursion-limit"),
    ],
)
def test_bodies_that_are_not_envelopes_raise_protocol_error(status, body, retryable, snippet):
    err = raised(status, {}, body)
    assert type(err) is FeishuProtocolError
    assert err.retryable is retryable
    assert err.http_status == status
    assert len(err.snippet) <= 120
    assert "<" not in err.snippet
    assert "\n" not in err.snippet
    if snippet is not None:
        assert err.snippet == snippet


def test_html_snippet_has_tags_stripped_and_whitespace_folded():
    err = raised(502, {}, HTML_502)
    assert err.snippet.startswith("502 Bad Gateway 502 Bad Gateway nginx")
    assert len(err.snippet) == 120
    assert "Body starts: '502 Bad Gateway" in str(err)
    assert "HTTP 502" in str(err)
    assert "proxy" in str(err)  # the class hint


def test_json_without_code_on_5xx_is_a_server_error():
    err = raised(502, {}, body_of({"message": "upstream failed"}))
    assert type(err) is FeishuServerError
    assert err.retryable is True


# --- log_id ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "log_id"),
    [
        ({}, body_of({"code": 230030, "msg": "x", "error": {"log_id": "from-body"}}), "from-body"),
        (
            {"X-Tt-Logid": "from-header"},
            body_of({"code": 230030, "msg": "x", "error": {"log_id": "from-body"}}),
            "from-body",
        ),
        ({"X-Tt-Logid": "from-header"}, body_of({"code": 230030, "msg": "x"}), "from-header"),
        ({"x-tt-logid": "lower"}, body_of({"code": 230030, "msg": "x"}), "lower"),
        ({"X-TT-LOGID": "upper"}, body_of({"code": 230030, "msg": "x"}), "upper"),
        ({"X-Tt-Logid": "hdr"}, body_of({"code": 230030, "msg": "x", "error": {"log_id": ""}}), "hdr"),
        ({"X-Tt-Logid": "hdr"}, body_of({"code": 230030, "msg": "x", "error": {"log_id": 5}}), "hdr"),
        ({"X-Tt-Logid": "hdr"}, body_of({"code": 230030, "msg": "x", "error": "oops"}), "hdr"),
        ({"X-Request-Id": "req-id"}, body_of({"code": 230030, "msg": "x"}), "req-id"),
        ({"X-Tt-Logid": "html"}, HTML_502, "html"),
        ({"x-tt-logid": "empty"}, b"", "empty"),
        ({}, body_of({"code": 230030, "msg": "x"}), None),
    ],
)
def test_log_id_from_body_then_header(headers, body, log_id):
    err = raised(400 if body.startswith(b"{") else 502, headers, body)
    assert err.log_id == log_id
    if log_id:
        assert f"log_id={log_id}" in str(err)
    else:
        assert "log_id" not in str(err)


# --- hints and rendering ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "hint_part"),
    [
        (10014, "App Secret is wrong"),
        (99991543, "App ID (login) and App Secret (password)"),
        (11203, "im:message:send_multi_users"),
        (11204, "im:message:send_multi_depts"),
        (230030, "30 days"),
        (230012, "app that sent this message"),
        (11247, "500,000"),
        (230001, "Fix the request parameters"),
    ],
)
def test_hint_appears_in_str(code, hint_part):
    err = raised(400, {}, body_of({"code": code, "msg": "m"}))
    assert err.hint
    assert hint_part in err.hint
    assert f"Hint: {err.hint}" in str(err)
    assert f"code={code}" in str(err)
    assert f"Feishu {API} failed" in str(err)


def test_long_msg_is_truncated():
    err = raised(400, {}, body_of({"code": 230001, "msg": "x" * 5000}))
    assert err.msg == "x" * 500


def test_non_string_msg_is_kept_as_text():
    err = raised(400, {}, body_of({"code": 230001, "msg": {"detail": "bad"}}))
    assert err.msg == "{'detail': 'bad'}"


# --- secrets ---------------------------------------------------------------------------------

SECRET = "sEcReT-app-secret-0123456789"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, body_of({"code": 10014, "msg": f"app secret invalid: {SECRET}"})),
        (400, body_of({"code": 1234567, "msg": f"echo {{'app_secret': '{SECRET}'}}"})),
        (500, body_of({"code": 1, "msg": SECRET * 3})),
        (200, body_of({"msg": f"no code, but {SECRET}"})),
        (502, f"<html><body>proxy echo app_secret={SECRET}</body></html>".encode()),
        (200, f"app_secret={SECRET}&app_id=cli_x".encode()),
        (200, f'["{SECRET}"]'.encode()),
        (429, body_of({"code": 99991400, "msg": f"slow down {SECRET}"})),
    ],
)
def test_secrets_never_appear_in_msg_snippet_or_str(status, body):
    assert SECRET.encode() in body  # the answer does echo it
    err = raised(status, {}, body, secrets=(SECRET, ""))
    assert isinstance(err, FeishuAPIError)
    assert SECRET not in err.msg
    assert SECRET not in getattr(err, "snippet", "")
    assert SECRET not in str(err)
    assert SECRET not in repr(err.args)
    assert "***" in err.msg + getattr(err, "snippet", "")


def test_without_secrets_the_echo_is_kept():
    """Control for the test above: scrubbing is what removes the secret."""
    err = raised(400, {}, body_of({"code": 10014, "msg": f"app secret invalid: {SECRET}"}))
    assert SECRET in err.msg


# --- error_for directly ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (429, None, FeishuRateLimitError),
        (200, 99991400, FeishuRateLimitError),
        (400, 230030, FeishuNotFoundError),
        (500, None, FeishuServerError),
        (599, 999, FeishuServerError),
        (400, 999, FeishuAPIError),
    ],
)
def test_error_for(status, code, cls):
    err = error_for(API, status=status, code=code, msg="m", headers={"X-Ogw-Ratelimit-Reset": "9"}, log_id="L1")
    assert type(err) is cls
    assert err.log_id == "L1"
    if cls is FeishuRateLimitError:
        assert err.retry_after == 9.0


# --- scrubbing: before the cut, and a secret's prefix at the cut ------------------------------

LONG_SECRET = "s3cr3t-0123456789abcdefghijklmnop"  # 32 characters


def test_scrub_happens_before_the_cut():
    from airflow_provider_feishu.api.envelope import scrub_and_cut

    text = "x" * 100 + LONG_SECRET + " tail"
    cut = scrub_and_cut(text, [LONG_SECRET], 119)  # the cut falls 19 characters into the secret
    assert "s3cr3t" not in cut
    assert cut == "x" * 100 + "*** tail"


@pytest.mark.parametrize("kept", [4, 10, 31])
def test_a_secret_prefix_that_ends_the_text_is_scrubbed(kept):
    from airflow_provider_feishu.api.envelope import scrub_and_cut

    assert scrub_and_cut("abc " + LONG_SECRET[:kept], [LONG_SECRET], 200) == "abc ***"


def test_short_prefixes_and_plain_words_stay():
    from airflow_provider_feishu.api.envelope import scrub_and_cut

    assert scrub_and_cut("was s3c", [LONG_SECRET], 200) == "was s3c"  # 3 characters say nothing
    assert scrub_and_cut("all good", [LONG_SECRET], 200) == "all good"


def test_long_msg_is_scrubbed_before_it_is_cut_to_500():
    body = json.dumps({"code": 230001, "msg": "y" * 490 + LONG_SECRET}).encode()
    with pytest.raises(FeishuBadRequestError) as info:
        parse_envelope("read_user", 400, {}, body, secrets=[LONG_SECRET])
    assert "s3cr3t" not in info.value.msg and info.value.msg.endswith("***")


def test_snippet_is_scrubbed_before_it_is_cut():
    body = ("<html>" + "z" * 110 + LONG_SECRET + "</html>").encode()
    with pytest.raises(FeishuProtocolError) as info:
        parse_envelope("read_user", 502, {}, body, secrets=[LONG_SECRET])
    assert "s3cr3t" not in info.value.snippet and info.value.snippet.endswith("***")


def test_log_id_header_is_scrubbed_and_bounded():
    body = json.dumps({"code": 230001, "msg": "bad"}).encode()
    headers = {"X-Tt-Logid": f"Bearer {LONG_SECRET}" + "q" * 500}
    with pytest.raises(FeishuBadRequestError) as info:
        parse_envelope("read_user", 400, headers, body, secrets=[LONG_SECRET])
    assert LONG_SECRET not in str(info.value)
    assert info.value.log_id is not None and len(info.value.log_id) <= 128


# --- duplicate keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 1, "code": 0}',
        b'{"code": 0, "code": 1}',
        b'{"code": 0, "msg": "ok", "data": {"read_user": {"read_count": "1", "read_count": "9"}}}',
    ],
)
def test_duplicate_keys_are_refused(body):
    with pytest.raises(FeishuProtocolError, match="repeats the key"):
        parse_envelope("read_user", 200, {}, body)
