"""Typed results: counts as strings or ints, malformed data → FeishuProtocolError only."""

from __future__ import annotations

import json

import pytest

from airflow_provider_feishu.api.endpoints import (
    batch_send_request,
    create_message_request,
    get_progress_request,
    read_user_request,
    recall_batch_request,
    tenant_token_request,
    urgent_app_request,
)
from airflow_provider_feishu.api.errors import FeishuProtocolError
from airflow_provider_feishu.api.results import (
    BatchProgress,
    BatchSendResult,
    ReadStats,
    SentMessage,
    TenantToken,
    UrgentResult,
)


def ok(data=None, **top) -> bytes:
    envelope = {"code": 0, "msg": "ok", **top}
    if data is not None:
        envelope["data"] = data
    return json.dumps(envelope).encode()


def read_user(read_count, total_count) -> ReadStats:
    body = ok({"read_user": {"read_count": read_count, "total_count": total_count}})
    return read_user_request("bm_1").parse(200, {}, body)


def protocol_error(request, body: bytes) -> FeishuProtocolError:
    with pytest.raises(FeishuProtocolError) as info:
        request.parse(200, {}, body)
    assert info.value.retryable is False
    return info.value


# --- ReadStats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read_count", "total_count", "expected"),
    [
        ("10", "100", ReadStats(10, 100)),  # the documented shape: strings
        (10, 100, ReadStats(10, 100)),
        (" 7 ", "8", ReadStats(7, 8)),
        ("0", "0", ReadStats(0, 0)),
        ("007", 12, ReadStats(7, 12)),
        ("1000000000", "1000000000", ReadStats(10**9, 10**9)),
        ("0" * 50 + "12", "12", ReadStats(12, 12)),
    ],
)
def test_read_stats_counts(read_count, total_count, expected):
    assert read_user(read_count, total_count) == expected


@pytest.mark.parametrize(
    ("read_count", "total_count", "match"),
    [
        ("1000000001", "1000000001", "implausibly large"),
        ("9" * 400, "9" * 400, "implausibly large"),  # once an OverflowError in the ratio
        (10**400, 10**400, "implausibly large"),
        ("7", "1", "read_count 7 exceeds total_count 1"),  # once "ratio 7.0, reached"
        (2, 0, "read_count 2 exceeds total_count 0"),
    ],
)
def test_read_stats_refuses_impossible_counts(read_count, total_count, match):
    with pytest.raises(FeishuProtocolError, match=match):
        read_user(read_count, total_count)


@pytest.mark.parametrize(
    ("read_count", "total_count", "ratio", "unread", "text"),
    [
        (0, 0, 0.0, 0, "read 0/0 (0.0%)"),
        (5, 0, 0.0, 0, "read 5/0 (0.0%)"),
        (42, 120, 0.35, 78, "read 42/120 (35.0%)"),
        (3, 3, 1.0, 0, "read 3/3 (100.0%)"),
        (1, 3, 1 / 3, 2, "read 1/3 (33.3%)"),
    ],
)
def test_read_stats_ratio_defined_when_total_is_zero(read_count, total_count, ratio, unread, text):
    stats = ReadStats(read_count, total_count)
    assert stats.ratio == pytest.approx(ratio)
    assert stats.unread_count == unread
    assert stats.describe() == text


BAD_COUNTS = [
    "ten",
    "1.5",
    "-1",
    -1,
    None,
    True,
    False,
    {},
    [],
    1.5,
    10.0,
    "",
    "  ",
    "1e3",
    "0x10",
    "+5",
    "\u00b2",
    "1 000",
    "9" * 5000,
]


