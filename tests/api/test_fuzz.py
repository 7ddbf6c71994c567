"""Fuzz: whatever comes back, every builder's ``.parse`` returns its result or raises a FeishuError."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_feishu.api.endpoints import (
    ApiRequest,
    batch_send_request,
    create_message_request,
    get_progress_request,
    read_user_request,
    recall_batch_request,
    tenant_token_request,
    urgent_app_request,
)
from airflow_provider_feishu.api.errors import FeishuError
from airflow_provider_feishu.api.results import (
    BatchProgress,
    BatchSendResult,
    ReadStats,
    SentMessage,
    TenantToken,
    UrgentResult,
)

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # write nothing into the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SECRET = "fuzz-app-secret-value"

REQUESTS: dict[str, tuple[ApiRequest, type | None]] = {
    "tenant_token": (tenant_token_request("cli_fuzz", SECRET), TenantToken),
    "read_user": (read_user_request("bm_1"), ReadStats),
    "get_progress": (get_progress_request("bm_1"), BatchProgress),
    "recall": (recall_batch_request("bm_1"), type(None)),
    "batch_send": (batch_send_request("text", content={"text": "x"}, open_ids=["ou_1"]), BatchSendResult),
    "create_message": (create_message_request("ou_1", "text", {"text": "x"}, uuid="u1"), SentMessage),
    "urgent_app": (urgent_app_request("om_1", ["ou_1"]), UrgentResult),
}

statuses = st.integers(min_value=100, max_value=599)
headers = st.dictionaries(
    st.one_of(st.text(max_size=30), st.sampled_from(["X-Tt-Logid", "x-ogw-ratelimit-reset", "X-Request-Id"])),
    st.text(max_size=30),
    max_size=5,
)

# Values that look like what Feishu sends, including the awkward ones (string counts, "²", bools).
tricky_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["0", "10", " 7 ", "-1", "1.5", "ten", "\u00b2", "\u0663", "", "t-abc", "9" * 5000]),
)
json_values = st.recursive(
    tricky_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=10),
                st.sampled_from(
                    [
                        "code",
                        "msg",
                        "data",
                        "error",
                        "log_id",
                        "read_user",
                        "read_count",
                        "total_count",
                        "batch_message_send_progress",
                        "batch_message_recall_progress",
                        "valid_user_ids_count",
                        "success_user_ids_count",
                        "read_user_ids_count",
                        "recall",
                        "recall_count",
                        "message_id",
                        "invalid_open_ids",
                        "invalid_user_id_list",
                        "tenant_access_token",
                        "expire",
                        "chat_id",
                        "StatusCode",
                        "StatusMessage",
                    ]
                ),
            ),
            children,
            max_size=6,
        ),
    ),
    max_leaves=20,
)
# Envelopes that usually pass the code check, so the result parsers get exercised too.
envelopes = st.fixed_dictionaries(
    {"code": st.one_of(st.just(0), st.just("0"), tricky_scalars)},
    optional={
        "msg": tricky_scalars,
        "data": json_values,
        "error": json_values,
        "tenant_access_token": tricky_scalars,
        "expire": tricky_scalars,
    },
)
json_bodies = st.one_of(json_values, envelopes).map(lambda v: json.dumps(v).encode())


def check(status: int, hdrs: dict, body: bytes) -> None:
    """Every builder's parser sees the same answer (one generated example exercises all seven)."""
    for name, (request, result_type) in REQUESTS.items():
        try:
            result = request.parse(status, hdrs, body, secrets=(SECRET,))
        except FeishuError as err:
            assert SECRET not in str(err), name
            assert len(getattr(err, "snippet", "")) <= 120, name
            continue
        # A result means success: a 2xx status with code 0.
        assert 200 <= status < 300, name
        assert isinstance(result, result_type), name


@SETTINGS
@given(status=statuses, hdrs=headers, body=st.binary(max_size=300))
def test_any_bytes(status, hdrs, body):
    check(status, hdrs, body)


@SETTINGS
@given(status=statuses, hdrs=headers, body=json_bodies)
def test_any_json(status, hdrs, body):
    check(status, hdrs, body)


@SETTINGS
@given(hdrs=headers, envelope=envelopes)
def test_success_status_envelopes(hdrs, envelope):
    """Status 200 with (mostly) code 0: the result parsers see arbitrary ``data``."""
    check(200, hdrs, json.dumps(envelope).encode())


@pytest.mark.parametrize(
    "body",
    [
        b"",
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        b'{"code": "\\u00b2"}',
        b'{"code": 0, "data": {"read_user": {"read_count": "\\u00b2", "total_count": "1"}}}',
        b'{"code": 0, "expire": "\\u00b2", "tenant_access_token": "t-1"}',
        pytest.param(
            b'{"code": 0, "data": {"read_user": {"read_count": "' + b"1" * 5000 + b'", "total_count": "1"}}}',
            id="5000-digit-count",
        ),
    ],
)
@pytest.mark.parametrize("status", [200, 429, 502])
def test_known_nasty_answers(status, body):
    """Answers that once escaped as ValueError / RecursionError."""
    check(status, {}, body)
