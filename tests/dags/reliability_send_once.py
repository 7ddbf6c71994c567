"""Reliability suite: sends whose answer is lost must not be repeated by a task retry.

Run by tests/reliability/test_nothing_sent_twice.py under ``dag.test()`` against the emulator,
which drops the first answer of each send after processing it. Parsing this file sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param

from airflow_provider_feishu.operators.send import FeishuBatchSendOperator, FeishuSendMessageOperator

RETRY: dict[str, Any] = {"retries": 1, "retry_delay": timedelta(seconds=0)}

with DAG(
    dag_id="reliability_batch_send_once",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"open_ids": Param([], type="array")},
    tags=["feishu-tests"],
) as batch_dag:
    FeishuBatchSendOperator(task_id="send", text="once only", open_ids="{{ params.open_ids }}", **RETRY)

with DAG(
    dag_id="reliability_message_send_once",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"open_id": Param("", type="string")},
    tags=["feishu-tests"],
) as message_dag:
    FeishuSendMessageOperator(task_id="send", receive_id="{{ params.open_id }}", text="once only", **RETRY)