@pytest.mark.parametrize("bad", BAD_COUNTS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("field", ["read_count", "total_count"])
def test_read_stats_rejects_non_counts(bad, field):
    counts = {"read_count": "1", "total_count": "2", field: bad}
    err = protocol_error(read_user_request("bm_1"), ok({"read_user": counts}))
    assert field in err.msg


@pytest.mark.parametrize("field", ["read_count", "total_count"])
def test_read_stats_missing_field(field):
    counts = {"read_count": "1", "total_count": "2"}
    del counts[field]
    err = protocol_error(read_user_request("bm_1"), ok({"read_user": counts}))
    assert field in err.msg
    assert "missing" in err.msg


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (ok(), "'data'"),
        (ok(data=None), "'data'"),
        (json.dumps({"code": 0, "data": None}).encode(), "'data'"),
        (json.dumps({"code": 0, "data": []}).encode(), "'data'"),
        (json.dumps({"code": 0, "data": "x"}).encode(), "'data'"),
        (ok({}), "'data.read_user'"),
        (ok({"read_user": None}), "'data.read_user'"),
        (ok({"read_user": ["10", "100"]}), "'data.read_user'"),
        (ok({"read_user": "10/100"}), "'data.read_user'"),
        (ok({"read_count": "1", "total_count": "2"}), "'data.read_user'"),  # fields at the wrong level
    ],
)
def test_read_stats_missing_sections(body, where):
    err = protocol_error(read_user_request("bm_1"), body)
    assert where in err.msg
    assert err.api == "read_user"


# --- BatchProgress ---------------------------------------------------------------------------


def progress_body(send=None, recall=None, *, omit_recall=False) -> bytes:
    data = {
        "batch_message_send_progress": {
            "valid_user_ids_count": "3",
            "success_user_ids_count": 2,
            "read_user_ids_count": " 1 ",
        }
        if send is None
        else send
    }
    if not omit_recall:
        data["batch_message_recall_progress"] = {"recall": False, "recall_count": 0} if recall is None else recall
    return ok(data)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (progress_body(), BatchProgress(3, 2, 1, recalled=False, recall_count=0)),
        (progress_body(omit_recall=True), BatchProgress(3, 2, 1)),
        (progress_body(recall={"recall": True, "recall_count": "3"}), BatchProgress(3, 2, 1, True, 3)),
        (progress_body(recall={"recall": True}), BatchProgress(3, 2, 1, True, 0)),
        (progress_body(recall="garbage"), BatchProgress(3, 2, 1)),
        (
            progress_body(send={"valid_user_ids_count": 0, "success_user_ids_count": "0", "read_user_ids_count": 0}),
            BatchProgress(0, 0, 0),
        ),
    ],
)
def test_batch_progress(body, expected):
    assert get_progress_request("bm_1").parse(200, {}, body) == expected


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (ok(), "'data'"),
        (ok({}), "'batch_message_send_progress'"),
        (ok({"batch_message_send_progress": None}), "'batch_message_send_progress'"),
        (progress_body(send={"success_user_ids_count": 1, "read_user_ids_count": 1}), "valid_user_ids_count"),
        (
            progress_body(send={"valid_user_ids_count": "x", "success_user_ids_count": 1, "read_user_ids_count": 1}),
            "valid_user_ids_count",
        ),
        (
            progress_body(send={"valid_user_ids_count": 1, "success_user_ids_count": 1, "read_user_ids_count": True}),
            "read_user_ids_count",
        ),
        (progress_body(recall={"recall": True, "recall_count": "-2"}), "recall_count"),
        (progress_body(recall={"recall": True, "recall_count": None}), "recall_count"),
    ],
)
def test_batch_progress_malformed(body, what):
    err = protocol_error(get_progress_request("bm_1"), body)
    assert what in err.msg


# --- BatchSendResult -------------------------------------------------------------------------


def send_request():
    return batch_send_request("text", content={"text": "hi"}, open_ids=["ou_1"])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"message_id": "bm_1"}, BatchSendResult("bm_1")),
        (
            {"message_id": "bm_2", "invalid_open_ids": ["ou_x", "ou_y"], "invalid_department_ids": ["od_1"]},
            BatchSendResult("bm_2", invalid_department_ids=("od_1",), invalid_open_ids=("ou_x", "ou_y")),
        ),
        (
            {"message_id": "bm_3", "invalid_user_ids": [], "invalid_union_ids": ["on_1"], "invalid_open_ids": None},
            BatchSendResult("bm_3", invalid_union_ids=("on_1",)),
        ),
    ],
)
def test_batch_send_result(data, expected):
    result = send_request().parse(200, {}, ok(data))
    assert result == expected
    assert result.invalid_count == len(data.get("invalid_open_ids") or []) + len(
        data.get("invalid_department_ids") or []
    ) + len(data.get("invalid_union_ids") or [])
    assert result.to_dict()["batch_message_id"] == data["message_id"]
    assert all(isinstance(v, list) for k, v in result.to_dict().items() if k.startswith("invalid_"))


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (None, "'data'"),
        ({}, "message_id"),
        ({"message_id": ""}, "message_id"),
        ({"message_id": 123}, "message_id"),
        ({"message_id": None}, "message_id"),
        ({"message_id": "bm_1", "invalid_open_ids": "ou_x"}, "invalid_open_ids"),
        ({"message_id": "bm_1", "invalid_user_ids": [1, 2]}, "invalid_user_ids"),
        ({"message_id": "bm_1", "invalid_department_ids": {"a": 1}}, "invalid_department_ids"),
    ],
)
def test_batch_send_result_malformed(data, what):
    err = protocol_error(send_request(), ok(data))
    assert what in err.msg


