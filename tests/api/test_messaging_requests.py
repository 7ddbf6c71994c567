"""call_api, upload and card-update request builders: validation before any I/O."""

from __future__ import annotations

import json

import pytest

from airflow_provider_feishu.api.cards import MAX_CARD_BYTES, shared_card, update_card_request
from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.generic import api_label, call_api_request, parse_data_or_body, validate_api_path
from airflow_provider_feishu.api.uploads import (
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    file_type_for,
    msg_type_for_file,
    sniff_image_format,
    upload_file_request,
    upload_image_request,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# --- call_api --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/open-apis/im/v1/chats",
        "/open-apis/contact/v3/users/ou_1234",
        "/open-apis/message/v4/batch_send/",
        "/open-apis/contact/v3/users/user%40example.com",
    ],
)
def test_clean_paths_pass(path):
    assert validate_api_path(path) == path


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("https://evil.example/open-apis/im/v1/chats", "must start with"),
        ("//evil.example/open-apis/x", "must start with"),
        ("/open-api/im/v1/chats", "must start with"),
        ("/open-apis/im/v1/chats?page_size=1", "query"),
        ("/open-apis/im/v1/chats#x", "query"),
        ("/open-apis/im/../../auth/v3/x", "'..'"),
        ("/open-apis/im/v1/./chats", "'.'"),
        ("/open-apis/im/%2e%2e/x", "'..'"),
        ("/open-apis/im//v1", "empty segment"),
        ("/open-apis/", "empty segment"),
        ("/open-apis/im/v1/chats name", "not allowed"),
        ("/open-apis/im\\v1", "not allowed"),
        ("/open-apis/im/v1/用户", "not allowed"),
        ("/open-apis/im/%zz", "not allowed"),
        ("/open-apis/" + "a" * 600, "at most 512"),
        (None, "must be a string"),
    ],
)
def test_unsafe_paths_are_refused(path, complaint):
    with pytest.raises(FeishuConfigError, match=complaint):
        validate_api_path(path)


def test_only_get_is_idempotent():
    assert call_api_request("get", "/open-apis/im/v1/chats").idempotent is True
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert call_api_request(method, "/open-apis/im/v1/chats").idempotent is False


def test_method_params_and_body_are_checked():
    with pytest.raises(FeishuConfigError, match="method must be one of"):
        call_api_request("HEAD", "/open-apis/im/v1/chats")
    with pytest.raises(FeishuConfigError, match="GET takes no body"):
        call_api_request("GET", "/open-apis/im/v1/chats", json={"a": 1})
    with pytest.raises(FeishuConfigError, match="params"):
        call_api_request("GET", "/open-apis/im/v1/chats", params={"a": {"nested": 1}})
    request = call_api_request(
        "GET", "/open-apis/contact/v3/users/batch", params={"user_ids": ["a", "b"], "page_size": 5, "x": True}
    )
    assert request.params == {"user_ids": ["a", "b"], "page_size": "5", "x": "true"}


def test_label_folds_ids_so_one_api_has_one_name():
    assert api_label("GET", "/open-apis/contact/v3/users/ou_abc123") == "GET /open-apis/contact/v3/users/:id"
    assert api_label("GET", "/open-apis/im/v1/batch_messages/bm-1/read_user") == (
        "GET /open-apis/im/v1/batch_messages/:id/read_user"
    )


def test_result_is_data_or_the_whole_body():
    assert parse_data_or_body("x", {"code": 0, "data": {"items": []}}) == {"items": []}
    assert parse_data_or_body("x", {"code": 0, "msg": "ok", "expire": 5}) == {"code": 0, "msg": "ok", "expire": 5}


# --- uploads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (PNG, "png"),
        (b"GIF89a", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8", "webp"),
        (b"BM\x00\x00", "bmp"),
        (b"\x00\x00\x01\x00", "ico"),
        (b"II*\x00", "tiff"),
        (b"\x00\x00\x00\x18ftypheic", "heic"),
        (b"%PDF-1.7", None),
    ],
)
def test_image_formats_are_read_from_the_bytes(head, fmt):
    assert sniff_image_format(head) == fmt


def test_image_limits_are_checked_before_sending():
    with pytest.raises(FeishuConfigError, match="empty"):
        upload_image_request(b"")
    with pytest.raises(FeishuConfigError, match="at most 10 MB"):
        upload_image_request(PNG + b"\x00" * MAX_IMAGE_BYTES)
    with pytest.raises(FeishuConfigError, match="not in a format"):
        upload_image_request(b"%PDF-1.7 hello")
    with pytest.raises(FeishuConfigError, match="image_type"):
        upload_image_request(PNG, "banner")
    request = upload_image_request(PNG)
    assert request.form == {"image_type": "message"}
    assert request.files == {"image": ("image.png", PNG, "image/png")}
    assert request.idempotent is False
    assert request.json is None


def test_file_limits_are_checked_before_sending():
    with pytest.raises(FeishuConfigError, match="empty"):
        upload_file_request(b"", "stream", "a.bin")
    with pytest.raises(FeishuConfigError, match="at most 30 MB"):
        upload_file_request(b"x" * (MAX_FILE_BYTES + 1), "stream", "a.bin")
    with pytest.raises(FeishuConfigError, match="file_type must be one of"):
        upload_file_request(b"x", "csv", "a.csv")
    with pytest.raises(FeishuConfigError, match="bare file name"):
        upload_file_request(b"x", "stream", "../a.csv")
    with pytest.raises(FeishuConfigError, match="duration is for opus and mp4"):
        upload_file_request(b"x", "pdf", "a.pdf", duration=10)
    request = upload_file_request(b"x", "mp4", "clip.mp4", duration=1500)
    assert request.form == {"file_type": "mp4", "file_name": "clip.mp4", "duration": "1500"}
    assert request.idempotent is False


def test_file_types_and_msg_types_follow_the_extension():
    assert [file_type_for(n) for n in ("a.PDF", "b.xlsx", "c.csv", "d", "e.opus")] == [
        "pdf",
        "xls",
        "stream",
        "stream",
        "opus",
    ]
    assert [msg_type_for_file(t) for t in ("mp4", "opus", "pdf", "stream")] == ["media", "audio", "file", "file"]


# --- card updates ----------------------------------------------------------------------------


def test_card_update_is_a_shared_card_within_the_size_limit():
    request = update_card_request("om_1", {"elements": []})
    assert request.method == "PATCH" and request.path == "/open-apis/im/v1/messages/om_1"
    assert json.loads(request.json["content"])["config"] == {"update_multi": True}
    assert shared_card('{"config": {"update_multi": false}}')["config"] == {"update_multi": False}
    with pytest.raises(FeishuConfigError, match="at most"):
        update_card_request("om_1", {"elements": [{"tag": "div", "text": "x" * MAX_CARD_BYTES}]})
    with pytest.raises(FeishuConfigError, match="message_id"):
        update_card_request(" ", {})
    with pytest.raises(FeishuConfigError, match="JSON object"):
        update_card_request("om_1", "[1, 2]")
