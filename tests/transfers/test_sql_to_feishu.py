"""SqlToFeishuOperator on SQLite (a real common.sql DbApiHook) against the emulator over real HTTP."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_feishu.table_card import MAX_CELL_CHARS, result_csv, table_card
from airflow_provider_feishu.transfers.sql_to_feishu import SqlToFeishuOperator
from airflow_provider_feishu.version_compat import AirflowFailException

DAG_FILE = Path(__file__).parents[1] / "dags" / "sql_to_feishu_dags.py"


@pytest.fixture
def sales_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "sales.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, name TEXT, region TEXT, total REAL)")
        db.executemany(
            "INSERT INTO sales (name, region, total) VALUES (?, ?, ?)",
            [(f"客户 {i:03d}", "north" if i % 2 else "south", round(i * 10.5, 2)) for i in range(1, 61)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_SALES_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


@pytest.fixture
def emu(feishu_connection):
    """The emulator, with feishu_default pointing at it (the provider's own pytest fixture)."""
    return feishu_connection


class FakeTI:
    dag_id, task_id, run_id, map_index = "d", "t", "r1", -1


def table_of(card: dict) -> dict | None:
    return next((e for e in card["elements"] if e["tag"] == "table"), None)


@pytest.mark.usefixtures("airflow_db", "sales_db")
@pytest.mark.timeout(120, method="thread")
def test_small_result_as_a_table_and_large_as_a_csv(emu):
    spec = importlib.util.spec_from_file_location("sql_to_feishu_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chat = emu.chats[1]["chat_id"]
    run = module.dag.test(run_conf={"chat_id": chat, "region": "north"})
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "top_customers": "success",
        "all_sales": "success",
    }
    messages = emu.chat_messages(chat)
    table_card_msg = next(
        m for m in messages if m["content"].get("header", {}).get("title", {}).get("content", "").startswith("Top")
    )
    card = table_card_msg["content"]
    assert card["header"]["title"]["content"] == "Top customers (north)"
    assert card["elements"][0]["text"]["content"] == "**5 rows**"
    table = table_of(card)
    assert [c["display_name"] for c in table["columns"]] == ["name", "total"]
    assert [c["data_type"] for c in table["columns"]] == ["text", "number"]
    assert table["rows"][0] == {"c0": "客户 059", "c1": 619.5}
    # 60 rows > 20: a summary card with the count, then the CSV file.
    summary = next(m for m in messages if m["content"].get("header", {}).get("title", {}).get("content") == "All sales")
    assert summary["content"]["elements"][0]["text"]["content"].startswith("**60 rows**, attached as `sales-")
    assert table_of(summary["content"]) is None
    [file_message] = [m for m in messages if m["msg_type"] == "file"]
    upload = emu.upload(file_message["content"]["file_key"])
    assert upload["file_name"].startswith("sales-") and upload["file_name"].endswith(".csv")
    lines = list(csv.reader(io.StringIO(upload["data"].decode("utf-8-sig"))))
    assert lines[0] == ["id", "name", "region", "total"] and len(lines) == 61
    assert lines[1] == ["1", "客户 001", "north", "10.5"]


@pytest.mark.usefixtures("sales_db")
def test_cut_at_max_rows_and_said_so(emu):
    chat = emu.chats[1]["chat_id"]
    op = SqlToFeishuOperator(
        task_id="t", conn_id="sales_db", sql="SELECT id FROM sales", receive_id=chat, max_rows=7, max_card_rows=7
    )
    op.execute({"ti": FakeTI()})
    [message] = emu.chat_messages(chat)
    assert message["content"]["elements"][0]["text"]["content"] == "**7 rows** (the first 7; the query returned more)"
    assert len(table_of(message["content"])["rows"]) == 7


@pytest.mark.usefixtures("sales_db")
def test_empty_result_and_retry(emu):
    chat = emu.chats[1]["chat_id"]
    kwargs = {"task_id": "t", "conn_id": "sales_db", "sql": "SELECT * FROM sales WHERE 0", "receive_id": chat}
    first = SqlToFeishuOperator(**kwargs).execute({"ti": FakeTI()})
    assert SqlToFeishuOperator(**kwargs).execute({"ti": FakeTI()}) == first  # a retry posts nothing new
    [message] = emu.chat_messages(chat)
    assert message["content"]["elements"][0]["text"]["content"] == "**0 rows**"
    assert SqlToFeishuOperator(**kwargs, send_empty=False).execute({"ti": FakeTI()}) is None


@pytest.mark.usefixtures("sales_db")
def test_bad_queries_and_connections_fail_clearly(emu, monkeypatch):
    chat = emu.chats[1]["chat_id"]
    no_rows = SqlToFeishuOperator(
        task_id="t", conn_id="sales_db", sql="UPDATE sales SET total = 0 WHERE 0", receive_id=chat
    )
    with pytest.raises(AirflowFailException, match="no result set"):
        no_rows.execute({"ti": FakeTI()})
    with pytest.raises(AirflowFailException, match="not a SQL"):
        SqlToFeishuOperator(task_id="t", conn_id="feishu_default", sql="SELECT 1", receive_id=chat).execute(
            {"ti": FakeTI()}
        )
    with pytest.raises(ValueError, match="max_card_rows"):
        SqlToFeishuOperator(task_id="t", conn_id="x", sql="SELECT 1", receive_id=chat, max_card_rows=5, max_rows=2)
    assert emu.chat_messages(chat) == []


def test_table_card_and_csv_shapes():
    card = table_card("T", ["a", "a", "when"], [(1, None, "x" * 500), (None, 2.5, b"\x01")], summary="2 rows")
    table = table_of(card)
    assert [c["data_type"] for c in table["columns"]] == ["number", "number", "text"]
    assert [c["name"] for c in table["columns"]] == ["c0", "c1", "c2"]  # repeated SQL names stay apart
    assert len(table["rows"][0]["c2"]) == MAX_CELL_CHARS and table["rows"][1]["c2"] == "01"
    text = result_csv(["a", "flag"], [(1.5, True), (None, "x,y")]).decode("utf-8-sig")
    assert text == 'a,flag\n1.5,true\n,"x,y"\n'
