"""Fuzzing what tests/api/test_fuzz.py does not cover: the webhook module, the threshold rule, and
weird ``x-ogw-ratelimit-reset`` values all the way into the retry wait.

Only our own error types may come out (``FeishuError``; ``ValueError`` where that is the documented
contract of :meth:`ReadThreshold.parse`), never KeyError / TypeError / OverflowError and friends.
"""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_feishu.api.endpoints import read_user_request
from airflow_provider_feishu.api.envelope import retry_after_of
from airflow_provider_feishu.api.errors import FeishuConfigError, FeishuError, FeishuRateLimitError
from airflow_provider_feishu.api.retry_policy import RetryPolicy
from airflow_provider_feishu.api.webhook import (
    WebhookRequest,
    split_webhook_reference,
    webhook_payload_check,
    webhook_request,
)
from airflow_provider_feishu.threshold import ReadThreshold

SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TOKEN = "0123456789abcdef-fuzz-token"
SECRET = "fuzz-webhook-secret"

weird_numbers = st.sampled_from(
    [
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e999",
        "-1",
        "0",
        "1.5",
        " 3 ",
        "",
        " ",
        "\u0663",
        "\u00b2",
        "0x10",
        "1_000",
        "86399.9",
        "86400",
        "9" * 5000,
        "1,5",
        "\x00",
        "True",
    ]
)
reset_values = st.one_of(weird_numbers, st.text(max_size=20))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    weird_numbers,
)
json_values = st.recursive(
    scalars,
    lambda c: st.one_of(
        st.lists(c, max_size=3),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(["msg_type", "content", "card", "text"])), c, max_size=4
        ),
    ),
    max_leaves=12,
)


@SETTINGS
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(
            [
                "https://open.feishu.cn/open-apis/bot/v2/hook/" + TOKEN,
                "https://open.feishu.cn:99999/open-apis/bot/v2/hook/" + TOKEN,
                "https://[::1/open-apis/bot/v2/hook/" + TOKEN,
                "http://127.0.0.1:8/open-apis/bot/v2/hook/x?y=1",
                "://",
                "https://",
                TOKEN,
                " " + TOKEN + " ",
            ]
        ),
    )
)
def test_split_webhook_reference(text):
    try:
        origin, token = split_webhook_reference(text)
    except FeishuConfigError as err:
        assert text.strip() == "" or text.strip() not in str(err) or len(text.strip()) < 3
        return
    assert token and (origin is None or "://" in origin)


@SETTINGS
@given(payload=json_values, secret=st.one_of(st.none(), st.text(max_size=20)), token=st.text(max_size=40))
def test_webhook_request_builder(payload, secret, token):
    try:
        request = webhook_request(token, payload, secret=secret, timestamp=1_700_000_000)
    except FeishuConfigError:
        return
    assert isinstance(request, WebhookRequest)
    assert token not in repr(request)
    json.dumps(request.json)  # always serialisable


@SETTINGS
@given(payload=json_values)
def test_webhook_payload_check(payload):
    with contextlib.suppress(FeishuConfigError):
        webhook_payload_check(payload)


ANSWERS = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"code": scalars},
        optional={"msg": scalars, "StatusCode": scalars, "StatusMessage": scalars, "data": json_values},
    ).map(lambda v: json.dumps(v).encode()),
)
HEADERS = st.dictionaries(
    st.sampled_from(["x-ogw-ratelimit-reset", "X-Ogw-Ratelimit-Reset", "x-tt-logid", "content-type", "x"]),
    reset_values,
    max_size=4,
)


@SETTINGS
@given(status=st.integers(min_value=0, max_value=999), headers=HEADERS, body=ANSWERS)
def test_webhook_answers(status, headers, body):
    request = webhook_request(TOKEN, {"msg_type": "text", "content": {"text": "x"}}, secret=SECRET, timestamp=1)
    try:
        request.parse(status, headers, body, secrets=(TOKEN, SECRET))
    except FeishuError as err:
        assert TOKEN not in str(err) and SECRET not in str(err)


@SETTINGS
@given(value=reset_values, attempt=st.integers(min_value=1, max_value=10_000))
def test_weird_ratelimit_reset_headers_give_a_sane_wait(value, attempt):
    after = retry_after_of({"X-Ogw-Ratelimit-Reset": value})
    assert after is None or (math.isfinite(after) and 0 <= after < 86400)
    policy = RetryPolicy()
    for status, body in ((429, b'{"code": 99991400, "msg": "limit"}'), (429, b""), (200, b'{"code": 11232}')):
        try:
            read_user_request("bm_1").parse(status, {"x-ogw-ratelimit-reset": value}, body)
        except FeishuRateLimitError as err:
            wait = policy.wait_seconds(err, attempt)
            assert math.isfinite(wait) and 0 <= wait <= policy.max_rate_limit_wait + 1.0
        except FeishuError:
            pass


@SETTINGS
@given(threshold=scalars, min_read_count=scalars)
def test_threshold_parse(threshold, min_read_count):
    try:
        rule = ReadThreshold.parse(threshold, min_read_count)
    except ValueError as err:  # the documented contract; the sensor turns it into a task failure
        assert type(err) is ValueError
        return
    assert 0 < rule.threshold <= 1
    assert rule.min_read_count is None or rule.min_read_count >= 0


@SETTINGS
@given(
    threshold=st.floats(min_value=1e-9, max_value=1.0),
    read=st.integers(min_value=0, max_value=10**12),
    total=st.integers(min_value=0, max_value=10**12),
    valid=st.integers(min_value=0, max_value=10**12),
)
def test_threshold_judge(threshold, read, total, valid):
    if read > total:  # more reads than deliveries: refused, never judged (it would over-estimate)
        with pytest.raises(ValueError, match="exceeds total_count"):
            ReadThreshold(threshold).judge(read, total, valid)
        return
    verdict = ReadThreshold(threshold).judge(read, total, valid)
    denominator = max(total, valid)
    if verdict.reached:
        assert valid > 0 and read / denominator >= threshold * (1 - 1e-12)
    elif valid > 0:  # the exact rational compare may differ from floats in the last ulp only
        assert read / denominator <= threshold * (1 + 1e-12)
    assert verdict.describe()
    json.dumps(verdict.to_dict())
