"""FeishuTrackedSendOperator under dag.test(): one message per person, never a second copy."""

from __future__ import annotations

import pytest

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from tests.sensors.test_message_read_sensor import DAGS
from tests.sensors.test_read_threshold_sensor import FAST_RETRIES, states, task_logs, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120, method="thread")]
CREATE_PATH = "/open-apis/im/v1/messages"
READERS = ReadingModel(median_seconds=600, sigma=0.5, never_read_fraction=0.0)
FAST_READERS = ReadingModel(median_seconds=30, never_read_fraction=0.0)  # at speed=300: within a second


def connect(monkeypatch, emu, **extra) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra={**FAST_RETRIES, **extra}))


def conf(**kwargs) -> dict:
    return {"open_ids": None, "emails": None, "chat_ids": None, "department_ids": None, "threshold": 0.8, **kwargs}


def copies(emu, open_id: str) -> int:
    return len([m for m in emu.delivered(open_id) if m["content"].get("text") == "Please read the new policy"])


def test_one_message_per_person_then_wait_on_them(monkeypatch):
    with FeishuEmulator(speed=300.0, reading=READERS) as emu:
        connect(monkeypatch, emu)
        people = [u["open_id"] for u in emu.users[:3]]
        chat = emu.chats[1]  # 30 members; two of ours are among them
        run = DAGS["tracked_send"].test(run_conf=conf(open_ids=people, chat_ids=[chat["chat_id"]]))
        assert states(run) == {"send": "success", "wait": "success"}
        sent = xcom(run, "send")
        expected = list(dict.fromkeys(people + chat["members"]))
        assert sent["receive_id_type"] == "open_id" and list(sent["message_ids"]) == expected
        assert sent["failed"] == {}
        assert all(copies(emu, p) == 1 for p in expected)
        report = xcom(run, "wait")
        assert report["total_count"] == len(expected) and report["reached"]


def test_a_task_retry_after_a_lost_answer_sends_nobody_a_second_message(monkeypatch):
    with FeishuEmulator(speed=300.0, reading=FAST_READERS) as emu:
        connect(monkeypatch, emu, max_retries=0)  # the hook gives up at once: the task retry resends
        people = [u["email"] for u in emu.users[:6]]
        emu.inject(CREATE_PATH, kind="drop_after")  # the first send is delivered, its answer lost
        run = DAGS["tracked_send"].test(run_conf=conf(emails=people, threshold=0.1))
        ti = {t.task_id: t for t in run.get_task_instances()}
        assert ti["send"].state == "success" and ti["send"].try_number == 2
        assert ti["wait"].state == "success"
        assert all(copies(emu, u["open_id"]) == 1 for u in emu.users[:6])
        assert len(xcom(run, "send")["message_ids"]) == 6


def test_a_refused_person_is_reported_not_hidden(monkeypatch, capfd, caplog):
    with FeishuEmulator(speed=300.0, reading=FAST_READERS) as emu:
        connect(monkeypatch, emu)
        people = [emu.users[0]["email"], "nobody@example.com"]
        run = DAGS["tracked_send"].test(run_conf=conf(emails=people, threshold=0.5))
        assert states(run) == {"send": "success", "wait": "success"}
        sent = xcom(run, "send")
        assert list(sent["message_ids"]) == [people[0]]
        assert sent["failed"]["nobody@example.com"].startswith("230013")
        assert "Not sent to 1: nobody@example.com (230013" in task_logs(capfd, caplog)


def test_emails_and_chats_cannot_be_mixed(monkeypatch, capfd, caplog):
    with FeishuEmulator() as emu:
        connect(monkeypatch, emu)
        run = DAGS["tracked_send"].test(run_conf=conf(emails=["a@example.com"], chat_ids=[emu.chats[1]["chat_id"]]))
        assert states(run)["send"] == "failed"
        assert "chat member lists carry no emails" in task_logs(capfd, caplog)
        assert emu.request_count("message_create") == 0


def test_uuid_is_stable_per_person_and_short():
    from airflow_provider_feishu.operators.tracked_send import person_uuid

    class TI:
        dag_id, task_id, run_id, map_index = "d", "t", "r", -1

    context = {"ti": TI()}
    first = person_uuid(context, "a@example.com")  # type: ignore[arg-type]
    assert first == person_uuid(context, "a@example.com") != person_uuid(context, "b@example.com")  # type: ignore[arg-type]
    assert len(first) <= 50


def test_departments_expand_to_their_people_and_sub_departments(monkeypatch):
    from airflow_provider_feishu.api import endpoints

    monkeypatch.setattr(endpoints, "CONTACT_PAGE_SIZE", 7)  # 30 people a department: several pages
    with FeishuEmulator(speed=300.0, reading=FAST_READERS) as emu:
        connect(monkeypatch, emu)
        eng = next(d for d in emu.departments if d["department_id"] == "eng")
        run = DAGS["tracked_send"].test(run_conf=conf(department_ids=[eng["open_department_id"]], threshold=0.5))
        sent = xcom(run, "send")
        expected = emu.department_members("eng")  # eng and its sub-department eng-platform: 60 people
        assert sorted(sent["message_ids"]) == sorted(expected) and len(expected) == 60
        assert all(copies(emu, p) == 1 for p in expected)
