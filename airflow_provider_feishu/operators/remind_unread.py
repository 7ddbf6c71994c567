"""FeishuRemindUnreadOperator: remind only the people who have not read a message, checked when it runs.

Only ``airflow.sdk`` and light modules are imported at module level (DAG files import this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_feishu.parse_time import is_template_text
from airflow_provider_feishu.sensors.message_read import MessageTargetArgs
from airflow_provider_feishu.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.api.errors import FeishuError
    from airflow_provider_feishu.api.read_check import ReadTarget
    from airflow_provider_feishu.api.read_report import ReadReport

METHODS = ("buzz", "reply", "message")
DEFAULT_TEXT = "Reminder: please read the message above."
#: urgent_app takes at most 200 ids per call (Feishu docs: buzz-messages urgent_app).
MAX_BUZZ_IDS = 200
#: Codes that concern one person, not the whole call: record them and go on with the others.
PER_PERSON_CODES = frozenset({230013, 230023, 230029, 230034, 230035, 230038, 230053})


def reason_of(err: FeishuError) -> str:
    """A short reason for the XCom: Feishu's code and message (never a token)."""
    code = getattr(err, "code", None)
    return f"{code}: {getattr(err, 'msg', err)}" if code is not None else str(err)


class FeishuRemindUnreadOperator(MessageTargetArgs, BaseOperator):
    """Reminds the people who have not read a message yet, and only them.

    Who has not read is checked when the task runs (someone who read a minute ago is not
    reminded), with the same check as :class:`~airflow_provider_feishu.sensors.message_read.FeishuMessageReadSensor`.

    * ``method="buzz"``: an in-app buzz (urgent_app) on the original message. Feishu buzzes only
      people in the message's chat, and refuses people with 200 unread buzzes (230023).
    * ``method="reply"``: one reply in the chat that @-mentions each non-reader (to a chat
      message), or a reply to each person's own message (one message per person).
    * ``method="message"``: a new direct message to each non-reader, keyed by a uuid per person
      so a retried task sends nobody a second one.

    Returns (XCom) ``{"method", "reminded": [...], "failed": {person: reason}, "names",
    "report", "message"}``, where ``report`` is the read report the reminder acted on.

    :param message_id: / ``chat_id``: a message sent to a chat (templated).
    :param message_ids: one message per person, or ``FeishuTrackedSendOperator``'s XCom (templated).
    :param method: ``buzz``, ``reply`` or ``message`` (templated).
    :param text: the reminder text for ``reply`` and ``message`` (templated).
    :param acknowledge: remind those who have not reacted with this emoji_type instead (templated).
    :param user_id_type: id type of chat members (``open_id`` default).
    :param receive_id_type: id type of the ``message_ids`` keys; read from the tracked send's
        XCom when that is passed whole, else ``open_id``.
    :param feishu_conn_id: the ``feishu`` connection.
    """

    template_fields: Sequence[str] = ("message_id", "chat_id", "message_ids", "method", "text", "acknowledge")
    ui_color = "#ffe9d6"

    def __init__(
        self,
        *,
        method: str = "buzz",
        message_id: str | None = None,
        chat_id: str | None = None,
        message_ids: Mapping[str, Any] | str | None = None,
        text: str | None = None,
        acknowledge: str | None = None,
        user_id_type: str = "open_id",
        receive_id_type: str | None = None,
        feishu_conn_id: str = "feishu_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not is_template_text(method) and method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r:.40}.")
        self._set_target_args(
            message_id=message_id,
            chat_id=chat_id,
            message_ids=message_ids,
            acknowledge=acknowledge,
            user_id_type=user_id_type,
            feishu_conn_id=feishu_conn_id,
        )
        self.method = method
        self.text = text
        self.receive_id_type = receive_id_type

    def _keys_id_type(self) -> str:
        """The id type of the ``message_ids`` keys: explicit, or from the tracked send's XCom."""
        from airflow_provider_feishu.sensors.message_read import mapping_arg

        if self.receive_id_type:
            return self.receive_id_type
        given = mapping_arg("message_ids", self.message_ids) or {}
        return str(given.get("receive_id_type") or "open_id")

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.api.read_check import ReadTracker, cannot_wait_message
        from airflow_provider_feishu.threshold import ReadThreshold

        if self.method not in METHODS:
            raise AirflowFailException(f"method must be one of {', '.join(METHODS)}; got {self.method!r:.40}.")
        target = self.read_target()
        try:
            report = self.hook.run_steps(ReadTracker(target, ReadThreshold(1.0)).check())
        except FeishuError as err:
            raise AirflowFailException(cannot_wait_message(target, err)) from None
        missing = list(report.missing)
        self.log.info("%s", report.describe())
        failed: dict[str, str] = {}
        if not missing:
            reminded: list[str] = []
        elif self.method == "buzz":
            reminded = self._buzz(target, missing, failed)
        elif self.method == "reply":
            reminded = self._reply(context, target, report, missing, failed)
        else:
            reminded = self._message(context, target, missing, failed)
        verb = {"buzz": "buzzed", "reply": "replied to", "message": "messaged"}[str(self.method)]
        summary = (
            f"{verb} {len(reminded)} of {len(missing)} who have not {'acknowledged' if self.acknowledge else 'read'}"
        )
        if failed:
            summary += f"; {len(failed)} could not be: " + ", ".join(f"{p} ({r})" for p, r in list(failed.items())[:3])
        self.log.info("%s", summary)
        if missing and not reminded:
            raise AirflowFailException(f"Nobody could be reminded: {summary}")
        return {
            "method": self.method,
            "reminded": reminded,
            "failed": failed,
            "names": {p: report.name_of(p) for p in missing},
            "report": report.to_dict(),
            "message": summary,
        }

    # --- the three methods --------------------------------------------------------------------

    def _per_person(self, err: FeishuError, person: str, failed: dict[str, str]) -> None:
        """Record a failure that concerns one person; anything else ends the task with what to fix."""
        from airflow_provider_feishu.threshold import is_permanent_error

        if getattr(err, "code", None) in PER_PERSON_CODES or not is_permanent_error(err):
            failed[person] = reason_of(err)
            return
        raise AirflowFailException(str(err)) from None

    def _buzz(self, target: ReadTarget, missing: list[str], failed: dict[str, str]) -> list[str]:
        from airflow_provider_feishu.api.errors import FeishuError

        reminded: list[str] = []
        if target.message_ids is not None:
            id_type = self._keys_id_type()
            if id_type not in ("open_id", "user_id", "union_id"):
                raise AirflowFailException(
                    f"method='buzz' needs people named by open_id, user_id or union_id; these are {id_type}s. "
                    "Use method='message' or method='reply' instead."
                )
            batches = [(target.message_ids[p], [p]) for p in missing]
        else:
            assert target.message_id is not None
            batches = [(target.message_id, missing[i : i + MAX_BUZZ_IDS]) for i in range(0, len(missing), MAX_BUZZ_IDS)]
            id_type = target.user_id_type
        for message_id, people in batches:
            try:
                result = self.hook.urgent_app(message_id, people, user_id_type=id_type)
            except FeishuError as err:
                if len(people) == 1:
                    self._per_person(err, people[0], failed)
                    continue
                if getattr(err, "code", None) not in PER_PERSON_CODES:
                    raise AirflowFailException(str(err)) from None
                # One person's limit (e.g. 230023) refuses the whole call: buzz one by one to find whom.
                reminded += self._buzz_each(message_id, people, id_type, failed)
                continue
            invalid = set(result.invalid_user_ids)
            for person in people:
                if person in invalid:
                    failed[person] = "not in the message's chat (Feishu's invalid_user_id_list)"
                else:
                    reminded.append(person)
        return reminded

    def _buzz_each(self, message_id: str, people: list[str], id_type: str, failed: dict[str, str]) -> list[str]:
        from airflow_provider_feishu.api.errors import FeishuError

        reminded = []
        for person in people:
            try:
                result = self.hook.urgent_app(message_id, [person], user_id_type=id_type)
            except FeishuError as err:
                self._per_person(err, person, failed)
                continue
            if result.invalid_user_ids:
                failed[person] = "not in the message's chat (Feishu's invalid_user_id_list)"
            else:
                reminded.append(person)
        return reminded

    def _reply(
        self, context: Context, target: ReadTarget, report: ReadReport, missing: list[str], failed: dict[str, str]
    ) -> list[str]:
        from airflow_provider_feishu import messages
        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.operators.send import task_instance_uuid
        from airflow_provider_feishu.operators.tracked_send import person_uuid

        text = self.text or DEFAULT_TEXT
        if target.message_ids is None:
            assert target.message_id is not None
            if target.user_id_type == "union_id":
                raise AirflowFailException("method='reply' @-mentions people by open_id or user_id, not union_id.")
            mentions = " ".join(messages.mention(p, report.name_of(p)) for p in missing)
            body = messages.text_message(f"{mentions} {text}")
            try:
                self.hook.reply_message(
                    target.message_id, body.msg_type, body.im_content(), uuid=task_instance_uuid(context)
                )
            except FeishuError as err:
                raise AirflowFailException(str(err)) from None
            return missing
        reminded = []
        for person in missing:
            body = messages.text_message(text)
            try:
                self.hook.reply_message(
                    target.message_ids[person], body.msg_type, body.im_content(), uuid=person_uuid(context, person)
                )
            except FeishuError as err:
                self._per_person(err, person, failed)
                continue
            reminded.append(person)
        return reminded

    def _message(self, context: Context, target: ReadTarget, missing: list[str], failed: dict[str, str]) -> list[str]:
        from airflow_provider_feishu import messages
        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.operators.tracked_send import person_uuid

        id_type = self._keys_id_type() if target.message_ids is not None else target.user_id_type
        body = messages.text_message(self.text or DEFAULT_TEXT)
        reminded = []
        for person in missing:
            try:
                self.hook.send_message(
                    person, body.msg_type, body.im_content(), receive_id_type=id_type, uuid=person_uuid(context, person)
                )
            except FeishuError as err:
                self._per_person(err, person, failed)
                continue
            reminded.append(person)
        return reminded
