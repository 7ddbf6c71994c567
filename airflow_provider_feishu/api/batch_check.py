"""The batch read check, written once with no I/O: which request to make next, given what is known.

A batch message's readers are judged by :class:`~airflow_provider_feishu.threshold.ReadThreshold`
from two answers: get_progress's ``valid_user_ids_count`` (0 until Feishu has scheduled the batch)
and read_user's counts. The recipient count does not change once the batch is scheduled, so
:class:`BatchReadTracker` asks get_progress only until it is known; after that a check is one
read_user call. Each :meth:`BatchReadTracker.check` is a generator of
:class:`~airflow_provider_feishu.api.endpoints.ApiRequest` objects that is sent each result and
returns a :class:`~airflow_provider_feishu.threshold.ReadVerdict`. The sensor and the wait operator
drive it with ``FeishuHook.run_steps``, the trigger with ``AsyncFeishuClient.run_steps``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.paging import Steps
from airflow_provider_feishu.api.results import BatchProgress, ReadStats
from airflow_provider_feishu.threshold import ReadThreshold, ReadVerdict


class BatchReadTracker:
    """What a wait on a batch message knows so far, and the check that learns more.

    :param batch_message_id: the ``bm-...`` id returned by batch_send.
    :param rule: the threshold to judge each snapshot with.
    :param valid_user_ids_count: the recipient count an earlier check learnt (0: not known yet),
        e.g. carried between reschedule-mode pokes, so the batch is not asked about again.
    """

    def __init__(self, batch_message_id: str, rule: ReadThreshold, *, valid_user_ids_count: int = 0) -> None:
        self.batch_message_id = batch_message_id
        self.rule = rule
        self.valid_user_ids_count = valid_user_ids_count

    @property
    def scheduled(self) -> bool:
        """Whether Feishu is known to have scheduled the batch (its recipient count is known)."""
        return self.valid_user_ids_count > 0

    def state(self) -> dict[str, Any]:
        """What this tracker learnt, as JSON (for a later poke)."""
        return {"valid_user_ids_count": self.valid_user_ids_count}

    def check(self) -> Steps[ReadVerdict]:
        """The requests of one snapshot: get_progress until the batch is scheduled, then read_user."""
        if not self.scheduled:
            progress: BatchProgress = yield endpoints.get_progress_request(self.batch_message_id)
            self.valid_user_ids_count = progress.valid_user_ids_count
        stats: ReadStats = yield endpoints.read_user_request(self.batch_message_id)
        return self.rule.judge(stats.read_count, stats.total_count, self.valid_user_ids_count)
