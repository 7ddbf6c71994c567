"""call_api, uploads and card updates through FeishuHook and AsyncFeishuClient, over real HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_feishu.api.errors import (
    FeishuAPIError,
    FeishuBadRequestError,
    FeishuConfigError,
    FeishuConnectionError,
    FeishuNotSenderError,
    FeishuRateLimitError,
)
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient
from airflow_provider_feishu.testing import FeishuEmulator

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def chat_id(emu) -> str:
    return emu.chats[1]["chat_id"]  # "Platform team": the bot is a member


# --- call_api --------------------------------------------------------------------------------


def test_call_api_get_a_user_and_list_chats(emu):
    hook = FeishuHook()
    user = emu.users[0]
    data = hook.call_api("GET", f"/open-apis/contact/v3/users/{user['open_id']}", params={"user_id_type": "open_id"})
    assert data["user"]["name"] == user["name"]
    page = hook.call_api("GET", "/open-apis/im/v1/chats", params={"page_size": 1})
    assert page["has_more"] is True and len(page["items"]) == 1
    rest = hook.call_api("GET", "/open-apis/im/v1/chats", params={"page_size": 50, "page_token": page["page_token"]})
    names = {c["name"] for c in page["items"] + rest["items"]}
    assert names == {c["name"] for c in emu.chats if c["bot_member"]}
    assert emu.request_count("tenant_access_token") == 1


def test_call_api_post_sends_json_and_returns_data(emu):
    data = FeishuHook().call_api(
        "POST",
        "/open-apis/im/v1/messages",
        params={"receive_id_type": "chat_id"},
        json={"receive_id": chat_id(emu), "msg_type": "text", "content": json.dumps({"text": "raw"})},
    )
    assert data["message_id"].startswith("om_")
    assert emu.chat_messages(chat_id(emu))[-1]["content"] == {"text": "raw"}


def test_call_api_errors_are_the_taxonomy(emu):
    with pytest.raises(FeishuAPIError) as caught:
        FeishuHook().call_api("GET", "/open-apis/contact/v3/users/ou_nobody")
    assert caught.value.code == 41050 and "GET /open-apis/contact/v3/users/:id" in str(caught.value)
    token = FeishuHook().get_tenant_access_token()
    assert token not in str(caught.value) and emu.app_secret not in str(caught.value)
    with pytest.raises(FeishuConfigError):
        FeishuHook().call_api("GET", "https://elsewhere.example/open-apis/im/v1/chats")
    assert emu.request_count("contact_user") == 1  # the bad path never left the process


def test_call_api_retries_a_get_but_never_repeats_a_post_that_may_have_arrived(emu):
    emu.inject("/open-apis/im/v1/chats", kind="drop_after")
    assert FeishuHook().call_api("GET", "/open-apis/im/v1/chats")["items"]
    assert emu.request_count("chat_list") == 2
    emu.inject("/open-apis/im/v1/messages", kind="drop_after")
    body = {"receive_id": chat_id(emu), "msg_type": "text", "content": json.dumps({"text": "once"})}
    with pytest.raises(FeishuConnectionError):
        FeishuHook().call_api("POST", "/open-apis/im/v1/messages", params={"receive_id_type": "chat_id"}, json=body)
    assert emu.request_count("message_create") == 1


def test_async_call_api(emu):
    async def go():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            return await client.call_api("GET", "/open-apis/im/v1/chats", params={"page_size": 100})

    assert len(run(go())["items"]) == sum(1 for c in emu.chats if c["bot_member"])


# --- uploads ---------------------------------------------------------------------------------


def test_upload_image_from_bytes_and_path(emu, tmp_path):
    hook = FeishuHook()
    key = hook.upload_image(PNG)
    assert key.startswith("img_v3_")
    upload = emu.upload(key)
    assert upload["data"] == PNG and upload["image_type"] == "message"
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    assert emu.upload(hook.upload_image(path, image_type="avatar"))["file_name"] == "chart.png"


def test_upload_file_carries_name_type_and_duration(emu, tmp_path):
    path = tmp_path / "报表 2026.csv"  # a non-ASCII name with a space
    path.write_text("a,b\n1,2\n")
    key = FeishuHook().upload_file(path, "stream")
    upload = emu.upload(key)
    assert (upload["file_name"], upload["file_type"], upload["data"]) == ("报表 2026.csv", "stream", b"a,b\n1,2\n")
    clip = FeishuHook().upload_file(b"\x00\x00\x00\x18ftypmp42", "mp4", file_name="clip.mp4", duration=1200)
    assert emu.upload(clip)["duration"] == 1200


def test_upload_limits_fail_before_any_request(emu, tmp_path):
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(30 * 1024 * 1024 + 1)  # sparse: refused from its size, never read
    with pytest.raises(FeishuConfigError, match="at most 30 MB"):
        FeishuHook().upload_file(big, "stream")
    with pytest.raises(FeishuConfigError, match="not in a format"):
        FeishuHook().upload_image(b"plain text")
    with pytest.raises(FeishuConfigError, match="file_name"):
        FeishuHook().upload_file(b"abc", "stream")
    with pytest.raises(FeishuConfigError, match="cannot read"):
        FeishuHook().upload_file(tmp_path / "missing.pdf", "pdf")
    assert emu.request_count("file_upload") == emu.request_count("image_upload") == 0


def test_emulator_refuses_what_feishu_refuses(emu):
    import requests

    token = FeishuHook().get_tenant_access_token()
    url = emu.base_url + "/open-apis/im/v1/images"
    headers = {"Authorization": f"Bearer {token}"}
    empty = requests.post(url, headers=headers, data={"image_type": "message"}, files={"image": ("a.png", b"")})
    assert empty.json()["code"] == 234010
    text = requests.post(url, headers=headers, data={"image_type": "message"}, files={"image": ("a.png", b"hi")})
    assert text.json()["code"] == 234011
    big = requests.post(url, headers=headers, data={"image_type": "message"}, files={"image": ("a.png", PNG * 11_000)})
    assert big.json()["code"] == 234006
    no_name = requests.post(
        emu.base_url + "/open-apis/im/v1/files", headers=headers, data={"file_type": "pdf"}, files={"file": ("", b"x")}
    )
    assert no_name.json()["code"] == 234001


def test_an_upload_that_may_have_arrived_is_not_repeated(emu):
    emu.inject("/open-apis/im/v1/images", kind="drop_after")
    with pytest.raises(FeishuConnectionError):
        FeishuHook().upload_image(PNG)
    assert emu.request_count("image_upload") == 1


def test_async_uploads(emu, tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7 report")

    async def go():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            return await client.upload_image(PNG), await client.upload_file(path, "pdf")

    image_key, file_key = run(go())
    assert emu.upload(image_key)["kind"] == "image"
    assert emu.upload(file_key)["file_name"] == "report.pdf"


# --- card updates ----------------------------------------------------------------------------


def send_card(emu, text: str = "v1") -> str:
    card = {"config": {"update_multi": True}, "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]}
    return FeishuHook().send_message(chat_id(emu), "interactive", card, receive_id_type="chat_id").message_id


def test_update_card_replaces_what_the_chat_shows(emu):
    message_id = send_card(emu)
    FeishuHook().update_card(message_id, {"elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "v2"}}]})
    history = emu.card_history(message_id)
    assert [c["elements"][0]["text"]["content"] for c in history] == ["v1", "v2"]
    assert emu.card(message_id)["config"] == {"update_multi": True}
    assert emu.chat_messages(chat_id(emu))[-1]["content"] == history[-1]


def test_update_card_rules(emu):
    message_id = send_card(emu)
    text_id = FeishuHook().send_message(chat_id(emu), "text", {"text": "hi"}, receive_id_type="chat_id").message_id
    with pytest.raises(FeishuBadRequestError, match="only interactive"):
        FeishuHook().update_card(text_id, {"elements": []})
    emu.advance(14 * 86400 + 1)
    with pytest.raises(FeishuBadRequestError, match="14 days"):
        FeishuHook().update_card(message_id, {"elements": []})


def test_update_card_of_another_app_is_refused(emu, monkeypatch):
    message_id = send_card(emu)
    other = emu.apps[1]["app_id"]
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_OTHER", emu.connection_json(app_id=other, extra=FAST_RETRIES))
    with pytest.raises(FeishuNotSenderError):
        FeishuHook("feishu_other").update_card(message_id, {"elements": []})


def test_five_updates_per_second_per_message(emu):
    message_id = send_card(emu)
    hook = FeishuHook(max_retries=0)
    for i in range(5):
        hook.update_card(message_id, {"elements": [], "n": i})
    with pytest.raises(FeishuRateLimitError):  # the emulator's clock stands still: all in one second
        hook.update_card(message_id, {"elements": [], "n": 5})
    emu.advance(1)
    hook.update_card(message_id, {"elements": [], "n": 6})
    assert emu.card(message_id)["n"] == 6


def test_async_update_card(emu):
    message_id = send_card(emu)

    async def go():
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            await client.update_card(message_id, {"elements": [], "async": True})

    run(go())
    assert emu.card(message_id)["async"] is True
