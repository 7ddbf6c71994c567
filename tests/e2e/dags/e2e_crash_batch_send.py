"""One batch send for tests/e2e/test_crash_restart.py: its worker is killed mid-send and Airflow retries it."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_feishu.operators.send import FeishuBatchSendOperator

with DAG(
    "e2e_crash_batch_send",
    schedule=None,
    catchup=False,
    params={"open_ids": []},
    tags=["feishu-tests"],
) as dag:
    FeishuBatchSendOperator(
        task_id="send",
        open_ids="{{ params.open_ids }}",
        text="A batch sent at most once, whatever happens to the worker",
        retries=1,
        retry_delay=timedelta(seconds=2),
    )
