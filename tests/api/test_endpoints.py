"""Request builders: validation before any I/O, path encoding, bodies, idempotency, no secrets in repr."""

from __future__ import annotations

import json

import pytest

from airflow_provider_feishu.api.endpoints import (
    MAX_IDS_PER_LIST,
    MAX_UUID_CHARS,
    batch_send_request,
    create_message_request,
    get_progress_request,
    read_user_request,
    recall_batch_request,
    tenant_token_request,
    urgent_app_request,
)
from airflow_provider_feishu.api.errors import FeishuConfigError

BATCH_BUILDERS = {
    "read_user": (read_user_request, "/open-apis/im/v1/batch_messages/{}/read_user", "GET"),
    "get_progress": (get_progress_request, "/open-apis/im/v1/batch_messages/{}/get_progress", "GET"),
    "batch_recall": (recall_batch_request, "/open-apis/im/v1/batch_messages/{}", "DELETE"),
}


# --- path parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("bm_dc13264520392913993dd051dba21dcf", "bm_dc13264520392913993dd051dba21dcf"),
        ("a/b", "a%2Fb"),
        ("../../auth/v3", "..%2F..%2Fauth%2Fv3"),
        ("x?y=1", "x%3Fy%3D1"),
        ("x#frag", "x%23frag"),
        ("two words", "two%20words"),
        ("a+b&c", "a%2Bb%26c"),
        ("100%", "100%25"),
        ("消息", "%E6%B6%88%E6%81%AF"),
    ],
)
@pytest.mark.parametrize("name", sorted(BATCH_BUILDERS))
def test_batch_message_id_is_url_encoded(name, raw, encoded):
    builder, template, method = BATCH_BUILDERS[name]
    req = builder(raw)
    assert req.path == template.format(encoded)
    assert req.method == method
    assert req.name == name
    assert req.auth is True
    assert req.json is None


@pytest.mark.parametrize(
    ("raw", "encoded"), [("om_1", "om_1"), ("om/1?#", "om%2F1%3F%23"), ("消 息", "%E6%B6%88%20%E6%81%AF")]
)
def test_urgent_message_id_is_url_encoded(raw, encoded):
    req = urgent_app_request(raw, ["ou_1"])
    assert req.path == f"/open-apis/im/v1/messages/{encoded}/urgent_app"
    assert req.method == "PATCH"


BAD_IDS = ["", " ", "\t\n", " bm_1", "bm_1 ", None, 123, b"bm_1", ["bm_1"], {"id": "bm_1"}, True]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize("name", sorted(BATCH_BUILDERS))
def test_bad_batch_message_id_is_config_error_naming_argument(name, bad):
    builder = BATCH_BUILDERS[name][0]
    with pytest.raises(FeishuConfigError, match="batch_message_id"):
        builder(bad)


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_message_id_for_urgent(bad):
    with pytest.raises(FeishuConfigError, match="message_id"):
        urgent_app_request(bad, ["ou_1"])


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_bad_receive_id_for_create(bad):
    with pytest.raises(FeishuConfigError, match="receive_id"):
        create_message_request(bad, "text", {"text": "hi"})


@pytest.mark.parametrize(
    ("app_id", "secret", "named"),
    [
        ("", "s", "App ID"),
        (" ", "s", "App ID"),
        (None, "s", "App ID"),
        ("cli_x", "", "App Secret"),
        ("cli_x", 5, "App Secret"),
    ],
)
def test_token_request_validates_credentials(app_id, secret, named):
    with pytest.raises(FeishuConfigError, match=named):
        tenant_token_request(app_id, secret)


# --- batch_send validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"msg_type": "text", "open_ids": ["ou_1"]}, "exactly one of content"),
        (
            {"msg_type": "text", "content": {"text": "x"}, "card": {"elements": []}, "open_ids": ["ou_1"]},
            "exactly one of content",
        ),
        ({"msg_type": "interactive", "content": {"text": "x"}, "open_ids": ["ou_1"]}, "needs card"),
        ({"msg_type": "text", "card": {"elements": []}, "open_ids": ["ou_1"]}, "needs content"),
        ({"msg_type": "audio", "content": {"file_key": "f"}, "open_ids": ["ou_1"]}, "msg_type must be one of"),
        ({"msg_type": "TEXT", "content": {"text": "x"}, "open_ids": ["ou_1"]}, "msg_type must be one of"),
        ({"msg_type": "", "content": {"text": "x"}, "open_ids": ["ou_1"]}, "msg_type must be one of"),
        ({"msg_type": "text", "content": '{"text": "x"}', "open_ids": ["ou_1"]}, "JSON object"),
        ({"msg_type": "interactive", "card": "{}", "open_ids": ["ou_1"]}, "JSON object"),
        ({"msg_type": "text", "content": {"text": "x"}}, "at least one recipient"),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": []}, "at least one recipient"),
        (
            {"msg_type": "text", "content": {"text": "x"}, "open_ids": [], "department_ids": ()},
            "at least one recipient",
        ),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": ["ou_1"] * (MAX_IDS_PER_LIST + 1)}, "at most 200"),
        ({"msg_type": "text", "content": {"text": "x"}, "user_ids": [f"u{i}" for i in range(201)]}, "user_ids has 201"),
        ({"msg_type": "text", "content": {"text": "x"}, "department_ids": ["0"]}, "root department"),
        ({"msg_type": "text", "content": {"text": "x"}, "department_ids": ["od_1", "0"]}, "root department"),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": "ou_1"}, "open_ids must be a list"),
        ({"msg_type": "text", "content": {"text": "x"}, "union_ids": "on_1"}, "union_ids must be a list"),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": b"ou_1"}, "open_ids must be a list"),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": 7}, "open_ids must be a list"),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": ["ou_1", ""]}, r"open_ids\[1\]"),
        ({"msg_type": "text", "content": {"text": "x"}, "user_ids": ["u1", None]}, r"user_ids\[1\]"),
        ({"msg_type": "text", "content": {"text": "x"}, "department_ids": [" od_1"]}, r"department_ids\[0\]"),
    ],
)
def test_batch_send_validation(kwargs, match):
    msg_type = kwargs.pop("msg_type")
    with pytest.raises(FeishuConfigError, match=match):
        batch_send_request(msg_type, **kwargs)


