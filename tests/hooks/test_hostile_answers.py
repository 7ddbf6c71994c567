"""Every transport against a hostile server: echoed tokens, huge or compressed answers, trickled
answers, redirects. Real HTTP on loopback against the emulator's faults; each test failed before
its fix (an outside review reproduced each case)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import tracemalloc

import pytest

from airflow_provider_feishu.api.errors import (
    FeishuConfigError,
    FeishuConnectionError,
    FeishuError,
    FeishuProtocolError,
)
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient
from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook
from airflow_provider_feishu.testing import FeishuEmulator

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "max_retries": 1}
BATCH_PATH = "/open-apis/im/v1/batch_messages/*"
HOOK_PATH = "/open-apis/bot/v2/hook/*"
BIG = 8 * 1024 * 1024  # twice the 4 MiB cap
BOMB = 64 * 1024 * 1024  # ~64 KB on the wire, gzip-encoded


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST))
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps({"conn_type": "feishu_webhook", "password": emulator.webhook_url(0), "extra": FAST}),
        )
        yield emulator


def set_timeout(emu, monkeypatch, seconds: float) -> None:
    extra = {**FAST, "max_retries": 0, "timeout": seconds}
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=extra))
    monkeypatch.setenv(
        "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
        json.dumps({"conn_type": "feishu_webhook", "password": emu.webhook_url(0), "extra": extra}),
    )


def sync_read() -> None:
    FeishuHook().get_batch_message_read_user("bm-anything")


def async_read() -> None:
    async def go() -> None:
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            await client.get_batch_message_read_user("bm-anything")

    asyncio.run(asyncio.wait_for(go(), 60))


def sync_webhook() -> None:
    FeishuWebhookHook().send_text("hello")


def async_webhook() -> None:
    asyncio.run(asyncio.wait_for(FeishuWebhookHook().asend({"msg_type": "text", "content": {"text": "hi"}}), 60))


APP_CALLS = {"sync hook": sync_read, "async client": async_read}
ALL_CALLS = {**APP_CALLS, "sync webhook": sync_webhook, "async webhook": async_webhook}


def path_of(name: str) -> str:
    return HOOK_PATH if "webhook" in name else BATCH_PATH


# --- 1, 2: live tokens scrubbed from every quoted text ----------------------------------------


@pytest.mark.parametrize("call", list(APP_CALLS), ids=list(APP_CALLS))
@pytest.mark.parametrize("where", ["json msg", "html page", "log id header"])
def test_an_echoed_token_never_reaches_errors_or_logs(emu, caplog, capsys, call, where):
    token = FeishuHook().get_tenant_access_token()  # the live token the next call carries
    echo = f"Authorization: Bearer {token}"
    if where == "json msg":
        emu.inject(BATCH_PATH, times=2, status=500, body={"code": 500, "msg": echo})
    elif where == "html page":
        emu.inject(BATCH_PATH, times=2, status=502, body=f"<html><body><pre>{echo}</pre></body></html>")
    else:
        # No error.log_id in the body, so the header is what the error quotes as its log id.
        emu.inject(BATCH_PATH, times=2, status=500, body={"code": 500, "msg": "boom"}, headers={"X-Tt-Logid": echo})
    # INFO: httpcore's own DEBUG trace prints raw answer headers (Airflow masks the token there).
    with caplog.at_level(logging.INFO), pytest.raises(FeishuError) as info:
        APP_CALLS[call]()
    captured = capsys.readouterr()  # Airflow's structlog writes hook logs to stdout
    texts = [str(info.value), repr(info.value), caplog.text, captured.out, captured.err]
    assert "Retrying" in caplog.text + captured.out  # the retry warning quoted the error too
    assert not any(token in text for text in texts)
    assert not any(token[:8] in text for text in texts)
    assert "***" in str(info.value)


def test_an_echoed_token_never_reaches_a_trigger_event(emu):
    from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger

    token = FeishuHook().get_tenant_access_token()
    emu.inject(BATCH_PATH, times=None, status=400, code=230030, msg=f"no such batch; you sent Bearer {token}")
    trigger = FeishuReadThresholdTrigger(batch_message_id="bm-x", threshold=0.5, deadline=time.time() + 10)
    payload = asyncio.run(asyncio.wait_for(trigger.wait(), 30))
    assert payload["status"] == "error"
    assert "230030" in payload["message"]
    assert token not in json.dumps(payload)


def test_a_token_straddling_the_snippet_cut_is_not_shown_in_part(emu):
    token = FeishuHook().get_tenant_access_token()
    # 110 characters of text, then the token: the 120-character snippet cuts it after 10 characters.
    emu.inject(BATCH_PATH, times=2, status=502, body="<p>" + "x" * 110 + token + "</p>")
    with pytest.raises(FeishuProtocolError) as info:
        sync_read()
    assert token[:5] not in info.value.snippet
    assert info.value.snippet.endswith("***")


# --- 3: answers are read with a cap, decompressed size included --------------------------------


@pytest.mark.parametrize("call", list(ALL_CALLS), ids=list(ALL_CALLS))
@pytest.mark.parametrize(("size", "encoding"), [(BIG, None), (BOMB, "gzip")], ids=["8 MB", "64 MB gzip bomb"])
def test_an_oversized_answer_is_refused(emu, call, size, encoding):
    emu.inject(path_of(call), times=2, kind="huge_body", size=size, encoding=encoding)
    with pytest.raises(FeishuProtocolError, match="larger than 4194304 bytes"):
        ALL_CALLS[call]()


def test_a_gzip_bomb_never_inflates_in_memory(emu):
    FeishuHook().get_tenant_access_token()
    emu.inject(BATCH_PATH, times=2, kind="huge_body", size=BOMB, encoding="gzip")
    tracemalloc.start()
    try:
        with pytest.raises(FeishuProtocolError):
            sync_read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * 1024 * 1024  # the cap is 4 MiB; inflating the bomb would take 64 MiB


def test_a_compressed_answer_within_the_cap_is_read(emu):
    # A gzip answer is still a good answer: it is refused for its size only, and 4 KB is fine.
    emu.inject(BATCH_PATH, times=1, kind="huge_body", size=4096, encoding="gzip")
    with pytest.raises(FeishuProtocolError, match="data"):  # code 0 but no data: the parser's complaint
        sync_read()


# --- 4: `timeout` bounds the whole call ------------------------------------------------------


@pytest.mark.parametrize("call", list(ALL_CALLS), ids=list(ALL_CALLS))
def test_a_trickled_answer_ends_at_the_total_timeout(emu, monkeypatch, call):
    FeishuHook().get_tenant_access_token()
    set_timeout(emu, monkeypatch, 1.0)
    # One byte every 0.2 s: each read is quick, the whole answer would take 15 s or more.
    emu.inject(path_of(call), times=1, kind="trickle", delay=0.2)
    started = time.monotonic()
    with pytest.raises(FeishuError) as info:
        ALL_CALLS[call]()
    elapsed = time.monotonic() - started
    assert isinstance(info.value, FeishuConnectionError), info.value
    assert "total timeout" in str(info.value)
    assert elapsed < 8.0


# --- 5, 6: ids that would leave their path segment, or the URL's size -------------------------


@pytest.mark.parametrize("bad", [".", "..", "...", "x" * 100_000])
def test_dot_and_huge_ids_are_refused_before_any_request(emu, bad):
    FeishuHook().get_tenant_access_token()
    before = len(emu.requests_log)
    with pytest.raises(FeishuConfigError):
        FeishuHook().get_batch_message_read_user(bad)

    async def go() -> None:
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            await client.get_batch_message_read_user(bad)

    with pytest.raises(FeishuConfigError):
        asyncio.run(go())
    with pytest.raises(FeishuConfigError):
        FeishuHook().recall_batch_message(bad)
    assert len(emu.requests_log) == before  # nothing went out, with or without the token


# --- redirects are never followed (the mutation audit: no test sent a 3xx) --------------------


@pytest.mark.parametrize("call", list(ALL_CALLS), ids=list(ALL_CALLS))
@pytest.mark.parametrize("status", [302, 307])
def test_redirects_are_not_followed(emu, call, status):
    emu.inject(path_of(call), times=None, kind="redirect", status=status)
    with pytest.raises(FeishuError) as info:
        ALL_CALLS[call]()
    assert f"HTTP {status}" in str(info.value)
    assert emu.request_count("redirect_target") == 0


def test_the_redirect_target_answers_success(emu):
    """The check above can fail: a client that follows the redirect gets a good answer there."""
    import requests

    answer = requests.get(emu.base_url + "/__emulator__/redirect-target", timeout=5).json()
    assert answer["code"] == 0 and emu.request_count("redirect_target") == 1


# --- the async client registers its token with the masker ---------------------------------------


def test_the_async_client_masks_its_token(emu):
    from airflow_provider_feishu.version_compat import redact

    async def fetch() -> str:
        async with await AsyncFeishuClient.from_conn_id("feishu_default") as client:
            return await client.get_tenant_access_token()

    token = asyncio.run(fetch())
    assert token.startswith("t-")
    assert redact(f"sent {token}") == "sent ***"
