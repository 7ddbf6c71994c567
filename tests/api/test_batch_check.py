"""The sans-IO batch read check, driven by a scripted Feishu (no I/O)."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_feishu.api.batch_check import BatchReadTracker
from airflow_provider_feishu.api.errors import FeishuConfigError, FeishuServerError
from airflow_provider_feishu.api.paging import adrive, drive
from airflow_provider_feishu.api.results import BatchProgress, ReadStats
from airflow_provider_feishu.threshold import ReadThreshold

BID = "bm-" + "a" * 32


class ScriptedBatch:
    """Answers get_progress / read_user from its fields, and records what was asked."""

    def __init__(self, valid: int = 0, read: int = 0, delivered: int = 0) -> None:
        self.valid, self.read, self.delivered = valid, read, delivered
        self.asked: list[str] = []
        self.fail_next: Exception | None = None

    def call(self, request):
        self.asked.append(request.name)
        assert request.path.startswith(f"/open-apis/im/v1/batch_messages/{BID}/")
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err
        if request.name == "get_progress":
            return BatchProgress(self.valid, self.delivered, self.read)
        assert request.name == "read_user"
        return ReadStats(self.read, self.delivered)


def test_get_progress_only_until_the_batch_is_scheduled():
    feishu = ScriptedBatch()
    tracker = BatchReadTracker(BID, ReadThreshold(0.5))
    verdict = drive(tracker.check(), feishu.call)
    assert feishu.asked == ["get_progress", "read_user"]
    assert not verdict.reached and not verdict.scheduled and not tracker.scheduled
    feishu.asked.clear()
    feishu.valid, feishu.delivered, feishu.read = 10, 4, 4  # scheduled, partly delivered, all of those read
    verdict = drive(tracker.check(), feishu.call)
    assert feishu.asked == ["get_progress", "read_user"]
    assert tracker.state() == {"valid_user_ids_count": 10}
    assert (verdict.read_count, verdict.total_count, verdict.delivered_count) == (4, 10, 4)
    assert not verdict.reached  # 4 of 10 recipients, not 4 of the 4 delivered so far
    feishu.asked.clear()
    feishu.delivered, feishu.read = 10, 5
    verdict = drive(tracker.check(), feishu.call)
    assert feishu.asked == ["read_user"]  # the recipient count does not change once scheduled
    assert verdict.reached and verdict.describe() == "read 5/10 (50.0%), need 50%: reached"


def test_a_count_learnt_earlier_skips_get_progress():
    feishu = ScriptedBatch(valid=20, read=3, delivered=20)
    tracker = BatchReadTracker(BID, ReadThreshold(0.8), valid_user_ids_count=20)
    verdict = drive(tracker.check(), feishu.call)
    assert feishu.asked == ["read_user"]
    assert (verdict.read_count, verdict.total_count) == (3, 20)


def test_a_failed_read_user_keeps_what_get_progress_taught():
    feishu = ScriptedBatch(valid=6, read=1, delivered=6)
    tracker = BatchReadTracker(BID, ReadThreshold(0.5))
    steps = tracker.check()
    assert next(steps).name == "get_progress"
    assert steps.send(BatchProgress(6, 6, 1)).name == "read_user"
    steps.close()  # the transport gave up (e.g. a timeout) before read_user answered
    assert tracker.scheduled
    feishu.fail_next = FeishuServerError(api="read_user", code=None, msg="502", http_status=502)
    with pytest.raises(FeishuServerError):
        drive(tracker.check(), feishu.call)
    assert feishu.asked == ["read_user"] and tracker.state() == {"valid_user_ids_count": 6}


def test_async_and_sync_drivers_agree():
    sync_feishu, async_feishu = ScriptedBatch(valid=8, read=6, delivered=8), ScriptedBatch(valid=8, read=6, delivered=8)

    async def call(request):
        return async_feishu.call(request)

    rule = ReadThreshold(0.75)
    sync_verdict = drive(BatchReadTracker(BID, rule).check(), sync_feishu.call)
    async_verdict = asyncio.run(adrive(BatchReadTracker(BID, rule).check(), call))
    assert sync_verdict == async_verdict and sync_verdict.reached
    assert sync_feishu.asked == async_feishu.asked == ["get_progress", "read_user"]


def test_a_bad_id_is_refused_before_any_request():
    feishu = ScriptedBatch()
    with pytest.raises(FeishuConfigError, match="batch_message_id"):
        drive(BatchReadTracker(" bm-x", ReadThreshold(0.5)).check(), feishu.call)
    assert feishu.asked == []
