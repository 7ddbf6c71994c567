"""When to repeat a failed Feishu call, and how long to wait first.

One policy for every transport. It decides, without I/O, whether a failed attempt is tried again
and after how long (:meth:`RetryPolicy.after_failure`); the transports only sleep and repeat
(``hooks/retrying.py``: one loop for the sync hooks, one for the async client and webhook).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_feishu.api.errors import FeishuError, FeishuRateLimitError, certainly_not_processed


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; Feishu's ``x-ogw-ratelimit-reset`` wins on 429.

    ``max_attempts`` counts the first try. Reads retry on every retryable error; requests that
    are not idempotent (sends) retry only when Feishu certainly did not process them: a 429, or a
    connection that failed before the request went out.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_rate_limit_wait: float = 60.0

    def should_retry(self, exc: BaseException, *, idempotent: bool) -> bool:
        if not isinstance(exc, FeishuError) or not exc.retryable:
            return False
        return idempotent or certainly_not_processed(exc)

    def wait_seconds(self, exc: BaseException | None, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if isinstance(exc, FeishuRateLimitError) and exc.retry_after is not None:
            # Feishu says when the window resets; a little jitter spreads the herd that waits on it.
            return min(exc.retry_after, self.max_rate_limit_wait) + rand() * min(1.0, self.base_delay)
        # Cap the exponent: 2 ** 1024 does not fit a float (OverflowError) on very long retry runs.
        backoff = min(self.max_delay, self.base_delay * (2 ** min(max(attempt - 1, 0), 64)))
        return backoff / 2 + rand() * backoff / 2

    def after_failure(
        self, exc: BaseException, attempt: int, *, idempotent: bool, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before trying again after attempt ``attempt`` (1-based) raised ``exc``,
        or ``None`` when ``exc`` is final: not retryable, or the attempts are used up."""
        if attempt >= max(self.max_attempts, 1) or not self.should_retry(exc, idempotent=idempotent):
            return None
        return self.wait_seconds(exc, attempt, rand)

    def retry_message(self, exc: BaseException, wait: float, attempt: int) -> str:
        """The one warning logged before a retry: the error (secret-free by construction), the wait,
        and the number of the attempt to come."""
        return f"{exc} Retrying in {wait:.1f}s (attempt {attempt + 1} of {max(self.max_attempts, 1)})."
