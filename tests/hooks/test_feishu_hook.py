"""FeishuHook over real HTTP against the emulator on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from airflow_provider_feishu.api.errors import (
    FeishuAuthError,
    FeishuConfigError,
    FeishuConnectionError,
    FeishuNotFoundError,
    FeishuNotSenderError,
    FeishuProtocolError,
    FeishuRateLimitError,
    FeishuServerError,
)
from airflow_provider_feishu.api.results import ReadStats
from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
BATCH_PATH = "/open-apis/im/v1/batch_messages/*"
SEND_PATH = "/open-apis/message/v4/batch_send/"


@pytest.fixture
def emu():
    with FeishuEmulator() as emulator:
        yield emulator


@pytest.fixture
def conn(emu, monkeypatch):
    """Point feishu_default at the emulator, with fast retries."""
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
    return emu


def some_open_ids(emu, n: int) -> list[str]:
    return [u["open_id"] for u in emu.users[:n]]


def send_batch(emu, n: int = 5) -> str:
    return (
        FeishuHook()
        .batch_send_message("text", content={"text": "hello"}, open_ids=some_open_ids(emu, n))
        .batch_message_id
    )


# --- tokens ----------------------------------------------------------------------------------


def test_fifty_hooks_in_a_row_fetch_one_token(conn):
    batch_id = send_batch(conn)
    for _ in range(50):  # as fifty pokes would, each with a new hook
        stats = FeishuHook().get_batch_message_read_user(batch_id)
        assert isinstance(stats, ReadStats)
    assert conn.request_count("tenant_access_token") == 1
    assert conn.request_count("read_user") == 50


def test_threads_share_one_token_fetch(conn):
    batch_id = send_batch(conn)
    errors: list[BaseException] = []

    def poke() -> None:
        try:
            FeishuHook().get_batch_message_read_user(batch_id)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=poke) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert conn.request_count("tenant_access_token") == 1


def test_cache_is_keyed_by_secret(conn, monkeypatch):
    FeishuHook().get_tenant_access_token()
    wrong = json.loads(conn.connection_json(extra=FAST_RETRIES))
    wrong["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WRONG", json.dumps(wrong))
    with pytest.raises(FeishuAuthError) as info:
        FeishuHook("feishu_wrong").get_tenant_access_token()
    assert info.value.code == 10014
    assert conn.request_count("tenant_access_token") == 2


def test_refused_credentials_name_the_connection(conn, monkeypatch):
    wrong = json.loads(conn.connection_json(extra=FAST_RETRIES))
    wrong["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WRONG", json.dumps(wrong))
    with pytest.raises(FeishuAuthError) as info:
        FeishuHook("feishu_wrong").get_batch_message_read_user("bm-" + "0" * 32)
    assert str(info.value).startswith("Feishu connection 'feishu_wrong': Feishu tenant_access_token failed: code=10014")
    assert info.value.code == 10014 and info.value.conn_id == "feishu_wrong"
    assert "not-the-secret" not in str(info.value)


def test_invalid_token_is_evicted_refetched_and_retried_once(conn):
    batch_id = send_batch(conn)
    conn.inject(BATCH_PATH, kind="expire_token")
    stats = FeishuHook().get_batch_message_read_user(batch_id)
    assert stats.total_count >= 0
    assert conn.request_count("tenant_access_token") == 2
    assert conn.request_count("read_user") == 2


def test_test_connection_always_asks_feishu_and_sends_nothing(conn):
    hook = FeishuHook()
    assert hook.test_connection()[0] is True
    ok, message = FeishuHook().test_connection()
    assert ok is True
    assert conn.app_id in message
    assert conn.request_count("tenant_access_token") == 2
    assert conn.request_count("batch_send") == 0
    assert conn.request_count("message_create") == 0


def test_test_connection_reports_a_wrong_secret_without_leaking_it(conn, monkeypatch):
    wrong = json.loads(conn.connection_json())
    wrong["password"] = "wrong-secret-value-123"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(wrong))
    ok, message = FeishuHook().test_connection()
    assert ok is False
    assert "10014" in message
    assert "wrong-secret-value-123" not in message


def test_test_connection_reports_a_bad_setting_without_the_connection_id(conn, monkeypatch):
    bad = json.loads(conn.connection_json())
    bad["extra"] = {"timeout": "soon"}
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(bad))
    ok, message = FeishuHook().test_connection()
    assert ok is False
    # Airflow's Test button tests a copy under a random id: the message must not name the id.
    assert message.startswith("Feishu connection: extra 'timeout' must be a number"), message
    assert "feishu_default" not in message


# --- calls -----------------------------------------------------------------------------------


def test_read_user_counts_are_ints_and_rise(conn):
    batch_id = send_batch(conn, 20)
    conn.advance(60)
    conn.mark_read(batch_id, count=5)
    stats = FeishuHook().get_batch_message_read_user(batch_id)
    assert stats.total_count == 20
    assert stats.read_count >= 5
    assert isinstance(stats.read_count, int)
    progress = FeishuHook().get_batch_message_progress(batch_id)
    assert progress.valid_user_ids_count == 20
    assert progress.read_user_ids_count == stats.read_count


def test_batch_send_reports_invalid_ids(conn):
    result = FeishuHook().batch_send_message(
        "text", content={"text": "hi"}, open_ids=[*some_open_ids(conn, 2), "ou_nobody"]
    )
    assert result.batch_message_id.startswith("bm-")
    assert result.invalid_open_ids == ("ou_nobody",)
    assert result.invalid_count == 1


def test_unknown_batch_id_fails_at_once_with_code_and_hint(conn):
    with pytest.raises(FeishuNotFoundError) as info:
        FeishuHook().get_batch_message_read_user("bm-0000")
    text = str(info.value)
    assert "230030" in text and "Hint:" in text and "log_id=" in text
    assert conn.request_count("read_user") == 1  # a business error is not retried


def test_other_apps_batch_is_not_ours(conn, monkeypatch):
    batch_id = send_batch(conn)
    other = conn.apps[1]["app_id"]
    monkeypatch.setenv("AIRFLOW_CONN_OTHER", conn.connection_json(app_id=other))
    with pytest.raises(FeishuNotSenderError):
        FeishuHook("other").get_batch_message_read_user(batch_id)


def test_path_ids_are_url_encoded(conn):
    with pytest.raises(FeishuNotFoundError):
        FeishuHook().get_batch_message_read_user("bm-x?y=1#z&w")
    assert conn.request_count("read_user") == 1  # the id stayed in the path, not a query string


def test_recall_send_message_and_urgent(conn):
    hook = FeishuHook()
    batch_id = send_batch(conn)
    hook.recall_batch_message(batch_id)
    assert conn.batch(batch_id)["recalled"]
    user = conn.users[0]["open_id"]
    sent = hook.send_message(user, "text", {"text": "ping"}, uuid="u-1")
    again = hook.send_message(user, "text", {"text": "ping"}, uuid="u-1")
    assert sent.message_id.startswith("om_") and again.message_id == sent.message_id
    assert len([m for m in conn.delivered(user) if m.get("source") == "im"]) == 1
    assert hook.urgent_app(sent.message_id, [user]).invalid_user_ids == ()


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "response", "status": 500, "code": 1},
        {"kind": "response", "status": 503},
        {"kind": "html_502"},
        {"kind": "empty_body", "status": 502},
        {"kind": "drop_after"},
        {"kind": "drop_before"},
    ],
    ids=lambda f: f"{f['kind']}-{f.get('status', '')}",
)
def test_reads_retry_transient_failures(conn, fault):
    batch_id = send_batch(conn)
    conn.inject(BATCH_PATH, times=2, **fault)
    FeishuHook().get_batch_message_read_user(batch_id)
    assert conn.request_count("read_user") == 3


def test_reads_honour_rate_limit_reset(conn, capsys):
    batch_id = send_batch(conn)
    conn.inject(
        BATCH_PATH, status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "1", "x-ogw-ratelimit-limit": "50"}
    )
    FeishuHook().get_batch_message_read_user(batch_id)
    assert conn.request_count("read_user") == 2
    assert "Retrying in 1." in capsys.readouterr().out  # Airflow's structlog writes to stdout


def test_reads_give_up_after_max_retries(conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn.connection_json(extra={**FAST_RETRIES, "max_retries": 2}))
    batch_id = send_batch(conn)
    conn.inject(BATCH_PATH, times=5, kind="html_502")
    with pytest.raises(FeishuProtocolError) as info:
        FeishuHook().get_batch_message_read_user(batch_id)
    assert conn.request_count("read_user") == 3
    assert info.value.http_status == 502 and "Bad Gateway" in info.value.snippet


def test_read_timeout_is_retried(conn):
    batch_id = send_batch(conn)
    conn.inject(BATCH_PATH, kind="delay", delay=1.0)
    FeishuHook(timeout=0.3).get_batch_message_read_user(batch_id)
    assert conn.request_count("read_user") == 2


@pytest.mark.parametrize("kind", ["drop_after", "html_502"])
def test_batch_send_is_never_resent_once_it_may_have_arrived(conn, kind):
    users = some_open_ids(conn, 3)
    conn.inject(SEND_PATH, kind=kind)
    with pytest.raises((FeishuConnectionError, FeishuProtocolError, FeishuServerError)):
        FeishuHook().batch_send_message("text", content={"text": "once"}, open_ids=users)
    assert conn.request_count("batch_send") == 1
    conn.advance(60)
    delivered = [m for m in conn.delivered(users[0]) if m.get("source") == "batch"]
    assert len(delivered) == (1 if kind == "drop_after" else 0)


def test_batch_send_retries_a_rate_limit(conn):
    users = some_open_ids(conn, 3)
    conn.inject(SEND_PATH, status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "0"})
    FeishuHook().batch_send_message("text", content={"text": "once"}, open_ids=users)
    assert conn.request_count("batch_send") == 2
    conn.advance(60)
    assert len([m for m in conn.delivered(users[0]) if m.get("source") == "batch"]) == 1


def test_message_with_uuid_is_retried_and_delivered_once(conn):
    user = conn.users[0]["open_id"]
    conn.inject("/open-apis/im/v1/messages", kind="drop_after")
    FeishuHook().send_message(user, "text", {"text": "once"}, uuid="retry-safe")
    assert conn.request_count("message_create") == 2
    assert len([m for m in conn.delivered(user) if m.get("source") == "im"]) == 1


def test_message_without_uuid_is_not_resent(conn):
    user = conn.users[0]["open_id"]
    conn.inject("/open-apis/im/v1/messages", kind="drop_after")
    with pytest.raises(FeishuConnectionError) as info:
        FeishuHook().send_message(user, "text", {"text": "once"})
    assert info.value.may_have_arrived
    assert conn.request_count("message_create") == 1


def test_connection_refused_is_retried_then_reported(monkeypatch):
    with FeishuEmulator() as emulator:
        conn_json = emulator.connection_json(extra={**FAST_RETRIES, "max_retries": 1})
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn_json)  # the emulator is gone: refused
    with pytest.raises(FeishuConnectionError) as info:
        FeishuHook().get_tenant_access_token()
    assert info.value.may_have_arrived is False
    assert "could not connect" in str(info.value)


def test_rate_limited_too_long_surfaces_as_rate_limit_error(conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn.connection_json(extra={**FAST_RETRIES, "max_retries": 0}))
    batch_id = send_batch(conn)
    conn.inject(BATCH_PATH, status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "7"})
    with pytest.raises(FeishuRateLimitError) as info:
        FeishuHook().get_batch_message_read_user(batch_id)
    assert info.value.retry_after == 7


# --- secrets ---------------------------------------------------------------------------------


def test_no_secret_or_token_in_logs_or_errors(conn, caplog, capsys):
    from airflow_provider_feishu.version_compat import redact

    batch_id = send_batch(conn)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        hook = FeishuHook()
        hook.get_batch_message_read_user(batch_id)
        conn.inject(BATCH_PATH, kind="expire_token")
        hook.get_batch_message_read_user(batch_id)
        conn.inject(BATCH_PATH, times=2, kind="html_502")
        hook.get_batch_message_read_user(batch_id)
        for bad in ("bm-missing", " "):
            try:
                hook.get_batch_message_read_user(bad)
            except Exception as err:
                texts.extend([str(err), repr(err)])
        texts.extend([repr(hook.config), repr(hook)])
    token = hook.get_tenant_access_token()
    captured = capsys.readouterr()
    haystack = "\n".join([caplog.text, captured.out, captured.err, *texts])
    assert len(texts) >= 4
    assert conn.app_secret not in haystack
    assert token not in haystack
    assert redact(token) == "***"  # registered with Airflow's masker


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conn_fields", "expected"),
    [
        ({"login": ""}, "login (App ID)"),
        ({"password": " "}, "password (App Secret)"),
        ({"host": None, "extra": {"domain": "weibo"}}, "extra 'domain'"),
        ({"host": "http://open.feishu.cn"}, "host"),
        ({"host": "https://user:pw@open.feishu.cn"}, "host"),
    ],
)
def test_bad_connection_fails_before_any_request(conn, monkeypatch, conn_fields, expected):
    fields = json.loads(conn.connection_json())
    fields.update(conn_fields)
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(fields))
    with pytest.raises(FeishuConfigError) as info:
        FeishuHook().get_batch_message_read_user("bm-1")
    assert "'feishu_default'" in str(info.value) and expected in str(info.value)
    assert conn.request_count("tenant_access_token") == 0


@pytest.mark.parametrize("bad_id", ["", "   ", None, " bm-1"])
def test_blank_ids_fail_before_any_request(conn, bad_id):
    with pytest.raises(FeishuConfigError, match="batch_message_id"):
        FeishuHook().get_batch_message_read_user(bad_id)
    assert conn.request_count("read_user") == 0


def test_uri_form_connection_with_string_extras(conn, monkeypatch):
    host_port = conn.base_url.removeprefix("http://")
    uri = f"feishu://{conn.app_id}:{conn.app_secret}@{host_port}/?timeout=5&max_retries=1&retry_base_delay=0.01"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_URI", uri)
    hook = FeishuHook("feishu_uri")
    assert hook.config.timeout == 5.0
    assert hook.config.retry.max_attempts == 2
    # A URI host carries no scheme: loopback hosts get http, every other host https.
    assert hook.config.base_url == f"http://{host_port}"
    assert hook.test_connection()[0] is True


def test_one_keep_alive_session_per_app(conn):
    hook = FeishuHook()
    batch_id = send_batch(conn)
    session = hook.get_conn()
    hook.get_batch_message_read_user(batch_id)
    hook.get_batch_message_progress(batch_id)
    assert hook.get_conn() is session
    assert FeishuHook().get_conn() is session  # every hook of the app in this process shares it
    hook.close()  # a shared session stays open for the others
    assert hook.get_conn() is session
    hook.get_batch_message_read_user(batch_id)


@pytest.mark.timeout(120)
def test_threads_of_one_app_share_the_rate_limit(emu, monkeypatch):
    """Eight threads with their own hooks stay under the limit together: no 429, no failure."""
    emu.set_rate_limits(per_second=20, per_minute=None)
    extra = {**FAST_RETRIES, "rate_limit_per_second": 20, "rate_limit_per_minute": 0}
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=extra))
    batch_id = send_batch(emu)
    failures: list[BaseException] = []

    def reader() -> None:
        hook = FeishuHook()
        for _ in range(10):
            try:
                hook.get_batch_message_read_user(batch_id)
            except BaseException as err:  # pragma: no cover - reported below
                failures.append(err)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert emu.request_count("read_user") == 80
    assert [entry for entry in emu.requests_log if entry[3] == 429] == []


def test_rate_limit_extras_configure_the_pacing(conn, monkeypatch):
    assert FeishuHook().config.rate_limits == ((50, 1.0), (1000, 60.0))
    monkeypatch.setenv(
        "AIRFLOW_CONN_FEISHU_DEFAULT",
        conn.connection_json(extra={"rate_limit_per_second": "0", "rate_limit_per_minute": "0"}),
    )
    assert FeishuHook().config.rate_limits == ()
