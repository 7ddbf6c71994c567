"""A durable record, per task instance, that a batch send began and what Feishu answered.

message/v4/batch_send has no idempotency key (unlike im/v1's ``uuid``). A worker killed in the
middle of a send (SIGKILL, out of memory, a lost node) gets no chance to say whether the batch
went out, and Airflow's retry would send it again. So :class:`FeishuBatchSendOperator` writes
``sending`` to a store that outlives the task process *before* it sends, and ``sent`` with the
batch id once Feishu has answered. The next try of the same task instance reads it:

* ``sent``: the batch went out; return its id without sending again;
* ``sending``: a try began sending and never learnt the outcome; fail without sending, and say how
  to check and how to send anyway.

The store is Airflow 3.3's task state store (``context["task_state_store"]``: scoped to the task
instance, kept across retries and clears, visible through the REST API). On Airflow 3.1 and 3.2,
which have none, it is an Airflow Variable named after the task instance, removed once the
outcome is known so that Variables do not pile up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The task state store key (Airflow 3.3+); the Variable key prefix on 3.1 and 3.2.
RECORD_KEY = "feishu_batch_send"


class SendRecordUnavailable(RuntimeError):
    """The record could not be written or read: the operator does not send without it."""


@dataclass(frozen=True)
class SendRecord:
    """What one try of a batch-send task instance did: began sending, or got the batch id back."""

    state: Literal["sending", "sent"]
    try_number: int
    at: str
    batch_message_id: str | None = None
    #: The whole BatchSendResult as a dict, to push to XCom again when a later try replays it.
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def sending(cls, try_number: int) -> SendRecord:
        return cls("sending", try_number, _now())

    def sent(self, batch_message_id: str, result: dict[str, Any]) -> SendRecord:
        return SendRecord("sent", self.try_number, _now(), batch_message_id, result)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> SendRecord:
        """The record a store gave back. Anything unreadable counts as an unfinished send: the safe
        reading, since it blocks a second send rather than allowing one."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if not isinstance(value, dict):
            return cls("sending", 0, "unknown")
        sent = value.get("state") == "sent" and isinstance(value.get("batch_message_id"), str)
        try_number = value.get("try_number")
        result = value.get("result")
        return cls(
            "sent" if sent else "sending",
            try_number if isinstance(try_number, int) else 0,
            str(value.get("at", "unknown")),
            value.get("batch_message_id") if sent else None,
            result if isinstance(result, dict) else {},
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RecordStore(Protocol):
    """Where the record lives; ``where`` and ``how_to_remove`` are for the error a person reads."""

    where: str
    how_to_remove: str
    keeps_sent_records: bool

    def load(self) -> SendRecord | None: ...

    def save(self, record: SendRecord) -> None: ...

    def remove(self) -> None: ...


class TaskStateRecordStore:
    """Airflow 3.3+: the task instance's own task state store."""

    keeps_sent_records = True

    def __init__(self, store: Any, ti: Any) -> None:
        self._store = store
        self.where = f"task state key {RECORD_KEY!r} of this task instance"
        map_query = f"?map_index={ti.map_index}" if getattr(ti, "map_index", -1) not in (-1, None) else ""
        path = "/".join(quote(str(part), safe="") for part in (ti.dag_id, "dagRuns", ti.run_id, "taskInstances"))
        self.how_to_remove = (
            f"delete it with the REST API: DELETE /api/v2/dags/{path}/{quote(ti.task_id, safe='')}"
            f"/state-store/{RECORD_KEY}{map_query}"
        )

    def load(self) -> SendRecord | None:
        try:
            value = self._store.get(RECORD_KEY)
        except Exception as err:
            raise SendRecordUnavailable(f"could not read the {self.where}: {type(err).__name__}") from None
        return None if value is None else SendRecord.from_json(value)

    def save(self, record: SendRecord) -> None:
        try:
            self._store.set(RECORD_KEY, record.to_json())
        except Exception as err:
            raise SendRecordUnavailable(f"could not write the {self.where}: {type(err).__name__}") from None

    def remove(self) -> None:
        try:
            self._store.delete(RECORD_KEY)
        except Exception as err:
            raise SendRecordUnavailable(f"could not delete the {self.where}: {type(err).__name__}") from None


class VariableRecordStore:
    """Airflow 3.1 and 3.2: a Variable named after the task instance (a digest: ids can be long)."""

    keeps_sent_records = False

    def __init__(self, ti: Any) -> None:
        identity = f"{ti.dag_id}\n{ti.run_id}\n{ti.task_id}\n{getattr(ti, 'map_index', -1)}"
        self.key = f"{RECORD_KEY}__{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
        self.description = (
            f"airflow-provider-feishu: batch send of dag_id={ti.dag_id} run_id={ti.run_id} "
            f"task_id={ti.task_id} map_index={getattr(ti, 'map_index', -1)} (removed once its outcome is known)"
        )
        self.where = f"Variable {self.key!r}"
        self.how_to_remove = f"delete it: airflow variables delete {self.key}"

    def load(self) -> SendRecord | None:
        from airflow.sdk import Variable

        try:
            value = Variable.get(self.key, default=None)
        except Exception as err:
            raise SendRecordUnavailable(f"could not read the {self.where}: {type(err).__name__}") from None
        return None if value is None else SendRecord.from_json(value)

    def save(self, record: SendRecord) -> None:
        from airflow.sdk import Variable

        text = json.dumps(record.to_json(), sort_keys=True)
        # Airflow 3.1's Variable.set logs and swallows a refused write: read it back to be sure.
        Variable.set(self.key, text, description=self.description)
        try:
            stored = Variable.get(self.key, default=None)
        except Exception:
            stored = None
        if stored is None or SendRecord.from_json(stored) != record:
            raise SendRecordUnavailable(f"could not write the {self.where}")

    def remove(self) -> None:
        from airflow.sdk import Variable

        try:
            Variable.delete(self.key)
        except Exception as err:
            raise SendRecordUnavailable(f"could not delete the {self.where}: {type(err).__name__}") from None


def record_store_for(context: Context) -> RecordStore:
    """The task state store where Airflow has one (3.3+), else a Variable."""
    ti = context["ti"]
    store = context.get("task_state_store")  # a context key since Airflow 3.3
    if store is not None:
        return TaskStateRecordStore(store, ti)
    return VariableRecordStore(ti)
