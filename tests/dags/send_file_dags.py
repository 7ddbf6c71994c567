"""Test DAG for FeishuSendFileOperator: a file to a chat and an image to a person, paths from params."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_provider_feishu.operators.send_file import FeishuSendFileOperator

with DAG(
    "send_files",
    schedule=None,
    catchup=False,
    params={"report": "", "chart": "", "chat_id": "", "open_id": ""},
    tags=["feishu-tests"],
) as dag:
    FeishuSendFileOperator(
        task_id="report_to_chat",
        file_path="{{ params.report }}",
        receive_id="{{ params.chat_id }}",
        receive_id_type="chat_id",
        file_name="report-{{ ds }}.csv",
    )
    FeishuSendFileOperator(
        task_id="chart_to_person", file_path="{{ params.chart }}", receive_id="{{ params.open_id }}", as_image=True
    )
