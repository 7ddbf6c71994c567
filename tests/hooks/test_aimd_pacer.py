"""The adaptive pacer: each process learns its share of one app's quota from Feishu's answers.

The core (:class:`AimdLimits`) is pure and clock-injected, so these tests drive it with a fake clock
against a model of Feishu's fixed windows, with 1, 3 and 10 processes sharing one quota.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from airflow_provider_feishu.hooks.rate_limit import (
    AIMD_DECREASE,
    AimdLimits,
    AsyncAimdPacer,
    ThreadAimdPacer,
    shared_pacer,
    shared_thread_pacer,
)

WINDOWS = ((50, 1.0), (1000, 60.0))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FixedWindowQuota:
    """Feishu's quota as the emulator models it: fixed 1 s and 60 s windows per app and API."""

    def __init__(self, clock: FakeClock, per_second: int = 50, per_minute: int = 1000) -> None:
        self.clock = clock
        self.limits = (per_second, per_minute)
        self.starts = [-1e9, -1e9]
        self.counts = [0, 0]

    def answer(self) -> tuple[int, dict[str, str]]:
        now = self.clock()
        for i, period in enumerate((1.0, 60.0)):
            if now - self.starts[i] >= period:
                self.starts[i], self.counts[i] = now, 0
        for i, period in enumerate((1.0, 60.0)):
            if self.counts[i] >= self.limits[i]:
                reset = max(1, int(self.starts[i] + period - now + 0.999))
                return 429, {"x-ogw-ratelimit-limit": str(self.limits[i]), "x-ogw-ratelimit-reset": str(reset)}
        self.counts[0] += 1
        self.counts[1] += 1
        return 200, {}


def simulate(processes: int, seconds: float, latency: float = 0.02, **kwargs) -> dict[str, list]:
    """``processes`` pacers with unlimited demand against one quota; answers after ``latency``."""
    clock = FakeClock()
    quota = FixedWindowQuota(clock)
    cores = [AimdLimits(WINDOWS, slack=0.0, clock=clock, **kwargs) for _ in range(processes)]
    ok_at: list[float] = []
    refused_at: list[float] = []
    while clock.now < seconds:
        # the process whose next request may go first sends it; its answer comes `latency` later
        slots = [core.next_slot()[0] for core in cores]
        first = min(range(processes), key=slots.__getitem__)
        clock.now = max(clock.now, slots[first])
        ticket = cores[first].send()
        status, headers = quota.answer()
        (ok_at if status == 200 else refused_at).append(clock.now)
        saved = clock.now
        clock.now += latency
        cores[first].answered(ticket, status, headers)
        clock.now = saved
    return {"ok": ok_at, "refused": refused_at, "limits": [core.limits for core in cores]}


def after(times: list[float], start: float) -> int:
    return sum(1 for t in times if t >= start)


@pytest.mark.parametrize("processes", [1, 3])
def test_processes_learn_their_share_few_429s_and_most_of_the_quota(processes):
    result = simulate(processes, seconds=420)
    ok, refused = after(result["ok"], 60), after(result["refused"], 60)
    minutes = (420 - 60) / 60
    assert refused / (ok + refused) < 0.01  # 429s under 1% after the first minute
    assert ok / (minutes * 1000) >= 0.85  # the quota used at 85% or more
    # and never over the quota: the fixed windows refused the excess, the pacers learned
    assert ok <= minutes * 1000 + 1000


def test_one_process_alone_never_sees_a_429():
    result = simulate(1, seconds=200)
    assert result["refused"] == []
    assert result["limits"][0] == (50.0, 1000.0)  # stays at the configured limits


def test_ten_processes_still_share_without_a_429_storm():
    result = simulate(10, seconds=420)
    ok, refused = after(result["ok"], 60), after(result["refused"], 60)
    assert refused / (ok + refused) < 0.05
    assert ok / (6 * 1000) >= 0.75
    shares = [limits[1] for limits in result["limits"]]
    assert sum(shares) < 1500  # the ten minute limits add up to about the quota, not 10x it


def test_a_429_cuts_the_window_it_names_to_what_was_sent_and_pauses_until_the_reset():
    clock = FakeClock()
    core = AimdLimits(WINDOWS, slack=0.0, clock=clock)
    tickets = []
    for _ in range(100):
        clock.now = core.next_slot()[0]
        tickets.append(core.send())
        core.answered(tickets[-1], 200, {})
    sent_in_minute = 100
    clock.now += 0.01
    last = core.send()
    core.answered(last, 429, {"x-ogw-ratelimit-limit": "1000", "x-ogw-ratelimit-reset": "7"})
    per_second, per_minute = core.limits
    assert per_second == 50.0  # not the window Feishu named
    assert per_minute == pytest.approx(AIMD_DECREASE * (sent_in_minute + 1))
    assert core.paused_until == pytest.approx(clock.now + 7)
    assert core.next_slot()[0] >= clock.now + 7
    # a second 429 of a request sent before the cut does not cut again (one cut per episode)
    core.answered(tickets[-1], 429, {"x-ogw-ratelimit-limit": "1000", "x-ogw-ratelimit-reset": "7"})
    assert core.limits[1] == per_minute