# --- SentMessage, UrgentResult, TenantToken, recall ------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"message_id": "om_1"}, SentMessage("om_1")),
        (
            {"message_id": "om_2", "chat_id": "oc_1", "msg_type": "text", "create_time": 1609073151345},
            SentMessage("om_2", "oc_1", "text", "1609073151345"),
        ),
        ({"message_id": "om_3", "create_time": "1609073151345"}, SentMessage("om_3", create_time="1609073151345")),
    ],
)
def test_sent_message(data, expected):
    assert create_message_request("ou_1", "text", {"text": "hi"}).parse(200, {}, ok(data)) == expected


@pytest.mark.parametrize(
    "data",
    [None, {}, {"message_id": 5}, {"message_id": "om_1", "chat_id": ["oc"]}, {"message_id": "om_1", "chat_id": ""}],
)
def test_sent_message_malformed(data):
    protocol_error(create_message_request("ou_1", "text", {"text": "hi"}), ok(data))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, UrgentResult()),
        ({}, UrgentResult()),
        ({"invalid_user_id_list": []}, UrgentResult()),
        ({"invalid_user_id_list": ["ou_1"]}, UrgentResult(("ou_1",))),
    ],
)
def test_urgent_result(data, expected):
    assert urgent_app_request("om_1", ["ou_1"]).parse(200, {}, ok(data)) == expected


def test_urgent_result_malformed():
    err = protocol_error(urgent_app_request("om_1", ["ou_1"]), ok({"invalid_user_id_list": "ou_1"}))
    assert "invalid_user_id_list" in err.msg


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"tenant_access_token": "t-abc", "expire": 7200}, TenantToken("t-abc", 7200)),
        ({"tenant_access_token": "t-abc", "expire": "3138"}, TenantToken("t-abc", 3138)),
    ],
)
def test_tenant_token(top, expected):
    assert tenant_token_request("cli_x", "secret").parse(200, {}, ok(**top)) == expected


@pytest.mark.parametrize(
    ("top", "what"),
    [
        ({"expire": 7200}, "tenant_access_token"),
        ({"tenant_access_token": "", "expire": 7200}, "tenant_access_token"),
        ({"tenant_access_token": 5, "expire": 7200}, "tenant_access_token"),
        ({"tenant_access_token": "t-abc"}, "expire"),
        ({"tenant_access_token": "t-abc", "expire": "two hours"}, "expire"),
        ({"data": {"tenant_access_token": "t-abc", "expire": 7200}}, "tenant_access_token"),  # not inside data
    ],
)
def test_tenant_token_malformed(top, what):
    err = protocol_error(tenant_token_request("cli_x", "secret"), ok(**top))
    assert what in err.msg


def test_tenant_token_repr_hides_the_token():
    token = TenantToken(token="t-super-secret-token-value", expire=7200)
    assert "t-super-secret-token-value" not in repr(token)
    assert "7200" in repr(token)


@pytest.mark.parametrize("body", [ok(), ok({}), ok({"anything": 1})])
def test_recall_returns_none(body):
    assert recall_batch_request("bm_1").parse(200, {}, body) is None


def test_recall_flag_must_be_a_real_boolean():
    from airflow_provider_feishu.api.results import parse_batch_progress

    send = {"valid_user_ids_count": 1, "success_user_ids_count": 1, "read_user_ids_count": 0}
    for raw, expected in ((True, True), ("false", False), ("true", False), (1, False), (False, False)):
        envelope = {
            "code": 0,
            "data": {"batch_message_send_progress": send, "batch_message_recall_progress": {"recall": raw}},
        }
        assert parse_batch_progress("get_progress", envelope).recalled is expected
