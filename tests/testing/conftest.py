from __future__ import annotations

from airflow_provider_feishu.testing.pytest_plugin import feishu_connection, feishu_emulator

__all__ = ["feishu_connection", "feishu_emulator"]
