"""The reminder workflow on a real Airflow: scheduler, dag-processor, triggerer and API server.

Starts ``airflow standalone`` in a temporary AIRFLOW_HOME (SQLite, LocalExecutor, every port on
127.0.0.1), points ``feishu_default`` at the emulator, triggers the example reminder DAG with its
deferrable waits, and checks that the run succeeded and that the trigger ran in the triggerer.
Every process it started is killed at the end, whatever happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_processes import airflow, clean_env, dag_parsed, last_run_state, standalone, wait_for

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

DAG_ID = "feishu_reminder_workflow"
BOOT_SECONDS = 150
RUN_SECONDS = 240

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BOOT_SECONDS + RUN_SECONDS + 60, method="thread")]


@pytest.fixture
def standalone_airflow(tmp_path) -> Iterator[tuple[dict[str, str], Path, FeishuEmulator, object]]:
    # An emulated minute per real second; half the recipients read within 10 minutes (10 real
    # seconds): the wait is still below its threshold when it defers, on a slow machine too (with
    # reads 20 times faster it could be reached at the first check, and no trigger would run).
    reading = ReadingModel(seed=7, median_seconds=600, never_read_fraction=0.05, delivery_seconds=30)
    with FeishuEmulator(speed=60.0, reading=reading) as emu:
        home = tmp_path / "airflow-home"
        home.mkdir()
        env = clean_env(home, emu)
        log = tmp_path / "standalone.log"
        with standalone(env, log) as proc:
            yield env, log, emu, proc


def test_reminder_workflow_runs_green_with_a_real_triggerer(standalone_airflow):
    env, log, emu, proc = standalone_airflow

    wait_for(lambda: dag_parsed(env, DAG_ID), BOOT_SECONDS, "the dag-processor to parse the example DAG", log, proc)
    conf = {"wait_minutes": 1, "poke_seconds": 3, "rounds": 3}
    airflow(env, "dags", "trigger", DAG_ID, "--conf", json.dumps(conf))

    state = wait_for(lambda: last_run_state(env, DAG_ID), RUN_SECONDS, "the DAG run to finish", log, proc)
    assert state == "success", log.read_text()[-4000:]

    # The deferrable waits ran in the triggerer: its log files and the standalone output say so.
    trigger_logs = list((Path(env["AIRFLOW_HOME"]) / "logs").rglob("*.trigger.*.log"))
    assert trigger_logs, "no trigger log file was written"
    assert any("need" in p.read_text() for p in trigger_logs)
    assert "triggerer" in log.read_text()
    assert emu.request_count("batch_send") >= 1
    assert emu.request_count("read_user") >= 1
