"""Crash and restart on a real Airflow (scheduler, dag-processor, triggerer, API server on 127.0.0.1).

One Airflow serves both tests (module fixture). First, twenty deferrable waits are pending in the
triggerer when it is killed with SIGKILL. While it is down the emulator goes away too, for 30 s;
the triggerer is started again during the outage, so the resumed waits first meet a Feishu that
does not answer. Then the emulator comes back, fifteen batches get read and five never are: every
wait must end exactly once (one try, no retry) with the right outcome, reached (success) or its
deadline (skipped, ``soft_fail``).

Then a task sending one im/v1 message is killed with SIGKILL while its request is at Feishu, and
Airflow retries it: the message is delivered once (the send's ``uuid`` is derived from the task
instance, the same on every try, and Feishu delivers a uuid once). Last, a batch send's worker is
killed after Feishu accepted the batch: the retry finds the operator's record of the unfinished
send and fails instead of sending the batch again.

The components run as separate processes (what ``airflow standalone`` starts), so one can be killed
alone. Every process the test started is killed at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_processes import AIRFLOW, airflow, clean_env, free_port, json_rows

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

DAGS = Path(__file__).parent / "dags"
DAG_ID = "e2e_crash_waits"
WAITS = 20
NEVER_READ = 5
BOOT_SECONDS = 180
OUTAGE_SECONDS = 30

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BOOT_SECONDS + 420, method="thread")]
SEND_DAG_ID = "e2e_crash_send"
BATCH_DAG_ID = "e2e_crash_batch_send"


class Components:
    """The Airflow components as separate process groups, so each can be killed on its own."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> None:
        out = (self.logs / f"{name}.log").open("a")
        self.procs[name] = subprocess.Popen(
            [AIRFLOW, name, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            # Whatever is left of the group (task processes, gunicorn workers) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            del self.procs[name]

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2500:]}" for p in sorted(self.logs.glob("*.log")))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[dict[str, str], FeishuEmulator, Components]]:
    tmp_path = tmp_path_factory.mktemp("crash")
    # Nobody reads unless the test says so; batches are scheduled and delivered at once.
    quiet = ReadingModel(never_read_fraction=1.0, schedule_delay=1.0, delivery_seconds=5.0)
    # A fixed port: the emulator is stopped and started again on it mid-test.
    with FeishuEmulator(rate_limits=False, reading=quiet, port=free_port()) as emu:
        home = tmp_path / "airflow-home"
        home.mkdir()
        env = clean_env(home, emu)
        env.update(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__PARALLELISM": "8",
                # A triggerer that stops heart-beating hands its triggers on after 10 s, not 30.
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                # A killed task is noticed after 20 s without a heartbeat, not 5 minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW_CONN_FEISHU_DEFAULT": emu.connection_json(
                    extra={"retry_base_delay": 0.5, "retry_max_delay": 2, "timeout": 5}
                ),
            }
        )
        airflow(env, "db", "migrate", timeout=180)
        logs = tmp_path / "logs"
        logs.mkdir()
        components = Components(env, logs)
        try:
            for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
                components.start(name)
            yield env, emu, components
        finally:
            components.stop_all()


def wait_for(predicate, seconds: float, what: str, components: Components):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}; logs end:\n{components.tail()}")


def task_rows(env: dict[str, str], dag_id: str = DAG_ID) -> dict[str, tuple[str | None, int]]:
    """task_id -> (state, try_number) of the DAG's task instances, read from the SQLite metadata DB."""
    return {task_id: (state, tries) for task_id, state, tries, _ in query(env, dag_id)}


def query(env: dict[str, str], dag_id: str) -> list[tuple]:
    db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        sql = "select task_id, state, try_number, id from task_instance where dag_id = ?"
        return list(con.execute(sql, (dag_id,)))


def dag_parsed(env: dict[str, str], dag_id: str) -> bool:
    try:
        return any(r.get("dag_id") == dag_id for r in json_rows(airflow(env, "dags", "list", "-o", "json")))
    except AssertionError:
        return False


def kill_mid_send(cluster, dag_id: str, conf: dict, api: str) -> tuple[str, int]:
    """Trigger the DAG's one send task, SIGKILL its worker once the request has reached Feishu (the
    emulator holds it there), and wait for Airflow's retry to end: its (state, try_number)."""
    env, emu, components = cluster
    sent_before = emu.request_count(api)
    wait_for(lambda: dag_parsed(env, dag_id), BOOT_SECONDS, f"{dag_id} to be parsed", components)
    airflow(env, "dags", "trigger", dag_id, "--conf", json.dumps(conf))
    wait_for(lambda: emu.request_count(api) > sent_before, 120, f"the {api} request to reach Feishu", components)
    kill_task_process(env, dag_id)

    def finished() -> tuple[str, int] | None:
        state, tries = task_rows(env, dag_id).get("send", (None, 0))
        return (state, tries) if state in ("success", "failed") else None

    return wait_for(finished, 180, f"the {dag_id} send task to end", components)