def test_the_reset_names_the_window_when_the_limit_header_is_missing():
    clock = FakeClock()
    core = AimdLimits(WINDOWS, slack=0.0, clock=clock)
    for _ in range(40):
        clock.now = core.next_slot()[0]
        core.answered(core.send(), 200, {})
    core.answered(core.send(), 429, {"x-ogw-ratelimit-reset": "1"})
    assert core.limits[0] < 50 and core.limits[1] == 1000.0
    # an older API's 400 with the rate-limit headers counts as a 429 (Feishu docs: rate limiting)
    clock.now += 5
    core.answered(core.send(), 400, {"X-Ogw-Ratelimit-Reset": "30"})
    assert core.limits[1] < 1000.0


def test_clean_answers_grow_the_limit_back_to_the_ceiling_not_beyond():
    clock = FakeClock()
    core = AimdLimits(((10, 1.0),), slack=0.0, clock=clock)
    for _ in range(10):
        clock.now = core.next_slot()[0]
        core.answered(core.send(), 200, {})
    core.answered(core.send(), 429, {"x-ogw-ratelimit-reset": "1"})
    cut = core.limits[0]
    assert cut < 10
    grown = []
    for _ in range(2000):
        clock.now = core.next_slot()[0]
        core.answered(core.send(), 200, {})
        grown.append(core.limits[0])
    assert grown == sorted(grown)  # additive increase only
    assert grown[-1] == 10.0


def test_a_pinned_share_never_moves_but_still_honours_the_reset():
    clock = FakeClock()
    core = AimdLimits(WINDOWS, static_share=0.25, slack=0.0, clock=clock)
    assert core.limits == (12.5, 250.0)
    core.answered(core.send(), 429, {"x-ogw-ratelimit-reset": "3"})
    for _ in range(100):
        clock.now = core.next_slot()[0]
        core.answered(core.send(), 200, {})
    assert core.limits == (12.5, 250.0)
    with pytest.raises(ValueError, match="static_share"):
        AimdLimits(WINDOWS, static_share=1.5)


def test_an_even_pace_and_the_log_keeps_every_window():
    clock = FakeClock()
    core = AimdLimits(((5, 1.0),), slack=0.0, clock=clock)
    sent = []
    for _ in range(20):
        slot, decider = core.next_slot()
        assert decider is None
        clock.now = slot
        ticket = core.send()
        sent.append(ticket.sent_at)
        clock.now += 0.3  # slow answers: the window counts from the answer
        core.answered(ticket, 200, {})
        clock.now = ticket.sent_at
    # An even pace of period / limit: any k + 1 sends span at least k - 1/2 gaps (the half gap of
    # tolerance that lets a request catch up after a late one), so no burst.
    for i, j in itertools.combinations(range(len(sent)), 2):
        assert sent[j] - sent[i] >= (j - i - 0.5) * 0.2 - 1e-9
    for i in range(5, 20):
        assert sent[i] >= sent[i - 5] + 0.3 + 1.0 - 1e-9  # the 5th previous answered a period before


def test_lateness_does_not_add_up():
    clock = FakeClock()
    core = AimdLimits(((10, 1.0),), slack=0.0, clock=clock)  # one request per 0.1 s
    sent = []
    for _ in range(50):
        clock.now = core.next_slot()[0] + 0.02  # every send goes 20 ms late (a busy machine)
        sent.append(core.send().sent_at)
        core.answered(core.windows[0].log[-1], 200, {})
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert rate > 9.5  # without the tolerance: 1 / 0.12 s = 8.3 per second


def test_an_unanswered_request_decides_the_slot():
    clock = FakeClock()
    core = AimdLimits(((1, 1.0),), slack=0.0, clock=clock)
    first = core.send()
    assert core.next_slot()[1] is first
    clock.now = 0.5
    core.answered(first, None, None)  # no answer (dropped): counts as over now, teaches nothing
    assert core.next_slot() == (1.5, None)
    assert core.limits == (1.0,)


