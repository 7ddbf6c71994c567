"""The emulator's read tracking over real HTTP: read_users, chat members, reactions, reply, buzz rules."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

MSG_PATH = "/open-apis/im/v1/messages"
ALL_HANDS = 0  # chat index in the default tenant: 120 members
NO_BOT = 2


def auth(emu: FeishuEmulator, app_index: int = 0) -> dict[str, str]:
    app = emu.apps[app_index]
    r = requests.post(
        emu.base_url + "/open-apis/auth/v3/tenant_access_token/internal",
        json={"app_id": app["app_id"], "app_secret": app["app_secret"]},
        timeout=5,
    )
    return {"Authorization": "Bearer " + r.json()["tenant_access_token"]}


def send(emu, headers, receive_id: str, receive_id_type: str = "chat_id", text: str = "notice") -> str:
    r = requests.post(
        emu.base_url + MSG_PATH,
        params={"receive_id_type": receive_id_type},
        json={"receive_id": receive_id, "msg_type": "text", "content": f'{{"text": "{text}"}}'},
        headers=headers,
        timeout=5,
    )
    assert r.json()["code"] == 0, r.text
    return r.json()["data"]["message_id"]


def get(emu, headers, path: str, **params) -> requests.Response:
    return requests.get(emu.base_url + path, params=params, headers=headers, timeout=5)


def walk(emu, headers, path: str, **params) -> list[dict]:
    items, token, pages = [], None, 0
    while True:
        r = get(emu, headers, path, **params, **({"page_token": token} if token else {}))
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        items += data.get("items", [])
        pages += 1
        if not data["has_more"]:
            return items
        token = data["page_token"]


@pytest.fixture
def emu():
    with FeishuEmulator(reading=ReadingModel(median_seconds=600, never_read_fraction=0.2)) as emu:
        yield emu


def test_readers_grow_with_time_and_page(emu):
    h = auth(emu)
    chat = emu.chats[ALL_HANDS]
    mid = send(emu, h, chat["chat_id"])
    assert walk(emu, h, f"{MSG_PATH}/{mid}/read_users", user_id_type="open_id", page_size=100) == []
    emu.advance(3600)
    readers = walk(emu, h, f"{MSG_PATH}/{mid}/read_users", user_id_type="open_id", page_size=7)
    truth = emu.message_reads(mid)
    assert {r["user_id"] for r in readers} == set(truth["read"])
    assert 40 < len(readers) < 120  # some never read (20%), most did within 6 medians
    assert all(r["timestamp"].isdigit() for r in readers)
    assert set(truth["unread"]) == set(chat["members"]) - set(truth["read"])


def test_members_page_leave_bots_out_and_follow_joins_and_leaves(emu):
    h = auth(emu)
    chat = emu.chats[1]  # Platform team
    members = walk(emu, h, f"/open-apis/im/v1/chats/{chat['chat_id']}/members", page_size=4)
    assert [m["member_id"] for m in members] == chat["members"]
    assert all(m["name"] for m in members)
    outsider, leaver = emu.users[0]["open_id"], chat["members"][0]
    emu.add_chat_members(chat["chat_id"], [outsider, "cli_some_bot"])  # a bot id is never listed
    emu.remove_chat_members(chat["chat_id"], [leaver])
    after = [m["member_id"] for m in walk(emu, h, f"/open-apis/im/v1/chats/{chat['chat_id']}/members")]
    assert outsider in after and leaver not in after and "cli_some_bot" not in after
    assert get(emu, h, f"/open-apis/im/v1/chats/{chat['chat_id']}/members", page_size=101).json()["code"] == 232001
    assert get(emu, h, "/open-apis/im/v1/chats/oc_nope/members").json()["code"] == 232006
    assert get(emu, h, f"/open-apis/im/v1/chats/{emu.chats[NO_BOT]['chat_id']}/members").json()["code"] == 232011


def test_reactions_list_people_and_apps_by_type(emu):
    h = auth(emu)
    mid = send(emu, h, emu.chats[1]["chat_id"])
    person = emu.chats[1]["members"][0]
    emu.react(mid, person, "OK")
    emu.react(mid, emu.app_id, "THUMBSUP", operator_type="app")
    items = walk(emu, h, f"{MSG_PATH}/{mid}/reactions", reaction_type="OK")
    assert [(i["operator"]["operator_id"], i["reaction_type"]["emoji_type"]) for i in items] == [(person, "OK")]
    both = walk(emu, h, f"{MSG_PATH}/{mid}/reactions")
    assert {i["operator"]["operator_type"] for i in both} == {"user", "app"}
    assert get(emu, h, f"{MSG_PATH}/{mid}/reactions", page_size=51).json()["code"] == 230001
    assert get(emu, h, f"{MSG_PATH}/{mid}/reactions", page_token="junk").json()["code"] == 231012


def test_read_users_error_codes(emu):
    h, other = auth(emu), auth(emu, 1)
    chat_id = emu.chats[1]["chat_id"]
    mid = send(emu, h, chat_id)
    assert get(emu, other, f"{MSG_PATH}/{mid}/read_users").json()["code"] == 230012
    emu.set_bot_in_chat(chat_id, False)
    assert get(emu, h, f"{MSG_PATH}/{mid}/read_users").json()["code"] == 230002
    emu.set_bot_in_chat(chat_id, True)
    assert get(emu, h, f"{MSG_PATH}/{mid}/read_users", page_size=0).json()["code"] == 230001
    emu.advance(7 * 86400 + 1)
    r = get(emu, auth(emu), f"{MSG_PATH}/{mid}/read_users")  # a new token: the old one expired
    assert (r.status_code, r.json()["code"]) == (400, 230033)


def test_buzz_reminds_only_chat_members_and_records_who_had_read(emu):
    h = auth(emu)
    chat = emu.chats[1]
    mid = send(emu, h, chat["chat_id"])
    reader, other = chat["members"][:2]
    emu.mark_message_read(mid, [reader])
    outsider = emu.chats[ALL_HANDS]["members"][-1]
    r = requests.patch(
        f"{emu.base_url}{MSG_PATH}/{mid}/urgent_app",
        params={"user_id_type": "open_id"},
        json={"user_id_list": [reader, other, outsider]},
        headers=h,
        timeout=5,
    )
    assert r.json()["data"]["invalid_user_id_list"] == [outsider]
    log = emu.reminders(mid)
    assert [(x["open_id"], x["had_read"]) for x in log] == [(reader, True), (other, False)]
    assert all(x["kind"] == "buzz" for x in log)


def test_200_unread_buzzes_are_refused(emu):
    h = auth(emu)
    mid = send(emu, h, emu.chats[1]["chat_id"])
    person = emu.chats[1]["members"][0]
    emu.set_unread_buzzes(person, 200)
    r = requests.patch(
        f"{emu.base_url}{MSG_PATH}/{mid}/urgent_app",
        params={"user_id_type": "open_id"},
        json={"user_id_list": [person]},
        headers=h,
        timeout=5,
    )
    assert r.json()["code"] == 230023


def test_a_reminder_makes_reading_likelier_soon():
    # Nobody reads on their own within the hour (median a week); reminded people mostly do.
    with FeishuEmulator(reading=ReadingModel(median_seconds=7 * 86400, never_read_fraction=0.0, sigma=0.3)) as emu:
        h = auth(emu)
        chat = emu.chats[ALL_HANDS]
        mid = send(emu, h, chat["chat_id"])
        reminded = chat["members"][:40]
        r = requests.post(
            f"{emu.base_url}{MSG_PATH}/{mid}/reply",
            json={
                "msg_type": "text",
                "content": '{"text": "' + " ".join(f'<at user_id=\\"{o}\\"></at>' for o in reminded) + ' please"}',
            },
            headers=h,
            timeout=5,
        )
        assert r.json()["code"] == 0, r.text
        assert r.json()["data"]["parent_id"] == mid
        emu.advance(3 * 3600)
        read = set(emu.message_reads(mid)["read"])
        assert read <= set(reminded) and len(read) > 20
        assert {x["kind"] for x in emu.reminders(mid)} == {"reply"}


def test_direct_message_to_a_person_is_tracked_and_reply_is_idempotent(emu):
    h = auth(emu)
    person = emu.users[3]
    mid = send(emu, h, person["email"], "email")
    emu.mark_message_read(mid)
    readers = walk(emu, h, f"{MSG_PATH}/{mid}/read_users", user_id_type="user_id")
    assert [r["user_id"] for r in readers] == [person["user_id"]]
    body = {"msg_type": "text", "content": '{"text": "thanks"}', "uuid": "r-1"}
    first = requests.post(f"{emu.base_url}{MSG_PATH}/{mid}/reply", json=body, headers=h, timeout=5).json()
    again = requests.post(f"{emu.base_url}{MSG_PATH}/{mid}/reply", json=body, headers=h, timeout=5).json()
    assert first["data"]["message_id"] == again["data"]["message_id"]
    assert len([m for m in emu.delivered(person["open_id"]) if m["content"] == {"text": "thanks"}]) == 1


def test_admin_http_inspection(emu):
    h = auth(emu)
    mid = send(emu, h, emu.chats[1]["chat_id"])
    admin = emu.base_url + "/__emulator__"
    assert requests.post(f"{admin}/im_messages/{mid}/read", json={}, timeout=5).json()["newly_read"] > 0
    snap = requests.get(f"{admin}/im_messages/{mid}", timeout=5).json()
    assert snap["unread"] == [] and len(snap["read"]) == len(emu.chats[1]["members"])
    assert requests.get(f"{admin}/reminders", timeout=5).json()["reminders"] == []


def test_contacts_page_and_refuse_what_the_app_cannot_see(emu):
    h = auth(emu)
    path = "/open-apis/contact/v3/users/find_by_department"
    r = get(emu, h, path, department_id="eng", department_id_type="department_id", page_size=50)
    assert r.json()["code"] == 0 and len(r.json()["data"]["items"]) == 30  # direct members only
    assert (
        get(emu, h, path, department_id="eng", department_id_type="department_id", page_size=51).json()["code"] == 40011
    )
    assert (
        get(emu, h, path, department_id="eng", department_id_type="department_id", page_token="x").json()["code"]
        == 40012
    )
    r = get(emu, h, path, department_id="od-nope")
    assert (r.status_code, r.json()["code"]) == (403, 40004)
    kids = get(emu, h, "/open-apis/contact/v3/departments/0/children", fetch_child="true").json()["data"]["items"]
    assert {d["department_id"] for d in kids} == {d["department_id"] for d in emu.departments}
    direct = get(emu, h, "/open-apis/contact/v3/departments/0/children").json()["data"]["items"]
    assert "eng-platform" not in {d["department_id"] for d in direct}
