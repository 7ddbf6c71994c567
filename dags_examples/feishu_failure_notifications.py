"""Failure notifications: tell a chat, and a group bot, when a task fails.

What it shows:
- ``FeishuNotifier`` posts a red card (task, run, error, a link to the log) to a chat through the
  app bot (connection ``feishu_default``); a retried callback never posts twice.
- ``FeishuWebhookNotifier`` posts the same card through a group's custom bot (connection
  ``feishu_webhook_default``: the webhook URL in the password, the signing secret in extra
  ``secret``).
- Notifiers are plain callbacks: put them in ``default_args`` for every task, or on the DAG.

Trigger with ``{"break_it": true}`` to see the cards.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.notifications.feishu import FeishuNotifier
from airflow_provider_feishu.notifications.webhook import FeishuWebhookNotifier

OPS_CHAT = "oc_35045226853e38407cda43fb1cde7840"

with DAG(
    dag_id="feishu_failure_notifications",
    description="Nightly load that reports its failures to Feishu.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "example"],
    params={"break_it": Param(False, type="boolean")},
    # --8<-- [start:notifiers]
    default_args={
        "on_failure_callback": [
            FeishuNotifier(receive_id=OPS_CHAT, receive_id_type="chat_id"),
            FeishuWebhookNotifier(),
        ],
    },
    # --8<-- [end:notifiers]
):

    @task
    def nightly_load(params=None) -> int:
        if params["break_it"]:
            raise ValueError("the upstream export is empty")
        return 42

    nightly_load()
