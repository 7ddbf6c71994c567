"""Test DAGs for the send operators: every message kind, to users and chats, ids pushed to XCom."""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_feishu import messages
from airflow_provider_feishu.operators.send import FeishuBatchSendOperator, FeishuSendMessageOperator

with DAG(
    "send_every_kind",
    schedule=None,
    catchup=False,
    params={"open_ids": Param([], type="array"), "chat_id": "", "title": "Release 1.2"},
    tags=["feishu-tests"],
) as dag:
    FeishuBatchSendOperator(task_id="batch_text", text="Hello {{ params.title }}", open_ids="{{ params.open_ids }}")
    FeishuBatchSendOperator(
        task_id="batch_post",
        post={"zh_cn": {"title": "{{ params.title }}", "content": [[{"tag": "text", "text": "Notes"}]]}},
        open_ids="{{ params.open_ids }}",
    )
    FeishuBatchSendOperator(
        task_id="batch_card",
        message=messages.card_message("Release", ["**Done**"], template="green"),
        open_ids="{{ params.open_ids }}",
    )
    FeishuSendMessageOperator(
        task_id="chat_text",
        receive_id="{{ params.chat_id }}",
        receive_id_type="chat_id",
        text="Deployed {{ params.title }}",
        mentions=["all"],
    )
    FeishuSendMessageOperator(
        task_id="chat_card",
        receive_id="{{ params.chat_id }}",
        receive_id_type="chat_id",
        card={"header": {"title": {"tag": "plain_text", "content": "{{ params.title }}"}}, "elements": []},
    )
    FeishuSendMessageOperator(
        task_id="user_post",
        receive_id="{{ params.open_ids[0] }}",
        post={"en_us": {"title": "{{ params.title }}", "content": [[{"tag": "at", "user_id": "all"}]]}},
    )
