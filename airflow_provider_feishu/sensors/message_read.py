"""FeishuMessageReadSensor: wait until enough of an audience has read an im/v1 message, knowing who.

The check is the sans-IO :class:`~airflow_provider_feishu.api.read_check.ReadTracker`; this sensor
drives it with :class:`FeishuHook` (poke, reschedule) or hands it to
:class:`~airflow_provider_feishu.triggers.message_read.FeishuMessageReadTrigger` (deferrable).
Only ``airflow.sdk`` and light modules are imported here: DAG files import this at parse time.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.sensors.base import FeishuReadSensorBase
from airflow_provider_feishu.sensors.batch_read import rule_from_args, utc_now_iso, validate_at_parse_time
from airflow_provider_feishu.version_compat import AirflowFailException, conf

if TYPE_CHECKING:
    from airflow_provider_feishu.api.read_check import ReadTarget, ReadTracker
    from airflow_provider_feishu.api.read_report import ReadReport
    from airflow_provider_feishu.hooks.feishu import FeishuHook
    from airflow_provider_feishu.triggers.message_read import FeishuMessageReadTrigger


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def mapping_arg(name: str, value: Any) -> Mapping[str, Any] | None:
    """A dict argument that may arrive as a rendered template (JSON or a Python repr); None if blank."""
    if _blank(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise AirflowFailException(f"{name} must be a {{person: message_id}} dict, got {text!r:.80}.") from None
    if not isinstance(value, Mapping):
        raise AirflowFailException(f"{name} must be a {{person: message_id}} dict, got {type(value).__name__}.")
    return value


def message_ids_arg(value: Any) -> dict[str, str] | None:
    """``message_ids`` from a dict, a rendered dict string, or the tracked send's whole XCom value."""
    mapping = mapping_arg("message_ids", value)
    if mapping is None:
        return None
    if isinstance(mapping.get("message_ids"), Mapping):
        mapping = mapping["message_ids"]  # FeishuTrackedSendOperator's XCom
    return {str(k): str(v) for k, v in mapping.items()}


def read_target_from_args(
    *, message_id: Any, chat_id: Any, message_ids: Any, acknowledge: Any, user_id_type: Any
) -> ReadTarget:
    """The :class:`ReadTarget` from rendered operator arguments; a bad value fails the task at once."""
    from airflow_provider_feishu.api.errors import FeishuConfigError
    from airflow_provider_feishu.api.read_check import ReadTarget

    try:
        return ReadTarget(
            message_id=None if _blank(message_id) else str(message_id).strip(),
            chat_id=None if _blank(chat_id) else str(chat_id).strip(),
            message_ids=message_ids_arg(message_ids),
            acknowledge=None if _blank(acknowledge) else str(acknowledge).strip(),
            user_id_type=str(user_id_type or "open_id"),
        )
    except FeishuConfigError as err:
        raise AirflowFailException(str(err)) from None


class MessageTargetArgs:
    """The arguments that name what to check (a chat message, or one message per person), shared by
    the sensor and :class:`~airflow_provider_feishu.operators.remind_unread.FeishuRemindUnreadOperator`."""

    message_id: str | None
    chat_id: str | None
    message_ids: Mapping[str, Any] | str | None
    acknowledge: str | None
    user_id_type: str
    feishu_conn_id: str

    def _set_target_args(
        self,
        *,
        message_id: str | None,
        chat_id: str | None,
        message_ids: Mapping[str, Any] | str | None,
        acknowledge: str | None,
        user_id_type: str,
        feishu_conn_id: str,
    ) -> None:
        if message_ids is None and (message_id is None or chat_id is None):
            raise ValueError(
                f"{type(self).__name__} needs message_id with chat_id (a chat message), "
                "or message_ids (one message per person, e.g. FeishuTrackedSendOperator's XCom)."
            )
        self.message_id = message_id
        self.chat_id = chat_id
        self.message_ids = message_ids
        self.acknowledge = acknowledge
        self.user_id_type = user_id_type
        self.feishu_conn_id = feishu_conn_id

    @cached_property
    def hook(self) -> FeishuHook:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def read_target(self) -> ReadTarget:
        """What to check, from the rendered arguments (a bad value fails the task at once)."""
        return read_target_from_args(
            message_id=self.message_id,
            chat_id=self.chat_id,
            message_ids=self.message_ids,
            acknowledge=self.acknowledge,
            user_id_type=self.user_id_type,
        )


#: Task state store keys where reschedule-mode pokes keep who has read (acknowledged) a per-person message.
KNOWN_READ_KEY = "feishu_known_read"
KNOWN_ACKNOWLEDGED_KEY = "feishu_known_acknowledged"


def report_payload(report: ReadReport, *, reached_at: str | None) -> dict[str, Any]:
    """The XCom value of a finished wait: the report, and when the threshold was seen reached."""
    out = report.to_dict()
    out["reached_at"] = reached_at
    return out


