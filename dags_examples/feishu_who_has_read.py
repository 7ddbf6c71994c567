"""Who has read: a notice to a chat, wait for 80% of its members, buzz only the unread, report who never read.

What it shows:
- ``FeishuSendMessageOperator`` posts the notice to a chat (an im/v1 message, so Feishu can say
  *who* has read it, not only how many) and returns its message id.
- ``FeishuMessageReadSensor`` waits (deferrable) until ``threshold`` of the chat's members have
  read it; people who join or leave meanwhile count as they are at each check. ``soft_fail``
  lets the story go on when the deadline passes.
- ``FeishuRemindUnreadOperator`` checks again who has not read *when it runs* and buzzes only
  them (``method="buzz"``: Feishu's in-app urgent notice on the original message).
- A second wait, then a report to the owner's chat that names who never read it.

The same DAG runs against a real Feishu or Lark tenant and against the local emulator
(``make demo``): only the ``feishu_default`` connection, the params and the time scale differ.
The default params name the emulator's default tenant; trigger with your own chat ids.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.operators.remind_unread import FeishuRemindUnreadOperator
from airflow_provider_feishu.operators.send import FeishuSendMessageOperator
from airflow_provider_feishu.sensors.message_read import FeishuMessageReadSensor

# `make demo` runs the emulator's clock 1440x faster and shrinks the waits by the same factor.
TIME_SCALE = float(os.environ.get("FEISHU_EXAMPLE_TIME_SCALE", "1"))
FIRST_WAIT = 4 * 3600 / TIME_SCALE  # seconds
SECOND_WAIT = 2 * 3600 / TIME_SCALE
POKE = 300 / TIME_SCALE
NOTICE = {"message_id": "{{ ti.xcom_pull(task_ids='send_notice') }}", "chat_id": "{{ params.chat_id }}"}

with DAG(
    dag_id="feishu_who_has_read",
    description="Notice to a chat, wait for 80%, buzz only the unread, report who never read.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "example"],
    params={
        "chat_id": Param("oc_cccb048e9c46eb318c6b36069b85d49c", type="string", description="Who must read it."),
        "owner_chat_id": Param("oc_35045226853e38407cda43fb1cde7840", type="string", description="Report here."),
        "notice": Param("Fire drill on Thursday at 15:00: please read the evacuation plan.", type="string"),
        "threshold": Param(0.8, type="number", exclusiveMinimum=0, maximum=1),
    },
):
    # --8<-- [start:notice]
    send_notice = FeishuSendMessageOperator(
        task_id="send_notice",
        receive_id="{{ params.chat_id }}",
        receive_id_type="chat_id",
        text="📢 {{ params.notice }}",
    )
    wait = FeishuMessageReadSensor(
        task_id="wait_for_readers",
        **NOTICE,
        threshold="{{ params.threshold }}",
        deferrable=True,
        poke_interval=POKE,
        timeout=FIRST_WAIT,
        soft_fail=True,  # past the deadline: skip, and buzz the rest anyway
    )
    # --8<-- [end:notice]

    # --8<-- [start:buzz]
    buzz = FeishuRemindUnreadOperator(
        task_id="buzz_the_unread",
        method="buzz",
        **NOTICE,
        trigger_rule="all_done",  # also after a skipped (timed-out) wait
    )
    wait_again = FeishuMessageReadSensor(
        task_id="wait_again",
        **NOTICE,
        threshold=0.95,  # nearly everyone, after the buzz
        deferrable=True,
        poke_interval=POKE,
        timeout=SECOND_WAIT,
        soft_fail=True,
    )
    # --8<-- [end:buzz]

    # --8<-- [start:report]
    @task(trigger_rule="all_done")
    def who_never_read(ti=None, params=None) -> str:
        """Check once more, and name who has still not read the notice."""
        from airflow_provider_feishu.api.read_check import ReadTarget, ReadTracker
        from airflow_provider_feishu.hooks.feishu import FeishuHook
        from airflow_provider_feishu.threshold import ReadThreshold

        target = ReadTarget(message_id=ti.xcom_pull(task_ids="send_notice"), chat_id=params["chat_id"])
        report = FeishuHook().run_steps(ReadTracker(target, ReadThreshold(1.0)).check())
        buzzed = ti.xcom_pull(task_ids="buzz_the_unread") or {"reminded": []}
        v = report.verdict
        lines = [
            f"Notice read by {v.read_count}/{v.total_count} ({v.ratio:.0%}); "
            f"{len(buzzed['reminded'])} who had not read were buzzed.",
        ]
        if report.unread:
            lines.append("Never read: " + ", ".join(report.name_of(p) for p in report.unread))
        return "\n".join(lines)

    report = FeishuSendMessageOperator(
        task_id="report",
        receive_id="{{ params.owner_chat_id }}",
        receive_id_type="chat_id",
        text="{{ ti.xcom_pull(task_ids='who_never_read') }}",
    )
    # --8<-- [end:report]
    send_notice >> wait >> buzz >> wait_again >> who_never_read() >> report
