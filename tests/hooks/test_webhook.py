"""FeishuWebhookHook over real HTTP against the emulator's custom-bot webhooks on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import threading
import time

import pytest

from airflow_provider_feishu.api.errors import (
    FeishuAuthError,
    FeishuBadRequestError,
    FeishuConfigError,
    FeishuConnectionError,
    FeishuProtocolError,
    FeishuRateLimitError,
    FeishuServerError,
)
from airflow_provider_feishu.api.webhook import sign, split_webhook_reference, webhook_request
from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook, WebhookPacer, webhook_config_from_connection
from airflow_provider_feishu.testing import FeishuEmulator

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
HOOK_PATH = "/open-apis/bot/v2/hook/*"
PLAIN, SIGNED, KEYWORD = 0, 1, 2


@pytest.fixture
def emu():
    with FeishuEmulator() as emulator:
        yield emulator


def hook_entry(emu, index: int) -> dict:
    return emu.tenant["webhooks"][index]


def set_webhook_conn(monkeypatch, conn_id: str = "feishu_webhook_default", **conn) -> None:
    conn.setdefault("conn_type", "feishu_webhook")
    extra = conn.setdefault("extra", {})
    for key, value in FAST_RETRIES.items():
        extra.setdefault(key, value)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def signed(emu, monkeypatch):
    """feishu_webhook_default -> the emulator's signed bot (URL in password, secret in extra)."""
    set_webhook_conn(monkeypatch, password=emu.webhook_url(SIGNED), extra={"secret": hook_entry(emu, SIGNED)["secret"]})
    return emu


@pytest.fixture
def plain(emu, monkeypatch):
    """feishu_webhook_default -> the emulator's unsigned bot, as a bare token plus host."""
    set_webhook_conn(monkeypatch, password=hook_entry(emu, PLAIN)["token"], host=emu.base_url)
    return emu


# --- signing -----------------------------------------------------------------------------------


def independent_sign(timestamp: int, secret: str) -> str:
    """Feishu's recipe written out again: HMAC-SHA256, key "<ts>\\n<secret>", empty message, base64."""
    key = (str(timestamp) + "\n" + secret).encode("utf-8")
    return base64.standard_b64encode(hmac.new(key, msg=b"", digestmod=hashlib.sha256).digest()).decode()


# Computed once with openssl, independently of Python:
#   printf '' | openssl dgst -sha256 -hmac "$(printf '1716283459\nd6d5c0b753ecf5102b32')" -binary | base64
KNOWN_VECTORS = [
    (1716283459, "d6d5c0b753ecf5102b32", "ETBPwe6UN9DiZZOMVD/DPPhLnvFVGJDyWQju8mhdNYA="),
    (1599360473, "demo-secret-1234", "3426nUDBhGcZ5yvnswXIRXpeB2Tl2dGoe3xChA+ifmw="),
]


@pytest.mark.parametrize(("timestamp", "secret", "expected"), KNOWN_VECTORS)
def test_sign_matches_fixed_vectors(timestamp, secret, expected):
    assert sign(timestamp, secret) == expected
    assert sign(str(timestamp), secret) == expected
    assert independent_sign(timestamp, secret) == expected


@pytest.mark.parametrize("timestamp", [0, 1, 1700000000, 4102444800])
@pytest.mark.parametrize("secret", ["s", "SEC-with-ünïcode", "a" * 64, "line\nbreak"])
def test_sign_matches_independent_implementation(timestamp, secret):
    assert sign(timestamp, secret) == independent_sign(timestamp, secret)


def test_signed_body_has_timestamp_and_sign_at_top_level():
    request = webhook_request(
        "tok-12345678", {"msg_type": "text", "content": {"text": "hi"}}, secret="demo-secret-1234", timestamp=1599360473
    )
    assert request.json == {
        "timestamp": "1599360473",
        "sign": "3426nUDBhGcZ5yvnswXIRXpeB2Tl2dGoe3xChA+ifmw=",
        "msg_type": "text",
        "content": {"text": "hi"},
    }
    assert request.method == "POST" and request.path == "/open-apis/bot/v2/hook/tok-12345678"
    assert not request.auth and not request.idempotent
    assert "tok-12345678" not in repr(request) and "demo-secret" not in repr(request)


def test_unsigned_body_has_no_signing_fields():
    request = webhook_request("tok-12345678", {"msg_type": "text", "content": {"text": "hi"}})
    assert request.json == {"msg_type": "text", "content": {"text": "hi"}}


