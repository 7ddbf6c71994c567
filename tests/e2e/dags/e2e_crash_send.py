"""One im/v1 send for tests/e2e/test_crash_restart.py: its worker is killed mid-send and Airflow retries it."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_feishu.operators.send import FeishuSendMessageOperator

with DAG(
    "e2e_crash_send",
    schedule=None,
    catchup=False,
    params={"open_id": ""},
    tags=["feishu-tests"],
) as dag:
    FeishuSendMessageOperator(
        task_id="send",
        receive_id="{{ params.open_id }}",
        text="Sent once, whatever happens to the worker",
        retries=1,
        retry_delay=timedelta(seconds=2),
    )
