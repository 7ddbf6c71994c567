"""Reminder workflow: ask departments to read a notice, and remind them until enough have.

What it shows:
- ``FeishuBatchSendOperator`` sends the notice to whole departments and returns its batch id.
- ``FeishuWaitForReadsOperator`` waits (deferrable, in the triggerer) until ``threshold`` of the
  recipients have read it, and branches: reached → report; deadline → send a reminder and wait
  again on the same notice, at most ``ROUNDS`` times.
- ``FeishuSendMessageOperator`` reports the outcome to the owner's chat.

The same DAG runs against a real Feishu or Lark tenant and against the local emulator
(``make demo``): only the ``feishu_default`` connection and the params differ. The default
params name the emulator's default tenant; trigger with your own department ids and chat id.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, task

from airflow_provider_feishu.operators.send import FeishuBatchSendOperator, FeishuSendMessageOperator
from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator

ROUNDS = 3  # the most waits: the first one, then one after each reminder
NOTICE_ID = "{{ ti.xcom_pull(task_ids='send_notice') }}"

with DAG(
    dag_id="feishu_reminder_workflow",
    description="Send a notice, wait until 80% have read it, remind the rest, report.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["feishu", "example"],
    params={
        "department_ids": Param(
            ["od-584d8711adbbd56978ae3c7cbf3f68c2", "od-27477d3ce57061b773e7816bf0dd50f5"],
            type="array",
            description="Departments (open_department_id) that must read the notice.",
        ),
        "owner_chat_id": Param("oc_35045226853e38407cda43fb1cde7840", type="string", description="Report here."),
        "notice": Param("The office is closed on Friday for maintenance.", type="string"),
        "threshold": Param(0.8, type="number", exclusiveMinimum=0, maximum=1),
        "wait_minutes": Param(240, type="number", exclusiveMinimum=0, description="Deadline of each round."),
        "poke_seconds": Param(300, type="number", exclusiveMinimum=0, description="How often to ask Feishu."),
    },
):
    # --8<-- [start:send_notice]
    send_notice = FeishuBatchSendOperator(
        task_id="send_notice",
        text="📢 {{ params.notice }}",
        department_ids="{{ params.department_ids }}",
    )
    # --8<-- [end:send_notice]

    # --8<-- [start:summarize]
    @task(trigger_rule="none_failed_min_one_success")
    def summarize(ti=None, params=None) -> str:
        """One line per round, then the outcome."""
        rounds = [ti.xcom_pull(task_ids=f"wait_round_{i}") for i in range(1, ROUNDS + 1)]
        done = [r for r in rounds if r]
        last = done[-1]
        lines = [f"Round {i}: {r['message']}" for i, r in enumerate(done, start=1)]
        outcome = "✅ reached" if last["reached"] else "⏰ not reached after all reminders"
        head = f"Notice read by {last['read_count']}/{last['total_count']} ({last['ratio']:.0%}): {outcome}."
        return "\n".join([head, *lines])

    # --8<-- [end:summarize]

    # --8<-- [start:report]
    report = FeishuSendMessageOperator(
        task_id="report",
        receive_id="{{ params.owner_chat_id }}",
        receive_id_type="chat_id",
        text="{{ ti.xcom_pull(task_ids='summarize') }}",
    )
    # --8<-- [end:report]
    summary = summarize()

    previous = send_notice
    for i in range(1, ROUNDS + 1):
        if i == ROUNDS:  # the last round does not branch: either way, report
            # --8<-- [start:last_round]
            wait = FeishuWaitForReadsOperator(
                task_id=f"wait_round_{i}",
                batch_message_id=NOTICE_ID,
                threshold="{{ params.threshold }}",
                deadline="{{ params.wait_minutes * 60 }}",
                poke_interval="{{ params.poke_seconds }}",
            )
            previous >> wait >> summary
            # --8<-- [end:last_round]
            break
        # A branch skips the direct downstream tasks it does not follow, so each round joins
        # the summary through its own "reached" marker rather than directly.
        # --8<-- [start:remind]
        reached = EmptyOperator(task_id=f"reached_in_round_{i}")
        remind = FeishuBatchSendOperator(
            task_id=f"remind_{i}",
            text=(
                f"⏰ Reminder {i}: only "
                f"{{{{ (ti.xcom_pull(task_ids='wait_round_{i}')['ratio'] * 100) | round | int }}}}% "
                "have read the notice so far. {{ params.notice }}"
            ),
            department_ids="{{ params.department_ids }}",
        )
        # --8<-- [end:remind]
        # --8<-- [start:wait_round]
        wait = FeishuWaitForReadsOperator(
            task_id=f"wait_round_{i}",
            batch_message_id=NOTICE_ID,
            threshold="{{ params.threshold }}",
            deadline="{{ params.wait_minutes * 60 }}",
            poke_interval="{{ params.poke_seconds }}",
            on_reached=reached.task_id,
            on_deadline=remind.task_id,
        )
        previous >> wait >> [reached, remind]
        reached >> summary
        # --8<-- [end:wait_round]
        previous = remind
    summary >> report
