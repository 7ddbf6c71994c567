"""Test DAGs for issue 10 (who has read): send to a chat -> wait for readers, in every sensor mode.

Nothing here touches the network at import: ids and thresholds come from params / XCom, and the
connection from AIRFLOW_CONN_FEISHU_DEFAULT set by the test.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.operators.remind_unread import FeishuRemindUnreadOperator
from airflow_provider_feishu.operators.send import FeishuSendMessageOperator
from airflow_provider_feishu.operators.tracked_send import FeishuTrackedSendOperator
from airflow_provider_feishu.sensors.message_read import FeishuMessageReadSensor

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
    # A notice to a chat, then wait until the threshold of its members have read (or acknowledged) it.
    with DAG(
        f"read_chat_{name}",
        params={"chat_id": "", "threshold": 0.8, "acknowledge": None},
        **COMMON,
    ) as dag:
        notice = FeishuSendMessageOperator(
            task_id="send", receive_id="{{ params.chat_id }}", receive_id_type="chat_id", text="Please read"
        )
        FeishuMessageReadSensor(
            task_id="wait",
            message_id=notice.output,
            chat_id="{{ params.chat_id }}",
            threshold="{{ params.threshold }}",
            acknowledge="{{ params.acknowledge }}",
            timeout=60,
            **sensor_kwargs,
        )
    dags[dag.dag_id] = dag

    # Waiting on given ids with a short timeout: per-person, deadline, soft_fail and error cases.
    for soft_fail in (False, True):
        with DAG(
            f"read_only_{name}_{'soft' if soft_fail else 'strict'}",
            params={"message_id": None, "chat_id": None, "message_ids": None, "threshold": 0.8},
            **COMMON,
        ) as dag:
            FeishuMessageReadSensor(
                task_id="wait",
                message_id="{{ params.message_id }}",
                chat_id="{{ params.chat_id }}",
                message_ids="{{ params.message_ids }}",
                threshold="{{ params.threshold }}",
                timeout=3 if soft_fail else 10,
                soft_fail=soft_fail,
                **sensor_kwargs,
            )
        dags[dag.dag_id] = dag


@task
def someone_reads(**context) -> None:
    """Between the wait and the reminder, the people in params.reads read the message (emulator admin API)."""
    import requests

    params = context["params"]
    if params["reads"]:
        requests.post(
            f"{params['admin']}/im_messages/{params['message_id']}/read", json={"open_ids": params["reads"]}, timeout=5
        ).raise_for_status()


for method in ("buzz", "reply", "message"):
    # Remind whoever has not read when the reminder runs; someone reads just before it.
    with DAG(
        f"remind_{method}",
        params={
            "message_id": None,
            "chat_id": None,
            "message_ids": None,
            "admin": "",
            "reads": Param([], type="array"),
        },
        **COMMON,
    ) as dag:
        someone_reads() >> FeishuRemindUnreadOperator(
            task_id="remind",
            method=method,
            message_id="{{ params.message_id }}",
            chat_id="{{ params.chat_id }}",
            message_ids="{{ params.message_ids }}",
            text="Please read the notice",
        )
    dags[dag.dag_id] = dag


# One message per person, retried once on a passing failure; then wait on those messages.
with DAG(
    "tracked_send",
    params={"open_ids": None, "emails": None, "chat_ids": None, "department_ids": None, "threshold": 0.8},
    **COMMON,
) as dag:
    tracked = FeishuTrackedSendOperator(
        task_id="send",
        text="Please read the new policy",
        open_ids="{{ params.open_ids }}",
        emails="{{ params.emails }}",
        chat_ids="{{ params.chat_ids }}",
        department_ids="{{ params.department_ids }}",
        retries=1,
        retry_delay=timedelta(seconds=0),
    )
    FeishuMessageReadSensor(
        task_id="wait", message_ids=tracked.output, threshold="{{ params.threshold }}", poke_interval=0.5, timeout=30
    )
dags[dag.dag_id] = dag


# Reschedule mode with room for several pokes: each poke starts from what earlier pokes learnt.
with DAG("read_people_reschedule", params={"message_ids": None, "threshold": 0.8}, **COMMON) as dag:
    FeishuMessageReadSensor(
        task_id="wait",
        message_ids="{{ params.message_ids }}",
        threshold="{{ params.threshold }}",
        mode="reschedule",
        poke_interval=2,
        timeout=60,
    )
dags[dag.dag_id] = dag
