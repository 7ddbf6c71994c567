"""FeishuRemindUnreadOperator under dag.test() against the emulator: only the unread are reminded."""

from __future__ import annotations

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from tests.sensors.test_message_read_sensor import DAGS
from tests.sensors.test_read_threshold_sensor import connect, states, task_logs, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120, method="thread")]


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator(reading=ReadingModel(never_read_fraction=1.0)) as emu:
        connect(monkeypatch, emu)
        yield emu


def chat_notice(emu, readers: int = 20) -> tuple[str, str, list[str]]:
    """A notice to the 30-person Platform chat, read by the first ``readers`` members."""
    chat = emu.chats[1]
    mid = FeishuHook().send_message(chat["chat_id"], "text", {"text": "notice"}, receive_id_type="chat_id").message_id
    members = list(chat["members"])
    emu.mark_message_read(mid, members[:readers])
    return chat["chat_id"], mid, members


def conf(emu, **kwargs) -> dict:
    out = {"message_id": None, "chat_id": None, "message_ids": None, "admin": emu.base_url + "/__emulator__"}
    return {"reads": [], **out, **kwargs}


def test_buzz_reaches_only_those_who_have_not_read_when_it_runs(emu):
    chat_id, mid, members = chat_notice(emu)
    late_reader = members[25]  # reads between the wait and the reminder
    run = DAGS["remind_buzz"].test(run_conf=conf(emu, message_id=mid, chat_id=chat_id, reads=[late_reader]))
    assert states(run) == {"someone_reads": "success", "remind": "success"}
    buzzed = [r for r in emu.reminders(mid) if r["kind"] == "buzz"]
    assert sorted(r["open_id"] for r in buzzed) == sorted(set(members[20:]) - {late_reader})
    assert not any(r["had_read"] for r in buzzed)  # nobody who had read was buzzed
    result = xcom(run, "remind")
    assert sorted(result["reminded"]) == sorted(r["open_id"] for r in buzzed) and result["failed"] == {}
    assert result["message"] == "buzzed 9 of 9 who have not read"
    assert all(result["names"][p] for p in result["reminded"])


def test_a_person_with_200_unread_buzzes_is_reported_not_hidden(emu):
    chat_id, mid, members = chat_notice(emu, readers=27)
    emu.set_unread_buzzes(members[28], 200)
    run = DAGS["remind_buzz"].test(run_conf=conf(emu, message_id=mid, chat_id=chat_id))
    result = xcom(run, "remind")
    assert sorted(result["reminded"]) == sorted([members[27], members[29]])
    assert list(result["failed"]) == [members[28]] and result["failed"][members[28]].startswith("230023")


def test_reply_mentions_each_non_reader_once(emu):
    chat_id, mid, members = chat_notice(emu, readers=25)
    run = DAGS["remind_reply"].test(run_conf=conf(emu, message_id=mid, chat_id=chat_id))
    assert states(run)["remind"] == "success"
    replies = [m for m in emu.chat_messages(chat_id) if m["message_id"] != mid]
    assert len(replies) == 1 and "Please read the notice" in replies[0]["content"]["text"]
    assert sorted(r["open_id"] for r in emu.reminders(mid)) == sorted(members[25:])
    assert {r["kind"] for r in emu.reminders(mid)} == {"reply"}


def test_direct_messages_to_each_non_reader_of_a_tracked_send(emu):
    hook = FeishuHook()
    people = [u["email"] for u in emu.users[:5]]
    ids = {p: hook.send_message(p, "text", {"text": "hi"}, receive_id_type="email").message_id for p in people}
    emu.mark_message_read(ids[people[0]])
    tracked = {"receive_id_type": "email", "message_ids": ids, "failed": {}}
    run = DAGS["remind_message"].test(run_conf=conf(emu, message_ids=tracked))
    result = xcom(run, "remind")
    assert result["reminded"] == people[1:]
    for user in emu.users[:5]:
        got = [m for m in emu.delivered(user["open_id"]) if m["content"]["text"] == "Please read the notice"]
        assert len(got) == (0 if user["email"] == people[0] else 1)


def test_buzz_of_people_named_by_email_says_what_to_use(emu, capfd, caplog):
    person = emu.users[0]["email"]
    mid = FeishuHook().send_message(person, "text", {"text": "hi"}, receive_id_type="email").message_id
    tracked = {"receive_id_type": "email", "message_ids": {person: mid}, "failed": {}}
    run = DAGS["remind_buzz"].test(run_conf=conf(emu, message_ids=tracked))
    assert states(run)["remind"] == "failed"
    assert "Use method='message' or method='reply'" in task_logs(capfd, caplog)


def test_nobody_left_to_remind(emu):
    chat_id, mid, _ = chat_notice(emu, readers=30)
    run = DAGS["remind_buzz"].test(run_conf=conf(emu, message_id=mid, chat_id=chat_id))
    assert xcom(run, "remind")["reminded"] == [] and emu.reminders(mid) == []
