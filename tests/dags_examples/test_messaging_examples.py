"""The messaging examples run end to end under dag.test(): SQLite for SQL, the emulator for Feishu."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

SHIM = Path(__file__).parents[1] / "dags" / "messaging_examples.py"  # the examples, in the dags folder
FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(180, method="thread")]


def load(name: str):
    try:  # Airflow 3.2+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(SHIM)).dags[name]


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_sql_report(tmp_path, monkeypatch):
    db = tmp_path / "reporting.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, name TEXT, region TEXT, total REAL)")
        conn.executemany(
            "INSERT INTO sales (name, region, total) VALUES (?, ?, ?)",
            [(f"Customer {i}", "north" if i % 3 else "south", i * 2.5) for i in range(1, 31)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_REPORTING_DB", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    with FeishuEmulator() as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        chat = emu.chats[1]["chat_id"]
        run = load("feishu_sql_report").test(run_conf={"chat_id": chat, "region": "north"})
        assert set(states(run).values()) == {"success"}, states(run)
        kinds = sorted(m["msg_type"] for m in emu.chat_messages(chat))
        # top customers (card table), all sales (summary card + CSV), the notes file
        assert kinds == ["file", "file", "interactive", "interactive"]
        names = sorted(u["file_name"] for u in emu.uploads())
        assert names[0].startswith("notes-") and names[1].startswith("sales-")


def test_live_status_card(monkeypatch):
    readers = ReadingModel(median_seconds=300, sigma=0.5, never_read_fraction=0.0)
    with FeishuEmulator(speed=300.0, reading=readers) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        chat = emu.chats[1]["chat_id"]
        eng = next(d["open_department_id"] for d in emu.departments if d["department_id"] == "eng")
        dag = load("feishu_live_status_card")
        dag.get_task("wait").poke_interval = 0.5
        run = dag.test(run_conf={"department_ids": [eng], "owner_chat_id": chat, "threshold": 0.5, "wait_minutes": 1})
        assert set(states(run).values()) == {"success"}, states(run)
        started, status = [m for m in emu.chat_messages(chat) if m["msg_type"] == "interactive"]
        assert emu.card(started["message_id"])["header"]["template"] == "green"
        final = emu.card(status["message_id"])
        assert final["header"]["title"]["content"] == "Policy notice: Read threshold reached"
        assert len(emu.card_history(status["message_id"])) >= 2
