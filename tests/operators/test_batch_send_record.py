"""The batch send's durable record: a try that finds an earlier try's send never sends again.

Direct ``execute()`` calls with an in-memory task state store for the operator's decisions, then
``dag.test()`` on real Airflow, whose retry finds the record in the real store: the task state
store on Airflow 3.3+, a Variable on 3.1 and 3.2.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_send_operators import FAST_RETRIES, FakeTI, MemoryTaskStateStore, batch_context

from airflow_provider_feishu.operators.send import FeishuBatchSendOperator
from airflow_provider_feishu.operators.send_record import (
    RECORD_KEY,
    SendRecord,
    TaskStateRecordStore,
    VariableRecordStore,
)
from airflow_provider_feishu.testing import FeishuEmulator
from airflow_provider_feishu.version_compat import AirflowFailException

SEND_PATH = "/open-apis/message/v4/batch_send/"
DAG_FILE = Path(__file__).parents[1] / "dags" / "batch_send_record_dags.py"


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


def operator(emu: FeishuEmulator, **kwargs) -> FeishuBatchSendOperator:
    return FeishuBatchSendOperator(task_id="t", text="once", open_ids=[emu.users[0]["open_id"]], **kwargs)


# --- the operator's decisions ----------------------------------------------------------------


def test_a_send_leaves_a_sent_record_and_a_later_try_replays_it(emu, capfd):
    store = MemoryTaskStateStore()
    first = operator(emu).execute(batch_context(FakeTI(try_number=1), store))
    record = SendRecord.from_json(store.values[RECORD_KEY])
    assert (record.state, record.sent_id, record.try_number) == ("sent", first, 1)

    again = FakeTI(try_number=2)
    assert operator(emu).execute(batch_context(again, store)) == first
    assert emu.request_count("batch_send") == 1  # nothing sent twice
    assert again.pushed["batch_send_result"]["batch_message_id"] == first  # XCom as the first try left it
    out, err = capfd.readouterr()
    assert f"already sent batch message {first}" in out + err and "not sending it again" in out + err
    assert "state-store/feishu_batch_send" in out + err  # how to send anew


def test_an_unfinished_send_blocks_the_next_try(emu):
    store = MemoryTaskStateStore()
    store.set(RECORD_KEY, SendRecord.sending(1).to_json())
    with pytest.raises(AirflowFailException) as info:
        operator(emu).execute(batch_context(FakeTI(try_number=2), store))
    text = str(info.value)
    assert "Try 1 of this task instance began sending this batch message" in text and "never learnt" in text
    assert "DELETE /api/v2/dags/d/dagRuns/r1/taskInstances/t/state-store/feishu_batch_send" in text
    assert emu.request_count("batch_send") == 0


@pytest.mark.parametrize("garbage", ["not json", json.dumps([1, 2]), {"state": "sent"}, {"state": "weird"}])
def test_an_unreadable_record_counts_as_an_unfinished_send(emu, garbage):
    store = MemoryTaskStateStore()
    store.values[RECORD_KEY] = garbage
    with pytest.raises(AirflowFailException, match="never learnt"):
        operator(emu).execute(batch_context(FakeTI(), store))
    assert emu.request_count("batch_send") == 0


def test_a_lost_answer_keeps_the_record_so_a_clear_does_not_resend(emu):
    store = MemoryTaskStateStore()
    emu.inject(SEND_PATH, kind="drop_after")
    with pytest.raises(AirflowFailException, match="may have been sent") as info:
        operator(emu).execute(batch_context(FakeTI(try_number=1), store))
    assert "state-store/feishu_batch_send" in str(info.value)  # how to send anyway
    assert SendRecord.from_json(store.values[RECORD_KEY]).state == "sending"
    with pytest.raises(AirflowFailException, match="never learnt"):
        operator(emu).execute(batch_context(FakeTI(try_number=2), store))
    assert emu.request_count("batch_send") == 1


def test_a_server_error_on_send_is_an_unknown_outcome(emu):
    store = MemoryTaskStateStore()
    emu.inject(SEND_PATH, status=500, times=10)
    with pytest.raises(AirflowFailException, match="may have been sent"):
        operator(emu).execute(batch_context(FakeTI(), store))
    assert SendRecord.from_json(store.values[RECORD_KEY]).state == "sending"
    assert emu.request_count("batch_send") == 1  # a send is not retried on a 5xx


def test_a_refused_send_leaves_no_record_so_the_fixed_task_sends(emu):
    store = MemoryTaskStateStore()
    emu.inject(SEND_PATH, code=11203, status=200)  # missing scope: Feishu refused, nothing went out
    with pytest.raises(AirflowFailException, match="code=11203"):
        operator(emu).execute(batch_context(FakeTI(try_number=1), store))
    assert RECORD_KEY not in store.values
    assert operator(emu).execute(batch_context(FakeTI(try_number=2), store)).startswith("bm-")
    assert emu.request_count("batch_send") == 2


def test_a_batch_that_reached_nobody_leaves_no_record(emu):
    store = MemoryTaskStateStore()
    op = FeishuBatchSendOperator(task_id="t", text="x", open_ids=["ou_nobody"])
    with pytest.raises(AirflowFailException, match="no valid recipient"):
        op.execute(batch_context(FakeTI(), store))
    assert RECORD_KEY not in store.values  # the corrected ids must be sendable


def test_no_send_without_a_record(emu):
    class Refusing(MemoryTaskStateStore):
        def set(self, key, value, *, retention=None):
            raise OSError("the API server is away")

    with pytest.raises(RuntimeError, match=r"could not write the task state key 'feishu_batch_send'.*nothing was sent"):
        operator(emu).execute(batch_context(FakeTI(), Refusing()))
    assert emu.request_count("batch_send") == 0


def test_record_round_trip_and_store_texts():
    record = SendRecord.sending(3).sent("bm-1", {"batch_message_id": "bm-1"})
    assert SendRecord.from_json(record.to_json()) == record
    assert SendRecord.from_json(json.dumps(record.to_json())) == record
    ti = FakeTI(dag_id="d/x", run_id="manual__2026-01-01T00:00:00+00:00", task_id="t", map_index=4)
    store = TaskStateRecordStore(MemoryTaskStateStore(), ti)
    assert "/dags/d%2Fx/dagRuns/manual__2026-01-01T00%3A00%3A00%2B00%3A00/taskInstances/t/" in store.how_to_remove
    assert store.how_to_remove.endswith("?map_index=4")
    variable = VariableRecordStore(ti)
    assert variable.key.startswith("feishu_batch_send__") and len(variable.key) == len("feishu_batch_send__") + 32
    assert variable.key != VariableRecordStore(FakeTI(dag_id="d/x", run_id=ti.run_id, map_index=5)).key
    assert f"airflow variables delete {variable.key}" in variable.how_to_remove


# --- on real Airflow: the retry finds the record in Airflow's own store -----------------------


def load_dags() -> dict:
    spec = importlib.util.spec_from_file_location("batch_send_record_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dags


def outcome(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(getattr(ti.state, "value", ti.state)), ti.try_number) for ti in run.get_task_instances()}


def stored_record(run) -> SendRecord | None:
    """The record of the run's send task where this Airflow keeps it: its task state store row
    (3.3+) or its Variable (3.1, 3.2)."""
    if not _has_task_state_store():
        value = record_variable(run)
        return None if value is None else SendRecord.from_json(value)
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(TaskStateStoreModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id="send", key=RECORD_KEY)
            .one_or_none()
        )
        return None if row is None else SendRecord.from_json(row.value)


def record_variable(run) -> str | None:
    """The 3.1/3.2 record of the run's send task, as Airflow's Variable table holds it."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    (ti,) = run.get_task_instances()
    with create_session() as session:
        row = session.query(Variable).filter(Variable.key == VariableRecordStore(ti).key).one_or_none()
        return None if row is None else row.val


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.timeout(180, method="thread")
def test_a_retry_after_a_try_died_mid_send_fails_without_sending(emu, capfd):
    users = [u["open_id"] for u in emu.users[:3]]
    run = load_dags()["batch_send_dies_mid_send"].test(run_conf={"open_ids": users})
    assert outcome(run) == {"send": ("failed", 2)}  # try 1 died, try 2 refused to guess
    assert emu.request_count("batch_send") == 1
    emu.advance(10)
    assert all(len(emu.delivered(u)) == 1 for u in users)
    out, err = capfd.readouterr()
    assert "began sending this batch message" in out + err and "never learnt" in out + err
    record = stored_record(run)  # it stays until a person removes it
    assert record is not None and (record.state, record.try_number) == ("sending", 1)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.timeout(180, method="thread")
def test_a_retry_after_a_try_died_having_sent_returns_the_same_batch(emu):
    users = [u["open_id"] for u in emu.users[:3]]
    run = load_dags()["batch_send_dies_after_sending"].test(run_conf={"open_ids": users})
    assert outcome(run) == {"send": ("success", 2)}
    # Airflow 3.3+: the "sent" record survives the failed try and the retry returns it. On 3.1 and
    # 3.2 the Variable goes once the outcome is known (so Variables do not pile up): a try that
    # dies after that point is sent again, as docs/scaling.md says.
    assert emu.request_count("batch_send") == (1 if _has_task_state_store() else 2)
    assert record_variable(run) is None
    record = stored_record(run)
    if _has_task_state_store():  # kept for observability, as Airflow keeps task state after success
        assert record is not None and (record.state, record.try_number) == ("sent", 1)
    else:
        assert record is None


def _has_task_state_store() -> bool:
    try:
        import airflow.models.task_state_store  # noqa: F401
    except ImportError:
        return False
    return True