@pytest.mark.parametrize(
    ("msg_type", "kwargs", "expected_json"),
    [
        (
            "text",
            {"content": {"text": "hi"}, "open_ids": ["ou_1", "ou_2"]},
            {"msg_type": "text", "content": {"text": "hi"}, "open_ids": ["ou_1", "ou_2"]},
        ),
        (
            "interactive",
            {"card": {"elements": []}, "department_ids": ("od_1",), "user_ids": []},
            {"msg_type": "interactive", "card": {"elements": []}, "department_ids": ["od_1"]},
        ),
        (
            "image",
            {
                "content": {"image_key": "img_v2_x"},
                "union_ids": iter(["on_1"]),
                "user_ids": ["u" + str(i) for i in range(200)],
            },
            {
                "msg_type": "image",
                "content": {"image_key": "img_v2_x"},
                "union_ids": ["on_1"],
                "user_ids": ["u" + str(i) for i in range(200)],
            },
        ),
        (
            "post",
            {"content": {"post": {}}, "department_ids": ["00", "od_0"]},
            {"msg_type": "post", "content": {"post": {}}, "department_ids": ["00", "od_0"]},
        ),
        (
            "share_chat",
            {"content": {"share_chat_id": "oc_1"}, "open_ids": ["ou_1"]},
            {"msg_type": "share_chat", "content": {"share_chat_id": "oc_1"}, "open_ids": ["ou_1"]},
        ),
    ],
)
def test_batch_send_body(msg_type, kwargs, expected_json):
    req = batch_send_request(msg_type, **kwargs)
    assert req.json == expected_json
    assert req.method == "POST"
    assert req.path == "/open-apis/message/v4/batch_send/"
    assert req.idempotent is False


def test_batch_send_copies_content():
    content = {"text": "hi"}
    req = batch_send_request("text", content=content, open_ids=["ou_1"])
    content["text"] = "changed"
    assert req.json["content"] == {"text": "hi"}


# --- create_message --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"text": "hi"}, '{"text":"hi"}'),
        ({"text": "你好"}, '{"text":"你好"}'),
        ({"text": 'quote " and \\'}, '{"text":"quote \\" and \\\\"}'),
        ('{"text": "hi"}', '{"text": "hi"}'),  # a JSON string is passed as is
        ('{"zh_cn": {"title": "t", "content": []}}', '{"zh_cn": {"title": "t", "content": []}}'),
    ],
)
def test_create_message_content_is_json_string(content, expected):
    req = create_message_request("ou_1", "text", content)
    assert req.json["content"] == expected
    assert isinstance(req.json["content"], str)
    assert json.loads(req.json["content"]) == (content if isinstance(content, dict) else json.loads(content))
    assert req.json["receive_id"] == "ou_1"
    assert req.json["msg_type"] == "text"
    assert req.params == {"receive_id_type": "open_id"}
    assert req.path == "/open-apis/im/v1/messages"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("hello", "not a JSON object"),
        ("{text: hi}", "not a JSON object"),
        ('{"text": "hi"', "not a JSON object"),
        ("5", "not a JSON object"),
        ('"hi"', "not a JSON object"),
        ("", "non-empty"),
        ("   ", "non-empty"),
        (None, "non-empty"),
        (5, "non-empty"),
        (["text"], "non-empty"),
        (b'{"text": "hi"}', "non-empty"),
    ],
)
def test_create_message_rejects_bad_content(content, match):
    with pytest.raises(FeishuConfigError, match=match):
        create_message_request("ou_1", "text", content)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"receive_id_type": "phone"}, "receive_id_type must be one of"),
        ({"receive_id_type": "OPEN_ID"}, "receive_id_type must be one of"),
        ({"uuid": "u" * (MAX_UUID_CHARS + 1)}, "uuid is 51 characters"),
        ({"uuid": "x" * 500}, "at most 50"),
        ({"uuid": ""}, "uuid"),
        ({"uuid": " u1"}, "uuid"),
        ({"uuid": 12345}, "uuid"),
    ],
)
def test_create_message_rejects_bad_options(kwargs, match):
    with pytest.raises(FeishuConfigError, match=match):
        create_message_request("ou_1", "text", {"text": "hi"}, **kwargs)


