"""FeishuReadThresholdSensor under real ``dag.test()`` on SQLite, against the emulator over loopback HTTP.

Reads rise while the DAG runs because the emulator's clock runs 300x real time (``speed=``);
deadline cases use a manual clock and a reading model in which nobody reads.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from airflow_provider_feishu.version_compat import AIRFLOW_V_3_2_PLUS

DAG_FILE = Path(__file__).parents[1] / "dags" / "wait_for_reads_dags.py"
FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "max_rate_limit_wait": 0.2}
BATCH_PATH = "/open-apis/im/v1/batch_messages/*"
MODES = ["poke", "reschedule", "deferrable"]
# Everyone reads within a few real seconds at speed=300 (median 2 s), nobody never reads.
READERS = ReadingModel(median_seconds=600, sigma=0.5, never_read_fraction=0.0)
NOBODY_READS = ReadingModel(never_read_fraction=1.0)

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120, method="thread")]


def load_dags() -> dict:
    spec = importlib.util.spec_from_file_location("wait_for_reads_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dags


DAGS = load_dags()


def open_ids(emu: FeishuEmulator, n: int = 20) -> list[str]:
    return [u["open_id"] for u in emu.users[:n]]


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, key=key, dag_ids=dag_run.dag_id, task_ids=task_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def task_logs(capfd, caplog) -> str:
    """Task and trigger logs of dag.test(): console (structlog) plus stdlib logging records."""
    out, err = capfd.readouterr()
    return "\n".join([out, err, caplog.text])


def connect(monkeypatch, emu: FeishuEmulator) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))


def when(condition, action, timeout: float = 60.0) -> threading.Thread:
    """Run ``action`` in a helper thread as soon as ``condition()`` holds (e.g. after the first poke)."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


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


def send_batch(emu: FeishuEmulator, n: int = 20, conn_id: str = "feishu_default") -> str:
    hook = FeishuHook(conn_id)
    return hook.batch_send_message("text", content={"text": "hi"}, open_ids=open_ids(emu, n)).batch_message_id


# --- the story: send -> wait for 80% -> remind -------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_send_wait_remind(reading_emu, mode, capfd, caplog):
    ids = open_ids(reading_emu)
    run = DAGS[f"wait_send_remind_{mode}"].test(run_conf={"open_ids": ids, "threshold": 0.8})
    assert states(run) == {"send": "success", "wait": "success", "remind": "success"}
    bid = xcom(run, "send")
    assert bid.startswith("bm-")
    assert xcom(run, "send", "batch_send_result")["batch_message_id"] == bid
    stats = xcom(run, "wait")
    assert set(stats) == {
        "batch_message_id",
        "reached",
        "read_count",
        "total_count",
        "delivered_count",
        "ratio",
        "threshold",
        "min_read_count",
        "reached_at",
        "message",
    }  # the same shape in every mode
    assert stats["read_count"] >= 16 and stats["total_count"] == 20
    assert stats["ratio"] >= 0.8 and stats["reached"] is True
    assert stats["reached_at"] and stats["batch_message_id"] == bid
    reminder = reading_emu.delivered(ids[0])[-1]["content"]["text"]
    assert reminder == f"Reminder: {stats['read_count']} of 20 colleagues have read the notice."
    logs = task_logs(capfd, caplog)
    if not AIRFLOW_V_3_2_PLUS:
        return  # Airflow 3.1's dag.test() keeps task logs from pytest's capture; the line is unit-tested
    assert "read 0/20 (0.0%), need 80%" in logs
    assert f"read {stats['read_count']}/20 ({stats['ratio']:.1%}), need 80%: reached" in logs


@pytest.mark.parametrize("mode", MODES)
def test_429_storm_mid_wait_is_ridden_out(reading_emu, mode):
    # The wait's first 12 answers are 429s: more than one call's retries, so pokes (and, deferred,
    # the trigger's checks) fail and back off before the storm passes.
    reading_emu.inject(BATCH_PATH, times=12, status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "0"})
    run = DAGS[f"wait_send_remind_{mode}"].test(run_conf={"open_ids": open_ids(reading_emu), "threshold": 0.8})
    assert states(run)["wait"] == "success"
    statuses = [entry[3] for entry in reading_emu.requests_log]
    assert statuses.count(429) == 12


