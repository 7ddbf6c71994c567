"""Quorum gate: a data task runs only after enough people have read (acknowledged) a notice.

What it shows:
- ``FeishuBatchSendOperator`` posts an interactive card announcing a schema change.
- ``FeishuReadThresholdSensor`` holds the pipeline until half of the recipients, and at least
  ``min_readers`` people, have read the card. It defers to the triggerer (no worker slot while
  waiting) and fails the run if the quorum is not there by the deadline.
- The gated task then runs and gets the read statistics from XCom.

Reading the card counts as acknowledging it: Feishu reports reads per batch message.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.operators.send import FeishuBatchSendOperator
from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor

with DAG(
    dag_id="feishu_quorum_gate",
    description="Run the migration only after a quorum has read the announcement.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "example"],
    params={
        "department_ids": Param(["od-91cb60f561802927002ddee4cf165589"], type="array"),
        "quorum": Param(0.5, type="number", exclusiveMinimum=0, maximum=1),
        "min_readers": Param(5, type="integer", minimum=0),
    },
):
    # --8<-- [start:announce]
    announce = FeishuBatchSendOperator(
        task_id="announce",
        card={
            "header": {"title": {"tag": "plain_text", "content": "Schema change tonight"}, "template": "orange"},
            "elements": [
                {
                    "tag": "div",
                    "text": {
                        "tag": "lark_md",
                        "content": "The **orders** table gains a column at 22:00. Reading this card acknowledges it.",
                    },
                }
            ],
        },
        department_ids="{{ params.department_ids }}",
    )
    # --8<-- [end:announce]

    # --8<-- [start:wait_for_quorum]
    quorum = FeishuReadThresholdSensor(
        task_id="wait_for_quorum",
        batch_message_id="{{ ti.xcom_pull(task_ids='announce') }}",
        threshold="{{ params.quorum }}",
        min_read_count="{{ params.min_readers }}",
        deferrable=True,
        poke_interval=300,
        timeout=6 * 3600,
    )
    # --8<-- [end:wait_for_quorum]

    # --8<-- [start:migrate]
    @task
    def migrate(ti=None) -> str:
        stats = ti.xcom_pull(task_ids="wait_for_quorum")
        return f"migrated after {stats['read_count']} of {stats['total_count']} read the announcement"

    announce >> quorum >> migrate()
    # --8<-- [end:migrate]