@pytest.mark.timeout(30)
def test_async_pacer_waits_for_the_deciding_answer_and_serves_in_order():
    order: list[int] = []

    async def scenario() -> None:
        pacer = AsyncAimdPacer(AimdLimits(((2, 0.05),), slack=0.0))

        async def worker(i: int) -> None:
            done = await pacer.acquire()
            order.append(i)
            await asyncio.sleep(0.01)
            done(200, {})

        tasks = []
        for i in range(8):
            tasks.append(asyncio.create_task(worker(i)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert pacer.core.limits == (2.0,)

    asyncio.run(scenario())
    assert order == list(range(8))


@pytest.mark.timeout(30)
def test_thread_pacer_lets_threads_take_turns_and_learns_from_a_429():
    pacer = ThreadAimdPacer(AimdLimits(((20, 1.0),), slack=0.0))
    sent: list[int] = []

    def worker() -> None:
        for _ in range(5):
            done = pacer.acquire()
            sent.append(1)
            done(200, {})

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 20
    done = pacer.acquire()
    done(429, {"x-ogw-ratelimit-reset": "1"})
    assert pacer.core.limits[0] < 20
    done(429, {"x-ogw-ratelimit-reset": "1"})  # reported twice: counted once
    assert pacer.core.rate_limited == 1


def test_shared_pacers_are_per_app_api_and_share():
    async def scenario():
        return (
            shared_pacer("http://127.0.0.1:1/", "cli_a", "read_user"),
            shared_pacer("http://127.0.0.1:1", "cli_a", "read_user"),
            shared_pacer("http://127.0.0.1:1", "cli_a", "get_progress"),
            shared_pacer("http://127.0.0.1:1", "cli_a", "read_user", WINDOWS, 0.5),
        )

    a, b, c, d = asyncio.run(scenario())
    assert a is b and a is not c and a is not d
    assert d.core.limits == (25.0, 500.0)
    t1 = shared_thread_pacer("http://127.0.0.1:1", "cli_a", "read_user", WINDOWS)
    assert t1 is shared_thread_pacer("http://127.0.0.1:1/", "cli_a", "read_user", WINDOWS)
    assert t1 is not shared_thread_pacer("http://127.0.0.1:1", "cli_b", "read_user", WINDOWS)


# --- wired into the transports: the answers reach the pacer -------------------------------------


@pytest.fixture
def tight_emulator(monkeypatch):
    """An emulator whose per-second limit (5/s) is far below the connection's (50/s): a process
    that believed the configured limit must learn its real share from the 429s."""
    from airflow_provider_feishu.hooks.token_cache import TOKEN_CACHE
    from airflow_provider_feishu.testing import FeishuEmulator

    with FeishuEmulator() as emu:
        emu.set_rate_limits(per_second=5, per_minute=None)
        fast = {"retry_base_delay": 0.05, "retry_max_delay": 0.2, "max_retries": 8, "rate_limit_per_minute": 0}
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=fast))
        TOKEN_CACHE.clear()
        yield emu


def batch_of(emu) -> str:
    from airflow_provider_feishu.hooks.feishu import FeishuHook

    users = [u["open_id"] for u in emu.users[:3]]
    return FeishuHook().batch_send_message("text", content={"text": "x"}, open_ids=users).batch_message_id


@pytest.mark.timeout(120)
def test_the_sync_hook_reports_429s_to_its_pacer(tight_emulator):
    from airflow_provider_feishu.hooks.feishu import FeishuHook

    emu = tight_emulator
    bid = batch_of(emu)
    hook = FeishuHook()
    for _ in range(30):
        hook.get_batch_message_read_user(bid)  # no failure: 429s are retried after the reset
    pacer = shared_thread_pacer(hook.config.base_url, hook.config.app_id, "read_user", hook.config.rate_limits)
    refused = [entry for entry in emu.requests_log if entry[3] == 429]
    assert refused and pacer.core.rate_limited == len(refused)
    assert pacer.core.limits[0] < 50  # it learnt that its share of the per-second quota is smaller


@pytest.mark.timeout(120)
def test_the_async_client_reports_429s_to_its_pacer(tight_emulator):
    from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient

    emu = tight_emulator
    bid = batch_of(emu)

    async def scenario():
        async with await AsyncFeishuClient.from_conn_id("feishu_default", share_rate_limit=True) as client:
            await asyncio.gather(*(client.get_batch_message_read_user(bid) for _ in range(30)))
            config = client.config
            return shared_pacer(config.base_url, config.app_id, "read_user", config.rate_limits)

    pacer = asyncio.run(scenario())
    refused = [entry for entry in emu.requests_log if entry[3] == 429]
    assert refused and pacer.core.rate_limited == len(refused)
    assert pacer.core.limits[0] < 50
