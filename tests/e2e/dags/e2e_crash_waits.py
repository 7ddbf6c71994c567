"""Twenty deferrable waits for tests/e2e/test_crash_restart.py: the batch ids come from the run's conf."""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor

WAITS = 20

with DAG(
    "e2e_crash_waits",
    schedule=None,
    catchup=False,
    params={"bids": Param([], type="array"), "timeout": 150},
    tags=["feishu-tests"],
) as dag:
    for i in range(WAITS):
        FeishuReadThresholdSensor(
            task_id=f"wait_{i:02d}",
            batch_message_id=f"{{{{ params.bids[{i}] }}}}",
            threshold=0.8,
            deferrable=True,
            poke_interval=2,
            timeout=150,
            soft_fail=True,  # a wait whose deadline passes ends skipped
            retries=0,
        )
