"""Real Airflow processes for the slow suites (tests/e2e, tests/browser), on 127.0.0.1 only.

A temporary AIRFLOW_HOME on SQLite, every port free and on loopback, the test process's own
Airflow settings left out; ``standalone`` runs ``airflow standalone`` (scheduler, dag-processor,
triggerer, API server) and kills every process it started when the ``with`` block ends.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from airflow_provider_feishu.testing import FeishuEmulator

ROOT = Path(__file__).parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path, emu: FeishuEmulator, **settings: str) -> dict[str, str]:
    """The test process's environment minus its own Airflow settings, plus the standalone ones.

    ``settings`` adds or overrides variables (e.g. ``AIRFLOW__CORE__TEST_CONNECTION="Enabled"``).
    """
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
    env.update(settings)
    return env


def airflow(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def json_rows(output: str) -> list[dict]:
    line = next((ln for ln in output.splitlines() if ln.startswith("[")), "[]")
    return json.loads(line)


@contextlib.contextmanager
def standalone(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``airflow db migrate`` then ``airflow standalone``, its output in ``log``; all killed on exit."""
    airflow(env, "db", "migrate", timeout=120)
    output = log.open("w")
    proc = subprocess.Popen(
        [AIRFLOW, "standalone"], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
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


def wait_for(predicate: Callable[[], T], seconds: float, what: str, log: Path, proc: subprocess.Popen) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"airflow standalone exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}; standalone output ends:\n{log.read_text()[-4000:]}")


def dag_parsed(env: dict[str, str], dag_id: str) -> bool:
    try:
        return any(r.get("dag_id") == dag_id for r in json_rows(airflow(env, "dags", "list", "-o", "json")))
    except AssertionError:
        return False


def last_run_state(env: dict[str, str], dag_id: str) -> str | None:
    """The state of the DAG's latest run once it has finished (``success`` / ``failed``), else None."""
    rows = json_rows(airflow(env, "dags", "list-runs", dag_id, "-o", "json"))
    state = rows[0]["state"] if rows else None
    return state if state in ("success", "failed") else None
