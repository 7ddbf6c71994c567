"""Test DAG for SqlToFeishuOperator: a small result as a card table, a large one as a CSV file.

The SQLite database and the chat come from params and the connections from the environment
(AIRFLOW_CONN_FEISHU_DEFAULT, AIRFLOW_CONN_SALES_DB), set by the test.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_feishu.transfers.sql_to_feishu import SqlToFeishuOperator

with DAG(
    "sql_to_feishu",
    schedule=None,
    catchup=False,
    params={"chat_id": "", "region": "north"},
    tags=["feishu-tests"],
) as dag:
    SqlToFeishuOperator(
        task_id="top_customers",
        conn_id="sales_db",
        sql="SELECT name, total FROM sales WHERE region = :region ORDER BY total DESC LIMIT 5",
        parameters={"region": "{{ params.region }}"},
        receive_id="{{ params.chat_id }}",
        title="Top customers ({{ params.region }})",
    )
    SqlToFeishuOperator(
        task_id="all_sales",
        conn_id="sales_db",
        sql="SELECT * FROM sales ORDER BY id",
        receive_id="{{ params.chat_id }}",
        title="All sales",
        file_name="sales-{{ ds }}.csv",
    )
