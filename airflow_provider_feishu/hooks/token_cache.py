"""The process-wide tenant_access_token cache shared by every hook and trigger.

Airflow builds a new hook for each poke, so a per-hook cache would fetch a token every time.
Entries are keyed by (base URL, App ID, secret digest) and are treated as stale a few minutes
before Feishu's ``expire`` (half-way through the life of a token that lives less than twice that).
Sync callers fetch under a per-key thread lock and async callers
under a per-key asyncio lock, so concurrent callers make one fetch, not one each.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: Refresh this many seconds before Feishu says the token expires (the Go SDK uses 3 minutes).
REFRESH_MARGIN_SECONDS = 300.0

CacheKey = tuple[str, str, str]


@dataclass
class _Entry:
    token: str = field(repr=False)
    #: When the token stops being handed out (some time before Feishu's expiry).
    refresh_at: float


class TokenCache:
    """Tokens by key, with an early-refresh margin; safe to share between threads and loops."""

    def __init__(self, margin: float = REFRESH_MARGIN_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._margin = margin
        self._clock = clock
        self._entries: dict[CacheKey, _Entry] = {}
        self._guard = threading.Lock()
        self._fetch_locks: dict[CacheKey, threading.Lock] = {}
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[CacheKey, asyncio.Lock]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: CacheKey) -> str | None:
        """The cached token if it is still fresh (outside the refresh margin), else None."""
        with self._guard:
            entry = self._entries.get(key)
            if entry is None or self._clock() >= entry.refresh_at:
                return None
            return entry.token

    def margin_for(self, expire_seconds: float) -> float:
        """The early-refresh margin for a token that lives ``expire_seconds``: the cache's margin,
        but at most half the token's life, so that a short-lived token is still reused."""
        return min(self._margin, max(expire_seconds, 0.0) / 2)

    def put(self, key: CacheKey, token: str, expire_seconds: float) -> None:
        refresh_at = self._clock() + expire_seconds - self.margin_for(expire_seconds)
        with self._guard:
            self._entries[key] = _Entry(token=token, refresh_at=refresh_at)

    def evict(self, key: CacheKey, token: str | None = None) -> None:
        """Drop the entry; with ``token``, only if it is still that token (another caller may have
        already replaced a rejected token with a fresh one)."""
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None and (token is None or entry.token == token):
                del self._entries[key]

    def live_tokens(self) -> tuple[str, ...]:
        """Every token this process holds: scrubbed from any answer text that is quoted."""
        with self._guard:
            return tuple(entry.token for entry in self._entries.values())

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()

    def fetch_lock(self, key: CacheKey) -> threading.Lock:
        """The lock a sync caller holds while it fetches the token for ``key``."""
        with self._guard:
            return self._fetch_locks.setdefault(key, threading.Lock())

    def async_fetch_lock(self, key: CacheKey) -> asyncio.Lock:
        """The lock an async caller holds while it fetches; one per event loop and key."""
        loop = asyncio.get_running_loop()
        with self._guard:
            locks = self._async_locks.setdefault(loop, {})
            return locks.setdefault(key, asyncio.Lock())


#: The one cache of this process.
TOKEN_CACHE = TokenCache()


class _HasSecrets(Protocol):
    @property
    def secrets(self) -> tuple[str, ...]: ...


def answer_secrets(config: _HasSecrets, token: str | None) -> tuple[str, ...]:
    """What to scrub from an answer's text: the connection's secrets, the token the request
    carried, and every other live token (a gateway may echo any header it saw)."""
    sent = (token,) if token else ()
    return (*config.secrets, *sent, *TOKEN_CACHE.live_tokens())
