"""A durable record, per task instance, that a send began and what Feishu answered.

message/v4/batch_send and custom-bot webhooks have no idempotency key (unlike im/v1's ``uuid``).
A worker killed in the middle of a send (SIGKILL, out of memory, a lost node) gets no chance to
say whether the message went out, and Airflow's retry would send it again. So the operators of
those sends (:class:`SendOnce`) write ``sending`` to a store that outlives the task process
*before* they send, and ``sent`` with what Feishu returned once it has answered. The next try of
the same task instance reads it:

* ``sent``: the message went out; return what it returned without sending again;
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

#: The batch send's task state store key (Airflow 3.3+), and its Variable key prefix on 3.1 and 3.2.
RECORD_KEY = "feishu_batch_send"
#: The same for a custom-bot webhook post.
WEBHOOK_RECORD_KEY = "feishu_webhook_send"


class SendRecordUnavailable(RuntimeError):
    """The record could not be written or read: the operator does not send without it."""


@dataclass(frozen=True)
class SendRecord:
    """What one try of a send task instance did: began sending, or heard back from Feishu."""

    state: Literal["sending", "sent"]
    try_number: int
    at: str
    #: The id Feishu gave the message (a batch message id), if any.
    sent_id: str | None = None
    #: The whole result as a dict, to push to XCom again when a later try replays it.
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def sending(cls, try_number: int) -> SendRecord:
        return cls("sending", try_number, _now())

    def sent(self, sent_id: str | None, result: dict[str, Any]) -> SendRecord:
        return SendRecord("sent", self.try_number, _now(), sent_id, result)

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
        sent_id = value.get("sent_id")
        sent = value.get("state") == "sent" and (sent_id is None or isinstance(sent_id, str))
        try_number = value.get("try_number")
        result = value.get("result")
        return cls(
            "sent" if sent else "sending",
            try_number if isinstance(try_number, int) else 0,
            str(value.get("at", "unknown")),
            sent_id if sent else None,
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

    def __init__(self, store: Any, ti: Any, key: str = RECORD_KEY) -> None:
        self._store = store
        self.key = key
        self.where = f"task state key {key!r} of this task instance"
        map_query = f"?map_index={ti.map_index}" if getattr(ti, "map_index", -1) not in (-1, None) else ""
        path = "/".join(quote(str(part), safe="") for part in (ti.dag_id, "dagRuns", ti.run_id, "taskInstances"))
        self.how_to_remove = (
            f"delete it with the REST API: DELETE /api/v2/dags/{path}/{quote(ti.task_id, safe='')}"
            f"/state-store/{key}{map_query}"
        )

    def load(self) -> SendRecord | None:
        try:
            value = self._store.get(self.key)
        except Exception as err:
            raise SendRecordUnavailable(f"could not read the {self.where}: {type(err).__name__}") from None
        return None if value is None else SendRecord.from_json(value)

    def save(self, record: SendRecord) -> None:
        try:
            self._store.set(self.key, record.to_json())
        except Exception as err:
            raise SendRecordUnavailable(f"could not write the {self.where}: {type(err).__name__}") from None

    def remove(self) -> None:
        try:
            self._store.delete(self.key)
        except Exception as err:
            raise SendRecordUnavailable(f"could not delete the {self.where}: {type(err).__name__}") from None


class VariableRecordStore:
    """Airflow 3.1 and 3.2: a Variable named after the task instance (a digest: ids can be long)."""

    keeps_sent_records = False

    def __init__(self, ti: Any, key: str = RECORD_KEY) -> None:
        identity = f"{ti.dag_id}\n{ti.run_id}\n{ti.task_id}\n{getattr(ti, 'map_index', -1)}"
        self.key = f"{key}__{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
        self.description = (
            f"airflow-provider-feishu: send of dag_id={ti.dag_id} run_id={ti.run_id} "
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
        try:
            Variable.set(self.key, text, description=self.description)
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


def record_store_for(context: Context, key: str = RECORD_KEY) -> RecordStore:
    """The task state store where Airflow has one (3.3+), else a Variable."""
    ti = context["ti"]
    store = context.get("task_state_store")  # a context key since Airflow 3.3
    if store is not None:
        return TaskStateRecordStore(store, ti, key)
    return VariableRecordStore(ti, key)


class SendOnce:
    """One send per task instance, for an operator whose send has no idempotency key.

    ``earlier()`` before anything else (a record of a send to replay, or ``None``), ``begin()``
    just before sending, then exactly one of ``sent()``, ``not_sent()`` (Feishu refused it, or it
    reached nobody) or ``unknown_outcome()`` (the error to raise: the record stays).
    """

    def __init__(self, context: Context, key: str, noun: str, log: Any, *, needs_id: bool = False) -> None:
        self.store = record_store_for(context, key)
        self.try_number = context["ti"].try_number
        self.noun = noun
        self.log = log
        #: A "sent" record without an id cannot be replayed; it counts as an unfinished send.
        self.needs_id = needs_id
        self._record: SendRecord | None = None

    def earlier(self) -> SendRecord | None:
        """The record of an earlier try that sent, to replay; ``None`` to send. Raises when an
        earlier try began and never learnt the outcome, or when the record cannot be read."""
        from airflow_provider_feishu.version_compat import AirflowFailException

        try:
            earlier = self.store.load()
        except SendRecordUnavailable as err:
            raise RuntimeError(f"{err}; nothing was sent (a retry may succeed).") from None
        if earlier is None:
            return None
        if earlier.state == "sent" and (earlier.sent_id or not self.needs_id):
            sent = f"{self.noun} {earlier.sent_id}" if earlier.sent_id else f"this {self.noun}"
            self.log.warning(
                "Try %s of this task instance already sent %s (%s); not sending it again. To send anew, %s, "
                "then clear this task.",
                earlier.try_number,
                sent,
                earlier.at,
                self.store.how_to_remove,
            )
            return earlier
        raise AirflowFailException(
            f"Try {earlier.try_number or '?'} of this task instance began sending this {self.noun} at {earlier.at} "
            "and never learnt whether Feishu accepted it (its worker was killed, or its answer was lost), so this "
            "try does not send it again: the send has no idempotency key, and a second one would deliver it twice. "
            f"Check in Feishu whether it arrived. To send it anyway, {self.store.how_to_remove}, then clear this "
            f"task. (The record: the {self.store.where}.)"
        )

    def begin(self) -> None:
        """Record that this try is about to send; without the record it does not send."""
        record = SendRecord.sending(self.try_number)
        try:
            self.store.save(record)
        except SendRecordUnavailable as err:
            raise RuntimeError(f"{err}; nothing was sent (a retry may succeed).") from None
        self._record = record

    def sent(self, sent_id: str | None, result: dict[str, Any]) -> None:
        """Feishu accepted it: keep the answer where the store keeps records, else drop the record."""
        if not self.store.keeps_sent_records:
            self.not_sent()
            return
        record = self._record or SendRecord.sending(self.try_number)
        try:
            self.store.save(record.sent(sent_id, result))
        except SendRecordUnavailable as err:
            self.log.warning("%s; a later try of this task will refuse to send instead of replaying.", err)

    def not_sent(self) -> None:
        """Nothing needs guarding (Feishu refused it, or it reached nobody): drop the record."""
        try:
            self.store.remove()
        except SendRecordUnavailable as err:
            self.log.warning("%s; remove it by hand before the next try of this task.", err)

    def unknown_outcome(self, err: Exception) -> Exception:
        """The error for a send that may have gone out; the record stays, so no later try resends."""
        from airflow_provider_feishu.version_compat import AirflowFailException

        return AirflowFailException(
            f"{err}. The {self.noun} may have been sent; failing without a task retry, which could send it twice. "
            f"To send it anyway once you have checked that it did not arrive, {self.store.how_to_remove}, then "
            "clear this task."
        )
