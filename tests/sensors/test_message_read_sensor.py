"""FeishuMessageReadSensor under real ``dag.test()`` on SQLite, against the emulator over loopback HTTP.

Reads rise while the DAG runs because the emulator's clock runs 300x real time (``speed=``);
deadline and membership cases use a manual clock and a reading model in which nobody reads.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from airflow_provider_feishu.version_compat import AIRFLOW_V_3_2_PLUS
from tests.sensors.test_read_threshold_sensor import FAST_RETRIES, connect, states, task_logs, when, xcom

DAG_FILE = Path(__file__).parents[1] / "dags" / "message_read_dags.py"
MODES = ["poke", "reschedule", "deferrable"]
READERS = ReadingModel(median_seconds=600, sigma=0.5, never_read_fraction=0.0)
NOBODY_READS = ReadingModel(never_read_fraction=1.0)

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120, method="thread")]


def load_dags() -> dict:
    spec = importlib.util.spec_from_file_location("message_read_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dags


DAGS = load_dags()


@pytest.fixture
def reading_emu(monkeypatch):
    with FeishuEmulator(speed=300.0, reading=READERS) as emu:
        connect(monkeypatch, emu)
        yield emu


@pytest.fixture
def quiet_emu(monkeypatch):
    with FeishuEmulator(reading=NOBODY_READS) as emu:
        connect(monkeypatch, emu)
        yield emu


def platform_chat(emu: FeishuEmulator) -> dict:
    return emu.chats[1]  # "Platform team", 30 people


def send_to_chat(emu: FeishuEmulator, chat_id: str, conn_id: str = "feishu_default") -> str:
    return FeishuHook(conn_id).send_message(chat_id, "text", {"text": "notice"}, receive_id_type="chat_id").message_id


def only(**conf) -> dict:
    """run_conf for the read_only_* DAGs, every param given (dag.test() keeps params of an earlier run)."""
    return {"message_id": None, "chat_id": None, "message_ids": None, "threshold": 0.8, **conf}


REPORT_KEYS = {
    "reached", "read_count", "total_count", "ratio", "threshold", "min_read_count", "acknowledge", "audience",
    "read", "unread", "acknowledged", "missing", "names", "message_id", "chat_id", "message_ids", "message",
    "reached_at",
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_a_chat_message(reading_emu, mode, capfd, caplog):
    chat = platform_chat(reading_emu)
    run = DAGS[f"read_chat_{mode}"].test(run_conf={"chat_id": chat["chat_id"], "threshold": 0.8, "acknowledge": None})
    assert states(run) == {"send": "success", "wait": "success"}
    report = xcom(run, "wait")
    assert set(report) == REPORT_KEYS  # the same shape in every mode
    assert report["reached"] and report["total_count"] == 30 and report["read_count"] >= 24
    assert report["message_id"] == xcom(run, "send") and report["chat_id"] == chat["chat_id"]
    assert set(report["read"]) | set(report["unread"]) == set(chat["members"])
    assert all(report["names"][p] for p in report["unread"])
    if AIRFLOW_V_3_2_PLUS:
        assert "read 0/30 (0.0%), need 80%; not yet: " in task_logs(capfd, caplog)


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_one_message_per_person(reading_emu, mode):
    hook = FeishuHook()
    people = [u["email"] for u in reading_emu.users[:10]]
    ids = {p: hook.send_message(p, "text", {"text": "hi"}, receive_id_type="email").message_id for p in people}
    run = DAGS[f"read_only_{mode}_strict"].test(run_conf=only(message_ids=ids))
    assert states(run) == {"wait": "success"}
    report = xcom(run, "wait")
    assert report["message_ids"] == ids and report["read_count"] >= 8 and set(report["audience"]) == set(people)


def test_acknowledge_counts_reactions(reading_emu):
    reading_emu.world.tracking.acknowledge_fraction = 1.0  # everyone who reads also reacts
    chat = platform_chat(reading_emu)
    conf = {"chat_id": chat["chat_id"], "threshold": 0.5, "acknowledge": "THUMBSUP"}
    run = DAGS["read_chat_poke"].test(run_conf=conf)
    report = xcom(run, "wait")
    assert report["acknowledge"] == "THUMBSUP" and len(report["acknowledged"]) >= 15
    assert report["message"].startswith("acknowledged with THUMBSUP")


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_members_leaving_mid_wait_change_the_audience(quiet_emu, mode):
    chat = platform_chat(quiet_emu)
    mid = send_to_chat(quiet_emu, chat["chat_id"])
    members = list(chat["members"])
    quiet_emu.mark_message_read(mid, members[:20])  # 20/30: below 80%
    newcomer = quiet_emu.users[0]["open_id"]  # joins and does not read
    when(
        lambda: quiet_emu.request_count("read_users") >= 1,
        lambda: (
            quiet_emu.remove_chat_members(chat["chat_id"], members[20:28]),
            quiet_emu.add_chat_members(chat["chat_id"], [newcomer]),
        ),
    )
    run = DAGS[f"read_only_{mode}_strict"].test(run_conf=only(message_id=mid, chat_id=chat["chat_id"]))
    assert states(run) == {"wait": "success"}
    report = xcom(run, "wait")
    assert (report["read_count"], report["total_count"]) == (20, 23)  # 20 read of 22 left + 1 newcomer
    assert newcomer in report["unread"] and members[20] not in report["audience"]


@pytest.mark.parametrize("mode", MODES)
def test_deadline_fails_or_skips(quiet_emu, mode):
    chat = platform_chat(quiet_emu)
    mid = send_to_chat(quiet_emu, chat["chat_id"])
    run = DAGS[f"read_only_{mode}_soft"].test(run_conf=only(message_id=mid, chat_id=chat["chat_id"]))
    assert states(run) == {"wait": "skipped"}


def _other_apps_message(emu, monkeypatch) -> dict:
    other = emu.apps[1]["app_id"]
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_OTHER", emu.connection_json(app_id=other, extra=FAST_RETRIES))
    chat = platform_chat(emu)
    return {"message_id": send_to_chat(emu, chat["chat_id"], "feishu_other"), "chat_id": chat["chat_id"]}


def _old_message(emu, monkeypatch) -> dict:
    chat = platform_chat(emu)
    mid = send_to_chat(emu, chat["chat_id"])
    emu.advance(8 * 86400)
    return {"message_id": mid, "chat_id": chat["chat_id"]}


def _bot_left(emu, monkeypatch) -> dict:
    chat = platform_chat(emu)
    mid = send_to_chat(emu, chat["chat_id"])
    emu.set_bot_in_chat(chat["chat_id"], False)
    return {"message_id": mid, "chat_id": chat["chat_id"]}


def _old_direct_message(emu, monkeypatch) -> dict:
    hook = FeishuHook()
    mid = hook.send_message(emu.users[0]["open_id"], "text", {"text": "hi"}).message_id
    emu.advance(8 * 86400)
    return {"message_ids": {emu.users[0]["open_id"]: mid}}


PERMANENT = {
    "230012_not_sender": (_other_apps_message, "230012", "poke"),
    "230033_older_than_7_days": (_old_message, "230033", "deferrable"),
    "230002_bot_left_the_chat": (_bot_left, "232011", "reschedule"),  # the member list fails first
    "230033_per_person": (_old_direct_message, "7 days", "deferrable"),
}


@pytest.mark.parametrize("case", sorted(PERMANENT))
def test_permanent_errors_end_the_wait_with_what_to_fix(quiet_emu, monkeypatch, case, capfd, caplog):
    setup, expected, mode = PERMANENT[case]
    conf = setup(quiet_emu, monkeypatch)
    run = DAGS[f"read_only_{mode}_strict"].test(run_conf=only(**conf))
    assert states(run) == {"wait": "failed"}
    # The first refusal ended the wait: it was neither retried nor polled again.
    refusals = [e for e in quiet_emu.requests_log if e[3] == 400 and e[4] != 99991663]  # not the expired token
    assert len(refusals) == 1
    text = task_logs(capfd, caplog)
    assert "Cannot check who has read" in text and "Hint:" in text and expected in text
    assert quiet_emu.app_secret not in text


def test_230002_from_read_users_inside_the_trigger(quiet_emu, capfd, caplog):
    # The bot leaves after the first check: read_users (not the member list) answers 230002.
    chat = platform_chat(quiet_emu)
    mid = send_to_chat(quiet_emu, chat["chat_id"])
    when(
        lambda: quiet_emu.request_count("read_users") >= 1,
        lambda: quiet_emu.inject("/open-apis/im/v1/messages/*", times=None, status=400, code=230002, msg="injected"),
    )
    run = DAGS["read_only_deferrable_strict"].test(run_conf=only(message_id=mid, chat_id=chat["chat_id"]))
    assert states(run) == {"wait": "failed"}
    assert "code=230002" in task_logs(capfd, caplog)


def test_bad_arguments_are_refused_when_the_dag_is_parsed():
    from airflow_provider_feishu.sensors.message_read import FeishuMessageReadSensor

    with pytest.raises(ValueError, match="message_id with chat_id"):
        FeishuMessageReadSensor(task_id="w", message_id="om_1", threshold=0.8)
    with pytest.raises(ValueError, match=r"write 0\.8 for 80%"):
        FeishuMessageReadSensor(task_id="w2", message_ids={"a": "om_1"}, threshold=80)


# --- reschedule mode carries who has read; a timeout says why the last check failed -------------


def read_users_asked(emu: FeishuEmulator) -> list[str]:
    return [e[2].split("/")[-2] for e in emu.requests_log if e[2].endswith("/read_users")]


def test_reschedule_pokes_ask_only_about_people_not_yet_known_to_have_read(quiet_emu):
    """Each reschedule poke is a new process; who had read travels in the task state store
    (Airflow 3.3+), so a later poke asks only about the others."""
    hook = FeishuHook()
    people = [u["open_id"] for u in quiet_emu.users[:10]]
    ids = {p: hook.send_message(p, "text", {"text": "hi"}).message_id for p in people}
    for p in people[:6]:
        quiet_emu.mark_message_read(ids[p])  # 6/10 before the wait: below 80%
    # Two more read once the first poke has asked about all ten (the first poke saw them unread).
    when(
        lambda: quiet_emu.request_count("read_users") >= 10,
        lambda: [quiet_emu.mark_message_read(ids[p]) for p in people[6:8]],
    )
    run = DAGS["read_people_reschedule"].test(run_conf={"message_ids": ids, "threshold": 0.8})
    assert states(run) == {"wait": "success"}
    report = xcom(run, "wait")
    assert report["read_count"] == 8 and report["unread"] == people[8:]
    asked = read_users_asked(quiet_emu)
    assert asked[:10] == [ids[p] for p in people]  # the first poke asks about everyone
    try:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
    except ImportError:  # Airflow < 3.3: no task state store, every poke asks about everyone again
        assert asked[10:] == [ids[p] for p in people]
    else:
        assert asked[10:] == [ids[p] for p in people[6:]]  # the second poke: only the four not known to have read


def test_a_recalled_reader_counts_only_for_the_same_message(quiet_emu):
    """A person remembered as having read a message that is no longer theirs (sent again) is asked again."""
    from airflow_provider_feishu.sensors.message_read import FeishuMessageReadSensor

    hook = FeishuHook()
    people = [u["open_id"] for u in quiet_emu.users[:3]]
    ids = {p: hook.send_message(p, "text", {"text": "hi"}).message_id for p in people}

    class Store(dict):
        def set(self, key, value, *, retention=None):
            self[key] = value

    store = Store(feishu_known_read={people[0]: ids[people[0]], people[1]: "om_an_older_message"})
    sensor = FeishuMessageReadSensor(task_id="w", message_ids=ids, threshold=1.0, mode="reschedule")
    assert sensor.poke({"task_state_store": store}) is False
    assert read_users_asked(quiet_emu) == [ids[people[1]], ids[people[2]]]
    quiet_emu.mark_message_read(ids[people[2]])
    assert sensor.poke({"task_state_store": store}) is False
    assert store["feishu_known_read"] == {people[0]: ids[people[0]], people[2]: ids[people[2]]}


def test_timeout_quotes_the_last_error(unreachable_connection, capfd, caplog):
    from airflow_provider_feishu.sensors.message_read import FeishuMessageReadSensor
    from airflow_provider_feishu.version_compat import AirflowSensorTimeout

    sensor = FeishuMessageReadSensor(
        task_id="w", message_id="om_1", chat_id="oc_1", threshold=0.5, mode="poke", timeout=0.2, poke_interval=0.05
    )
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor.execute(context={})
    message = str(info.value)
    assert "last error: Feishu tenant_access_token failed: could not connect (refused or unreachable)" in message
    assert unreachable_connection.url in message
    logs = task_logs(capfd, caplog)
    warning = next(line for line in logs.splitlines() if "could not connect" in line)
    assert "message om_1 in chat oc_1" in warning and unreachable_connection.url in warning
    assert unreachable_connection.secret not in logs + message
