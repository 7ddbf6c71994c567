"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

Imports nothing heavy: Airflow loads this while it initialises, before any DAG is parsed.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_feishu import __version__

#: How the connection form shows a ``feishu`` connection (hidden fields, labels, hints).
FEISHU_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    # Extra stays visible: Airflow 3.1 has no typed extra fields without the FAB provider.
    "hidden-fields": ["schema", "port"],
    "relabeling": {"login": "App ID", "password": "App Secret", "host": "Base URL (optional)"},
    "placeholders": {
        "login": "cli_a1b2c3d4e5f6",
        "password": "App Secret from the developer console",
        "host": "leave empty for the domain below; or https://open.example.com, http://127.0.0.1:8700",
    },
}

#: Extra fields of a ``feishu`` connection (stored in ``extra`` under these plain names).
FEISHU_CONN_FIELDS: dict[str, Any] = {
    "domain": {
        "label": "Domain",
        "description": "feishu (open.feishu.cn) or lark (open.larksuite.com); ignored when Base URL is set.",
        "schema": {"type": ["string", "null"], "enum": ["feishu", "lark", None], "default": "feishu"},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of each HTTP request to Feishu.",
        "schema": {"type": ["number", "null"], "minimum": 0.001, "default": 10},
    },
    "proxy": {
        "label": "Proxy",
        "description": "HTTP(S) proxy URL, e.g. http://proxy.internal:3128.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a read after a rate limit (429), a 5xx or a dropped connection.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20, "default": 4},
    },
    "retry_base_delay": {
        "label": "First backoff (seconds)",
        "description": "Wait before the first retry; it doubles on each retry, with jitter.",
        "schema": {"type": ["number", "null"], "minimum": 0, "default": 1},
    },
    "retry_max_delay": {
        "label": "Max backoff (seconds)",
        "description": "Cap of the exponential backoff between retries.",
        "schema": {"type": ["number", "null"], "minimum": 0, "default": 30},
    },
    "rate_limit_per_second": {
        "label": "Rate limit per second",
        "description": "Calls per second this process keeps each API of the app under (Feishu: 50); 0 = off.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "default": 50},
    },
    "rate_limit_per_minute": {
        "label": "Rate limit per minute",
        "description": "Calls per minute this process keeps each API of the app under (Feishu: 1000); 0 = off.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "default": 1000},
    },
    "max_rate_limit_wait": {
        "label": "Max rate-limit wait (seconds)",
        "description": "Longest wait honoured from Feishu's x-ogw-ratelimit-reset before retrying.",
        "schema": {"type": ["number", "null"], "minimum": 0, "default": 60},
    },
}


#: How the connection form shows a ``feishu_webhook`` connection (custom group bot).
FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"password": "Webhook URL or token", "host": "Base URL (optional)"},
    "placeholders": {
        "password": "https://open.feishu.cn/open-apis/bot/v2/hook/xxxxxxxx-xxxx-...",
        "host": "only with a bare token: https://open.example.com or http://127.0.0.1:8700",
    },
}

#: Extra fields of a ``feishu_webhook`` connection (stored in ``extra`` under these plain names).
FEISHU_WEBHOOK_CONN_FIELDS: dict[str, Any] = {
    "secret": {
        "label": "Signing secret",
        "description": "The bot's secret when 'Set signature verification' is on; every post is then signed.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "domain": {
        "label": "Domain",
        "description": "Only with a bare token: feishu (open.feishu.cn) or lark (open.larksuite.com).",
        "schema": {"type": ["string", "null"], "enum": ["feishu", "lark", None], "default": "feishu"},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of each HTTP request to the webhook.",
        "schema": {"type": ["number", "null"], "minimum": 0.001, "default": 10},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a post Feishu certainly did not process (rate limit 11232, refused connection).",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20, "default": 4},
    },
    "proxy": {
        "label": "Proxy",
        "description": "HTTP(S) proxy URL, e.g. http://proxy.internal:3128.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-feishu",
        "name": "Feishu",
        "description": "Feishu / Lark: batch messages, read-threshold sensors and triggers, notifiers.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Feishu",
                "external-doc-url": "https://open.feishu.cn/document/home/index",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Feishu",
                "python-modules": ["airflow_provider_feishu.hooks.feishu", "airflow_provider_feishu.hooks.webhook"],
            },
        ],
        "operators": [
            {
                "integration-name": "Feishu",
                "python-modules": [
                    "airflow_provider_feishu.operators.send",
                    "airflow_provider_feishu.operators.wait_for_reads",
                    "airflow_provider_feishu.operators.webhook",
                    "airflow_provider_feishu.operators.send_file",
                ],
            },
            {
                "integration-name": "Feishu",
                "python-modules": [
                    "airflow_provider_feishu.operators.remind_unread",
                    "airflow_provider_feishu.operators.tracked_send",
                ],
            },
        ],
        "transfers": [
            {
                "source-integration-name": "Common SQL",
                "target-integration-name": "Feishu",
                "python-module": "airflow_provider_feishu.transfers.sql_to_feishu",
            },
        ],
        "sensors": [
            {"integration-name": "Feishu", "python-modules": ["airflow_provider_feishu.sensors.batch_read"]},
            {"integration-name": "Feishu", "python-modules": ["airflow_provider_feishu.sensors.message_read"]},
        ],
        "triggers": [
            {"integration-name": "Feishu", "python-modules": ["airflow_provider_feishu.triggers.batch_read"]},
            {"integration-name": "Feishu", "python-modules": ["airflow_provider_feishu.triggers.message_read"]},
        ],
        "connection-types": [
            {
                "connection-type": "feishu",
                "hook-class-name": "airflow_provider_feishu.hooks.feishu.FeishuHook",
                "hook-name": "Feishu",
                "ui-field-behaviour": FEISHU_UI_FIELD_BEHAVIOUR,
                "conn-fields": FEISHU_CONN_FIELDS,
            },
            {
                "connection-type": "feishu_webhook",
                "hook-class-name": "airflow_provider_feishu.hooks.webhook.FeishuWebhookHook",
                "hook-name": "Feishu Webhook (custom bot)",
                "ui-field-behaviour": FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR,
                "conn-fields": FEISHU_WEBHOOK_CONN_FIELDS,
            },
        ],
        "notifications": [
            "airflow_provider_feishu.notifications.feishu.FeishuNotifier",
            "airflow_provider_feishu.notifications.webhook.FeishuWebhookNotifier",
        ],
    }
