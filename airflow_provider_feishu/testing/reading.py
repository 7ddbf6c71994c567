"""Delivery and reading curves for batch messages.

A batch is *scheduled* ``schedule_delay`` emulated seconds after ``batch_send`` (until then
``get_progress.valid_user_ids_count`` is 0), then delivered to each recipient at a time spread
uniformly over the next ``delivery_seconds``. A fraction ``undeliverable_fraction`` is never delivered
(``success_user_ids_count < valid_user_ids_count``). Each delivered recipient either never reads it
(``never_read_fraction``) or reads it a random time after delivery, drawn from a log-normal
(default) or exponential distribution with the given median.

Everything is drawn from ``random.Random(f"{seed}/{batch key}")``: the same seed and the same
sequence of sends give the same curves.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import Literal

INF = math.inf


@dataclass(frozen=True)
class ReadingModel:
    seed: int = 0
    schedule_delay: float = 1.0
    delivery_seconds: float = 5.0
    undeliverable_fraction: float = 0.0
    median_seconds: float = 600.0
    sigma: float = 1.0
    never_read_fraction: float = 0.1
    distribution: Literal["lognormal", "exponential"] = "lognormal"

    def __post_init__(self) -> None:
        if self.distribution not in ("lognormal", "exponential"):
            raise ValueError("distribution must be 'lognormal' or 'exponential'")
        for name in ("undeliverable_fraction", "never_read_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.median_seconds <= 0:
            raise ValueError("median_seconds must be > 0")
        if self.schedule_delay < 0 or self.delivery_seconds < 0:
            raise ValueError("schedule_delay and delivery_seconds must be >= 0")

    def _read_delay(self, rng: random.Random) -> float:
        if self.distribution == "exponential":
            return rng.expovariate(math.log(2) / self.median_seconds)
        return rng.lognormvariate(math.log(self.median_seconds), self.sigma)

    def plan(self, key: str, sent_at: float, count: int) -> tuple[list[float], list[float]]:
        """Absolute delivery and read times (``inf`` = never) for ``count`` recipients."""
        rng = random.Random(f"{self.seed}/{key}")
        start = sent_at + self.schedule_delay
        deliver: list[float] = []
        read: list[float] = []
        for _ in range(count):
            if rng.random() < self.undeliverable_fraction:
                deliver.append(INF)
                read.append(INF)
                continue
            d = start + rng.random() * self.delivery_seconds
            deliver.append(d)
            if rng.random() < self.never_read_fraction:
                read.append(INF)
            else:
                read.append(d + self._read_delay(rng))
        return deliver, read


class Timeline:
    """Per-recipient delivery/read times with O(log n) counting at any instant."""

    __slots__ = ("_deliver_sorted", "_read_sorted", "deliver", "read", "recipients")

    def __init__(self, recipients: list[str], deliver: list[float], read: list[float]) -> None:
        self.recipients = recipients
        self.deliver = dict(zip(recipients, deliver, strict=True))
        self.read = dict(zip(recipients, read, strict=True))
        self._deliver_sorted = sorted(deliver)
        self._read_sorted = sorted(read)

    def delivered_count(self, at: float) -> int:
        return bisect_right(self._deliver_sorted, at)

    def read_count(self, at: float) -> int:
        return bisect_right(self._read_sorted, at)

    def is_delivered(self, open_id: str, at: float) -> bool:
        return self.deliver.get(open_id, INF) <= at

    def is_read(self, open_id: str, at: float) -> bool:
        return self.read.get(open_id, INF) <= at

    def force_read(self, open_id: str, at: float) -> bool:
        """Make ``open_id`` read (and, if needed, delivered) at ``at``. False if already read."""
        if open_id not in self.deliver or self.read[open_id] <= at:
            return False
        old_d = self.deliver[open_id]
        if old_d > at:
            self._deliver_sorted.remove(old_d)
            insort(self._deliver_sorted, at)
            self.deliver[open_id] = at
        self._read_sorted.remove(self.read[open_id])
        insort(self._read_sorted, at)
        self.read[open_id] = at
        return True
