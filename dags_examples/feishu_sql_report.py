"""Sales report: a query's result, a file and a lookup of the bot's chats, sent to a Feishu chat.

What it shows:
- ``SqlToFeishuOperator`` runs SQL on any Airflow SQL connection (here ``reporting_db``, any
  ``common.sql`` database: Postgres, MySQL, SQLite...) and sends a small result as a card table
  and a large one as an uploaded CSV file, with the row count in the message.
- ``FeishuSendFileOperator`` uploads a file an earlier task wrote and sends it to the chat.
- ``FeishuHook.call_api`` calls a Feishu API the provider does not wrap (here: list the chats the
  bot is in) with the connection's token cache, pacing, retries and error types.

Run it with a ``reporting_db`` connection whose database has a ``sales(id, name, region,
total)`` table and a ``feishu_default`` connection; ``chat_id`` is a chat the bot is in.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.operators.send_file import FeishuSendFileOperator
from airflow_provider_feishu.transfers.sql_to_feishu import SqlToFeishuOperator

with DAG(
    dag_id="feishu_sql_report",
    description="Send a query's result, a report file and the bot's chat list to a Feishu chat.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "example"],
    params={
        "chat_id": Param("oc_35045226853e38407cda43fb1cde7840", type="string"),
        "region": Param("north", type="string"),
    },
):
    # --8<-- [start:sql_to_feishu]
    top_customers = SqlToFeishuOperator(
        task_id="top_customers",
        conn_id="reporting_db",
        sql="SELECT name, total FROM sales WHERE region = :region ORDER BY total DESC LIMIT 10",
        parameters={"region": "{{ params.region }}"},
        receive_id="{{ params.chat_id }}",
        title="Top customers, {{ params.region }} ({{ ds }})",
    )
    all_sales = SqlToFeishuOperator(
        task_id="all_sales",
        conn_id="reporting_db",
        sql="SELECT * FROM sales ORDER BY id",
        receive_id="{{ params.chat_id }}",
        title="All sales ({{ ds }})",
        max_card_rows=20,  # more rows than this go as a CSV file
        file_name="sales-{{ ds }}.csv",
    )
    # --8<-- [end:sql_to_feishu]

    # --8<-- [start:send_file]
    @task
    def write_notes(ds=None) -> str:
        path = Path(tempfile.mkdtemp()) / f"notes-{ds}.txt"
        path.write_text(f"Sales report of {ds}: see the tables above.\n", encoding="utf-8")
        return str(path)

    notes = write_notes()
    send_notes = FeishuSendFileOperator(
        task_id="send_notes",
        file_path=notes,  # the path the task returned (XCom)
        receive_id="{{ params.chat_id }}",
        receive_id_type="chat_id",
    )
    # --8<-- [end:send_file]

    # --8<-- [start:call_api]
    @task
    def bot_chats() -> list[str]:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        page = FeishuHook().call_api("GET", "/open-apis/im/v1/chats", params={"page_size": 100})
        return [chat["name"] for chat in page["items"]]

    # --8<-- [end:call_api]

    [top_customers, all_sales] >> notes
    send_notes >> bot_chats()
