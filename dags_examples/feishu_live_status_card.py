"""Live status card: the owner's chat shows how far a notice has been read while the DAG waits.

What it shows:
- ``FeishuBatchSendOperator`` sends a notice to departments.
- ``FeishuWaitForReadsOperator`` with ``status_chat_id`` keeps one card in the owner's chat up to
  date while it waits ("Policy notice read 54/90 (60%) · deadline 16:00 CST"): sent at the start,
  updated when the count changes (deferred in the triggerer too), finished with the outcome. A
  card that cannot be sent or updated only logs a warning; the wait's outcome never depends on it.
- ``FeishuHook.update_card`` replaces a card the bot sent: here a task marks the run's own
  "pipeline started" card as done.

Run it with a ``feishu_default`` connection; ``owner_chat_id`` is a chat the bot is in.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu import messages
from airflow_provider_feishu.operators.send import FeishuBatchSendOperator, FeishuSendMessageOperator
from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator


def progress_card(text: str, template: str) -> dict:
    card = messages.card_message("Policy rollout", [text], template=template).body
    return {**card, "config": {**card["config"], "update_multi": True}}  # shared: it can be updated


with DAG(
    dag_id="feishu_live_status_card",
    description="Wait for a notice to be read while a card in the owner's chat shows the count.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "example"],
    params={
        "department_ids": Param(["od-91cb60f561802927002ddee4cf165589"], type="array"),
        "owner_chat_id": Param("oc_35045226853e38407cda43fb1cde7840", type="string"),
        "threshold": Param(0.8, type="number", exclusiveMinimum=0, maximum=1),
        "wait_minutes": Param(60, type="number", exclusiveMinimum=0),
    },
):
    started = FeishuSendMessageOperator(
        task_id="started",
        receive_id="{{ params.owner_chat_id }}",
        receive_id_type="chat_id",
        card=progress_card("Notice going out…", "blue"),
    )
    notice = FeishuBatchSendOperator(
        task_id="notice",
        text="Please read the new travel policy.",
        department_ids="{{ params.department_ids }}",
    )

    # --8<-- [start:live_card]
    wait = FeishuWaitForReadsOperator(
        task_id="wait",
        batch_message_id="{{ ti.xcom_pull(task_ids='notice') }}",
        threshold="{{ params.threshold }}",
        deadline="{{ params.wait_minutes * 60 }}",
        poke_interval=60,
        status_chat_id="{{ params.owner_chat_id }}",
        status_card_title="Policy notice",
        status_card_timezone="Asia/Shanghai",
    )
    # --8<-- [end:live_card]

    # --8<-- [start:update_card]
    @task
    def mark_done(ti=None) -> None:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        result = ti.xcom_pull(task_ids="wait")
        FeishuHook().update_card(
            ti.xcom_pull(task_ids="started"),
            progress_card(f"Done: {result['message']}", "green" if result["reached"] else "orange"),
        )

    # --8<-- [end:update_card]

    started >> notice >> wait >> mark_done()