def test_signed_send_uses_current_seconds(signed):
    before = int(time.time())
    FeishuWebhookHook().send_text("signed hello")
    assert [m["content"] for m in signed.webhook_messages()] == [{"text": "signed hello"}]
    assert int(signed.now()) - before <= 2  # emulator accepted a timestamp in seconds, now-ish


# --- message shapes ----------------------------------------------------------------------------


def test_text_with_mentions_exact_shape(signed):
    FeishuWebhookHook().send_text("deploy done", at_user_ids=["ou_aaa", "ou_bbb"], at_all=True)
    (message,) = signed.webhook_messages()
    assert message["msg_type"] == "text"
    assert message["content"] == {
        "text": '<at user_id="ou_aaa"></at> <at user_id="ou_bbb"></at> <at user_id="all">所有人</at> deploy done'
    }
    assert message["chat_id"] == hook_entry(signed, SIGNED)["chat_id"]


def test_card_exact_shape(plain):
    FeishuWebhookHook().send_card("Load failed", ["**table** orders", "[log](http://x/log)"], template="red")
    FeishuWebhookHook().send_card("One block", "just *markdown*")
    first, second = plain.webhook_messages()
    assert first["msg_type"] == "interactive"
    assert first["content"] == {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": "Load failed"}, "template": "red"},
        "elements": [
            {"tag": "div", "text": {"tag": "lark_md", "content": "**table** orders"}},
            {"tag": "div", "text": {"tag": "lark_md", "content": "[log](http://x/log)"}},
        ],
    }
    assert second["content"]["header"]["template"] == "blue"
    assert second["content"]["elements"] == [{"tag": "div", "text": {"tag": "lark_md", "content": "just *markdown*"}}]


def test_send_raw_post_payload(plain):
    post = {"zh_cn": {"title": "T", "content": [[{"tag": "text", "text": "x"}, {"tag": "at", "user_id": "all"}]]}}
    FeishuWebhookHook().send({"msg_type": "post", "content": {"post": post}})
    assert plain.webhook_messages()[0]["content"] == {"post": post}


@pytest.mark.parametrize(
    "payload",
    [
        {"msg_type": "text", "content": '{"text": "a JSON string is the im/v1 shape"}'},
        {"msg_type": "interactive", "content": {"elements": []}},
        {"msg_type": "bogus", "content": {"text": "x"}},
        {"msg_type": "text", "content": {"text": "x"}, "sign": "forged"},
        ["not", "a", "dict"],
    ],
)
def test_bad_payload_refused_before_any_request(plain, payload):
    with pytest.raises(FeishuConfigError):
        FeishuWebhookHook().send(payload)
    assert plain.request_count("webhook") == 0


# --- error codes -------------------------------------------------------------------------------


def test_19001_unknown_token(emu, monkeypatch):
    set_webhook_conn(monkeypatch, password=emu.base_url + "/open-apis/bot/v2/hook/00000000-dead-beef-0000-000000000000")
    with pytest.raises(FeishuAuthError) as info:
        FeishuWebhookHook().send_text("x")
    assert info.value.code == 19001
    assert "copy the bot's webhook URL again" in str(info.value)
    assert "00000000-dead-beef" not in str(info.value)
    assert emu.request_count("webhook") == 1  # not retried


def test_19021_wrong_secret(emu, monkeypatch):
    set_webhook_conn(monkeypatch, password=emu.webhook_url(SIGNED), extra={"secret": "not-the-secret"})
    with pytest.raises(FeishuAuthError) as info:
        FeishuWebhookHook().send_text("x")
    assert info.value.code == 19021
    assert "signing secret" in info.value.hint and "clock" in info.value.hint
    assert emu.webhook_messages() == [] and emu.request_count("webhook") == 1


def test_19021_missing_secret_on_signed_bot(emu, monkeypatch):
    set_webhook_conn(monkeypatch, password=emu.webhook_url(SIGNED))
    with pytest.raises(FeishuAuthError, match="code=19021"):
        FeishuWebhookHook().send_text("x")


def test_19021_timestamp_older_than_an_hour(signed):
    import requests

    secret = hook_entry(signed, SIGNED)["secret"]
    stale = int(time.time()) - 2 * 3600  # correctly signed, but two hours old in real time
    body = {"timestamp": str(stale), "sign": sign(stale, secret), "msg_type": "text", "content": {"text": "x"}}
    assert requests.post(signed.webhook_url(SIGNED), json=body, timeout=5).json()["code"] == 19021
    fresh = int(time.time())
    body = {**body, "timestamp": str(fresh), "sign": sign(fresh, secret)}
    assert requests.post(signed.webhook_url(SIGNED), json=body, timeout=5).json()["code"] == 0
    assert len(signed.webhook_messages()) == 1


