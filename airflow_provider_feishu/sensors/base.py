"""What the waits on reads share, written once.

:class:`ReadWait` is one read check with the error rules every wait follows (a permanent error
fails the task with what to fix; a transient one is logged with its cause and the Feishu base URL,
and counts as "not yet"). The read sensors and ``FeishuWaitForReadsOperator`` use it.
:class:`FeishuReadSensorBase` adds what both sensors do around it: the poke, with what earlier
reschedule-mode pokes learnt (:class:`PokeMemory`), a timeout that quotes the last failed check,
and the deferrable path (poke once in the worker, then hand the wait to a trigger with the
sensor's own deadline, and map its event back).

Only ``airflow.sdk`` and light modules are imported here: DAG files import the sensors at parse time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowException
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_feishu.threshold import check_failure_reason, is_permanent_error
from airflow_provider_feishu.version_compat import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_feishu.hooks.feishu import FeishuHook

#: Smallest poll interval handed to the trigger (a 0 s poke_interval would be a hot loop there).
MIN_TRIGGER_POLL_INTERVAL = 0.05
#: How long the task state store keeps what reschedule-mode pokes learnt (longer than most waits).
MEMORY_RETENTION = timedelta(days=2)


class ReadWait:
    """One read check, with the error rules every wait on reads follows.

    A subclass gives :meth:`check` (one snapshot: a ``ReadVerdict`` or a ``ReadReport``),
    :attr:`subject` and :meth:`cannot_wait_message`; it has ``feishu_conn_id`` and ``log``.
    """

    feishu_conn_id: str
    log: Any
    #: The cause of the latest check, if it failed: a timeout or deadline message quotes it.
    _last_error: str | None = None

    @cached_property
    def hook(self) -> FeishuHook:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def check(self) -> Any:
        """One snapshot, with the sync hook (it has ``reached`` and ``describe()``)."""
        raise NotImplementedError

    @property
    def subject(self) -> str:
        """What the wait is on, for log lines."""
        raise NotImplementedError

    def cannot_wait_message(self, err: BaseException) -> str:
        """What a permanent error fails the task with: what was checked, what happened, what to fix."""
        raise NotImplementedError

    def describe(self, snapshot: Any) -> str:
        """The log line of a good check."""
        return snapshot.describe()

    def failure_reason(self, err: BaseException) -> str:
        """``err`` and the Feishu base URL the check called, for warnings and timeout messages."""
        from airflow_provider_feishu.api.errors import FeishuError

        try:
            base_url: str | None = self.hook.config.base_url
        except FeishuError:  # the connection itself is broken: the error says so
            base_url = None
        return check_failure_reason(err, base_url)

    def check_once(self, *, then: str) -> Any:
        """One check: the snapshot, or None after a transient error (logged, saying what happens
        ``then``, e.g. "poke again"). A permanent error raises :class:`AirflowFailException`."""
        from airflow_provider_feishu.api.errors import FeishuError

        try:
            snapshot = self.check()
        except FeishuError as err:
            if is_permanent_error(err):
                raise AirflowFailException(self.cannot_wait_message(err)) from None
            self._last_error = self.failure_reason(err)
            self.log.warning("Feishu read check of %s failed; will %s: %s", self.subject, then, self._last_error)
            return None
        self._last_error = None
        self.log.info("%s", self.describe(snapshot))
        return snapshot


class PokeMemory:
    """Reschedule mode: what earlier pokes of this task instance learnt, in the task state store.

    Each reschedule-mode poke is a new process, so without it every poke learns it all again
    (a batch's recipient count, who has already read). The store exists from Airflow 3.3 on;
    before, :meth:`open` gives None and every poke starts afresh. A store that cannot answer only
    costs the requests it would have saved.
    """

    def __init__(self, store: Any, recalled: dict[str, Any]) -> None:
        self.store = store
        #: What the store held for each key when this poke began, then what was last kept.
        self.recalled = recalled

    @classmethod
    def open(cls, context: Context, keys: Iterable[str]) -> PokeMemory | None:
        """The memory of this task instance with ``keys`` read, or None without a (working) store."""
        ctx: Any = context  # the key exists from Airflow 3.3 on
        store = ctx.get("task_state_store")
        if store is None:
            return None
        try:
            return cls(store, {key: store.get(key) for key in keys})
        except Exception:
            return None

    def keep(self, learnt: dict[str, Any]) -> None:
        """Store each value of ``learnt`` that is set and differs from what the store holds."""
        for key, value in learnt.items():
            if value and value != self.recalled.get(key):
                with contextlib.suppress(Exception):
                    self.store.set(key, value, retention=MEMORY_RETENTION)
                    self.recalled[key] = value


class FeishuReadSensorBase(ReadWait, BaseSensorOperator):
    """A sensor on reads: pokes with :meth:`ReadWait.check_once`, or defers to the trigger of :meth:`trigger`.

    A subclass gives, besides what :class:`ReadWait` needs, :meth:`result` (the XCom value of a
    reached snapshot), :meth:`trigger` and :meth:`result_from_event`, and what reschedule-mode
    pokes carry (:attr:`memory_keys`, :meth:`learnt`, :meth:`recall`); it has ``deferrable``.
    """

    deferrable: bool
    #: The task state store keys of what one poke learns and the next recalls (reschedule mode).
    memory_keys: tuple[str, ...] = ()
    _memory: PokeMemory | None = None

    def learnt(self) -> dict[str, Any]:
        """What the checks so far learnt, by key of :attr:`memory_keys` (JSON values; empty: nothing)."""
        return {}

    def recall(self, remembered: dict[str, Any]) -> None:
        """Start from what an earlier poke learnt (values as stored, None where nothing is)."""

    def poke(self, context: Context) -> bool | PokeReturnValue:
        if self.mode == "reschedule" and self._memory is None and self.memory_keys:
            self._memory = PokeMemory.open(context, self.memory_keys)
            if self._memory is not None:
                self.recall(dict(self._memory.recalled))
        snapshot = self.check_once(then="poke again")
        if self._memory is not None:
            self._memory.keep(self.learnt())  # also after a transient error: what was learnt stays true
        if snapshot is not None and snapshot.reached:
            return PokeReturnValue(is_done=True, xcom_value=self.result(snapshot))
        return False

    def result(self, snapshot: Any) -> dict[str, Any]:
        """The XCom value of a wait that reached the threshold in the worker."""
        raise NotImplementedError

    def trigger(self, **wait: Any) -> BaseTrigger:
        """The trigger to defer to, given the wait's ``deadline``, intervals and connection id."""
        raise NotImplementedError

    def result_from_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """The XCom value of a wait that the trigger saw reach the threshold."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as err:
                if self._last_error is None:
                    raise
                raise AirflowSensorTimeout(f"{err} The last check failed; last error: {self._last_error}") from None
        started = time.time()
        try:
            first = self.poke(context)
        except AirflowFailException as err:
            if self.soft_fail or self.never_fail:  # as BaseSensorOperator.execute does for poke mode
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {err}"
                ) from err
            raise
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        self.defer(
            trigger=self.trigger(
                deadline=started + self.timeout,
                poll_interval=max(self.poke_interval, MIN_TRIGGER_POLL_INTERVAL),
                exponential_backoff=self.exponential_backoff,
                max_poll_interval=self.max_wait.total_seconds() if self.max_wait else None,
                feishu_conn_id=self.feishu_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Map the trigger's event: reached -> the result; deadline -> timeout (or skip); error -> fail."""
        status = (event or {}).get("status")
        message = (event or {}).get("message") or "no message"
        if status == "reached":
            assert event is not None
            self.log.info("%s", message)
            return self.result_from_event(event)
        if status == "deadline":
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status == "error":
            raise AirflowFailException(message)
        raise AirflowException(f"Unexpected trigger event: {event!r:.300}")
