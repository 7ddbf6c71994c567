"""Per-app, per-API rate limits (Feishu "level 4": 50 requests/s and 1000 requests/min).

Windows are measured on REAL monotonic time, not the emulated clock: rate limits protect the real
server in real time, and ``advance()`` must not refill a quota. Each (app, API) pair has a fixed
one-second and a fixed one-minute window, each starting with the first request after the previous
window ended. Rejected requests do not use quota. ``x-ogw-ratelimit-reset`` is the whole number of
seconds (at least 1) until the window that refused the request ends.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    __slots__ = ("_lock", "_windows", "per_minute", "per_second")

    def __init__(self, per_second: int | None = 50, per_minute: int | None = 1000) -> None:
        self.per_second = per_second
        self.per_minute = per_minute
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_second is not None or self.per_minute is not None

    def configure(self, per_second: int | None, per_minute: int | None) -> None:
        with self._lock:
            self.per_second = per_second
            self.per_minute = per_minute
            self._windows.clear()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def check(self, app_id: str, api: str) -> tuple[int, int] | None:
        """Count one request; return ``(limit, reset_seconds)`` if it must be refused."""
        ps, pm = self.per_second, self.per_minute
        if ps is None and pm is None:
            return None
        now = time.monotonic()
        with self._lock:
            w = self._windows.get((app_id, api))
            if w is None:
                w = self._windows[(app_id, api)] = [now, 0.0, now, 0.0]
            if now - w[0] >= 1.0:
                w[0], w[1] = now, 0.0
            if now - w[2] >= 60.0:
                w[2], w[3] = now, 0.0
            if ps is not None and w[1] >= ps:
                return ps, max(1, math.ceil(w[0] + 1.0 - now))
            if pm is not None and w[3] >= pm:
                return pm, max(1, math.ceil(w[2] + 60.0 - now))
            w[1] += 1
            w[3] += 1
        return None
