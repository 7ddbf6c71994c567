"""The Feishu protocol, with no I/O: request builders, envelope parsing, typed results, errors.

The sync hook (requests) and the async client (httpx) are thin transports over this package.
"""

from __future__ import annotations

from airflow_provider_feishu.api.endpoints import (
    DOMAINS,
    FEISHU_BASE_URL,
    LARK_BASE_URL,
    ApiRequest,
    batch_send_request,
    chat_members_request,
    create_message_request,
    get_progress_request,
    message_reactions_request,
    read_user_request,
    read_users_request,
    recall_batch_request,
    reply_message_request,
    tenant_token_request,
    urgent_app_request,
)
from airflow_provider_feishu.api.envelope import TOKEN_INVALID_CODES, parse_envelope
from airflow_provider_feishu.api.errors import (
    FeishuAPIError,
    FeishuAuthError,
    FeishuBadRequestError,
    FeishuConfigError,
    FeishuConnectionError,
    FeishuError,
    FeishuNotFoundError,
    FeishuNotSenderError,
    FeishuPermissionError,
    FeishuProtocolError,
    FeishuRateLimitError,
    FeishuServerError,
    FeishuTokenInvalidError,
)
from airflow_provider_feishu.api.paging import Page
from airflow_provider_feishu.api.receipts import ChatMember, MessageReaction, ReadReceipt
from airflow_provider_feishu.api.results import (
    BatchProgress,
    BatchSendResult,
    ReadStats,
    SentMessage,
    TenantToken,
    UrgentResult,
)
from airflow_provider_feishu.api.retry_policy import RetryPolicy

__all__ = [
    "DOMAINS",
    "FEISHU_BASE_URL",
    "LARK_BASE_URL",
    "TOKEN_INVALID_CODES",
    "ApiRequest",
    "BatchProgress",
    "BatchSendResult",
    "FeishuAPIError",
    "FeishuAuthError",
    "FeishuBadRequestError",
    "FeishuConfigError",
    "FeishuConnectionError",
    "FeishuError",
    "FeishuNotFoundError",
    "FeishuNotSenderError",
    "FeishuPermissionError",
    "FeishuProtocolError",
    "FeishuRateLimitError",
    "FeishuServerError",
    "FeishuTokenInvalidError",
    "ReadStats",
    "RetryPolicy",
    "SentMessage",
    "TenantToken",
    "UrgentResult",
    "batch_send_request",
    "create_message_request",
    "get_progress_request",
    "parse_envelope",
    "read_user_request",
    "recall_batch_request",
    "tenant_token_request",
    "urgent_app_request",
]
__all__ += [
    "ChatMember",
    "MessageReaction",
    "Page",
    "ReadReceipt",
    "chat_members_request",
    "message_reactions_request",
    "read_users_request",
    "reply_message_request",
]