class FeishuMessageReadSensor(MessageTargetArgs, FeishuReadSensorBase):
    """Waits until ``threshold`` of an audience has read an im/v1 message, and says who has not.

    Two ways to name the message:

    * ``message_id`` + ``chat_id``: a message sent to a chat (``FeishuSendMessageOperator`` with
      ``receive_id_type="chat_id"`` returns its id). The audience is the chat's members at each
      check, so people who join or leave during the wait are counted as they are then.
    * ``message_ids``: one message per person, ``{person: message_id}``, usually the XCom of
      ``FeishuTrackedSendOperator`` (its whole value works too). Each check asks only about the
      messages not read yet; in reschedule mode later pokes remember who had read (Airflow 3.3+,
      in the task state store).

    ``acknowledge="THUMBSUP"`` (any Feishu emoji_type; case matters) counts people who reacted with
    that emoji instead of readers. Each poke logs a line such as
    ``read 76/90 (84.4%), need 80%; not yet: Li Wei, Wang Fang, Zhang Min +11``. On success the
    return value (XCom) is the report: ``reached``, ``read_count``, ``total_count``, ``ratio``,
    ``threshold``, ``min_read_count``, ``acknowledge``, ``audience``, ``read``, ``unread``,
    ``acknowledged``, ``missing``, ``names``, ``message_id``, ``chat_id``, ``message_ids``,
    ``message`` and ``reached_at``.

    Feishu says who read only for the bot's own im/v1 messages, within 7 days, while the bot is in
    the chat; those errors (230012, 230033, 230002) and other permanent ones end the wait at once
    with what to fix. Transient errors are retried and then count as "not yet"; a timeout quotes
    the last error when the last check failed.

    :param message_id: the message in a chat (templated); with ``chat_id``.
    :param chat_id: the chat whose members are the audience (templated).
    :param message_ids: ``{person: message_id}`` or the tracked send's XCom (templated).
    :param threshold: fraction of the audience that must have read, ``0 < threshold <= 1`` (templated).
    :param min_read_count: also require this many readers (templated).
    :param acknowledge: an emoji_type whose reaction counts instead of a read (templated).
    :param user_id_type: ``open_id`` (default), ``user_id`` or ``union_id`` for the ids in the report.
    :param feishu_conn_id: the ``feishu`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "message_id",
        "chat_id",
        "message_ids",
        "threshold",
        "min_read_count",
        "acknowledge",
    )
    ui_color = "#e0f0ff"
    memory_keys = (KNOWN_READ_KEY, KNOWN_ACKNOWLEDGED_KEY)

    def __init__(
        self,
        *,
        threshold: float | str,
        message_id: str | None = None,
        chat_id: str | None = None,
        message_ids: Mapping[str, str] | str | None = None,
        min_read_count: int | str | None = None,
        acknowledge: str | None = None,
        user_id_type: str = "open_id",
        feishu_conn_id: str = "feishu_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_at_parse_time(threshold, min_read_count)
        self._set_target_args(
            message_id=message_id,
            chat_id=chat_id,
            message_ids=message_ids,
            acknowledge=acknowledge,
            user_id_type=user_id_type,
            feishu_conn_id=feishu_conn_id,
        )
        self.threshold = threshold
        self.min_read_count = min_read_count
        self.deferrable = deferrable

    @cached_property
    def tracker(self) -> ReadTracker:
        from airflow_provider_feishu.api.read_check import ReadTracker

        return ReadTracker(self.read_target(), rule_from_args(self.threshold, self.min_read_count))

    def check(self) -> ReadReport:
        return self.hook.run_steps(self.tracker.check())

    @property
    def subject(self) -> str:
        return self.tracker.target.describe()

    def cannot_wait_message(self, err: BaseException) -> str:
        from airflow_provider_feishu.api.read_check import cannot_wait_message

        return cannot_wait_message(self.tracker.target, err)

    def result(self, snapshot: ReadReport) -> dict[str, Any]:
        return report_payload(snapshot, reached_at=utc_now_iso())

    # Reschedule mode: who has read (acknowledged) a per-person message cannot change back, so a
    # later poke asks only about the others. Kept as {person: message_id}, and recalled only where
    # the person's message is still the same one.
    def learnt(self) -> dict[str, Any]:
        tracker = self.tracker
        sent = tracker.target.message_ids
        if sent is None:  # a chat message: each check lists its readers anew
            return {}
        return {
            KNOWN_READ_KEY: {person: sent[person] for person in sorted(tracker.known_read)},
            KNOWN_ACKNOWLEDGED_KEY: {person: sent[person] for person in sorted(tracker.known_acknowledged)},
        }

    def recall(self, remembered: dict[str, Any]) -> None:
        tracker = self.tracker
        sent = tracker.target.message_ids
        if sent is None:
            return
        for key, known in ((KNOWN_READ_KEY, tracker.known_read), (KNOWN_ACKNOWLEDGED_KEY, tracker.known_acknowledged)):
            value = remembered.get(key)
            if isinstance(value, Mapping):
                known.update(person for person, mid in value.items() if sent.get(person) == mid)

    def trigger(self, **wait: Any) -> FeishuMessageReadTrigger:
        from airflow_provider_feishu.triggers.message_read import FeishuMessageReadTrigger

        tracker = self.tracker
        return FeishuMessageReadTrigger(
            target=tracker.target.to_dict(),
            threshold=tracker.rule.threshold,
            min_read_count=tracker.rule.min_read_count,
            **wait,
            **tracker.state(),
        )

    def result_from_event(self, event: dict[str, Any]) -> dict[str, Any]:
        return dict(event["report"], reached_at=event.get("reached_at"))
