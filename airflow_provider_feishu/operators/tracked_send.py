"""Sending so that reads can be tracked per person: one im/v1 message to each person.

Only ``airflow.sdk`` and light modules are imported at module level (DAG files import this).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.operators.send import _FeishuSendBase, id_list, task_instance_uuid
from airflow_provider_feishu.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context


def person_uuid(context: Context, person: str) -> str:
    """The idempotency key of this task instance's message to ``person``: the same on every retry, <= 50 chars.

    Feishu delivers at most one message per uuid within an hour (Feishu docs: message create), so
    a retried task never sends anyone a second copy.
    """
    digest = hashlib.sha256(f"{task_instance_uuid(context)}/{person}".encode()).hexdigest()
    return "af-" + digest[:47]


#: The id lists a tracked send takes, and the receive_id_type each means.
ID_LISTS = {"open_ids": "open_id", "user_ids": "user_id", "union_ids": "union_id", "emails": "email"}
#: Codes that concern one recipient, not the send as a whole (Feishu docs: message create).
PER_RECIPIENT_CODES = frozenset({230013, 230029, 230034, 230035, 230038, 230053})


class FeishuTrackedSendOperator(_FeishuSendBase):
    """Sends one im/v1 message to each person, so that who has read can be known per person.

    People come from one id list (``open_ids``, ``user_ids``, ``union_ids`` or ``emails``) plus the
    members of ``chat_ids`` (not with emails) and of ``department_ids`` (with their sub-departments),
    fetched when the task runs as ids of the same type.
    Each message carries a ``uuid`` derived from the task instance and the person, so a retried
    task never sends anyone a second copy: Feishu delivers each uuid at most once within an hour,
    and answers a repeat with the first message (Feishu docs: message create). Sends go out
    one after another at the connection's rate limit (Feishu: 50/s and 1000/min per app); each
    person gets one message, well under Feishu's 5 per second to one user.

    Returns (XCom) ``{"receive_id_type": ..., "message_ids": {person: message_id},
    "failed": {person: reason}}``, which ``FeishuMessageReadSensor(message_ids=...)`` and
    ``FeishuRemindUnreadOperator(message_ids=...)`` take as it is. A person Feishu refuses (not
    in the app's availability, resigned, blocked the bot...) is listed in ``failed`` and logged; a
    send that failed for a passing reason (rate limit, lost connection) fails the task so that its
    retry reaches the missing, and only them.

    :param open_ids: / ``user_ids`` / ``union_ids`` / ``emails``: the people (templated; one kind).
    :param chat_ids: chats whose members are added (templated).
    :param department_ids: departments (``open_department_id``) whose people are added, within the
        app's contact scope (templated).
    :param text: / ``post`` / ``card`` / ``image_key`` / ``share_chat_id`` / ``message``: the body.
    :param feishu_conn_id: the ``feishu`` connection.
    """

    template_fields: Sequence[str] = (
        "text",
        "post",
        "card",
        "open_ids",
        "user_ids",
        "union_ids",
        "emails",
        "chat_ids",
        "department_ids",
    )
    template_fields_renderers = {"post": "json", "card": "json"}
    ui_color = "#d6ecff"

    def __init__(
        self,
        *,
        open_ids: list[str] | str | None = None,
        user_ids: list[str] | str | None = None,
        union_ids: list[str] | str | None = None,
        emails: list[str] | str | None = None,
        chat_ids: list[str] | str | None = None,
        department_ids: list[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.department_ids = department_ids
        self.open_ids = open_ids
        self.user_ids = user_ids
        self.union_ids = union_ids
        self.emails = emails
        self.chat_ids = chat_ids

    def recipients(self) -> tuple[str, list[str]]:
        """The receive_id_type and the people (de-duplicated, in order), chat members included."""
        given = {name: id_list(name, getattr(self, name)) for name in ID_LISTS}
        kinds = [name for name, ids in given.items() if ids]
        if len(kinds) > 1:
            raise AirflowFailException(
                f"Give one kind of id ({', '.join(kinds)} were given): the XCom keys share one receive_id_type."
            )
        chats = id_list("chat_ids", self.chat_ids) or []
        departments = id_list("department_ids", self.department_ids) or []
        if not kinds and not chats and not departments:
            raise AirflowFailException(
                "Give the people: open_ids, user_ids, union_ids or emails, and/or chat_ids or department_ids."
            )
        receive_id_type = ID_LISTS[kinds[0]] if kinds else "open_id"
        people = list(given[kinds[0]] or []) if kinds else []
        if chats and receive_id_type == "email":
            raise AirflowFailException("chat_ids cannot be combined with emails: chat member lists carry no emails.")
        for chat_id in chats:
            members = self.hook.list_chat_members(chat_id, member_id_type=receive_id_type)
            self.log.info("Chat %s has %d members", chat_id, len(members))
            people += [m.member_id for m in members]
        for department_id in departments:
            lookup = "open_id" if receive_id_type == "email" else receive_id_type
            users = self.hook.list_department_users(department_id, user_id_type=lookup)
            ids = [u.id_of(receive_id_type) for u in users]
            if not all(ids):
                self.log.warning(
                    "%d people of department %s have no %s visible to the app; they are left out",
                    ids.count(""),
                    department_id,
                    receive_id_type,
                )
            self.log.info("Department %s has %d people", department_id, len(users))
            people += [i for i in ids if i]
        return receive_id_type, list(dict.fromkeys(people))

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.exceptions import AirflowException

        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.threshold import is_permanent_error

        message = self._build_message()
        try:
            receive_id_type, people = self.recipients()
        except FeishuError as err:
            self._fail_on_permanent(err)
            raise
        self.log.info("Sending a %s message to each of %d people (%s)", message.msg_type, len(people), receive_id_type)
        message_ids: dict[str, str] = {}
        failed: dict[str, str] = {}
        passing: list[str] = []
        for person in people:
            try:
                sent = self.hook.send_message(
                    person,
                    message.msg_type,
                    message.im_content(),
                    receive_id_type=receive_id_type,
                    uuid=person_uuid(context, person),
                )
            except FeishuError as err:
                code = getattr(err, "code", None)
                if is_permanent_error(err) and code not in PER_RECIPIENT_CODES:
                    raise AirflowFailException(
                        f"{err} (sent to {len(message_ids)} of {len(people)} before this; a rerun sends each "
                        "of them nothing new)"
                    ) from None
                failed[person] = f"{code}: {getattr(err, 'msg', err)}" if code is not None else str(err)
                if not is_permanent_error(err):
                    passing.append(person)
                continue
            message_ids[person] = sent.message_id
        result = {"receive_id_type": receive_id_type, "message_ids": message_ids, "failed": failed}
        self.log.info("Sent %d of %d messages", len(message_ids), len(people))
        if failed:
            self.log.warning("Not sent to %d: %s", len(failed), ", ".join(f"{p} ({r})" for p, r in failed.items()))
        if passing:
            raise AirflowException(
                f"{len(passing)} sends failed for a passing reason; a task retry sends to them only "
                "(the others' uuids make Feishu return their first message)."
            )
        if people and not message_ids:
            raise AirflowFailException(f"Feishu refused every recipient: {next(iter(failed.values()))}")
        return result
