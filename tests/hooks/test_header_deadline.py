"""The sync hooks' total deadline covers the wait for the answer's head, not only each read.

A raw server on loopback answers the status line, then one header byte every 0.2 s: every read
gets something well inside the read timeout, so without the watchdog the call would last as long
as the server pleased. The emulator (an ASGI app) cannot trickle headers, hence the raw socket.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_feishu.api.errors import FeishuConnectionError
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.hooks.header_deadline import _WATCHDOG
from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook
from airflow_provider_feishu.testing import FeishuEmulator

pytestmark = pytest.mark.timeout(60, method="thread")
TRICKLE_SECONDS = 20.0  # how long the server would go on: far past the 1 s deadline


@contextlib.contextmanager
def header_trickler() -> Iterator[str]:
    """A server that reads a request, then sends its head one byte at a time; yields its base URL."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: ")
                ends = time.monotonic() + TRICKLE_SECONDS
                while not stop.is_set() and time.monotonic() < ends:
                    conn.sendall(b"a")
                    time.sleep(0.2)

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        server.close()


EXTRA = {"timeout": 1, "max_retries": 0}
HOOK_PATH = "/open-apis/bot/v2/hook/0b7f6f3c-8a1d-4c5e-9b2a-1f3e5d7c9a0b"


def test_sync_hook_gives_up_at_the_deadline_while_the_head_trickles(monkeypatch):
    with header_trickler() as url:
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_DEFAULT",
            json.dumps({"conn_type": "feishu", "login": "cli_x", "password": "s3cret", "host": url, "extra": EXTRA}),
        )
        started = time.monotonic()
        with pytest.raises(FeishuConnectionError) as info:
            FeishuHook().get_tenant_access_token()
        elapsed = time.monotonic() - started
    assert "no complete answer within 1s" in str(info.value)
    assert info.value.may_have_arrived
    assert elapsed < TRICKLE_SECONDS / 2, elapsed  # ended by the deadline, not by the server


def test_sync_webhook_gives_up_at_the_deadline_while_the_head_trickles(monkeypatch):
    with header_trickler() as url:
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps({"conn_type": "feishu_webhook", "password": f"{url}{HOOK_PATH}", "extra": EXTRA}),
        )
        started = time.monotonic()
        with pytest.raises(FeishuConnectionError) as info:
            FeishuWebhookHook().send_text("hello")
        elapsed = time.monotonic() - started
    assert "no complete answer within 1s" in str(info.value)
    assert elapsed < TRICKLE_SECONDS / 2, elapsed


def test_calls_that_end_in_time_keep_their_connection(monkeypatch):
    # The watchdog must never shut down a socket whose read ended in time: the connection goes
    # back to the pool and serves the next call, after that call's deadline has passed too.
    with FeishuEmulator(rate_limits=False) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra={"timeout": 0.3}))
        hook = FeishuHook()
        users = [emu.users[0]["open_id"]]
        bid = hook.batch_send_message("text", content={"text": "x"}, open_ids=users).batch_message_id
        for _ in range(3):
            hook.get_batch_message_read_user(bid)
            time.sleep(0.4)  # past the 0.3 s deadline of the call that just ended
        assert emu.connections_seen == 1
        assert emu.request_count("read_user") == 3
    assert len(_WATCHDOG._heap) <= 64 + 2 * len(_WATCHDOG._live)  # ended entries do not pile up