def test_signatures_are_checked_against_real_time_on_a_sped_up_emulator(monkeypatch):
    # --speed 100000: the emulated clock runs more than an hour ahead within a fraction of a second,
    # as an emulated day does with --speed 60; signed posts carry real time and must still pass.
    with FeishuEmulator(speed=100_000.0) as fast:
        set_webhook_conn(
            monkeypatch, password=fast.webhook_url(SIGNED), extra={"secret": hook_entry(fast, SIGNED)["secret"]}
        )
        fast.advance(2 * 3600)
        assert fast.now() - time.time() > 3600
        FeishuWebhookHook().send_text("signed on a fast clock")
        assert [m["content"] for m in fast.webhook_messages()] == [{"text": "signed on a fast clock"}]


def test_19024_keyword_missing_then_present(emu, monkeypatch):
    set_webhook_conn(monkeypatch, password=emu.webhook_url(KEYWORD))
    with pytest.raises(FeishuBadRequestError) as info:
        FeishuWebhookHook().send_text("no key word here")
    assert info.value.code == 19024
    assert "keyword" in info.value.hint
    FeishuWebhookHook().send_text("sent by airflow")
    assert [m["content"]["text"] for m in emu.webhook_messages()] == ["sent by airflow"]


def test_9499_bad_body(plain):
    plain.inject(HOOK_PATH, status=200, code=9499, msg="Bad Request")
    with pytest.raises(FeishuBadRequestError) as info:
        FeishuWebhookHook().send_text("x")
    assert info.value.code == 9499 and "malformed" in info.value.hint
    assert plain.request_count("webhook") == 1


def test_11232_is_retried_because_it_was_refused_before_processing(plain):
    plain.inject(HOOK_PATH, times=2, status=200, code=11232, msg="frequency limited")
    FeishuWebhookHook().send_text("eventually")
    assert plain.request_count("webhook") == 3
    assert len(plain.webhook_messages()) == 1


def test_11232_gives_up_with_a_webhook_hint(emu, monkeypatch):
    set_webhook_conn(monkeypatch, password=emu.webhook_url(PLAIN), extra={"max_retries": 2})
    emu.inject(HOOK_PATH, times=None, status=200, code=11232, msg="frequency limited")
    with pytest.raises(FeishuRateLimitError) as info:
        FeishuWebhookHook().send_text("x")
    assert info.value.code == 11232
    assert "5 per second, 100 per minute" in info.value.hint
    assert info.value.__context__ is None
    assert emu.request_count("webhook") == 3 and emu.webhook_messages() == []


def test_http_429_is_retried(plain):
    plain.inject(HOOK_PATH, times=1, status=429, code=99991400, msg="request trigger frequency limit")
    FeishuWebhookHook().send_text("after 429")
    assert plain.request_count("webhook") == 2 and len(plain.webhook_messages()) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [({"status": 500, "code": 1234, "msg": "boom"}, FeishuServerError), ({"kind": "html_502"}, FeishuProtocolError)],
)
def test_5xx_is_not_resent(plain, fault, error):
    """A 5xx may come after processing (a gateway timing out on a slow Feishu): never re-sent."""
    plain.inject(HOOK_PATH, times=1, **fault)
    with pytest.raises(error):
        FeishuWebhookHook().send_text("x")
    assert plain.request_count("webhook") == 1


# --- never re-sent after it may have arrived ---------------------------------------------------


def test_dropped_after_processing_is_not_resent(signed):
    signed.inject(HOOK_PATH, kind="drop_after")
    with pytest.raises(FeishuConnectionError) as info:
        FeishuWebhookHook().send_text("exactly once")
    assert info.value.may_have_arrived
    assert "webhook of connection 'feishu_webhook_default'" in str(info.value)
    assert [m["content"]["text"] for m in signed.webhook_messages()] == ["exactly once"]
    assert signed.request_count("webhook") == 1


def test_dropped_connection_is_ambiguous_so_not_resent_even_if_unprocessed(signed):
    """From the client a drop after sending looks the same whether or not Feishu processed it."""
    signed.inject(HOOK_PATH, kind="drop_before")
    with pytest.raises(FeishuConnectionError) as info:
        FeishuWebhookHook().send_text("lost")
    assert info.value.may_have_arrived
    assert signed.request_count("webhook") == 1 and signed.webhook_messages() == []


