"""Emulator clocks.

All Feishu-side time (token expiry, recall window, 30-day read_user window, uuid idempotency,
delivery and reading curves) is measured on one of these clocks. Rate limits are NOT: they use real
monotonic time (see :mod:`.ratelimit`).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Emulator time as unix seconds."""
        ...

    def advance(self, seconds: float) -> None:
        """Move emulator time forward."""
        ...


class ManualClock:
    """A clock that only moves when :meth:`advance` is called (the default; deterministic).

    ``start`` defaults to the real wall-clock time at creation, rounded down to a whole second, so
    timestamps look current (webhook signatures, ``create_time``) while intervals stay exact.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time()) if start is None else start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the emulator clock cannot go backwards")
        with self._lock:
            self._now += float(seconds)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"


class ScaledClock:
    """Real time running ``speed`` times faster (``speed=60`` = an hour of reading per minute).

    :meth:`advance` still works and adds a fixed offset.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = float(speed)
        self._start = float(time.time() if start is None else start)
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._mono0) * self.speed + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the emulator clock cannot go backwards")
        with self._lock:
            self._offset += float(seconds)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self.speed!r}, now={self.now()!r})"