@pytest.mark.parametrize("mode", MODES)
def test_expired_token_mid_wait_is_refreshed(reading_emu, mode):
    # The send task fetches the token; it has expired by the time the wait first asks Feishu.
    # (Injecting it after the first poke raced with a wait that could finish first.)
    reading_emu.inject(BATCH_PATH, kind="expire_token")
    run = DAGS[f"wait_send_remind_{mode}"].test(run_conf={"open_ids": open_ids(reading_emu), "threshold": 0.8})
    assert states(run)["wait"] == "success"
    assert reading_emu.request_count("tenant_access_token") == 2  # the first, and one after the expiry


# --- deadline and soft_fail ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_deadline_fails_the_sensor(quiet_emu, mode):
    bid = send_batch(quiet_emu)
    started = time.monotonic()
    run = DAGS[f"wait_only_{mode}_strict"].test(run_conf={"batch_message_id": bid, "threshold": 0.5})
    assert states(run) == {"wait": "failed"}
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("mode", MODES)
def test_deadline_with_soft_fail_skips(quiet_emu, mode):
    bid = send_batch(quiet_emu)
    run = DAGS[f"wait_only_{mode}_soft"].test(run_conf={"batch_message_id": bid, "threshold": 0.5})
    assert states(run) == {"wait": "skipped"}


# --- permanent errors fail at once -----------------------------------------------------------------


def _other_apps_batch(emu, monkeypatch) -> str:
    other = emu.apps[1]["app_id"]
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_OTHER", emu.connection_json(app_id=other, extra=FAST_RETRIES))
    return send_batch(emu, 5, conn_id="feishu_other")


def _old_batch(emu, monkeypatch) -> str:
    bid = send_batch(emu, 5)
    emu.advance(31 * 86400)
    return bid


def _fault(code: int):
    def setup(emu, monkeypatch) -> str:
        bid = send_batch(emu, 5)
        emu.inject(BATCH_PATH, times=None, status=400, code=code, msg="injected")
        return bid

    return setup


PERMANENT = {
    "230030_unknown_id": (lambda emu, mp: "bm-" + "0" * 32, "230030", "poke"),
    "230012_not_sender": (_other_apps_batch, "230012", "reschedule"),
    "230027_no_permission": (_fault(230027), "230027", "deferrable"),
    "99991672_no_scope": (_fault(99991672), "99991672", "poke"),
    "older_than_30_days": (_old_batch, "30 days", "deferrable"),
}


@pytest.mark.parametrize("case", sorted(PERMANENT))
def test_permanent_errors_fail_at_once_with_what_to_fix(quiet_emu, monkeypatch, case, capfd, caplog):
    setup, expected, mode = PERMANENT[case]
    bid = setup(quiet_emu, monkeypatch)
    started = time.monotonic()
    run = DAGS[f"wait_only_{mode}_strict"].test(run_conf={"batch_message_id": bid, "threshold": 0.5})
    assert states(run) == {"wait": "failed"}
    assert time.monotonic() - started < 15
    text = task_logs(capfd, caplog)
    assert "Cannot wait for reads" in text and "Hint:" in text
    assert expected in text
    assert quiet_emu.app_secret not in text


@pytest.mark.parametrize("code", [230027, 230030])
def test_permanent_error_inside_the_trigger(quiet_emu, code, capfd, caplog):
    # The first poke succeeds; the error appears only once the sensor has deferred.
    bid = send_batch(quiet_emu, 5)
    when(
        lambda: quiet_emu.request_count("read_user") >= 1,
        lambda: quiet_emu.inject(BATCH_PATH, times=None, status=400, code=code, msg="injected"),
    )
    run = DAGS["wait_only_deferrable_strict"].test(run_conf={"batch_message_id": bid, "threshold": 0.5})
    assert states(run) == {"wait": "failed"}
    assert f"code={code}" in task_logs(capfd, caplog)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_soft_fail_skips_a_permanent_error_in_every_mode(quiet_emu, mode):
    run = DAGS[f"wait_only_{mode}_soft"].test(run_conf={"batch_message_id": "bm-" + "0" * 32, "threshold": 0.5})
    assert states(run) == {"wait": "skipped"}


# --- unit checks that need no DAG run --------------------------------------------------------------