def test_refused_connection_is_retried_then_raised(monkeypatch):
    with FeishuEmulator() as emu:
        url = emu.webhook_url(PLAIN)
    set_webhook_conn(monkeypatch, password=url, extra={"max_retries": 1})  # nobody listens there now
    with pytest.raises(FeishuConnectionError) as info:
        FeishuWebhookHook().send_text("x")
    assert not info.value.may_have_arrived
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_read_timeout_is_not_resent(plain, monkeypatch):
    set_webhook_conn(monkeypatch, password=plain.webhook_url(PLAIN), extra={"timeout": 0.3})
    plain.inject(HOOK_PATH, kind="delay", delay=1.0)
    with pytest.raises(FeishuConnectionError) as info:
        FeishuWebhookHook().send_text("slow")
    assert info.value.may_have_arrived
    time.sleep(0.9)
    assert plain.request_count("webhook") == 1


# --- pacing ------------------------------------------------------------------------------------


def test_concurrent_threads_stay_under_five_per_second(emu, monkeypatch):
    """Twelve threads, one bot, max_retries=0: any 11232 from the emulator would fail a thread."""
    set_webhook_conn(monkeypatch, password=emu.webhook_url(PLAIN), extra={"max_retries": 0})
    errors: list[BaseException] = []

    def post(i: int) -> None:
        try:
            FeishuWebhookHook().send_text(f"burst {i}")
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    started = time.monotonic()
    threads = [threading.Thread(target=post, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - started
    assert errors == []
    assert len(emu.webhook_messages()) == 12
    assert elapsed >= 2.0  # 5 now, 5 after ~1.2 s, 2 after ~2.4 s


def test_pacer_schedule_without_sleeping_much():
    pacer = WebhookPacer(per_second=3, per_minute=100, slack=0.0)
    delays = [pacer._delay() for _ in range(7)]
    assert all(d <= 0 for d in delays[:3])
    assert all(0.9 < d <= 1.0 for d in delays[3:6])
    assert 1.9 < delays[6] <= 2.0


def test_async_pacer_does_not_block_the_loop():
    pacer = WebhookPacer(per_second=1, per_minute=100, slack=0.0)

    async def main() -> tuple[float, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        await pacer.await_turn()
        waited = await pacer.await_turn()
        task.cancel()
        return waited, ticks

    waited, ticks = asyncio.run(main())
    assert waited > 0.8 and ticks >= 10


# --- async -------------------------------------------------------------------------------------


def test_async_send_and_async_errors(signed):
    async def main() -> None:
        hook = FeishuWebhookHook()
        await hook.asend({"msg_type": "text", "content": {"text": "from the loop"}})
        signed.inject(HOOK_PATH, kind="drop_after")
        with pytest.raises(FeishuConnectionError) as info:
            await hook.asend({"msg_type": "text", "content": {"text": "dropped"}})
        assert info.value.may_have_arrived and info.value.__context__ is None

    asyncio.run(main())
    assert [m["content"]["text"] for m in signed.webhook_messages()] == ["from the loop", "dropped"]
    assert signed.request_count("webhook") == 2


def test_async_wrong_secret(emu, monkeypatch):
    set_webhook_conn(monkeypatch, password=emu.webhook_url(SIGNED), extra={"secret": "wrong-secret"})
    with pytest.raises(FeishuAuthError, match="code=19021"):
        asyncio.run(FeishuWebhookHook().asend({"msg_type": "text", "content": {"text": "x"}}))


# --- connection parsing and test_connection ----------------------------------------------------


class Conn:
    def __init__(self, password=None, host=None, port=None, extra=None, conn_id="hooky"):
        self.conn_id, self.password, self.host, self.port, self.login = conn_id, password, host, port, None
        self.extra_dejson = extra or {}


TOKEN = "a1b2c3d4-e5f6-7890-abcd-ef0123456789"


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        (Conn(f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"), "https://open.feishu.cn"),
        (Conn(f"https://open.larksuite.com/open-apis/bot/v2/hook/{TOKEN}/"), "https://open.larksuite.com"),
        (Conn(TOKEN), "https://open.feishu.cn"),
        (Conn(TOKEN, extra={"domain": "lark"}), "https://open.larksuite.com"),
        (Conn(TOKEN, extra={"extra__feishu_webhook__domain": "lark"}), "https://open.larksuite.com"),
        (Conn(TOKEN, host="127.0.0.1", port=8765), "http://127.0.0.1:8765"),
        (Conn(f"http://127.0.0.1:9/open-apis/bot/v2/hook/{TOKEN}", host="ignored.example.com"), "http://127.0.0.1:9"),
    ],
)
def test_config_shapes(conn, base_url):
    config = webhook_config_from_connection(conn)
    assert config.base_url == base_url and config.token == TOKEN and not config.signed


def test_config_reads_secret_plain_and_legacy():
    assert webhook_config_from_connection(Conn(TOKEN, extra={"secret": " s3cr3t-value "})).secret == "s3cr3t-value"
    legacy = Conn(TOKEN, extra={"extra__feishu_webhook__secret": "s3cr3t-value"})
    assert webhook_config_from_connection(legacy).secret == "s3cr3t-value"


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (f"http://hooks.example.com/open-apis/bot/v2/hook/{TOKEN}", "must be https"),
        (f"https://open.feishu.cn/open-apis/im/v1/{TOKEN}", "path starts with /open-apis/bot/v2/hook/"),
        (f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}?x=1", "query"),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/", "valid webhook token"),
        ("has spaces and/slashes " + TOKEN, "neither a webhook URL"),
    ],
)
def test_config_errors_name_the_field_but_never_echo_the_password(password, expected):
    with pytest.raises(FeishuConfigError) as info:
        webhook_config_from_connection(Conn(password))
    text = str(info.value)
    assert "'hooky'" in text and "password" in text and expected in text
    assert TOKEN not in text


