"""The retry loop of every transport: try, ask the policy, sleep, try again.

What to retry and how long to wait is :class:`~airflow_provider_feishu.api.retry_policy.RetryPolicy`'s
decision (no I/O); this module only carries it out, once for blocking callers (the sync hook and
webhook) and once for the event loop (the async client and webhook). A plain loop rather than
tenacity: a trigger waiting for its turn holds a few frames instead of a retry object graph, which
matters with a thousand triggers in one triggerer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from airflow_provider_feishu.api.retry_policy import RetryPolicy

T = TypeVar("T")


def call_with_retries(
    attempt: Callable[..., T],
    *args: Any,
    policy: RetryPolicy,
    idempotent: bool,
    log: Any = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """Run ``attempt(*args)`` until it returns or the policy calls its error final (then it propagates).

    ``args`` rather than a closure: nothing is allocated per call but the frames themselves.
    """
    number = 1
    while True:
        try:
            return attempt(*args)
        except Exception as exc:
            wait = policy.after_failure(exc, number, idempotent=idempotent)
            if wait is None:
                raise
            if log is not None:
                log.warning(policy.retry_message(exc, wait, number))
        sleep(wait)
        number += 1


async def acall_with_retries(
    attempt: Callable[..., Awaitable[T]],
    *args: Any,
    policy: RetryPolicy,
    idempotent: bool,
    log: Any = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """:func:`call_with_retries` for a coroutine ``attempt``; the wait does not block the loop."""
    number = 1
    while True:
        try:
            return await attempt(*args)
        except Exception as exc:
            wait = policy.after_failure(exc, number, idempotent=idempotent)
            if wait is None:
                raise
            if log is not None:
                log.warning(policy.retry_message(exc, wait, number))
        await sleep(wait)
        number += 1