def test_bad_threshold_is_rejected_at_parse_time():
    from airflow_provider_feishu.sensors.batch_read import FeishuBatchReadSensor, FeishuReadThresholdSensor

    assert FeishuBatchReadSensor is FeishuReadThresholdSensor
    with pytest.raises(ValueError, match=r"write 0\.8 for 80%"):
        FeishuReadThresholdSensor(task_id="w", batch_message_id="bm-x", threshold=80)
    # a template is checked after rendering instead
    FeishuReadThresholdSensor(task_id="w2", batch_message_id="bm-x", threshold="{{ params.t }}")


def test_deferrable_pokes_once_then_defers_with_its_own_deadline(quiet_emu):
    from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor
    from airflow_provider_feishu.version_compat import TaskDeferred

    bid = send_batch(quiet_emu, 5)
    sensor = FeishuReadThresholdSensor(
        task_id="w", batch_message_id=bid, threshold=0.5, deferrable=True, timeout=120, poke_interval=5
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})
    assert quiet_emu.request_count("read_user") == 1
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout.total_seconds() == 120
    _, kwargs = deferred.value.trigger.serialize()
    assert before + 119 <= kwargs["deadline"] <= time.time() + 120
    assert kwargs["poll_interval"] == 5
    assert quiet_emu.app_secret not in json.dumps(kwargs)


def test_execute_complete_maps_events():
    from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor
    from airflow_provider_feishu.version_compat import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

    sensor = FeishuReadThresholdSensor(task_id="w", batch_message_id="bm-x", threshold=0.5)
    event = {"status": "reached", "read_count": 3, "total_count": 4, "ratio": 0.75, "reached_at": "t", "message": "m"}
    assert sensor.execute_complete({}, event)["read_count"] == 3
    with pytest.raises(AirflowSensorTimeout, match="late"):
        sensor.execute_complete({}, {"status": "deadline", "message": "late"})
    with pytest.raises(AirflowFailException, match="230030"):
        sensor.execute_complete({}, {"status": "error", "message": "code=230030"})
    sensor.soft_fail = True
    with pytest.raises(AirflowSkipException):
        sensor.execute_complete({}, {"status": "deadline", "message": "late"})


def test_reschedule_mode_asks_get_progress_only_until_the_batch_is_known_scheduled(reading_emu):
    """Each reschedule poke is a new process; the recipient count the first poke learnt travels in
    the task state store (Airflow 3.3+), so later pokes pay only read_user."""
    slow = ReadingModel(median_seconds=3000, sigma=0.3, never_read_fraction=0.0)  # a few pokes to reach 80%
    reading_emu.world.reading = slow
    ids = open_ids(reading_emu)
    run = DAGS["wait_send_remind_reschedule"].test(run_conf={"open_ids": ids, "threshold": 0.8})
    assert states(run)["wait"] == "success"
    pokes = reading_emu.request_count("read_user")
    assert pokes >= 2
    progress = reading_emu.request_count("get_progress")
    try:
        from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
    except ImportError:  # Airflow < 3.3: no task state store, every poke asks again
        assert progress == pokes
    else:
        assert (progress, pokes) == (1, pokes)  # the first poke learnt the count; later pokes recalled it
# --- a wrong host or port says where and why --------------------------------------------------------


def test_wrong_port_logs_url_and_cause_and_the_timeout_carries_the_last_error(unreachable_connection, capfd, caplog):
    from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor
    from airflow_provider_feishu.version_compat import AirflowSensorTimeout

    bid = "bm-" + "2" * 32
    sensor = FeishuReadThresholdSensor(
        task_id="w", batch_message_id=bid, threshold=0.5, mode="poke", timeout=0.2, poke_interval=0.05
    )
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor.execute(context={})
    message = str(info.value)
    assert "last error: Feishu tenant_access_token failed: could not connect (refused or unreachable)" in message
    assert unreachable_connection.url in message
    logs = task_logs(capfd, caplog)
    warning = next(line for line in logs.splitlines() if "could not connect" in line)
    assert bid in warning and unreachable_connection.url in warning
    assert unreachable_connection.secret not in logs + message


def test_poke_lines_name_the_batch_id(quiet_emu, capfd, caplog):
    from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor

    bid = send_batch(quiet_emu, 5)
    sensor = FeishuReadThresholdSensor(task_id="w", batch_message_id=bid, threshold=0.5, mode="poke")
    assert sensor.poke({}) is False
    line = next(line for line in task_logs(capfd, caplog).splitlines() if "need 50%" in line)
    assert bid in line
