"""RetryPolicy: what is retried (reads vs sends), how long to wait; and the transports' retry loops."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_feishu.api.errors import (
    FeishuAPIError,
    FeishuAuthError,
    FeishuBadRequestError,
    FeishuConfigError,
    FeishuConnectionError,
    FeishuError,
    FeishuNotFoundError,
    FeishuPermissionError,
    FeishuProtocolError,
    FeishuRateLimitError,
    FeishuServerError,
    FeishuTokenInvalidError,
    certainly_not_processed,
)
from airflow_provider_feishu.api.retry_policy import RetryPolicy
from airflow_provider_feishu.hooks.retrying import acall_with_retries, call_with_retries


def api(cls, **kw):
    return cls(api="read_user", code=kw.pop("code", 1), msg="m", http_status=kw.pop("http_status", 400), **kw)


def rate_limited(retry_after=None, **kw):
    return FeishuRateLimitError(api="x", code=99991400, msg="limit", http_status=429, retry_after=retry_after, **kw)


ERRORS = {
    "rate_limit": rate_limited(),
    "rate_limit_with_reset": rate_limited(retry_after=5),
    "daily_cap_11247": rate_limited(retryable=False),
    "server_5xx": api(FeishuServerError, http_status=502),
    "server_11246": api(FeishuServerError, code=11246),
    "protocol_502": api(FeishuProtocolError, code=None, http_status=502, snippet="Bad Gateway", retryable=True),
    "protocol_200": api(FeishuProtocolError, code=None, http_status=200, snippet="", retryable=False),
    "conn_before_send": FeishuConnectionError("read_user", "connection refused", may_have_arrived=False),
    "conn_maybe_arrived": FeishuConnectionError("read_user", "read timeout", may_have_arrived=True),
    "auth": api(FeishuAuthError, code=10014),
    "token_invalid": api(FeishuTokenInvalidError, code=99991663),
    "permission": api(FeishuPermissionError, code=99991672),
    "not_found": api(FeishuNotFoundError, code=230030),
    "bad_request": api(FeishuBadRequestError, code=230001),
    "unknown_code": api(FeishuAPIError, code=1234567),
    "config": FeishuConfigError("bad id"),
    "value_error": ValueError("not ours"),
    "key_error": KeyError("not ours"),
    "os_error": OSError("not ours"),
}

RETRY_READS = {
    "rate_limit",
    "rate_limit_with_reset",
    "server_5xx",
    "server_11246",
    "protocol_502",
    "conn_before_send",
    "conn_maybe_arrived",
}
RETRY_SENDS = {"rate_limit", "rate_limit_with_reset", "conn_before_send"}


@pytest.mark.parametrize("name", sorted(ERRORS))
@pytest.mark.parametrize("idempotent", [True, False])
def test_should_retry(name, idempotent):
    expected = name in (RETRY_READS if idempotent else RETRY_SENDS)
    assert RetryPolicy().should_retry(ERRORS[name], idempotent=idempotent) is expected


# --- wait_seconds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "max_wait", "rand", "expected"),
    [
        (5, 60, 0.0, 5.0),
        (5, 60, 0.999, 5.999),
        (0, 60, 0.0, 0.0),
        (52, 60, 0.5, 52.5),
        (120, 60, 0.0, 60.0),  # capped at max_rate_limit_wait
        (86399, 10, 0.25, 10.25),
    ],
)
def test_wait_uses_retry_after_capped(retry_after, max_wait, rand, expected):
    policy = RetryPolicy(max_rate_limit_wait=max_wait, base_delay=1.0)
    wait = policy.wait_seconds(rate_limited(retry_after=retry_after), attempt=3, rand=lambda: rand)
    assert wait == pytest.approx(expected)


def test_rate_limit_jitter_bounded_by_base_delay():
    policy = RetryPolicy(base_delay=0.1)
    assert policy.wait_seconds(rate_limited(retry_after=2), 1, rand=lambda: 1.0) == pytest.approx(2.1)


def test_rate_limit_without_reset_backs_off_exponentially():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert policy.wait_seconds(rate_limited(), attempt=3, rand=lambda: 1.0) == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "backoff"),
    [
        (0, 1.0, 30.0, 1.0),
        (1, 1.0, 30.0, 1.0),
        (2, 1.0, 30.0, 2.0),
        (3, 1.0, 30.0, 4.0),
        (5, 1.0, 30.0, 16.0),
        (6, 1.0, 30.0, 30.0),  # 32 capped at max_delay
        (50, 1.0, 30.0, 30.0),
        (2000, 1.0, 30.0, 30.0),  # a very long run must not overflow a float
        (4, 0.5, 100.0, 4.0),
        (3, 0.01, 0.05, 0.04),
        (10, 0.0, 30.0, 0.0),
    ],
)
@pytest.mark.parametrize("exc", [ERRORS["server_5xx"], ERRORS["conn_before_send"], None])
def test_backoff_is_capped_and_jittered(attempt, base, cap, backoff, exc):
    policy = RetryPolicy(base_delay=base, max_delay=cap)
    low = policy.wait_seconds(exc, attempt, rand=lambda: 0.0)
    high = policy.wait_seconds(exc, attempt, rand=lambda: 1.0)
    mid = policy.wait_seconds(exc, attempt, rand=lambda: 0.5)
    assert low == pytest.approx(backoff / 2)
    assert high == pytest.approx(backoff)
    assert mid == pytest.approx(backoff * 0.75)


@pytest.mark.parametrize("attempt", [1, 2, 4, 8])
def test_backoff_with_real_random_stays_in_bounds(attempt):
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    backoff = min(5.0, 2 ** (attempt - 1))
    waits = [policy.wait_seconds(ERRORS["server_5xx"], attempt) for _ in range(200)]
    assert all(backoff / 2 <= w <= backoff for w in waits)
    assert len(set(waits)) > 1  # jittered, not constant


# --- tenacity --------------------------------------------------------------------------------


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(policy: RetryPolicy, fn: Flaky, *, idempotent: bool, logger=None):
    sleeps: list[float] = []
    return call_with_retries(fn, policy=policy, idempotent=idempotent, log=logger, sleep=sleeps.append), sleeps


def arun(policy: RetryPolicy, fn: Flaky, *, idempotent: bool, logger=None):
    sleeps: list[float] = []

    async def attempt() -> str:
        return fn()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    result = asyncio.run(acall_with_retries(attempt, policy=policy, idempotent=idempotent, log=logger, sleep=sleep))
    return result, sleeps


LOOPS = pytest.mark.parametrize("loop", [run, arun], ids=["sync", "async"])


@LOOPS
@pytest.mark.parametrize("max_attempts", [1, 2, 3, 5])
def test_stops_after_max_attempts_and_reraises_last_error(loop, max_attempts):
    errors = [api(FeishuServerError, http_status=500 + i) for i in range(10)]
    fn = Flaky(*errors)
    with pytest.raises(FeishuServerError) as info:
        loop(RetryPolicy(max_attempts=max_attempts), fn, idempotent=True)
    assert fn.calls == max_attempts
    assert info.value is errors[max_attempts - 1]  # the last error itself, not a wrapper


@pytest.mark.parametrize("max_attempts", [1, 2, 3, 5])
def test_sleeps_once_between_attempts(max_attempts):
    fn = Flaky(*[api(FeishuServerError, http_status=500)] * (max_attempts - 1))
    result, sleeps = run(RetryPolicy(max_attempts=max_attempts), fn, idempotent=True)
    assert result == "ok"
    assert len(sleeps) == max_attempts - 1


@LOOPS
def test_zero_max_attempts_still_tries_once(loop):
    fn = Flaky(ERRORS["server_5xx"])
    with pytest.raises(FeishuServerError):
        loop(RetryPolicy(max_attempts=0), fn, idempotent=True)
    assert fn.calls == 1


@pytest.mark.parametrize(
    ("errors", "idempotent", "calls", "outcome"),
    [
        ((), True, 1, "ok"),
        ((ERRORS["server_5xx"], ERRORS["protocol_502"]), True, 3, "ok"),
        ((ERRORS["conn_maybe_arrived"],), True, 2, "ok"),
        ((ERRORS["rate_limit"],) * 4, True, 5, "ok"),
        ((ERRORS["bad_request"],), True, 1, FeishuBadRequestError),
        ((ERRORS["server_5xx"], ERRORS["not_found"]), True, 2, FeishuNotFoundError),
        ((ERRORS["value_error"],), True, 1, ValueError),
        ((ERRORS["daily_cap_11247"],), True, 1, FeishuRateLimitError),
        # sends
        ((ERRORS["rate_limit"], ERRORS["conn_before_send"]), False, 3, "ok"),
        ((ERRORS["conn_maybe_arrived"],), False, 1, FeishuConnectionError),
        ((ERRORS["server_5xx"],), False, 1, FeishuServerError),
        ((ERRORS["protocol_502"],), False, 1, FeishuProtocolError),
        ((ERRORS["rate_limit"], ERRORS["server_5xx"]), False, 2, FeishuServerError),
    ],
)
@LOOPS
def test_attempt_counts(loop, errors, idempotent, calls, outcome):
    fn = Flaky(*errors)
    policy = RetryPolicy(max_attempts=5)
    if outcome == "ok":
        result, sleeps = loop(policy, fn, idempotent=idempotent)
        assert result == "ok"
        assert len(sleeps) == calls - 1
    else:
        with pytest.raises(outcome):
            loop(policy, fn, idempotent=idempotent)
    assert fn.calls == calls


@LOOPS
def test_sleeps_follow_the_policy(loop):
    fn = Flaky(rate_limited(retry_after=7), ERRORS["server_5xx"], ERRORS["server_5xx"], ERRORS["server_5xx"])
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=3.0, max_rate_limit_wait=60.0)
    result, sleeps = loop(policy, fn, idempotent=True)
    assert result == "ok"
    assert len(sleeps) == 4
    assert 7.0 <= sleeps[0] <= 8.0  # x-ogw-ratelimit-reset plus at most base_delay of jitter
    assert 1.0 <= sleeps[1] <= 2.0  # attempt 2: backoff 2
    assert 1.5 <= sleeps[2] <= 3.0  # attempt 3: backoff 4 capped at 3
    assert 1.5 <= sleeps[3] <= 3.0


@LOOPS
def test_each_retry_logs_one_warning(loop):
    class Recorder:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def warning(self, fmt: str, *args: object) -> None:
            self.lines.append(fmt % args if args else fmt)

    recorder = Recorder()
    fn = Flaky(ERRORS["server_5xx"], ERRORS["server_5xx"])
    result, sleeps = loop(RetryPolicy(max_attempts=4), fn, idempotent=True, logger=recorder)
    assert result == "ok"
    assert len(recorder.lines) == 2
    assert recorder.lines[0].endswith(f"Retrying in {sleeps[0]:.1f}s (attempt 2 of 4).")
    assert "attempt 3 of 4" in recorder.lines[1]


def test_no_logger_no_warning_and_a_final_error_is_not_logged():
    lines: list[str] = []

    class Recorder:
        def warning(self, msg: str) -> None:
            lines.append(msg)

    result, _ = run(RetryPolicy(max_attempts=3), Flaky(ERRORS["server_5xx"]), idempotent=True)
    assert result == "ok"
    with pytest.raises(FeishuBadRequestError):
        run(RetryPolicy(max_attempts=3), Flaky(ERRORS["bad_request"]), idempotent=True, logger=Recorder())
    assert lines == []  # a final error propagates; only retries are logged


def test_after_failure_is_the_whole_decision():
    policy = RetryPolicy(max_attempts=3, base_delay=2.0, max_delay=8.0)
    assert policy.after_failure(ERRORS["server_5xx"], 3, idempotent=True) is None  # attempts used up
    assert policy.after_failure(ERRORS["bad_request"], 1, idempotent=True) is None  # not retryable
    assert policy.after_failure(ERRORS["server_5xx"], 1, idempotent=False) is None  # a send may have arrived
    assert policy.after_failure(ERRORS["server_5xx"], 2, idempotent=True, rand=lambda: 1.0) == 4.0
    assert policy.after_failure(ERRORS["server_5xx"], 2, idempotent=True, rand=lambda: 0.0) == 2.0


#: Failures after which Feishu certainly did not act: it refused with a business code, or nothing left.
NOT_PROCESSED = set(ERRORS) - {"server_5xx", "server_11246", "protocol_502", "protocol_200", "conn_maybe_arrived"}
NOT_PROCESSED -= {"value_error", "key_error", "os_error"}  # not ours: nothing is known


@pytest.mark.parametrize("name", ERRORS)
def test_certainly_not_processed_is_the_send_rule(name):
    # One rule decides for the retry policy (a send is retried) and for the send operators (their
    # durable record is dropped, so a later try may send): a retryable error that Feishu certainly
    # did not act on.
    exc = ERRORS[name]
    assert certainly_not_processed(exc) is (name in NOT_PROCESSED)
    retryable = isinstance(exc, FeishuError) and exc.retryable
    assert RetryPolicy().should_retry(exc, idempotent=False) is (retryable and name in NOT_PROCESSED)
