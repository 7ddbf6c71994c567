"""Test DAGs for the live status card of FeishuWaitForReadsOperator, deferrable and polling.

The chat and the batch id come from params; the connection from AIRFLOW_CONN_FEISHU_DEFAULT.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator

dags: dict[str, DAG] = {}

for deferrable in (True, False):
    with DAG(
        f"live_card_{'deferrable' if deferrable else 'polling'}",
        params={"batch_message_id": "", "threshold": 0.8, "chat_id": "", "deadline": 3},
        schedule=None,
        catchup=False,
        tags=["feishu-tests"],
    ) as dag:
        FeishuWaitForReadsOperator(
            task_id="wait",
            batch_message_id="{{ params.batch_message_id }}",
            threshold="{{ params.threshold }}",
            deadline="{{ params.deadline }}",
            poke_interval=0.2,
            deferrable=deferrable,
            status_chat_id="{{ params.chat_id }}",
            status_card_title="Policy notice",
            status_card_timezone="Asia/Shanghai",
        )
    dags[dag.dag_id] = dag
