"""Test DAGs for issue 4: send -> wait for reads -> remind, in every sensor mode, plus the branch operator.

Nothing here touches the network at import: ids, thresholds and texts come from params / XCom,
and the connection from AIRFLOW_CONN_FEISHU_DEFAULT set by the test.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_feishu.operators.send import FeishuBatchSendOperator
from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator
from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor

MODES = {
    # mode name -> sensor kwargs; reschedule pokes >= 2 s apart: under LocalExecutor a 1 s reschedule
    # sensor was marked failed ("reported ... success, but ... queued"; cf. apache/airflow#71172)
    "poke": {"mode": "poke", "poke_interval": 0.5, "deferrable": False},
    "reschedule": {"mode": "reschedule", "poke_interval": 2, "deferrable": False},
    "deferrable": {"mode": "poke", "poke_interval": 0.5, "deferrable": True},
}
COMMON = {"schedule": None, "catchup": False, "tags": ["feishu-tests"]}

dags: dict[str, DAG] = {}

for name, sensor_kwargs in MODES.items():
    # The story of issue 4: send a notice, wait for 80% to read it, then remind everyone with the numbers.
    with DAG(
        f"wait_send_remind_{name}",
        params={"open_ids": Param([], type="array"), "threshold": 0.8, "text": "Please read the new policy"},
        **COMMON,
    ) as dag:
        send = FeishuBatchSendOperator(task_id="send", text="{{ params.text }}", open_ids="{{ params.open_ids }}")
        wait = FeishuReadThresholdSensor(
            task_id="wait",
            batch_message_id="{{ ti.xcom_pull(task_ids='send') }}",
            threshold="{{ params.threshold }}",
            timeout=60,
            **sensor_kwargs,
        )
        remind = FeishuBatchSendOperator(
            task_id="remind",
            text=(
                "Reminder: {{ ti.xcom_pull(task_ids='wait')['read_count'] }} of "
                "{{ ti.xcom_pull(task_ids='wait')['total_count'] }} colleagues have read the notice."
            ),
            open_ids="{{ params.open_ids }}",
        )
        send >> wait >> remind
    dags[dag.dag_id] = dag

    # Waiting on a given id with a short timeout: deadline, soft_fail and error cases.
    for soft_fail in (False, True):
        with DAG(
            f"wait_only_{name}_{'soft' if soft_fail else 'strict'}",
            params={"batch_message_id": "", "threshold": 0.8},
            **COMMON,
        ) as dag:
            FeishuReadThresholdSensor(
                task_id="wait",
                batch_message_id="{{ params.batch_message_id }}",
                threshold="{{ params.threshold }}",
                timeout=3,
                soft_fail=soft_fail,
                **sensor_kwargs,
            )
        dags[dag.dag_id] = dag

for deferrable in (True, False):
    with DAG(
        f"wait_branch_{'deferrable' if deferrable else 'polling'}",
        params={"batch_message_id": "", "threshold": 0.8, "open_ids": Param([], type="array")},
        **COMMON,
    ) as dag:
        decide = FeishuWaitForReadsOperator(
            task_id="wait",
            batch_message_id="{{ params.batch_message_id }}",
            threshold="{{ params.threshold }}",
            deadline=3,
            poke_interval=0.5,
            deferrable=deferrable,
            on_reached="celebrate",
            on_deadline="remind",
        )
        celebrate = FeishuBatchSendOperator(
            task_id="celebrate", text="Thanks, everyone read it", open_ids="{{ params.open_ids }}"
        )
        remind = FeishuBatchSendOperator(
            task_id="remind",
            text="Only {{ ti.xcom_pull(task_ids='wait')['read_count'] }} have read it so far",
            open_ids="{{ params.open_ids }}",
        )
        decide >> [celebrate, remind]
    dags[dag.dag_id] = dag
