"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

Imports nothing heavy: Airflow loads this while it initialises, before any DAG is parsed.

The extra fields (``conn-fields``) declare no ``default``: Airflow's connection form fills every
field from its default and saves them all into the connection's extra, so a default declared here
would be frozen into each connection made in the UI and a later change of the hook's default would
never reach it. Fields start empty instead (the hook then applies its own default, which each
description states; tests/test_provider_info.py checks those figures against the hook's). No enum
lists ``None``: the form shows it as a literal "null" choice; an empty dropdown already means unset.
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
        # Short enough to show whole in the form's input; Domain sits in the "Extra Fields" section.
        "host": "empty: set by Domain in Extra Fields; or https://open.example.com",
    },
}

#: Extra fields of a ``feishu`` connection (stored in ``extra`` under these plain names).
FEISHU_CONN_FIELDS: dict[str, Any] = {
    "domain": {
        "label": "Domain",
        "description": "feishu (open.feishu.cn; the default) or lark (open.larksuite.com); unused with a Base URL.",
        "schema": {"type": ["string", "null"], "enum": ["feishu", "lark"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of each HTTP request to Feishu. Default: 10.",
        "schema": {"type": ["number", "null"], "minimum": 0.001},
    },
    "proxy": {
        "label": "Proxy",
        "description": "HTTP(S) proxy URL, e.g. http://proxy.internal:3128.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a read after a rate limit (429), a 5xx or a dropped connection. Default: 4.",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
    },
    "retry_base_delay": {
        "label": "First backoff (seconds)",
        "description": "Wait before the first retry; it doubles on each retry, with jitter. Default: 1.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "retry_max_delay": {
        "label": "Max backoff (seconds)",
        "description": "Cap of the exponential backoff between retries. Default: 30.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "rate_limit_per_second": {
        "label": "Rate limit per second",
        "description": "Calls per second this process keeps each app API under; 0 = off. Default: 50 (Feishu's cap).",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "rate_limit_per_minute": {
        "label": "Rate limit per minute",
        "description": "Calls per minute this process keeps each app API under; 0 = off. Default: 1000 (Feishu's cap).",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "max_rate_limit_wait": {
        "label": "Max rate-limit wait (seconds)",
        "description": "Longest wait honoured from Feishu's x-ogw-ratelimit-reset before retrying. Default: 60.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    # A fraction, not a count: the hook refuses 0 and anything above 1 (hooks/config.py).
    "rate_limit_share": {
        "label": "Rate-limit share (fraction)",
        "description": (
            "Pins this process's fraction of the two rate limits above, e.g. 0.33 on each of three triggerers. "
            "Empty: each process learns its share from Feishu's 429 answers."
        ),
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
    },
}


#: How the connection form shows a ``feishu_webhook`` connection (custom group bot).
FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"password": "Webhook URL or token", "host": "Base URL (optional)"},
    "placeholders": {
        "password": "https://open.feishu.cn/open-apis/bot/v2/hook/xxxxxxxx-xxxx-...",
        "host": "only with a bare token; e.g. https://open.example.com",
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
        "description": "Only with a bare token: feishu (open.feishu.cn; the default) or lark (open.larksuite.com).",
        "schema": {"type": ["string", "null"], "enum": ["feishu", "lark"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Timeout of each HTTP request to the webhook. Default: 10.",
        "schema": {"type": ["number", "null"], "minimum": 0.001},
    },
    "max_retries": {
        "label": "Max retries",
        "description": (
            "Retries of a post Feishu certainly did not process (rate limit 11232, refused connection). Default: 4."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
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
