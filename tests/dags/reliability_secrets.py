"""Reliability suite: a whole send / wait / remind / report / notify run, to look for leaked secrets.

Mirrors dags_examples/feishu_reminder_workflow.py in small (one round), plus a failing task whose
failure callbacks use both notifiers. Run by tests/reliability/test_no_secret_leaks.py under
``dag.test()`` against the emulator. Parsing this file sends nothing.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.notifications.feishu import FeishuNotifier
from airflow_provider_feishu.notifications.webhook import FeishuWebhookNotifier
from airflow_provider_feishu.operators.send import FeishuBatchSendOperator, FeishuSendMessageOperator
from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator
from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor

NOTICE_ID = "{{ ti.xcom_pull(task_ids='send_notice') }}"

with DAG(
    dag_id="reliability_secrets",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"open_ids": Param([], type="array"), "chat_id": Param("", type="string")},
    tags=["feishu-tests"],
) as dag:
    send = FeishuBatchSendOperator(task_id="send_notice", text="Please read", open_ids="{{ params.open_ids }}")
    wait = FeishuReadThresholdSensor(
        task_id="wait", batch_message_id=NOTICE_ID, threshold=0.5, deferrable=True, poke_interval=0.5, timeout=60
    )
    decide = FeishuWaitForReadsOperator(
        task_id="wait_more", batch_message_id=NOTICE_ID, threshold=1.0, deadline=2, poke_interval=0.5
    )
    remind = FeishuBatchSendOperator(
        task_id="remind",
        text="Reminder: {{ ti.xcom_pull(task_ids='wait')['read_count'] }} have read it",
        open_ids="{{ params.open_ids }}",
        trigger_rule="all_done",
    )
    report = FeishuSendMessageOperator(
        task_id="report",
        receive_id="{{ params.chat_id }}",
        receive_id_type="chat_id",
        text="{{ ti.xcom_pull(task_ids='wait')['message'] }}",
    )

    @task(
        retries=0,
        on_failure_callback=[
            FeishuNotifier(receive_id="{{ params.chat_id }}", receive_id_type="chat_id"),
            FeishuWebhookNotifier(),
        ],
    )
    def broken() -> None:
        raise RuntimeError("the load broke")

    send >> wait >> decide >> remind >> report >> broken()
