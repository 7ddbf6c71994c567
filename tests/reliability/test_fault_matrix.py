"""Fault matrix: every fault the emulator can inject, through the hook, the trigger and the sensor.

Each row names a fault and its documented outcome (docs/hooks.md "Retries", docs/errors.md):
``RECOVERS`` (retried and succeeded) or a failure class that names the Feishu code and a hint.
Reads are retried on every transient fault. A 200 answer that is not Feishu's JSON (empty body,
truncated JSON) is a FeishuProtocolError that the hook does not retry (only on 5xx), but that a
wait treats as transient: the trigger and the sensor simply check again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from _support import (
    connect,
    connect_other_app,
    connect_wrong_secret,
    read_batch,
    read_user_path,
)

from airflow_provider_feishu.api.errors import (
    FeishuAuthError,
    FeishuError,
    FeishuNotFoundError,
    FeishuNotSenderError,
    FeishuPermissionError,
    FeishuProtocolError,
)
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.sensors.batch_read import FeishuReadThresholdSensor
from airflow_provider_feishu.testing import FeishuEmulator
from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger
from airflow_provider_feishu.version_compat import AirflowFailException

pytestmark = pytest.mark.timeout(60, method="thread")

RECOVERS = "recovers"
UNKNOWN_BATCH = "bm-00000000000000000000000000000000"


@dataclass(frozen=True)
class Fault:
    """One row: what to inject on read_user (or how to misconfigure) and the expected outcomes."""

    inject: dict[str, Any] = field(default_factory=dict)
    setup: str = "inject"  # inject | wrong_secret | other_app | unknown_id
    hook: Any = RECOVERS  # RECOVERS or the FeishuError class the hook raises at once
    code: int | None = None  # the code the failure must name
    wait_recovers: bool | None = None  # trigger/sensor outcome; default: hook outcome
    token_fetches: int = 1
    #: The connection's timeout. Roomy, so that a loaded CI machine never turns a slow loopback
    #: answer into an extra attempt (and an extra token fetch); short only where a timeout is the fault.
    timeout: float = 5.0

    @property
    def waits_recover(self) -> bool:
        return self.hook == RECOVERS if self.wait_recovers is None else self.wait_recovers


FAULTS: dict[str, Fault] = {
    "429-with-reset": Fault({"status": 429, "code": 99991400}),
    "500": Fault({"status": 500}),
    "502": Fault({"status": 502}),
    "503": Fault({"status": 503}),
    "504": Fault({"status": 504}),
    "html-502-page": Fault({"kind": "html_502"}),
    "empty-body-200": Fault({"kind": "empty_body"}, hook=FeishuProtocolError, wait_recovers=True),
    "empty-body-502": Fault({"kind": "empty_body", "status": 502}),
    "malformed-json": Fault({"kind": "malformed_json"}, hook=FeishuProtocolError, wait_recovers=True),
    "drop-before": Fault({"kind": "drop_before"}),
    "drop-after": Fault({"kind": "drop_after"}),
    "read-timeout": Fault({"kind": "delay", "delay": 2.5}, timeout=1.0),
    "token-expired-mid-run": Fault({"kind": "expire_token"}, token_fetches=2),
    "wrong-secret": Fault(setup="wrong_secret", hook=FeishuAuthError, code=10014, token_fetches=1),
    "99991672-no-scope": Fault({"status": 400, "code": 99991672}, hook=FeishuPermissionError, code=99991672),
    "230027-no-permission": Fault({"status": 400, "code": 230027}, hook=FeishuPermissionError, code=230027),
    "230030-unknown-id": Fault(setup="unknown_id", hook=FeishuNotFoundError, code=230030),
    "230012-not-sender": Fault(setup="other_app", hook=FeishuNotSenderError, code=230012),
}


@pytest.fixture
def emu():
    with FeishuEmulator() as emulator:
        yield emulator


def arrange(emu: FeishuEmulator, monkeypatch: pytest.MonkeyPatch, fault: Fault) -> str:
    """A fully read batch, then the fault in place; returns the batch id to ask about."""
    connect(monkeypatch, emu, timeout=fault.timeout)
    bid = read_batch(emu, 10)
    tokens_before = emu.request_count("tenant_access_token")
    assert tokens_before == 1
    from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE

    TOKEN_CACHE.clear()  # the surface under test fetches its own token
    with emu.world.lock:
        emu.world.counts.clear()  # counters from zero; tokens and batches stay
    if fault.setup == "inject":
        emu.inject(read_user_path(bid), **fault.inject)
    elif fault.setup == "wrong_secret":
        connect_wrong_secret(monkeypatch, emu, timeout=fault.timeout)
    elif fault.setup == "other_app":
        connect_other_app(monkeypatch, emu, timeout=fault.timeout)
    elif fault.setup == "unknown_id":
        bid = UNKNOWN_BATCH
    return bid


def assert_names_code_and_hint(text: str, fault: Fault) -> None:
    assert f"code={fault.code}" in text, text
    assert "Hint:" in text, text


@pytest.mark.parametrize("name", FAULTS)
def test_hook(emu, monkeypatch, name):
    fault = FAULTS[name]
    bid = arrange(emu, monkeypatch, fault)
    hook = FeishuHook()
    if fault.hook == RECOVERS:
        stats = hook.get_batch_message_read_user(bid)
        assert (stats.read_count, stats.total_count) == (10, 10)
        assert emu.request_count("read_user") == 2  # the faulted attempt and one retry
        assert emu.request_count("tenant_access_token") == fault.token_fetches
        return
    with pytest.raises(FeishuError) as info:
        hook.get_batch_message_read_user(bid)
    assert type(info.value) is fault.hook
    assert emu.request_count("read_user") == (0 if fault.setup == "wrong_secret" else 1)  # failed at once
    if fault.code is not None:
        assert info.value.code == fault.code  # type: ignore[attr-defined]
        assert_names_code_and_hint(str(info.value), fault)


def trigger_event(bid: str, seconds: float = 8.0) -> dict:
    trigger = FeishuReadThresholdTrigger(
        batch_message_id=bid, threshold=0.8, deadline=time.time() + seconds, poll_interval=0.05
    )

    async def first() -> dict:
        events = trigger.run()
        event = await asyncio.wait_for(events.__anext__(), seconds + 15)
        with pytest.raises(StopAsyncIteration):
            await events.__anext__()  # exactly one event
        return event.payload

    return asyncio.run(first())


@pytest.mark.parametrize("name", FAULTS)
def test_trigger(emu, monkeypatch, name):
    fault = FAULTS[name]
    bid = arrange(emu, monkeypatch, fault)
    payload = trigger_event(bid)
    if fault.waits_recover:
        assert payload["status"] == "reached", payload
        assert payload["read_count"] == 10
        assert emu.request_count("tenant_access_token") == fault.token_fetches
        return
    assert payload["status"] == "error", payload
    assert_names_code_and_hint(payload["message"], fault)
    assert bid in payload["message"]


@pytest.mark.parametrize("name", FAULTS)
def test_sensor_poke(emu, monkeypatch, name):
    fault = FAULTS[name]
    bid = arrange(emu, monkeypatch, fault)
    sensor = FeishuReadThresholdSensor(task_id=f"wait_{name}", batch_message_id=bid, threshold=0.8)
    if fault.waits_recover:
        results: list[Any] = []
        for _ in range(2):  # a fault the hook does not retry costs one "not yet" poke
            results.append(sensor.poke({}))
            if results[-1] is not False:
                break
        done = results[-1]
        assert done is not False and done.is_done, results
        assert done.xcom_value["read_count"] == 10
        assert len(results) == (1 if fault.hook == RECOVERS else 2)
        return
    with pytest.raises(AirflowFailException) as info:
        sensor.poke({})
    assert_names_code_and_hint(str(info.value), fault)


def test_hook_waits_for_the_rate_limit_reset(emu, monkeypatch):
    """With the default cap (60 s), the hook sleeps the whole ``x-ogw-ratelimit-reset`` before retrying."""
    connect(monkeypatch, emu, max_rate_limit_wait=60)
    bid = read_batch(emu, 5)
    emu.inject(read_user_path(bid), status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "1"})
    started = time.monotonic()
    FeishuHook().get_batch_message_read_user(bid)
    assert time.monotonic() - started >= 1.0
    assert emu.request_count("read_user") == 2


def test_a_persistent_fault_ends_reads_with_a_clear_error_after_max_retries(emu, monkeypatch):
    connect(monkeypatch, emu, max_retries=2)
    bid = read_batch(emu, 5)
    emu.inject(read_user_path(bid), times=None, status=503)
    with pytest.raises(FeishuError) as info:
        FeishuHook().get_batch_message_read_user(bid)
    assert "HTTP 503" in str(info.value) and "Hint:" in str(info.value)
    assert emu.request_count("read_user") == 3
