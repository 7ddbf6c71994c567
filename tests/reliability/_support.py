"""Shared helpers of the reliability suite: emulator connections, batches, log capture."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

#: Fast retries so a fault costs milliseconds; a 0.5 s request timeout for the read-timeout fault.
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "max_rate_limit_wait": 0.2, "timeout": 0.5}
#: Nobody reads on their own: tests decide who reads, with mark_read.
QUIET = ReadingModel(never_read_fraction=1.0, schedule_delay=1.0, delivery_seconds=5.0)
SEND_PATH = "/open-apis/message/v4/batch_send/"
CREATE_PATH = "/open-apis/im/v1/messages"
OTHER_APP = 1  # index of the tenant's second app (for 230012)


def connect(monkeypatch: Any, emu: FeishuEmulator, conn_id: str = "feishu_default", **extra: Any) -> None:
    """Point ``conn_id`` at the emulator with fast retries (``extra`` overrides them)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", emu.connection_json(extra={**FAST, **extra}))


def connect_wrong_secret(
    monkeypatch: Any, emu: FeishuEmulator, conn_id: str = "feishu_default", **extra: Any
) -> None:
    conn = json.loads(emu.connection_json(extra={**FAST, **extra}))
    conn["password"] = "definitely-not-the-secret"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def connect_other_app(
    monkeypatch: Any, emu: FeishuEmulator, conn_id: str = "feishu_default", **extra: Any
) -> None:
    app_id = emu.apps[OTHER_APP]["app_id"]
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", emu.connection_json(app_id=app_id, extra={**FAST, **extra})
    )


def open_ids(emu: FeishuEmulator, n: int) -> list[str]:
    return [u["open_id"] for u in emu.users[:n]]


def read_batch(emu: FeishuEmulator, n: int = 10, read: int | None = None) -> str:
    """A batch to ``n`` users, scheduled and delivered (manual clock), ``read`` of them read (all by default)."""
    bid = FeishuHook().batch_send_message("text", content={"text": "hi"}, open_ids=open_ids(emu, n)).batch_message_id
    emu.advance(10)
    emu.mark_read(bid, count=n if read is None else read)
    return bid


def read_user_path(bid: str) -> str:
    return f"/open-apis/im/v1/batch_messages/{bid}/read_user"


def issued_tokens(emu: FeishuEmulator) -> list[str]:
    """Every tenant and app token the emulator has issued so far."""
    world = emu.world
    with world.lock:
        return [*world.tokens, *world.app_tokens]
