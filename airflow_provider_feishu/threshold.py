"""The one rule that decides whether enough recipients have read a batch message.

The sensor, the trigger and the wait-for-reads operator all judge through :class:`ReadThreshold`,
so poke, reschedule and deferrable modes can never disagree.

**Why a guard against early totals.** ``batch_send`` is asynchronous: Feishu schedules the batch a
while after the call and delivers it over minutes. read_user's ``total_count`` counts only the
recipients reached *so far*, so one read out of one delivery would look like 100% of a 500-person
batch. The rule therefore also takes get_progress's ``valid_user_ids_count`` (the number of valid
recipients, 0 until Feishu has scheduled the batch) and:

* judges nothing while ``valid_user_ids_count`` is 0 (not scheduled yet, or no valid recipient);
* divides by ``max(total_count, valid_user_ids_count)``, so recipients not reached yet count as
  unread and the ratio can only be an under-estimate, never an early over-estimate.

The comparison is exact (rational arithmetic on the threshold as written), so ``0.7`` is reached
by 7 of 10 reads even though ``0.7`` has no exact binary float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any


def _as_number(name: str, value: Any) -> float:
    """``value`` as a float; templated values arrive as strings such as ``"0.8"``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be a number, got {value!r:.40}.") from None
    if not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r:.40}.")
    return float(value)


def format_percent(value: float) -> str:
    """``0.8`` -> ``80%``, ``0.825`` -> ``82.5%`` (no spurious digits)."""
    return f"{value * 100:.6g}%"


@dataclass(frozen=True)
class ReadVerdict:
    """The outcome of judging one snapshot: whether the threshold is reached, and the numbers.

    ``total_count`` is the denominator the ratio uses (``max(delivered, valid recipients)``);
    ``delivered_count`` is read_user's own ``total_count`` (recipients reached so far).
    """

    reached: bool
    read_count: int
    total_count: int
    delivered_count: int
    ratio: float
    threshold: float
    min_read_count: int | None
    scheduled: bool

    def describe(self) -> str:
        """One readable line such as ``read 42/120 (35.0%), need 80%``."""
        need = f"need {format_percent(self.threshold)}"
        if self.min_read_count:
            need += f" and {self.min_read_count} reads"
        line = f"read {self.read_count}/{self.total_count} ({self.ratio:.1%}), {need}"
        if not self.scheduled:
            # get_progress gives 0 valid recipients both before scheduling and when no id was valid
            # (Feishu docs: get_progress); nothing tells the two apart, so the line names both.
            line += " (no valid recipient yet: Feishu has not scheduled the batch, or none of its ids was valid)"
        elif self.delivered_count < self.total_count:
            line += f" (delivered {self.delivered_count}/{self.total_count} so far)"
        if self.reached:
            line += ": reached"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, for XCom and trigger events."""
        return {
            "reached": self.reached,
            "read_count": self.read_count,
            "total_count": self.total_count,
            "delivered_count": self.delivered_count,
            "ratio": self.ratio,
            "threshold": self.threshold,
            "min_read_count": self.min_read_count,
            "message": self.describe(),
        }


@dataclass(frozen=True)
class ReadThreshold:
    """Reached when ``read_count / total >= threshold`` and, if set, ``read_count >= min_read_count``.

    :param threshold: the fraction of recipients that must have read, ``0 < threshold <= 1``.
    :param min_read_count: optionally, an absolute number of reads that is also required.
    """

    threshold: float
    min_read_count: int | None = None

    def __post_init__(self) -> None:
        value = self.threshold
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"threshold must be a number in (0, 1], got {value!r:.40}.")
        if not 0 < value <= 1:
            hint = " (write 0.8 for 80%)" if 1 < value <= 100 else ""
            raise ValueError(f"threshold must be a fraction in (0, 1], got {value!r}{hint}.")
        if self.min_read_count is not None:
            count = self.min_read_count
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"min_read_count must be a whole number >= 0, got {count!r:.40}.")

    @classmethod
    def parse(cls, threshold: Any, min_read_count: Any = None) -> ReadThreshold:
        """Build from operator arguments, which may be rendered templates (strings)."""
        number = _as_number("threshold", threshold)
        count: int | None = None
        if min_read_count not in (None, "", "None"):
            raw = _as_number("min_read_count", min_read_count)
            if not raw.is_integer():
                raise ValueError(f"min_read_count must be a whole number >= 0, got {min_read_count!r:.40}.")
            count = int(raw)
        return cls(threshold=number, min_read_count=count)

    @property
    def _exact(self) -> Fraction:
        # The threshold as the user wrote it (repr round-trips), not its binary approximation.
        return Fraction(repr(float(self.threshold)))

    def judge(self, read_count: int, total_count: int, valid_user_ids_count: int) -> ReadVerdict:
        """Judge one snapshot.

        :param read_count: read_user ``read_count``.
        :param total_count: read_user ``total_count`` (recipients reached so far).
        :param valid_user_ids_count: get_progress ``valid_user_ids_count`` (0 until scheduled).
        """
        for name, value in (
            ("read_count", read_count),
            ("total_count", total_count),
            ("valid_user_ids_count", valid_user_ids_count),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a count >= 0, got {value!r:.40}.")
        if read_count > total_count:
            # Reads of recipients not reached are impossible; never let such a snapshot over-estimate.
            raise ValueError(f"read_count {read_count} exceeds total_count {total_count}.")
        scheduled = valid_user_ids_count > 0
        denominator = max(total_count, valid_user_ids_count)
        ratio = read_count / denominator if denominator else 0.0
        reached = (
            scheduled
            and denominator > 0
            and Fraction(read_count, denominator) >= self._exact
            and (self.min_read_count is None or read_count >= self.min_read_count)
        )
        return ReadVerdict(
            reached=reached,
            read_count=read_count,
            total_count=denominator,
            delivered_count=total_count,
            ratio=ratio,
            threshold=float(self.threshold),
            min_read_count=self.min_read_count,
            scheduled=scheduled,
        )


#: Errors that waiting longer cannot fix: the wait ends at once with a message that says what to fix.
#: Everything else (rate limits, 5xx, dropped connections, a proxy's HTML page) is transient.
PERMANENT_ERROR_NAMES = (
    "FeishuNotFoundError",
    "FeishuNotSenderError",
    "FeishuPermissionError",
    "FeishuAuthError",
    "FeishuBadRequestError",
    "FeishuConfigError",
)


def is_permanent_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the wait can never succeed (wrong id, wrong app, missing scope...)."""
    from airflow_provider_feishu.api import errors

    permanent = tuple(getattr(errors, name) for name in PERMANENT_ERROR_NAMES)
    return isinstance(exc, permanent)


def permanent_error_message(batch_message_id: str, exc: BaseException) -> str:
    """The text a failed wait shows: what happened and what to fix (the error carries the hint)."""
    return f"Cannot wait for reads of batch message {batch_message_id!r}: {exc}"


def check_failure_reason(exc: BaseException, base_url: str | None) -> str:
    """A failed read check's cause and the Feishu base URL it called, for logs and deadline messages.

    The base URL never carries credentials: the connection refuses a host with user:password in it.
    """
    return f"{exc} (Feishu at {base_url})" if base_url else str(exc)


# --- who has read: a snapshot of known people (im/v1 messages) ----------------------------------


def judge_audience(rule: ReadThreshold, read_count: int, audience_count: int) -> ReadVerdict:
    """Judge a snapshot of people: the audience (chat members, or the people sent to) is known in
    full, so it is both the total and the number of valid recipients; an empty audience is never
    reached."""
    return rule.judge(read_count, audience_count, audience_count)