def test_split_reference():
    assert split_webhook_reference(TOKEN) == (None, TOKEN)
    assert split_webhook_reference(f" https://h.example/open-apis/bot/v2/hook/{TOKEN} ") == ("https://h.example", TOKEN)


def test_test_connection_posts_nothing(signed):
    ok, message = FeishuWebhookHook().test_connection()
    assert ok
    assert signed.base_url in message and "signed" in message and "Nothing was sent" in message
    assert hook_entry(signed, SIGNED)["token"] not in message
    assert signed.requests_log == [] and signed.request_count("webhook") == 0


def test_test_connection_reports_bad_config_and_missing_connection(monkeypatch):
    set_webhook_conn(monkeypatch, password="")
    ok, message = FeishuWebhookHook().test_connection()
    assert not ok and "is empty" in message
    ok, message = FeishuWebhookHook(feishu_webhook_conn_id="no_such_webhook_conn").test_connection()
    assert not ok and "no_such_webhook_conn" in message


def test_hook_attributes():
    assert FeishuWebhookHook.conn_type == "feishu_webhook"
    assert FeishuWebhookHook.conn_name_attr == "feishu_webhook_conn_id"
    assert FeishuWebhookHook.default_conn_name == "feishu_webhook_default"
    with pytest.raises(FeishuConfigError):
        FeishuWebhookHook(feishu_webhook_conn_id="")


# --- secrets never leak ------------------------------------------------------------------------


def test_token_and_secret_never_in_logs_errors_or_reprs(emu, monkeypatch, caplog, capsys):
    token, secret = hook_entry(emu, SIGNED)["token"], hook_entry(emu, SIGNED)["secret"]
    set_webhook_conn(monkeypatch, password=emu.webhook_url(SIGNED), extra={"secret": secret})
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts: list[str] = []
    hook = FeishuWebhookHook()
    hook.send_text("ok")
    asyncio.run(hook.asend({"msg_type": "text", "content": {"text": "ok async"}}))
    for fault in ({"kind": "drop_after"}, {"status": 200, "code": 19021, "msg": f"echo {token} {secret}"}):
        emu.inject(HOOK_PATH, **fault)
        with pytest.raises(Exception) as info:
            FeishuWebhookHook().send_text("boom")
        texts += [str(info.value), repr(info.value), str(info.value.args)]
    texts += [repr(hook), repr(hook.config), str(hook.config), str(hook.test_connection())]
    texts += [repr(webhook_request(token, {"msg_type": "text", "content": {"text": "x"}}, secret=secret))]
    texts += [r.getMessage() for r in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    blob = "\n".join(texts)
    assert "Posted a message" in blob  # the logs were captured at all
    assert "/open-apis/bot/v2/hook" in blob or "POST" in blob  # HTTP client debug lines were captured too
    assert token not in blob
    assert secret not in blob
    assert emu.webhook_url(SIGNED) not in blob


def test_form_behaviour_matches_provider_info_when_registered():
    from airflow_provider_feishu.get_provider_info import FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR, get_provider_info

    behaviour = FeishuWebhookHook.get_ui_field_behaviour()
    assert behaviour == FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR
    assert "password" not in behaviour["hidden-fields"] and "host" not in behaviour["hidden-fields"]
    entries = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "feishu_webhook"]
    if entries:  # registered by the maintainer in get_provider_info.py
        (entry,) = entries
        assert entry["hook-class-name"] == "airflow_provider_feishu.hooks.webhook.FeishuWebhookHook"
        assert entry["ui-field-behaviour"] == behaviour
        assert entry["conn-fields"]["secret"]["schema"]["format"] == "password"
