"""The few Airflow names whose import path differs between 3.1 and 3.2+, in one place.

Airflow 3.2 moved the task exceptions, ``conf`` and the secrets masker into ``airflow.sdk``;
3.1 still has them in core. Every module of the provider imports them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_V_3_2_PLUS = Version(Version(_airflow_version).base_version) >= Version("3.2.0")

if TYPE_CHECKING:
    from airflow.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferralTimeout,
        TaskDeferred,
    )
    from airflow.sdk import conf
else:
    try:
        from airflow.sdk.exceptions import (
            AirflowFailException,
            AirflowSensorTimeout,
            AirflowSkipException,
            TaskDeferralTimeout,
            TaskDeferred,
        )
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import (
            AirflowFailException,
            AirflowSensorTimeout,
            AirflowSkipException,
            TaskDeferralTimeout,
            TaskDeferred,
        )
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf


def redact(value: Any) -> Any:
    """Airflow's secrets masker applied to ``value`` (every secret registered so far becomes ***)."""
    import importlib

    try:
        masker = importlib.import_module("airflow.sdk._shared.secrets_masker")
    except ImportError:  # Airflow 3.1
        masker = importlib.import_module("airflow.sdk.execution_time.secrets_masker")
    return masker.redact(value)


__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferralTimeout",
    "TaskDeferred",
    "conf",
    "redact",
]
