"""The emulator's answers checked against the documented Feishu shapes (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import uuid as uuidlib

import pytest
import requests

from airflow_provider_feishu.testing import FeishuEmulator, ManualClock, ReadingModel

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
BATCH_PATH = "/open-apis/message/v4/batch_send/"
MSG_PATH = "/open-apis/im/v1/messages"


# ---------------------------------------------------------------- helpers
def token(emu: FeishuEmulator, app_id: str | None = None, secret: str | None = None) -> str:
    r = requests.post(emu.base_url + TOKEN_PATH, json={"app_id": app_id or emu.app_id,
                                                       "app_secret": secret or emu.app_secret}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["tenant_access_token"]


def auth(emu: FeishuEmulator, app_index: int = 0) -> dict[str, str]:
    app = emu.apps[app_index]
    return {"Authorization": "Bearer " + token(emu, app["app_id"], app["app_secret"])}


def batch_send(emu: FeishuEmulator, headers: dict[str, str], **body: object) -> requests.Response:
    body.setdefault("msg_type", "text")
    if body["msg_type"] != "interactive":
        body.setdefault("content", {"text": "hello"})
    return requests.post(emu.base_url + BATCH_PATH, json=body, headers=headers, timeout=5)


def read_user(emu: FeishuEmulator, headers: dict[str, str], bid: str) -> requests.Response:
    return requests.get(f"{emu.base_url}/open-apis/im/v1/batch_messages/{bid}/read_user", headers=headers,
                        timeout=5)


def progress(emu: FeishuEmulator, headers: dict[str, str], bid: str) -> requests.Response:
    return requests.get(f"{emu.base_url}/open-apis/im/v1/batch_messages/{bid}/get_progress", headers=headers,
                        timeout=5)


def send_dept(emu: FeishuEmulator, headers: dict[str, str], dept: str = "eng") -> str:
    r = batch_send(emu, headers, department_ids=[dept])
    assert r.json()["code"] == 0, r.text
    return r.json()["data"]["message_id"]


@pytest.fixture
def emu(feishu_emulator: FeishuEmulator) -> FeishuEmulator:
    return feishu_emulator


@pytest.fixture
def h(emu: FeishuEmulator) -> dict[str, str]:
    return auth(emu)


# ---------------------------------------------------------------- start-up, tenant
def test_start_time_is_measured_and_reported() -> None:
    t0 = time.perf_counter()
    with FeishuEmulator() as e:
        started = time.perf_counter() - t0
        assert e.base_url.startswith("http://127.0.0.1:")
        assert requests.get(e.base_url + "/__emulator__/stats", timeout=5).status_code == 200
    print(f"\nemulator start time: {started * 1000:.0f} ms")


def test_default_tenant_shape(emu: FeishuEmulator) -> None:
    t = emu.tenant
    assert len(t["apps"]) == 2 and all(a["app_id"].startswith("cli_") for a in t["apps"])
    assert 100 <= len(t["users"]) <= 150
    assert all(u["open_id"].startswith("ou_") and u["union_id"].startswith("on_") for u in t["users"])
    assert all(d["open_department_id"].startswith("od-") for d in t["departments"])
    assert all(c["chat_id"].startswith("oc_") for c in t["chats"])
    # sub-department members receive department sends
    eng = set(emu.department_members("eng"))
    platform = set(emu.department_members("eng-platform"))
    assert platform and platform < eng
    conn = json.loads(emu.connection_json())
    assert conn == {"conn_type": "feishu", "login": emu.app_id, "password": emu.app_secret,
                    "host": emu.base_url, "extra": {}}


def test_seed_from_dict_and_file(tmp_path) -> None:
    seed = {"apps": [{"app_id": "cli_x", "app_secret": "s"}],
            "users": [{"name": "A", "open_id": "ou_a", "user_id": "a", "union_id": "on_a",
                       "department_ids": ["d1"]}],
            "departments": [{"department_id": "d1", "open_department_id": "od-1", "name": "D"}]}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    for s in (seed, str(path)):
        with FeishuEmulator(seed=s) as e:
            h = auth(e)
            r = batch_send(e, h, department_ids=["od-1"])
            assert r.json()["code"] == 0
            e.advance(10)
            assert [m["source"] for m in e.delivered("ou_a")] == ["batch"]


# ---------------------------------------------------------------- tokens
def test_token_reuse_and_renewal(emu: FeishuEmulator) -> None:
    r = requests.post(emu.base_url + TOKEN_PATH, json={"app_id": emu.app_id, "app_secret": emu.app_secret},
                      timeout=5)
    body = r.json()
    assert set(body) == {"code", "msg", "tenant_access_token", "expire"}
    assert body["code"] == 0 and body["expire"] == 7200
    assert re.fullmatch(r"t-[0-9a-z]{40}", body["tenant_access_token"])
    first = body["tenant_access_token"]
    assert "x-tt-logid" in r.headers
    emu.advance(100)
    again = requests.post(emu.base_url + TOKEN_PATH, json={"app_id": emu.app_id, "app_secret": emu.app_secret},
                          timeout=5).json()
    assert again["tenant_access_token"] == first and again["expire"] == 7100
    emu.advance(7200 - 100 - 1800)  # exactly 1800 s left: still the same
    assert token(emu) == first
    emu.advance(1)  # under 30 minutes left: a new token, the old one still valid
    second = token(emu)
    assert second != first
    for tok in (first, second):
        bid = send_dept(emu, {"Authorization": "Bearer " + tok})
        assert bid.startswith("bm-")
    emu.advance(1800)  # the first token expired
    r = batch_send(emu, {"Authorization": "Bearer " + first}, open_ids=[emu.users[0]["open_id"]])
    assert (r.status_code, r.json()["code"]) == (400, 99991663)
    assert batch_send(emu, {"Authorization": "Bearer " + second},
                      open_ids=[emu.users[0]["open_id"]]).json()["code"] == 0


def test_token_errors(emu: FeishuEmulator) -> None:
    r = requests.post(emu.base_url + TOKEN_PATH, json={"app_id": emu.app_id, "app_secret": "nope"}, timeout=5)
    assert (r.status_code, r.json()) == (400, {"code": 10014, "msg": "app secret invalid"})
    r = requests.post(emu.base_url + TOKEN_PATH, json={"app_id": "cli_unknown", "app_secret": "x"}, timeout=5)
    assert r.status_code == 400 and r.json()["code"] == 10003
    r = requests.post(emu.base_url + "/open-apis/auth/v3/app_access_token/internal",
                      json={"app_id": emu.app_id, "app_secret": emu.app_secret}, timeout=5)
    assert r.json()["app_access_token"].startswith("t-") and r.json()["expire"] == 7200


def test_auth_header_checks(emu: FeishuEmulator) -> None:
    bid_path = "/open-apis/im/v1/batch_messages/bm-00000000000000000000000000000000/read_user"
    r = requests.get(emu.base_url + bid_path, timeout=5)
    assert r.status_code == 400 and r.json()["code"] == 99991661
    assert r.json()["error"]["log_id"] == r.headers["x-tt-logid"]
    for value in ("Bearer", "Basic abc", "Bearer t-notatoken"):
        r = requests.get(emu.base_url + bid_path, headers={"Authorization": value}, timeout=5)
        assert r.json()["code"] in (99991661, 99991663), value
    r = requests.get(emu.base_url + bid_path, headers={"Authorization": "Bearer t-notatoken"}, timeout=5)
    assert (r.status_code, r.json()["code"]) == (400, 99991663)
    r = batch_send(emu, {}, open_ids=["ou_x"])
    assert r.json()["code"] == 99991661 and "error" not in r.json()  # v4 path: no error object


def test_unknown_path_404(emu: FeishuEmulator) -> None:
    r = requests.get(emu.base_url + "/open-apis/nothing/here", timeout=5)
    assert r.status_code == 404 and r.json() == {"code": 404, "msg": "404 page not found"}
    assert emu.request_count("unknown") == 1


# ---------------------------------------------------------------- batch_send
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"msg_type": "audio", "content": {"text": "x"}, "open_ids": ["ou_x"]}, 10003),
        ({"msg_type": "text", "open_ids": ["ou_x"]}, 10003),  # neither content nor card
        ({"msg_type": "text", "content": {"text": "x"}, "card": {}, "open_ids": ["ou_x"]}, 10003),
        ({"msg_type": "interactive", "content": {"text": "x"}, "open_ids": ["ou_x"]}, 10003),
        ({"msg_type": "text", "content": {"text": "x"}}, 10003),  # no id list
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": []}, 10003),
        ({"msg_type": "text", "content": {"text": "x"}, "open_ids": [f"ou_{i}" for i in range(201)]}, 10003),
        ({"msg_type": "text", "content": {"text": "x"}, "department_ids": ["0"]}, 10003),
        ({"msg_type": "text", "content": "{\"text\": \"x\"}", "open_ids": ["ou_x"]}, 10002),
        ({"msg_type": "text", "content": {"text": "x" * (150 * 1024 + 1)}, "open_ids": ["ou_x"]}, 10002),
        ({"msg_type": "interactive", "card": {"elements": ["x" * 31 * 1024]}, "open_ids": ["ou_x"]}, 10002),
        ({"msg_type": "post", "content": {"zh_cn": {"title": "no post wrapper"}}, "open_ids": ["ou_x"]}, 10002),
    ],
)
def test_batch_send_validation(emu: FeishuEmulator, h: dict[str, str], body: dict, code: int) -> None:
    r = requests.post(emu.base_url + BATCH_PATH, json=body, headers=h, timeout=5)
    assert r.status_code == 200  # legacy v4: business errors come with HTTP 200
    assert r.json()["code"] == code
    assert emu.batches() == []


def test_batch_send_success_and_invalid_ids(emu: FeishuEmulator, h: dict[str, str]) -> None:
    u = emu.users
    r = batch_send(emu, h, open_ids=[u[0]["open_id"], "ou_bad"], user_ids=[u[1]["user_id"], "nobody"],
                   union_ids=[u[2]["union_id"]], department_ids=["ops", "missing-dept"])
    body = r.json()
    assert body["code"] == 0 and body["msg"] == "ok"
    data = body["data"]
    assert re.fullmatch(r"bm-[0-9a-f]{32}", data["message_id"])
    assert data["invalid_open_ids"] == ["ou_bad"]
    assert data["invalid_user_ids"] == ["nobody"]
    assert data["invalid_union_ids"] == []
    assert data["invalid_department_ids"] == ["missing-dept"]
    snap = emu.batch(data["message_id"])
    expected = {u[0]["open_id"], u[1]["open_id"], u[2]["open_id"], *emu.department_members("ops")}
    assert set(snap["recipients"]) == expected
    # card, post, image and share_chat shapes are accepted
    for extra in (
        {"msg_type": "interactive", "card": {"elements": []}},
        {"msg_type": "post", "content": {"post": {"zh_cn": {"title": "T", "content": [[{"tag": "text",
                                                                                        "text": "x"}]]}}}},
        {"msg_type": "image", "content": {"image_key": "img_v2_x"}},
        {"msg_type": "share_chat", "content": {"share_chat_id": emu.chats[0]["chat_id"]}},
    ):
        assert batch_send(emu, h, open_ids=[u[0]["open_id"]], **extra).json()["code"] == 0
    assert emu.request_count("batch_send") == 5


# ---------------------------------------------------------------- read_user / get_progress
def test_read_user_rises_over_time(emu: FeishuEmulator, h: dict[str, str]) -> None:
    bid = send_dept(emu, h)
    n = len(emu.department_members("eng"))
    seen = []
    for step in (0, 1, 2, 5, 60, 600, 3600, 86400):
        emu.advance(step)
        ru = read_user(emu, auth(emu), bid).json()  # a fresh token: the clock jumps past expiry
        assert ru["code"] == 0
        counts = ru["data"]["read_user"]
        assert isinstance(counts["read_count"], str) and isinstance(counts["total_count"], str)
        seen.append((int(counts["total_count"]), int(counts["read_count"])))
    totals, reads = zip(*seen, strict=True)
    assert list(totals) == sorted(totals) and list(reads) == sorted(reads)
    assert totals[0] == 0 and totals[-1] == n
    assert reads[-1] > 0 and reads[-1] < n  # never_read_fraction keeps some unread
    # bm_ spelling is accepted too
    assert read_user(emu, auth(emu), "bm_" + bid[3:]).json()["code"] == 0


def test_get_progress_shape(emu: FeishuEmulator, h: dict[str, str]) -> None:
    bid = send_dept(emu, h, "sales")
    body = progress(emu, h, bid).json()
    assert body["code"] == 0
    send = body["data"]["batch_message_send_progress"]
    assert send == {"valid_user_ids_count": 0, "success_user_ids_count": 0, "read_user_ids_count": 0}
    assert body["data"]["batch_message_recall_progress"] == {"recall": False, "recall_count": 0}
    emu.advance(1)
    assert progress(emu, h, bid).json()["data"]["batch_message_send_progress"]["valid_user_ids_count"] == len(
        emu.department_members("sales"))
    emu.advance(3600)
    send = progress(emu, h, bid).json()["data"]["batch_message_send_progress"]
    assert all(isinstance(v, int) for v in send.values())
    assert send["read_user_ids_count"] <= send["success_user_ids_count"] <= send["valid_user_ids_count"]


def test_unknown_and_foreign_and_old_batches(emu: FeishuEmulator, h: dict[str, str]) -> None:
    for bad in ("bm-00000000000000000000000000000000", "bm_deadbeef", "om_123"):
        for fn in (read_user, progress):
            r = fn(emu, h, bad)
            assert (r.status_code, r.json()["code"]) == (400, 230030)
            assert "log_id" in r.json()["error"]
    bid = send_dept(emu, h)
    other = auth(emu, 1)
    for fn in (read_user, progress):
        r = fn(emu, other, bid)
        assert (r.status_code, r.json()["code"]) == (400, 230012)
    emu.advance(30 * 86400 + 1)
    h2 = auth(emu)  # the first token has long expired
    assert read_user(emu, h2, bid).json()["code"] == 230030


def test_undeliverable_and_mark_read() -> None:
    reading = ReadingModel(seed=7, undeliverable_fraction=0.5, never_read_fraction=1.0)
    with FeishuEmulator(reading=reading) as e:
        h = auth(e)
        bid = send_dept(e, h)
        e.advance(60)
        p = progress(e, h, bid).json()["data"]["batch_message_send_progress"]
        assert 0 < p["success_user_ids_count"] < p["valid_user_ids_count"]
        assert p["read_user_ids_count"] == 0
        assert e.mark_read(bid, count=3) == 3
        target = e.batch(bid)["recipients"][-1]
        e.mark_read(bid, open_ids=[target])
        assert read_user(e, h, bid).json()["data"]["read_user"]["read_count"] == "4"
        assert target in e.batch(bid)["read"]


def test_reading_is_deterministic_for_a_seed() -> None:
    def curve() -> list[str]:
        with FeishuEmulator(reading=ReadingModel(seed=3), clock=ManualClock(start=1_700_000_000)) as e:
            h = auth(e)
            bid = send_dept(e, h)
            out = []
            for _ in range(5):
                e.advance(300)
                out.append(read_user(e, h, bid).json()["data"]["read_user"]["read_count"])
            return [bid, *out]

    assert curve() == curve()


# ---------------------------------------------------------------- recall
def test_batch_recall(emu: FeishuEmulator, h: dict[str, str]) -> None:
    bid = send_dept(emu, h)
    url = f"{emu.base_url}/open-apis/im/v1/batch_messages/{bid}"
    r = requests.delete(url, headers=auth(emu, 1), timeout=5)
    assert (r.status_code, r.json()["code"]) == (400, 230026)
    r = requests.delete(emu.base_url + "/open-apis/im/v1/batch_messages/bm-" + "0" * 32, headers=h, timeout=5)
    assert r.json()["code"] == 230030
    emu.advance(3)
    r = requests.delete(url, headers=h, timeout=5)
    assert (r.status_code, r.json()) == (200, {"code": 0, "msg": "success", "data": {}})
    rp = progress(emu, h, bid).json()["data"]["batch_message_recall_progress"]
    assert rp["recall"] is True and rp["recall_count"] > 0
    emu.advance(60)  # no deliveries after the recall
    assert progress(emu, h, bid).json()["data"]["batch_message_send_progress"]["success_user_ids_count"] == \
        rp["recall_count"]
    late = send_dept(emu, h)
    emu.advance(86401)
    h = auth(emu)
    r = requests.delete(f"{emu.base_url}/open-apis/im/v1/batch_messages/{late}", headers=h, timeout=5)
    assert (r.status_code, r.json()["code"]) == (400, 230009)


# ---------------------------------------------------------------- im/v1
def test_message_create_and_uuid_idempotency(emu: FeishuEmulator, h: dict[str, str]) -> None:
    user = emu.users[5]
    url = emu.base_url + MSG_PATH
    r = requests.post(url, params={"receive_id_type": "open_id"}, headers=h, timeout=5,
                      json={"receive_id": user["open_id"], "msg_type": "text", "content": {"text": "obj"}})
    assert (r.status_code, r.json()["code"]) == (400, 230001)
    body = {"receive_id": user["open_id"], "msg_type": "text", "content": json.dumps({"text": "hi"}),
            "uuid": str(uuidlib.uuid4())}
    first = requests.post(url, params={"receive_id_type": "open_id"}, headers=h, json=body, timeout=5).json()
    assert first["code"] == 0
    data = first["data"]
    assert data["message_id"].startswith("om_") and data["body"]["content"] == body["content"]
    assert data["sender"]["sender_type"] == "app" and isinstance(data["create_time"], str)
    second = requests.post(url, params={"receive_id_type": "open_id"}, headers=h, json=body, timeout=5).json()
    assert second["data"]["message_id"] == data["message_id"]
    assert len(emu.delivered(user["open_id"])) == 1
    emu.advance(3601)  # the uuid window is one hour
    h = auth(emu)
    third = requests.post(url, params={"receive_id_type": "open_id"}, headers=h, json=body, timeout=5).json()
    assert third["data"]["message_id"] != data["message_id"]
    assert [m["source"] for m in emu.delivered(user["open_id"])] == ["im", "im"]
    assert emu.delivered(user["open_id"])[0]["content"] == {"text": "hi"}
    # other id types and chats
    for rtype, rid in (("user_id", user["user_id"]), ("union_id", user["union_id"]), ("email", user["email"])):
        ok = requests.post(url, params={"receive_id_type": rtype}, headers=h, timeout=5,
                           json={"receive_id": rid, "msg_type": "text", "content": '{"text":"x"}'})
        assert ok.json()["code"] == 0, rtype
    chat, nobot = emu.chats[0]["chat_id"], emu.chats[2]["chat_id"]
    ok = requests.post(url, params={"receive_id_type": "chat_id"}, headers=h, timeout=5,
                       json={"receive_id": chat, "msg_type": "text", "content": '{"text":"all"}'})
    assert ok.json()["code"] == 0 and emu.chat_messages(chat)[0]["content"] == {"text": "all"}
    bad = requests.post(url, params={"receive_id_type": "chat_id"}, headers=h, timeout=5,
                        json={"receive_id": nobot, "msg_type": "text", "content": '{"text":"x"}'})
    assert (bad.status_code, bad.json()["code"]) == (400, 230002)
    bad = requests.post(url, params={"receive_id_type": "open_id"}, headers=h, timeout=5,
                        json={"receive_id": "ou_nobody", "msg_type": "text", "content": '{"text":"x"}'})
    assert bad.json()["code"] == 230013
    bad = requests.post(url, headers=h, timeout=5,
                        json={"receive_id": user["open_id"], "msg_type": "text", "content": '{"text":"x"}'})
    assert bad.json()["code"] == 230001  # receive_id_type missing


def test_urgent_app(emu: FeishuEmulator, h: dict[str, str]) -> None:
    users = emu.users
    chat = emu.chats[1]
    r = requests.post(emu.base_url + MSG_PATH, params={"receive_id_type": "chat_id"}, headers=h, timeout=5,
                      json={"receive_id": chat["chat_id"], "msg_type": "text", "content": '{"text":"x"}'})
    mid = r.json()["data"]["message_id"]
    url = f"{emu.base_url}/open-apis/im/v1/messages/{mid}/urgent_app"
    outsider = next(u["open_id"] for u in users if u["open_id"] not in chat["members"])
    r = requests.patch(url, params={"user_id_type": "open_id"}, headers=h, timeout=5,
                       json={"user_id_list": [chat["members"][0], outsider]})
    assert r.json() == {"code": 0, "msg": "success", "data": {"invalid_user_id_list": [outsider]}}
    r = requests.patch(url, params={"user_id_type": "open_id"}, headers=h, json={"user_id_list": []}, timeout=5)
    assert (r.status_code, r.json()["code"]) == (400, 230001)
    r = requests.patch(url, params={"user_id_type": "open_id"}, headers=auth(emu, 1), timeout=5,
                       json={"user_id_list": [chat["members"][0]]})
    assert (r.status_code, r.json()["code"]) == (400, 230012)
    assert emu.request_count("urgent_app") == 3


# ---------------------------------------------------------------- webhook
def test_custom_bot_webhook(emu: FeishuEmulator) -> None:
    tenant = emu.tenant
    plain, signed, keyword = tenant["webhooks"]
    ok = requests.post(emu.webhook_url(0), json={"msg_type": "text", "content": {"text": "hi"}}, timeout=5)
    assert ok.status_code == 200 and ok.json()["code"] == 0 and ok.json()["StatusCode"] == 0
    bad = requests.post(emu.base_url + "/open-apis/bot/v2/hook/nope", json={"msg_type": "text",
                        "content": {"text": "x"}}, timeout=5)
    assert bad.status_code == 200 and bad.json()["code"] == 19001
    ts = str(int(emu.now()))
    sign = base64.b64encode(hmac.new(f"{ts}\n{signed['secret']}".encode(), b"", hashlib.sha256).digest()).decode()
    body = {"timestamp": ts, "sign": sign, "msg_type": "text", "content": {"text": "signed"}}
    assert requests.post(emu.webhook_url(1), json=body, timeout=5).json()["code"] == 0
    assert requests.post(emu.webhook_url(1), json={**body, "sign": "x"}, timeout=5).json()["code"] == 19021
    kw = requests.post(emu.webhook_url(2), json={"msg_type": "text", "content": {"text": "no kw"}}, timeout=5)
    assert kw.json()["code"] == 19024
    assert len(emu.webhook_messages()) == 2 and emu.request_count("webhook") == 5
    assert plain["chat_id"] == keyword["chat_id"]


# ---------------------------------------------------------------- rate limits
def test_rate_limit_429_then_recovery(emu: FeishuEmulator, h: dict[str, str]) -> None:
    emu.set_rate_limits(per_second=5)
    bid = send_dept(emu, h)  # 1 batch_send, does not count against read_user
    codes = [read_user(emu, h, bid) for _ in range(8)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and len(limited) <= 3
    r = limited[0]
    assert r.json()["code"] == 99991400 and r.json()["msg"] == "request trigger frequency limit"
    assert r.headers["x-ogw-ratelimit-limit"] == "5" and int(r.headers["x-ogw-ratelimit-reset"]) >= 1
    # other APIs and other apps have their own quota
    assert progress(emu, h, bid).status_code == 200
    time.sleep(int(r.headers["x-ogw-ratelimit-reset"]) + 0.05)
    assert read_user(emu, h, bid).status_code == 200
    emu.set_rate_limits(None)
    assert all(read_user(emu, h, bid).status_code == 200 for _ in range(20))


def test_rate_limits_can_be_disabled_at_construction() -> None:
    with FeishuEmulator(rate_limits=False) as e:
        h = auth(e)
        assert all(read_user(e, h, "bm-" + "0" * 32).json()["code"] == 230030 for _ in range(60))


# ---------------------------------------------------------------- faults
def test_fault_response_and_wildcard(emu: FeishuEmulator, h: dict[str, str]) -> None:
    bid = send_dept(emu, h)
    emu.inject("/open-apis/im/v1/batch_messages/*", times=2, status=500, code=1234, msg="boom")
    for _ in range(2):
        r = read_user(emu, h, bid)
        assert (r.status_code, r.json()["code"], r.json()["msg"]) == (500, 1234, "boom")
    assert read_user(emu, h, bid).status_code == 200
    emu.inject(BATCH_PATH, status=429, code=99991400, msg="request trigger frequency limit")
    r = batch_send(emu, h, open_ids=[emu.users[0]["open_id"]])
    assert r.status_code == 429 and r.headers["x-ogw-ratelimit-reset"] == "1"
    emu.inject(BATCH_PATH, body={"code": 11246, "msg": "Service Internal Error"}, status=200)
    assert batch_send(emu, h, open_ids=[emu.users[0]["open_id"]]).json()["code"] == 11246
    assert len(emu.batches()) == 1  # faulted requests were not processed


def test_fault_html_empty_malformed(emu: FeishuEmulator, h: dict[str, str]) -> None:
    emu.inject(TOKEN_PATH, kind="html_502")
    r = requests.post(emu.base_url + TOKEN_PATH, json={"app_id": emu.app_id, "app_secret": emu.app_secret},
                      timeout=5)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    emu.inject(TOKEN_PATH, kind="empty_body")
    r = requests.post(emu.base_url + TOKEN_PATH, json={}, timeout=5)
    assert r.status_code == 200 and r.content == b""
    emu.inject(TOKEN_PATH, kind="malformed_json")
    r = requests.post(emu.base_url + TOKEN_PATH, json={}, timeout=5)
    with pytest.raises(ValueError):
        r.json()
    assert token(emu)


def test_fault_delay(emu: FeishuEmulator, h: dict[str, str]) -> None:
    emu.inject(BATCH_PATH, kind="delay", delay=0.3)
    t0 = time.perf_counter()
    assert batch_send(emu, h, open_ids=[emu.users[0]["open_id"]]).json()["code"] == 0
    assert time.perf_counter() - t0 >= 0.3
    with pytest.raises(requests.exceptions.Timeout):
        emu.inject(BATCH_PATH, kind="delay", delay=0.5)
        batch_send_timeout = requests.post(emu.base_url + BATCH_PATH, headers=h, timeout=0.1,
                                           json={"msg_type": "text", "content": {"text": "x"},
                                                 "open_ids": [emu.users[0]["open_id"]]})
        del batch_send_timeout


def test_fault_drop_before_changes_nothing(emu: FeishuEmulator, h: dict[str, str]) -> None:
    emu.inject(BATCH_PATH, kind="drop_before")
    with pytest.raises(requests.exceptions.ConnectionError):
        batch_send(emu, h, open_ids=[emu.users[0]["open_id"]])
    assert emu.batches() == []
    assert emu.request_count("batch_send") == 1
    assert batch_send(emu, h, open_ids=[emu.users[0]["open_id"]]).json()["code"] == 0


def test_fault_drop_after_delivers_exactly_once(emu: FeishuEmulator, h: dict[str, str]) -> None:
    user = emu.users[3]
    body = {"receive_id": user["open_id"], "msg_type": "text", "content": '{"text":"once"}', "uuid": "u-1"}
    emu.inject(MSG_PATH, kind="drop_after")
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(emu.base_url + MSG_PATH, params={"receive_id_type": "open_id"}, json=body, headers=h,
                      timeout=5)
    assert len(emu.delivered(user["open_id"])) == 1  # processed despite the broken answer
    # the client's retry with the same uuid gets the same message, delivered once
    r = requests.post(emu.base_url + MSG_PATH, params={"receive_id_type": "open_id"}, json=body, headers=h,
                      timeout=5)
    assert r.json()["code"] == 0
    assert len(emu.delivered(user["open_id"])) == 1
    emu.inject(BATCH_PATH, kind="drop_after")
    with pytest.raises(requests.exceptions.RequestException):
        batch_send(emu, h, open_ids=[user["open_id"]])
    assert len(emu.batches()) == 1


def test_fault_delay_after_processes_before_the_client_gives_up(emu: FeishuEmulator, h: dict[str, str]) -> None:
    # The client times out while the answer waits; the batch exists all the same (the emulator's
    # stand-in for a worker killed after Feishu accepted its send).
    emu.inject(BATCH_PATH, kind="delay_after", delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(emu.base_url + BATCH_PATH, headers=h, timeout=0.2,
                      json={"msg_type": "text", "content": {"text": "x"}, "open_ids": [emu.users[0]["open_id"]]})
    assert len(emu.batches()) == 1
    assert emu.request_count("batch_send") == 1


def test_fault_expire_token(emu: FeishuEmulator, h: dict[str, str]) -> None:
    emu.inject(BATCH_PATH, kind="expire_token")
    r = batch_send(emu, h, open_ids=[emu.users[0]["open_id"]])
    assert (r.status_code, r.json()["code"]) == (400, 99991663)
    fresh = auth(emu)
    assert fresh != h
    assert batch_send(emu, fresh, open_ids=[emu.users[0]["open_id"]]).json()["code"] == 0


def test_bad_fault_kind_rejected(emu: FeishuEmulator) -> None:
    with pytest.raises(ValueError):
        emu.inject("/x", kind="explode")


# ---------------------------------------------------------------- inspection, admin API
def test_requests_log_and_reset(emu: FeishuEmulator, h: dict[str, str]) -> None:
    send_dept(emu, h)
    log = emu.requests_log
    assert [(m, p, s, c) for _, m, p, s, c in log] == [
        ("POST", TOKEN_PATH, 200, 0), ("POST", BATCH_PATH, 200, 0)]
    emu.inject("/x")
    emu.reset()
    assert emu.requests_log == [] and emu.batches() == [] and emu.request_count("batch_send") == 0
    assert emu.stats()["faults_pending"] == 0
    assert send_dept(emu, h)  # tokens survive reset


def test_admin_http_api(emu: FeishuEmulator, h: dict[str, str]) -> None:
    admin = emu.base_url + "/__emulator__"
    bid = send_dept(emu, h, "eng-platform")
    r = requests.post(admin + "/advance", json={"seconds": 30}, timeout=5).json()
    assert r["emulator_only"] is True and r["now"] == emu.now()
    member = emu.department_members("eng-platform")[0]
    msgs = requests.get(admin + "/messages", params={"open_id": member}, timeout=5).json()["messages"]
    assert msgs[0]["batch_message_id"] == bid
    assert requests.get(admin + "/stats", timeout=5).json()["requests"]["batch_send"] == 1
    assert requests.get(admin + "/tenant", timeout=5).json()["apps"][0]["app_id"] == emu.app_id
    assert requests.post(admin + "/faults", json={"path": BATCH_PATH, "code": 10003, "status": 200},
                         timeout=5).json()["ok"]
    assert batch_send(emu, h, open_ids=[member]).json()["code"] == 10003
    assert requests.post(admin + f"/batches/{bid}/read", json={"count": 2}, timeout=5).json()["newly_read"] == 2
    assert requests.get(admin + f"/batches/{bid}", timeout=5).json()["progress"]["read_user_ids_count"] == 2
    assert requests.post(admin + "/reset", timeout=5).json()["ok"]
    assert emu.batches() == []
    assert requests.get(admin + "/nope", timeout=5).status_code == 404


def test_speed_clock_runs() -> None:
    with FeishuEmulator(speed=600.0) as e:
        t0 = e.now()
        time.sleep(0.05)
        assert e.now() - t0 >= 20
        e.advance(100)
        assert e.now() - t0 >= 120


def test_connection_fixture(feishu_connection: FeishuEmulator) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_FEISHU_DEFAULT"])
    assert conn["host"] == feishu_connection.base_url and conn["login"] == feishu_connection.app_id


def test_package_does_not_import_airflow() -> None:
    code = ("import sys, airflow_provider_feishu.testing as t; "
            "assert 'airflow' not in sys.modules and 'uvicorn' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------- CLI
def test_cli_help_and_print_tenant() -> None:
    cli = [sys.executable, "-m", "airflow_provider_feishu.testing.cli"]
    out = subprocess.run([*cli, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    for flag in ("--port", "--seed", "--speed", "--no-rate-limit", "--print-tenant", "__emulator__"):
        assert flag in out
    tenant = json.loads(subprocess.run([*cli, "--print-tenant"], capture_output=True, text=True, timeout=60,
                                       check=True).stdout)
    assert len(tenant["apps"]) == 2 and len(tenant["users"]) == 120


def test_cli_serves(tmp_path) -> None:
    cli = [sys.executable, "-m", "airflow_provider_feishu.testing.cli", "--port", "0", "--manual-clock"]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert base, first
        app_id = proc.stdout.readline().split()[-1]
        secret = proc.stdout.readline().split()[-1]
        r = requests.post(base.group(0) + TOKEN_PATH, json={"app_id": app_id, "app_secret": secret}, timeout=5)
        assert r.json()["code"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
