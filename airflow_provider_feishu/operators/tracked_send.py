"""Sending so that reads can be tracked per person: one im/v1 message to each person.

Only ``airflow.sdk`` and light modules are imported at module level (DAG files import this).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from airflow_provider_feishu.operators.send import task_instance_uuid

if TYPE_CHECKING:
    from airflow.sdk import Context


def person_uuid(context: Context, person: str) -> str:
    """The idempotency key of this task instance's message to ``person``: the same on every retry, <= 50 chars.

    Feishu delivers at most one message per uuid within an hour (Feishu docs: message create), so
    a retried task never sends anyone a second copy.
    """
    digest = hashlib.sha256(f"{task_instance_uuid(context)}/{person}".encode()).hexdigest()
    return "af-" + digest[:47]