def kill_task_process(env: dict[str, str], dag_id: str) -> None:
    """SIGKILL the process running the DAG's only task instance, as an out-of-memory kill would."""
    rows = query(env, dag_id)
    assert len(rows) == 1 and rows[0][1] == "running", rows
    # The task process is titled "airflow worker -- <task instance id>" (Airflow's task runner);
    # SQLite keeps the id as 32 hex digits.
    ti_id = str(uuid.UUID(str(rows[0][3])))
    pids = subprocess.run(["pgrep", "-f", f"airflow worker -- {ti_id}"], capture_output=True, text=True)
    assert pids.stdout.split(), f"no task process for {ti_id}"
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def test_waits_survive_a_killed_triggerer_and_a_feishu_outage(cluster, monkeypatch):
    env, emu, components = cluster
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", env["AIRFLOW_CONN_FEISHU_DEFAULT"])
    hook = FeishuHook()
    users = [u["open_id"] for u in emu.users[:10]]
    bids = [
        hook.batch_send_message("text", content={"text": f"e2e {i}"}, open_ids=users).batch_message_id
        for i in range(WAITS)
    ]
    emu.advance(10)  # scheduled and delivered; nobody has read

    wait_for(lambda: dag_parsed(env, DAG_ID), BOOT_SECONDS, "the dag-processor to parse the DAG", components)
    airflow(env, "dags", "trigger", DAG_ID, "--conf", json.dumps({"bids": bids}))

    def all_deferred() -> bool:
        rows = task_rows(env)
        return len(rows) == WAITS and all(state == "deferred" for state, _ in rows.values())

    wait_for(all_deferred, 180, "all 20 waits to be deferred", components)
    polled_before = emu.request_count("read_user")

    # 1. The triggerer dies without a word, in the middle of its waits.
    components.kill("triggerer")
    # 2. Feishu goes away too; the triggerer comes back during the outage.
    emu.stop()
    down_at = time.monotonic()
    time.sleep(5)
    components.start("triggerer")
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    emu.start()
    # 3. Fifteen batches are read; five never are.
    read, never = bids[NEVER_READ:], bids[:NEVER_READ]
    for bid in read:
        emu.mark_read(bid, count=10)

    def all_done() -> dict[str, tuple[str | None, int]] | None:
        rows = task_rows(env)
        finished = all(state in ("success", "skipped", "failed", "upstream_failed") for state, _ in rows.values())
        return rows if finished else None

    rows = wait_for(all_done, 300, "every wait to end", components)
    expected = {f"wait_{i:02d}": ("skipped" if bids[i] in never else "success") for i in range(WAITS)}
    assert {task: state for task, (state, _) in rows.items()} == expected, components.tail()
    # Exactly once: no wait was retried or run again (each ended in its first try).
    assert {tries for _, tries in rows.values()} == {1}, rows
    assert emu.request_count("read_user") > polled_before  # the resumed triggers polled again
    assert emu.request_count("batch_send") == WAITS


def test_a_worker_killed_mid_send_delivers_once_after_the_retry(cluster):
    _env, emu, components = cluster
    open_id = emu.users[0]["open_id"]
    before = len(emu.delivered(open_id))
    # The send's first request stays at "Feishu" for 20 s: long enough to kill its worker meanwhile.
    emu.inject("/open-apis/im/v1/messages", kind="delay", delay=20)
    sent_before = emu.request_count("message_create")
    state, tries = kill_mid_send(cluster, SEND_DAG_ID, {"open_id": open_id}, "message_create")
    assert (state, tries) == ("success", 2), components.tail()  # killed in try 1, retried in try 2
    time.sleep(20)  # the first request's delay is over: Feishu has handled it too by now
    assert emu.request_count("message_create") - sent_before == 2  # both tries reached Feishu...
    texts = [m["content"].get("text") for m in emu.delivered(open_id)[before:]]
    assert texts == ["Sent once, whatever happens to the worker"]  # ...and it was delivered once


def test_a_worker_killed_mid_batch_send_is_not_sent_again(cluster):
    env, emu, components = cluster
    users = [u["open_id"] for u in emu.users[10:13]]
    sent_before = emu.request_count("batch_send")
    batches_before = len(emu.batches())
    # Feishu accepts the batch at once and answers 20 s later: its worker is killed meanwhile.
    emu.inject("/open-apis/message/v4/batch_send/", kind="delay_after", delay=20)
    state, tries = kill_mid_send(cluster, BATCH_DAG_ID, {"open_ids": users}, "batch_send")
    # Killed in try 1; try 2 found the record of an unfinished send and failed instead of sending.
    assert (state, tries) == ("failed", 2), components.tail()
    assert emu.request_count("batch_send") - sent_before == 1  # the retry sent nothing
    emu.advance(10)
    assert len(emu.batches()) - batches_before == 1
    for user in users:
        texts = [m["content"].get("text") for m in emu.delivered(user) if m["source"] == "batch"]
        assert texts == ["A batch sent at most once, whatever happens to the worker"]
    logs = Path(env["AIRFLOW_HOME"]) / "logs"
    told = [p for p in logs.rglob("*") if p.is_file() and BATCH_DAG_ID in str(p) and "never learnt" in p.read_text()]
    assert told, "the failed try's log does not say why it did not send"
