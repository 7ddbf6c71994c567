"""FeishuReadThresholdTrigger driven directly (asyncio.wait_for) against the emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel
from airflow_provider_feishu.triggers.batch_read import FeishuReadThresholdTrigger

FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "max_rate_limit_wait": 0.2}
BATCH_PATH = "/open-apis/im/v1/batch_messages/*"
# Nobody reads unless the test says so; delivery is done 6 emulated seconds after sending.
QUIET = ReadingModel(never_read_fraction=1.0, schedule_delay=1.0, delivery_seconds=5.0)


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator(reading=QUIET) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


def send_batch(emu: FeishuEmulator, n: int = 20, conn_id: str = "feishu_default") -> str:
    ids = [u["open_id"] for u in emu.users[:n]]
    return FeishuHook(conn_id).batch_send_message("text", content={"text": "hi"}, open_ids=ids).batch_message_id


def make_trigger(bid: str, *, threshold: float = 0.8, seconds: float = 5.0, **kwargs) -> FeishuReadThresholdTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    return FeishuReadThresholdTrigger(
        batch_message_id=bid, threshold=threshold, deadline=time.time() + seconds, **kwargs
    )


async def first_event(trigger: FeishuReadThresholdTrigger, timeout: float = 20.0) -> dict:
    events = trigger.run()
    event = await asyncio.wait_for(events.__anext__(), timeout)
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()  # exactly one event
    return event.payload


def run(coro):
    return asyncio.run(coro)


def test_reached_when_reads_rise_during_the_wait(emu):
    bid = send_batch(emu, 20)
    emu.advance(10)  # scheduled and delivered, nobody has read yet

    async def scenario():
        async def readers():
            for _ in range(4):
                await asyncio.sleep(0.1)
                emu.mark_read(bid, count=4)

        reading = asyncio.create_task(readers())
        payload = await first_event(make_trigger(bid))
        await reading
        return payload

    payload = run(scenario())
    assert payload["status"] == "reached"
    assert payload["read_count"] >= 16 and payload["total_count"] == 20
    assert payload["ratio"] >= 0.8
    assert payload["reached_at"].endswith("+00:00")
    assert payload["message"].startswith(f"read {payload['read_count']}/20")


def test_not_reached_before_the_batch_is_scheduled(emu):
    # Before scheduling get_progress says 0 valid recipients: even a "read" must not count.
    bid = send_batch(emu, 20)
    payload = run(first_event(make_trigger(bid, threshold=0.05, seconds=0.5)))
    assert payload["status"] == "deadline"
    assert "not scheduled" in payload["message"]


def test_early_partial_total_is_not_reached(emu):
    bid = send_batch(emu, 20)
    emu.advance(1.5)  # scheduled; only part delivered
    emu.mark_read(bid, count=3)
    snap = emu.batch(bid)["progress"]
    assert snap["success_user_ids_count"] < 20
    payload = run(first_event(make_trigger(bid, threshold=0.5, seconds=0.4)))
    assert payload["status"] == "deadline"
    assert payload["total_count"] == 20
    assert payload["read_count"] == 3


def test_deadline_ends_the_wait_on_time(emu):
    bid = send_batch(emu, 20)
    emu.advance(10)
    started = time.monotonic()
    payload = run(first_event(make_trigger(bid, seconds=1.0, poll_interval=0.2)))
    elapsed = time.monotonic() - started
    assert payload["status"] == "deadline"
    assert payload["read_count"] == 0 and payload["total_count"] == 20
    assert "Deadline" in payload["message"] and "read 0/20 (0.0%), need 80%" in payload["message"]
    assert 0.9 <= elapsed < 3.0


def test_deadline_already_passed_still_reports_one_check(emu):
    bid = send_batch(emu, 10)
    emu.advance(10)
    emu.mark_read(bid, count=10)
    payload = run(first_event(make_trigger(bid, seconds=-5)))
    assert payload["status"] == "reached"


def test_exponential_backoff_spacing(emu, monkeypatch):
    bid = send_batch(emu, 10)
    emu.advance(10)
    trigger = make_trigger(bid, seconds=2.0, poll_interval=0.05, exponential_backoff=True, max_poll_interval=0.4)
    checks: list[float] = []
    original = trigger._check

    async def timed_check(client):
        checks.append(time.monotonic())
        return await original(client)

    monkeypatch.setattr(trigger, "_check", timed_check)
    assert run(first_event(trigger))["status"] == "deadline"
    gaps = [b - a for a, b in itertools.pairwise(checks)]
    expected = [min(0.05 * 2**i, 0.4) for i in range(len(gaps))]
    for gap, want in list(zip(gaps, expected, strict=True))[:-1]:  # the last sleep is cut by the deadline
        assert want * 0.95 <= gap <= want * 1.1 + 0.15
    assert len(checks) <= 9  # 0.05+0.1+0.2+0.4+0.4+0.4+0.4... within 2 s: not a hot loop


def test_transient_errors_back_off_not_hot_loop(emu):
    bid = send_batch(emu, 10)
    emu.advance(10)
    emu.inject(BATCH_PATH, times=None, kind="html_502")
    payload = run(first_event(make_trigger(bid, seconds=1.5, poll_interval=0.05)))
    assert payload["status"] == "deadline"
    assert payload["read_count"] is None
    assert "no successful read check" in payload["message"]
    # 5 attempts per check (4 retries), checks spaced 0.1, 0.2, 0.4, 0.8 s... : a few dozen at most
    assert emu.request_count("get_progress") < 40


@pytest.mark.parametrize(
    ("code", "status", "error_class_words"),
    [
        (230030, 400, "230030"),
        (230027, 400, "230027"),
        (99991672, 400, "99991672"),
        (230001, 400, "230001"),
    ],
)
def test_permanent_error_ends_the_wait_with_an_error_event(emu, code, status, error_class_words):
    bid = send_batch(emu, 10)
    emu.advance(10)
    emu.inject(BATCH_PATH, times=None, code=code, status=status, msg="injected")
    started = time.monotonic()
    payload = run(first_event(make_trigger(bid, seconds=10)))
    assert time.monotonic() - started < 2.0
    assert payload["status"] == "error"
    assert error_class_words in payload["message"]
    assert "Hint:" in payload["message"]


def test_unknown_and_expired_ids_are_not_found(emu):
    payload = run(first_event(make_trigger("bm-" + "0" * 32, seconds=10)))
    assert payload["status"] == "error" and "230030" in payload["message"]
    bid = send_batch(emu, 5)
    emu.advance(31 * 86400)  # read_user can only see the last 30 days
    payload = run(first_event(make_trigger(bid, seconds=10)))
    assert payload["status"] == "error" and "30 days" in payload["message"]


def test_another_apps_batch_is_not_sender(emu, monkeypatch):
    other = emu.apps[1]["app_id"]
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_OTHER", emu.connection_json(app_id=other, extra=FAST_RETRIES))
    bid = send_batch(emu, 5, conn_id="feishu_other")
    payload = run(first_event(make_trigger(bid, seconds=10)))
    assert payload["status"] == "error" and "230012" in payload["message"]
    assert "App ID" in payload["message"]


def test_bad_credentials_and_missing_connection(emu, monkeypatch):
    conn = json.loads(emu.connection_json(extra=FAST_RETRIES))
    conn["password"] = "wrong-secret-value"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(conn))
    payload = run(first_event(make_trigger("bm-" + "1" * 32, seconds=10)))
    assert payload["status"] == "error" and "10014" in payload["message"]
    assert "wrong-secret-value" not in json.dumps(payload)
    conn["password"] = ""
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(conn))
    payload = run(first_event(make_trigger("bm-" + "1" * 32, seconds=10)))
    assert payload["status"] == "error" and "App Secret" in payload["message"]
    monkeypatch.delenv("AIRFLOW_CONN_FEISHU_DEFAULT")
    payload = run(first_event(make_trigger("bm-" + "1" * 32, seconds=10)))
    assert payload["status"] == "error" and "feishu_default" in payload["message"]


def test_429_storm_recovers(emu):
    bid = send_batch(emu, 10)
    emu.advance(10)
    emu.mark_read(bid, count=9)
    # more 429s than one check's retries: the trigger backs off and tries again
    emu.inject(BATCH_PATH, times=8, status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "0"})
    payload = run(first_event(make_trigger(bid, seconds=10)))
    assert payload["status"] == "reached"
    assert payload["read_count"] == 9


def test_expired_token_mid_wait_is_refreshed_once(emu):
    bid = send_batch(emu, 10)
    emu.advance(10)
    tokens_before = emu.request_count("tenant_access_token")

    async def scenario():
        async def expire_then_read():
            while emu.request_count("read_user") < 2:
                await asyncio.sleep(0.01)
            emu.inject("/open-apis/im/v1/batch_messages/*", kind="expire_token")
            while emu.request_count("read_user") < 5:
                await asyncio.sleep(0.01)
            emu.mark_read(bid, count=10)

        helper = asyncio.create_task(expire_then_read())
        payload = await first_event(make_trigger(bid, seconds=10))
        await helper
        return payload

    payload = run(scenario())
    assert payload["status"] == "reached"
    assert emu.request_count("tenant_access_token") == tokens_before + 1


def test_serialize_round_trips_without_secrets(emu):
    trigger = make_trigger("bm-abc", threshold=0.75, min_read_count=3, exponential_backoff=True)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_feishu.triggers.batch_read.FeishuReadThresholdTrigger"
    text = json.dumps(kwargs)  # plain JSON values only
    assert emu.app_secret not in text and "password" not in text and "token" not in text
    assert kwargs["feishu_conn_id"] == "feishu_default"
    clone = FeishuReadThresholdTrigger(**kwargs)
    assert clone.serialize() == (path, kwargs)


def test_invalid_arguments_fail_fast():
    with pytest.raises(ValueError, match="threshold"):
        make_trigger("bm-x", threshold=1.5)
    with pytest.raises(ValueError, match="poll_interval"):
        make_trigger("bm-x", poll_interval=0)


@pytest.mark.timeout(120, method="thread")
def test_two_hundred_triggers_stay_under_the_rate_limit(emu):
    """200 deferred waits of one app in one loop: the shared pacers keep each API under 50/s."""
    bids = [send_batch(emu, 10) for _ in range(4)]
    emu.advance(10)
    for bid in bids:
        emu.mark_read(bid, count=9)
    before = len(emu.requests_log)

    async def scenario():
        triggers = [make_trigger(bids[i % 4], seconds=60, poll_interval=0.5) for i in range(200)]
        return await asyncio.gather(*(first_event(t, timeout=90) for t in triggers))

    started = time.monotonic()
    payloads = run(scenario())
    elapsed = time.monotonic() - started
    assert all(p["status"] == "reached" for p in payloads)
    wait_log = emu.requests_log[before:]
    statuses = [entry[3] for entry in wait_log]
    assert statuses.count(429) == 0
    assert len(wait_log) >= 400  # get_progress + read_user for each trigger
    # Feishu limits each API separately: 200 get_progress and 200 read_user calls, each at
    # <= 50 per second, cannot finish faster than ~3 s.
    assert elapsed >= 3.0


# --- arguments and timing the mutation audit found unpinned -----------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"deadline": float("nan")}, "deadline"),
        ({"deadline": float("inf")}, "deadline"),
        ({"deadline": "soon"}, "deadline"),
        ({"deadline": 1.0, "poll_interval": float("nan")}, "poll_interval"),
        ({"deadline": 1.0, "poll_interval": float("inf")}, "poll_interval"),
        ({"deadline": 1.0, "max_poll_interval": float("nan")}, "max_poll_interval"),
        ({"deadline": 1.0, "max_poll_interval": -5}, "max_poll_interval"),
    ],
)
def test_non_finite_times_are_refused(kwargs, name):
    # A NaN deadline compares false with every time: the wait built with it never ended.
    with pytest.raises(ValueError, match=name):
        FeishuReadThresholdTrigger(batch_message_id="bm-x", threshold=0.5, **kwargs)


def test_the_sleep_is_cut_at_the_deadline(emu):
    """A 600 s poll interval with 1 s left: the deadline event comes in about a second, not ten minutes."""
    bid = send_batch(emu, 10)
    emu.advance(10)
    started = time.monotonic()
    payload = run(first_event(make_trigger(bid, seconds=1.0, poll_interval=600), timeout=20))
    assert payload["status"] == "deadline"
    assert time.monotonic() - started < 10


def test_one_error_doubles_the_next_wait():
    trigger = make_trigger("bm-x", poll_interval=10, max_poll_interval=10_000)
    for error_streak, factor in ((0, 1), (1, 2), (2, 4), (3, 8)):
        interval = trigger.next_interval(1, error_streak)
        assert 10 * factor <= interval <= 10 * factor * 1.1, (error_streak, interval)


def test_the_error_back_off_is_reset_by_a_good_check(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra={**FAST_RETRIES, "max_retries": 0}))
    bid = send_batch(emu, 10)
    emu.advance(10)
    emu.inject(BATCH_PATH, times=2, kind="html_502")  # the first two checks fail, the rest succeed
    trigger = make_trigger(bid, seconds=1.5, poll_interval=0.02)
    streaks: list[int] = []
    original = trigger.next_interval

    def recorded(polls: int, error_streak: int) -> float:
        streaks.append(error_streak)
        return original(polls, error_streak)

    monkeypatch.setattr(trigger, "next_interval", recorded)
    assert run(first_event(trigger))["status"] == "deadline"
    assert streaks[:2] == [1, 2]
    assert len(streaks) > 3 and set(streaks[2:]) == {0}


def test_wrong_port_warns_with_url_and_the_deadline_carries_the_last_error(unreachable_connection, capfd, caplog):
    unreachable = unreachable_connection.url
    bid = "bm-" + "3" * 32
    payload = run(first_event(make_trigger(bid, seconds=0.4)))
    assert payload["status"] == "deadline"
    message = payload["message"]
    assert "no successful read check; last error: Feishu tenant_access_token failed: could not connect" in message
    assert unreachable in message
    out, err = capfd.readouterr()
    logs = "\n".join([out, err, caplog.text])
    warnings = [line for line in logs.splitlines() if "could not connect" in line]
    assert warnings and all(bid in w and unreachable in w for w in warnings)
    assert unreachable_connection.secret not in json.dumps(payload) + logs
