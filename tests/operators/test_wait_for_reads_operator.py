"""FeishuWaitForReadsOperator under dag.test(): both branches, deferrable and polling, never failing on the deadline."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from airflow_provider_feishu.version_compat import AirflowFailException

DAG_FILE = Path(__file__).parents[1] / "dags" / "wait_for_reads_dags.py"
FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
READERS = ReadingModel(median_seconds=300, sigma=0.5, never_read_fraction=0.0)
NOBODY_READS = ReadingModel(never_read_fraction=1.0)

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120, method="thread")]


def load_dags() -> dict:
    spec = importlib.util.spec_from_file_location("wait_for_reads_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dags


DAGS = load_dags()


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, key=key, dag_ids=dag_run.dag_id, task_ids=task_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def run_branch(emu: FeishuEmulator, flavour: str, threshold: float, settle: float = 0.0):
    ids = [u["open_id"] for u in emu.users[:10]]
    bid = FeishuHook().batch_send_message("text", content={"text": "hi"}, open_ids=ids).batch_message_id
    if settle:
        emu.advance(settle)  # scheduled and delivered (manual clock)
    started = time.monotonic()
    run = DAGS[f"wait_branch_{flavour}"].test(
        run_conf={"batch_message_id": bid, "threshold": threshold, "open_ids": ids}
    )
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run, states, time.monotonic() - started, ids


@pytest.mark.parametrize("flavour", ["deferrable", "polling"])
def test_reached_follows_on_reached(monkeypatch, flavour):
    with FeishuEmulator(speed=300.0, reading=READERS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        run, states, _, _ = run_branch(emu, flavour, 0.8)
        assert states == {"wait": "success", "celebrate": "success", "remind": "skipped"}
        result = xcom(run, "wait")
        assert result["reached"] is True and result["status"] == "reached"
        assert result["read_count"] >= 8 and result["total_count"] == 10 and result["reached_at"]


@pytest.mark.parametrize("flavour", ["deferrable", "polling"])
def test_deadline_follows_on_deadline_and_does_not_fail(monkeypatch, flavour):
    with FeishuEmulator(reading=NOBODY_READS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        run, states, elapsed, ids = run_branch(emu, flavour, 0.8, settle=10)
        assert states == {"wait": "success", "celebrate": "skipped", "remind": "success"}
        result = xcom(run, "wait")
        assert result["reached"] is False and result["status"] == "deadline"
        assert result["read_count"] == 0 and result["total_count"] == 10 and result["reached_at"] is None
        assert elapsed < 30
        emu.advance(10)
        texts = [m["content"]["text"] for m in emu.delivered(ids[0])]
        assert "Only 0 have read it so far" in texts


def test_permanent_error_still_fails(monkeypatch):
    with FeishuEmulator(reading=NOBODY_READS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        op = FeishuWaitForReadsOperator(task_id="w", batch_message_id="bm-" + "0" * 32, threshold=0.5, deadline=5)
        with pytest.raises(AirflowFailException, match="230030"):
            op.execute({})


def test_without_branches_returns_stats_on_deadline(monkeypatch):
    with FeishuEmulator(reading=NOBODY_READS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        ids = [u["open_id"] for u in emu.users[:4]]
        bid = FeishuHook().batch_send_message("text", content={"text": "hi"}, open_ids=ids).batch_message_id
        emu.advance(10)
        op = FeishuWaitForReadsOperator(
            task_id="w", batch_message_id=bid, threshold=0.5, timeout=0.6, poke_interval=0.2, deferrable=False
        )
        result = op.execute({})
        assert result["reached"] is False and result["total_count"] == 4 and result["read_count"] == 0


def test_argument_validation():
    with pytest.raises(ValueError, match="not both"):
        FeishuWaitForReadsOperator(task_id="a", batch_message_id="bm-x", threshold=0.5, deadline=1, timeout=1)
    with pytest.raises(ValueError, match="threshold"):
        FeishuWaitForReadsOperator(task_id="b", batch_message_id="bm-x", threshold=2)
    with pytest.raises(ValueError, match="deadline"):
        FeishuWaitForReadsOperator(task_id="c", batch_message_id="bm-x", threshold=0.5, deadline=0)


def test_wrong_port_is_named_in_warnings_and_the_deadline_message(unreachable_connection, capfd, caplog):
    unreachable = unreachable_connection.url
    bid = "bm-" + "4" * 32
    op = FeishuWaitForReadsOperator(
        task_id="w", batch_message_id=bid, threshold=0.5, timeout=0.3, poke_interval=0.1, deferrable=False
    )
    result = op.execute({})
    assert result["status"] == "deadline"
    assert (
        "no successful read check; last error: Feishu tenant_access_token failed: could not connect"
        in (result["message"])
    )
    assert unreachable in result["message"]
    out, err = capfd.readouterr()
    warnings = [line for line in "\n".join([out, err, caplog.text]).splitlines() if "failed; will check" in line]
    assert warnings and all(bid in w and unreachable in w and "could not connect" in w for w in warnings)
