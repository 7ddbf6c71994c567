"""A local Feishu / Lark Open Platform emulator for tests and demos (think ``moto`` for Feishu).

    from airflow_provider_feishu.testing import FeishuEmulator

    with FeishuEmulator() as emu:
        ...  # point clients at emu.base_url with emu.app_id / emu.app_secret

This package never imports Airflow. uvicorn is imported only when a server starts.
See docs/emulator.md.
"""

from __future__ import annotations

from .clock import ManualClock, ScaledClock
from .emulator import FeishuEmulator, start_emulator_thread
from .reading import ReadingModel
from .state import default_tenant, generate_default_tenant

__all__ = [
    "FeishuEmulator",
    "ManualClock",
    "ReadingModel",
    "ScaledClock",
    "default_tenant",
    "generate_default_tenant",
    "start_emulator_thread",
]
