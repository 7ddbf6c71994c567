"""When to repeat a failed Feishu call, and how long to wait first.

One policy for the sync hook and the async trigger: both hand it to tenacity (``Retrying`` and
``AsyncRetrying``) through :func:`tenacity_kwargs`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from airflow_provider_feishu.api.errors import FeishuConnectionError, FeishuError, FeishuRateLimitError


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
        if idempotent:
            return True
        if isinstance(exc, FeishuRateLimitError):
            return True  # rejected at the gateway, before any processing
        return isinstance(exc, FeishuConnectionError) and not exc.may_have_arrived

    def wait_seconds(self, exc: BaseException | None, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if isinstance(exc, FeishuRateLimitError) and exc.retry_after is not None:
            # Feishu says when the window resets; a little jitter spreads the herd that waits on it.
            return min(exc.retry_after, self.max_rate_limit_wait) + rand() * min(1.0, self.base_delay)
        # Cap the exponent: 2 ** 1024 does not fit a float (OverflowError) on very long retry runs.
        backoff = min(self.max_delay, self.base_delay * (2 ** min(max(attempt - 1, 0), 64)))
        return backoff / 2 + rand() * backoff / 2


def tenacity_kwargs(
    policy: RetryPolicy,
    *,
    idempotent: bool,
    logger: Any = None,
) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` that apply ``policy``.

    With a ``logger``, each retry logs one warning: the error (secret-free by construction), the
    wait and the attempt number.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return policy.wait_seconds(exc, state.attempt_number)

    kwargs: dict[str, Any] = {
        "stop": stop_after_attempt(max(policy.max_attempts, 1)),
        "wait": wait,
        "retry": retry_if_exception(lambda e: policy.should_retry(e, idempotent=idempotent)),
        "reraise": True,
    }
    if logger is not None:

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            sleep = state.next_action.sleep if state.next_action is not None else 0.0
            logger.warning(
                "%s Retrying in %.1fs (attempt %d of %d).", exc, sleep, state.attempt_number + 1, policy.max_attempts
            )

        kwargs["before_sleep"] = log_retry
    return kwargs
