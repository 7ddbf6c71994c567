"""Batch sends whose first try dies, for tests/operators/test_batch_send_record.py (``dag.test()``).

A killed worker cannot be staged inside ``dag.test()``, so each operator here fails its first try
with an error the operator does not expect, at the two moments that matter: right after Feishu
accepted the batch (before the operator learnt the answer) and right after the operator recorded
it. Airflow then retries the task, as it would after a worker died. Parsing this file sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.operators.send import FeishuBatchSendOperator

RETRY: dict[str, Any] = {"retries": 1, "retry_delay": timedelta(seconds=0)}


class WorkerLost(RuntimeError):
    """What the first try meets instead of a SIGKILL."""


class _DiesAfterFeishuAccepts(FeishuHook):
    def batch_send_message(self, *args: Any, **kwargs: Any) -> Any:
        result = super().batch_send_message(*args, **kwargs)
        raise WorkerLost(f"the worker died after Feishu accepted {result.batch_message_id}")


class DiesMidSend(FeishuBatchSendOperator):
    """Try 1 dies after Feishu accepted the batch, before the operator heard back."""

    def execute(self, context: Any) -> str:
        if context["ti"].try_number == 1:
            self.__dict__["hook"] = _DiesAfterFeishuAccepts(feishu_conn_id=self.feishu_conn_id)
        else:
            self.__dict__.pop("hook", None)
        return super().execute(context)


class DiesAfterSending(FeishuBatchSendOperator):
    """Try 1 dies after the operator sent the batch and recorded it, before the task succeeded."""

    def execute(self, context: Any) -> str:
        batch_message_id = super().execute(context)
        if context["ti"].try_number == 1:
            raise WorkerLost(f"the worker died after sending {batch_message_id}")
        return batch_message_id


OPERATORS = {"batch_send_dies_mid_send": DiesMidSend, "batch_send_dies_after_sending": DiesAfterSending}
dags = {}
for dag_id, operator in OPERATORS.items():
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        params={"open_ids": Param([], type="array")},
        tags=["feishu-tests"],
    ) as dag:
        operator(task_id="send", text="once only", open_ids="{{ params.open_ids }}", **RETRY)
    dags[dag_id] = dag