@pytest.mark.parametrize("msg_type", ["", " ", None, 3])
def test_create_message_rejects_bad_msg_type(msg_type):
    with pytest.raises(FeishuConfigError, match="msg_type"):
        create_message_request("ou_1", msg_type, {"text": "hi"})


@pytest.mark.parametrize("receive_id_type", ["open_id", "user_id", "union_id", "email", "chat_id"])
def test_create_message_receive_id_types(receive_id_type):
    req = create_message_request("x@example.com", "text", {"text": "hi"}, receive_id_type=receive_id_type)
    assert req.params == {"receive_id_type": receive_id_type}


@pytest.mark.parametrize(
    ("uuid", "idempotent"),
    [(None, False), ("u" * MAX_UUID_CHARS, True), ("a1b2", True), ("唯一", True)],
)
def test_create_message_idempotent_only_with_uuid(uuid, idempotent):
    req = create_message_request("ou_1", "text", {"text": "hi"}, uuid=uuid)
    assert req.idempotent is idempotent
    assert req.json.get("uuid") == uuid


# --- urgent_app ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_ids", "match"),
    [
        ("ou_1", "user_ids must be a list"),
        (5, "user_ids must be a list"),
        (None, "user_ids must be a list"),
        ([], "at least one user id"),
        (["ou_1", " "], r"user_ids\[1\]"),
    ],
)
def test_urgent_app_validation(user_ids, match):
    with pytest.raises(FeishuConfigError, match=match):
        urgent_app_request("om_1", user_ids)


def test_urgent_app_body():
    req = urgent_app_request("om_1", ("ou_1", "ou_2"), user_id_type="user_id")
    assert req.json == {"user_id_list": ["ou_1", "ou_2"]}
    assert req.params == {"user_id_type": "user_id"}
    with pytest.raises(FeishuConfigError, match="user_id_type"):
        urgent_app_request("om_1", ["ou_1"], user_id_type="email")


# --- idempotency, auth, repr -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "idempotent", "auth"),
    [
        (read_user_request("bm_1"), True, True),
        (get_progress_request("bm_1"), True, True),
        (recall_batch_request("bm_1"), True, True),
        (batch_send_request("text", content={"text": "x"}, open_ids=["ou_1"]), False, True),
        (create_message_request("ou_1", "text", {"text": "x"}), False, True),
        (create_message_request("ou_1", "text", {"text": "x"}, uuid="u-1"), True, True),
        (urgent_app_request("om_1", ["ou_1"]), False, True),
        (tenant_token_request("cli_x", "secret-value"), True, False),
    ],
    ids=lambda v: getattr(v, "name", repr(v)),
)
def test_idempotent_and_auth_flags(request_, idempotent, auth):
    assert request_.idempotent is idempotent
    assert request_.auth is auth


def test_token_request_repr_hides_the_secret():
    secret = "very-secret-app-secret-42"
    req = tenant_token_request("cli_a1b2", secret)
    assert req.json == {"app_id": "cli_a1b2", "app_secret": secret}
    assert req.path == "/open-apis/auth/v3/tenant_access_token/internal"
    assert req.method == "POST"
    for text in (repr(req), str(req), f"{req!r}"):
        assert secret not in text
        assert "tenant_access_token" in text  # the repr is still useful


def test_requests_are_frozen():
    req = read_user_request("bm_1")
    with pytest.raises(AttributeError):
        req.path = "/elsewhere"  # type: ignore[misc]


# --- ids that would leave their path segment, or blow up the URL ------------------------------


@pytest.mark.parametrize("bad", [".", "..", "...", "....."])
@pytest.mark.parametrize(
    "build",
    [read_user_request, get_progress_request, recall_batch_request, lambda i: urgent_app_request(i, ["ou_1"])],
)
def test_dot_only_ids_are_refused(build, bad):
    # An HTTP client collapses "." and ".." out of the path: read_user("..") once went out as
    # GET /open-apis/im/v1/read_user with the bearer token.
    with pytest.raises(FeishuConfigError, match="only dots"):
        build(bad)


@pytest.mark.parametrize("good", ["bm-1.2", ".bm", "om_a..b"])
def test_ids_with_dots_among_other_characters_pass(good):
    assert read_user_request(good).path.endswith("/read_user")


def test_over_long_ids_are_refused():
    with pytest.raises(FeishuConfigError, match="100000 characters long"):
        read_user_request("x" * 100_000)
    with pytest.raises(FeishuConfigError, match="characters long"):
        batch_send_request("text", content={"text": "hi"}, open_ids=["ou_" + "a" * 300])
    assert read_user_request("x" * 256).path


def test_a_bad_app_secret_is_never_quoted():
    with pytest.raises(FeishuConfigError) as info:
        tenant_token_request("cli_a", " my-secret-value ")
    assert "my-secret-value" not in str(info.value)
