"""A failing task whose on_failure_callback notifies Feishu twice: the app bot into a chat (im/v1)
and a custom bot's webhook; a succeeding task posts a templated text through the webhook.

Run by tests/notifications/test_dag_callbacks.py under ``dag.test()`` against the emulator. The
chat is "Platform team" of the emulator's default tenant. Parsing this file sends nothing.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_feishu.notifications.feishu import FeishuNotifier
from airflow_provider_feishu.notifications.webhook import send_feishu_webhook_notification

PLATFORM_CHAT = "oc_35045226853e38407cda43fb1cde7840"

with DAG(
    dag_id="notify_failure",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "test"],
) as dag:

    @task(on_success_callback=send_feishu_webhook_notification(text="{{ ti.task_id }} ok in {{ run_id }}"))
    def extract() -> int:
        return 3

    @task(
        retries=0,
        on_failure_callback=[
            FeishuNotifier(receive_id=PLATFORM_CHAT, receive_id_type="chat_id"),
            send_feishu_webhook_notification(),
        ],
    )
    def load(rows: int) -> None:
        raise ValueError(f"the nightly load of {rows} rows broke")

    load(extract())
