"""The reminder workflow on a real Airflow: scheduler, dag-processor, triggerer and API server.

Starts ``airflow standalone`` in a temporary AIRFLOW_HOME (SQLite, LocalExecutor, every port on
127.0.0.1), points ``feishu_default`` at the emulator, triggers the example reminder DAG with its
deferrable waits, and checks that the run succeeded and that the trigger ran in the triggerer.
Every process it started is killed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

ROOT = Path(__file__).parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAG_ID = "feishu_reminder_workflow"
BOOT_SECONDS = 150
RUN_SECONDS = 240

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BOOT_SECONDS + RUN_SECONDS + 60, method="thread")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path, emu: FeishuEmulator) -> dict[str, str]:
    """The test process's environment minus its own Airflow settings, plus the standalone ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    api_port = free_port()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_FEISHU_DEFAULT": emu.connection_json(),
            "NO_PROXY": "127.0.0.1,localhost",
            # standalone starts its components as `airflow ...` from PATH: use this venv's.
            "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def airflow(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def json_rows(output: str) -> list[dict]:
    line = next((ln for ln in output.splitlines() if ln.startswith("[")), "[]")
    return json.loads(line)


@pytest.fixture
def standalone(tmp_path) -> Iterator[tuple[dict[str, str], Path, FeishuEmulator, subprocess.Popen]]:
    # One emulated hour passes every 3 real seconds; half the recipients read within 20 minutes.
    reading = ReadingModel(seed=7, median_seconds=1200, never_read_fraction=0.05, delivery_seconds=30)
    with FeishuEmulator(speed=1200.0, reading=reading) as emu:
        home = tmp_path / "airflow-home"
        home.mkdir()
        env = clean_env(home, emu)
        airflow(env, "db", "migrate", timeout=120)
        output = (tmp_path / "standalone.log").open("w")
        proc = subprocess.Popen(
            [AIRFLOW, "standalone"], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield env, tmp_path / "standalone.log", emu, proc
        finally:
            for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
            output.close()
            # Nothing of the standalone session may outlive the test.
            leftovers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)


def wait_for(predicate, seconds: float, what: str, log: Path, proc: subprocess.Popen):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"airflow standalone exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}; standalone output ends:\n{log.read_text()[-4000:]}")


def test_reminder_workflow_runs_green_with_a_real_triggerer(standalone):
    env, log, emu, proc = standalone

    def dag_parsed() -> bool:
        try:
            return any(r.get("dag_id") == DAG_ID for r in json_rows(airflow(env, "dags", "list", "-o", "json")))
        except AssertionError:
            return False

    wait_for(dag_parsed, BOOT_SECONDS, "the dag-processor to parse the example DAG", log, proc)
    conf = {"wait_minutes": 1, "poke_seconds": 3, "rounds": 3}
    airflow(env, "dags", "trigger", DAG_ID, "--conf", json.dumps(conf))

    def run_finished() -> str | None:
        rows = json_rows(airflow(env, "dags", "list-runs", DAG_ID, "-o", "json"))
        state = rows[0]["state"] if rows else None
        return state if state in ("success", "failed") else None

    state = wait_for(run_finished, RUN_SECONDS, "the DAG run to finish", log, proc)
    assert state == "success", log.read_text()[-4000:]

    # The deferrable waits ran in the triggerer: its log files and the standalone output say so.
    trigger_logs = list((Path(env["AIRFLOW_HOME"]) / "logs").rglob("*.trigger.*.log"))
    assert trigger_logs, "no trigger log file was written"
    assert any("need" in p.read_text() for p in trigger_logs)
    assert "triggerer" in log.read_text()
    assert emu.request_count("batch_send") >= 1
    assert emu.request_count("read_user") >= 1
