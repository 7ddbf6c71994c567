"""Operators that send Feishu messages and return their ids to XCom for the tasks that follow.

* :class:`FeishuBatchSendOperator`: one message to many users or departments (message/v4/batch_send);
  returns the batch message id that :class:`~airflow_provider_feishu.sensors.batch_read.FeishuReadThresholdSensor`
  waits on. A durable record (``send_record.py``) keeps it to one send per task instance, even
  across a retry after the worker was killed.
* :class:`FeishuSendMessageOperator`: one im/v1 message to a user or a chat, with an idempotency
  ``uuid`` derived from the task instance so a retried task never sends twice.

Only ``airflow.sdk`` and light modules are imported at module level (DAG files import this).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_feishu import messages
from airflow_provider_feishu.id_lists import id_list
from airflow_provider_feishu.messages import Message
from airflow_provider_feishu.parse_time import check_id_list_at_parse_time, is_deferred
from airflow_provider_feishu.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.api.results import BatchSendResult
    from airflow_provider_feishu.hooks.feishu import FeishuHook

BATCH_SEND_RESULT_KEY = "batch_send_result"


def recipient_ids(name: str, value: Any) -> list[str] | None:
    """An id-list argument (a list or a rendered template string) as ids, ``None`` when empty.

    The conversion is :func:`airflow_provider_feishu.id_lists.id_list`, shared with the notifiers;
    a bad value fails the task without a retry (rendering it again gives the same value).
    """
    try:
        return id_list(name, value) or None
    except ValueError as err:
        raise AirflowFailException(str(err)) from None


def rejected_recipients(recipients: Mapping[str, Sequence[str] | None], result: BatchSendResult) -> str | None:
    """The rejected ids, quoted per list, when Feishu rejected every id given; else ``None``.

    batch_send accepts a batch whose ids are all invalid (Feishu docs: batch_send, "the valid ones
    are still sent to") and get_progress then reports 0 valid recipients for ever.
    """
    invalid = {
        "department_ids": result.invalid_department_ids,
        "open_ids": result.invalid_open_ids,
        "user_ids": result.invalid_user_ids,
        "union_ids": result.invalid_union_ids,
    }
    given = {name: ids for name, ids in recipients.items() if ids}
    if not given or any(not set(ids) <= set(invalid.get(name, ())) for name, ids in given.items()):
        return None
    shown = 10
    parts = []
    for name, ids in invalid.items():
        if ids:
            more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
            parts.append(f"{name} {', '.join(repr(i) for i in ids[:shown])}{more}")
    return "; ".join(parts)


BODY_ARGUMENTS = ("text", "post", "card", "image_key", "share_chat_id", "message")
RECIPIENT_LISTS = ("department_ids", "open_ids", "user_ids", "union_ids")


def check_body_at_parse_time(operator: str, bodies: Mapping[str, Any]) -> None:
    """No body, or two literal bodies, is a ``ValueError`` when the DAG is parsed.

    Two bodies of which one is a template are left to run time: the template may render empty.
    """
    given = [name for name in BODY_ARGUMENTS if bodies.get(name) not in (None, "")]
    choices = "text, post, card, image_key, share_chat_id or message"
    if not given:
        raise ValueError(f"{operator} needs a body: give exactly one of {choices}.")
    if len(given) > 1 and not any(is_deferred(bodies[name]) for name in given):
        raise ValueError(f"{operator} takes exactly one of {choices}; got {', '.join(given)}.")


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    """A dict argument that a template may have rendered to a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise AirflowFailException(f"{name} must be a dict or a JSON object string.") from None
    if not isinstance(value, Mapping):
        raise AirflowFailException(f"{name} must be a dict, got {type(value).__name__}.")
    return value


def build_message(
    *,
    text: str | None = None,
    post: Mapping[str, Any] | str | None = None,
    card: Mapping[str, Any] | str | None = None,
    image_key: str | None = None,
    share_chat_id: str | None = None,
    message: Message | None = None,
    mentions: Sequence[str] = (),
) -> Message:
    """Exactly one kind of body -> a :class:`~airflow_provider_feishu.messages.Message`.

    ``post`` is the language map (``{"zh_cn": {"title": ..., "content": [[...]]}}``); a map already
    wrapped in ``{"post": ...}`` is unwrapped.
    """
    given = [
        k
        for k, v in (
            ("text", text),
            ("post", post),
            ("card", card),
            ("image_key", image_key),
            ("share_chat_id", share_chat_id),
            ("message", message),
        )
        if v not in (None, "")
    ]
    if len(given) != 1:
        raise AirflowFailException(
            "Give exactly one of text, post, card, image_key, share_chat_id or message; "
            f"got {', '.join(given) or 'none'}."
        )
    try:
        if message is not None:
            return message
        if text not in (None, ""):
            assert text is not None
            return messages.text_message(
                str(text), mentions=[m for m in mentions if m != "all"], mention_everyone="all" in mentions
            )
        if post not in (None, ""):
            body = dict(_mapping("post", post))
            if set(body) == {"post"} and isinstance(body["post"], Mapping):
                body = dict(body["post"])
            return Message("post", body)
        if card not in (None, ""):
            return messages.raw_card_message(card)
        if image_key:
            return messages.image_message(image_key)
        assert share_chat_id is not None
        return messages.share_chat_message(share_chat_id)
    except ValueError as err:
        raise AirflowFailException(str(err)) from None


def task_instance_uuid(context: Context) -> str:
    """A stable idempotency key for this task instance: the same on every retry, <= 50 chars."""
    from airflow_provider_feishu.api.endpoints import MAX_UUID_CHARS

    ti = context["ti"]
    key = f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{getattr(ti, 'map_index', -1)}"
    return "af-" + hashlib.sha256(key.encode()).hexdigest()[: MAX_UUID_CHARS - 3]


class _FeishuSendBase(BaseOperator):
    """Shared plumbing: the message body (exactly one kind), the connection id and a lazy hook."""

    def __init__(
        self,
        *,
        text: str | None = None,
        post: Mapping[str, Any] | str | None = None,
        card: Mapping[str, Any] | str | None = None,
        image_key: str | None = None,
        share_chat_id: str | None = None,
        message: Message | None = None,
        feishu_conn_id: str = "feishu_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.post = post
        self.card = card
        self.image_key = image_key
        self.share_chat_id = share_chat_id
        self.message = message
        self.feishu_conn_id = feishu_conn_id

    def _bodies(self) -> dict[str, Any]:
        """The body arguments as given, by name."""
        return {name: getattr(self, name) for name in BODY_ARGUMENTS}

    def _build_message(self, mentions: Sequence[str] = ()) -> Message:
        """The rendered body as a :class:`~airflow_provider_feishu.messages.Message`."""
        return build_message(
            text=self.text,
            post=self.post,
            card=self.card,
            image_key=self.image_key,
            share_chat_id=self.share_chat_id,
            message=self.message,
            mentions=mentions,
        )

    @cached_property
    def hook(self) -> FeishuHook:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def _fail_on_permanent(self, err: Exception) -> None:
        from airflow_provider_feishu.threshold import is_permanent_error

        if is_permanent_error(err):
            raise AirflowFailException(str(err)) from None


class FeishuBatchSendOperator(_FeishuSendBase):
    """Sends one message to many users or departments and returns the batch message id.

    The return value (XCom ``return_value``) is the ``bm-...`` id string; the full result, with the
    ids Feishu could not use, is pushed under XCom key ``batch_send_result``. Batch sending is
    asynchronous: wait for reads with ``FeishuReadThresholdSensor``.

    At most one batch per task instance: a record written before sending (Airflow 3.3's task state
    store, or a Variable on 3.1/3.2) makes a later try return the batch it sent, or fail without
    sending when the earlier try never learnt whether Feishu accepted it.

    :param text: a text message (templated).
    :param post: a rich-text post, as its language map (templated).
    :param card: an interactive card (dict or JSON string, templated).
    :param image_key: an image uploaded earlier; ``share_chat_id``: a group card.
    :param message: a prebuilt :class:`~airflow_provider_feishu.messages.Message`.
    :param department_ids: / ``open_ids`` / ``user_ids`` / ``union_ids``: recipients, up to 200
        per list (templated; a rendered list string or comma-separated ids also work).
    :param feishu_conn_id: the ``feishu`` connection.
    """

    template_fields: Sequence[str] = (
        "text",
        "post",
        "card",
        "image_key",
        "share_chat_id",
        "department_ids",
        "open_ids",
        "user_ids",
        "union_ids",
    )
    template_fields_renderers = {"post": "json", "card": "json"}
    ui_color = "#d6ecff"

    def __init__(
        self,
        *,
        text: str | None = None,
        post: Mapping[str, Any] | str | None = None,
        card: Mapping[str, Any] | str | None = None,
        image_key: str | None = None,
        share_chat_id: str | None = None,
        message: Message | None = None,
        department_ids: list[str] | str | None = None,
        open_ids: list[str] | str | None = None,
        user_ids: list[str] | str | None = None,
        union_ids: list[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            text=text,
            post=post,
            card=card,
            image_key=image_key,
            share_chat_id=share_chat_id,
            message=message,
            **kwargs,
        )
        self.department_ids = department_ids
        self.open_ids = open_ids
        self.user_ids = user_ids
        self.union_ids = union_ids
        self._check_at_parse_time()

    def _check_at_parse_time(self) -> None:
        """Literal mistakes fail the DAG parse: no body, two bodies, no recipient, a bad or 201st id."""
        from airflow_provider_feishu.api.endpoints import MAX_IDS_PER_LIST

        check_body_at_parse_time(type(self).__name__, self._bodies())
        lists = {name: getattr(self, name) for name in RECIPIENT_LISTS}
        known = {
            name: check_id_list_at_parse_time(name, value, limit=MAX_IDS_PER_LIST) for name, value in lists.items()
        }
        if all(ids == [] for ids in known.values()):
            raise ValueError(
                f"{type(self).__name__} has no recipient: give department_ids, open_ids, user_ids or union_ids."
            )

    def execute(self, context: Context) -> str:
        from airflow_provider_feishu.api.errors import FeishuError, certainly_not_processed
        from airflow_provider_feishu.operators.send_record import RECORD_KEY, SendOnce

        message = self._build_message()
        recipients: dict[str, Any] = {
            "department_ids": recipient_ids("department_ids", self.department_ids),
            "open_ids": recipient_ids("open_ids", self.open_ids),
            "user_ids": recipient_ids("user_ids", self.user_ids),
            "union_ids": recipient_ids("union_ids", self.union_ids),
        }
        payload = message.batch_payload()
        # batch_send has no idempotency key: a durable record, written before sending, is what stops
        # a retry after a killed worker from sending the batch twice (see send_record.py).
        once = SendOnce(context, RECORD_KEY, "batch message", self.log, needs_id=True)
        earlier = once.earlier()
        if earlier is not None and earlier.sent_id is not None:
            if earlier.result:
                context["ti"].xcom_push(key=BATCH_SEND_RESULT_KEY, value=earlier.result)
            return earlier.sent_id
        once.begin()
        counts = ", ".join(f"{len(v)} {k}" for k, v in recipients.items() if v) or "no recipients"
        self.log.info("Sending a %s batch message to %s", message.msg_type, counts)
        try:
            result = self.hook.batch_send_message(
                payload["msg_type"], content=payload.get("content"), card=payload.get("card"), **recipients
            )
        except FeishuError as err:
            if not certainly_not_processed(err):
                raise once.unknown_outcome(err) from None
            once.not_sent()  # Feishu refused it before doing anything: nothing went out
            self._fail_on_permanent(err)
            raise
        context["ti"].xcom_push(key=BATCH_SEND_RESULT_KEY, value=result.to_dict())
        rejected = rejected_recipients(recipients, result)
        if rejected:
            once.not_sent()  # it reached nobody: a corrected send must not be blocked
            raise AirflowFailException(
                f"Feishu accepted batch message {result.batch_message_id} but found no valid recipient: it rejected "
                f"every id ({rejected}). Check the ids: department ids (or open_department_ids od-...) and user ids "
                "of this tenant, visible to this app; nobody will receive or read this batch."
            )
        once.sent(result.batch_message_id, result.to_dict())
        if result.invalid_count:
            self.log.warning(
                "Feishu could not use %d of the ids (%d departments, %d open_ids, %d user_ids, %d union_ids); "
                "see XCom %r for which",
                result.invalid_count,
                len(result.invalid_department_ids),
                len(result.invalid_open_ids),
                len(result.invalid_user_ids),
                len(result.invalid_union_ids),
                BATCH_SEND_RESULT_KEY,
            )
        self.log.info("Batch message %s accepted", result.batch_message_id)
        return result.batch_message_id


class FeishuSendMessageOperator(_FeishuSendBase):
    """Sends one im/v1 message to a user or a chat and returns its ``message_id``.

    The idempotency ``uuid`` defaults to a hash of dag_id / task_id / run_id / map_index, so a
    retry of the same task instance within an hour is delivered at most once.

    :param receive_id: the user (open_id, user_id, union_id, email) or chat (chat_id) id (templated).
    :param receive_id_type: which kind of id ``receive_id`` is (templated).
    :param text: / ``post`` / ``card`` / ``image_key`` / ``share_chat_id`` / ``message``: the body,
        exactly one (text, post and card are templated).
    :param mentions: open_ids to @mention at the start of a text message (``"all"`` for everyone).
    :param uuid: an explicit idempotency key (<= 50 chars); ``None`` derives one from the task instance.
    :param feishu_conn_id: the ``feishu`` connection.
    """

    template_fields: Sequence[str] = ("receive_id", "receive_id_type", "text", "post", "card", "mentions", "uuid")
    template_fields_renderers = {"post": "json", "card": "json"}
    ui_color = "#d6ecff"

    def __init__(
        self,
        *,
        receive_id: str,
        receive_id_type: str = "open_id",
        text: str | None = None,
        post: Mapping[str, Any] | str | None = None,
        card: Mapping[str, Any] | str | None = None,
        image_key: str | None = None,
        share_chat_id: str | None = None,
        message: Message | None = None,
        mentions: Sequence[str] = (),
        uuid: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            text=text,
            post=post,
            card=card,
            image_key=image_key,
            share_chat_id=share_chat_id,
            message=message,
            **kwargs,
        )
        self.receive_id = receive_id
        self.receive_id_type = receive_id_type
        self.mentions = mentions
        self.uuid = uuid
        check_body_at_parse_time(type(self).__name__, self._bodies())
        if receive_id is None or (isinstance(receive_id, str) and not receive_id.strip()):
            raise ValueError(f"{type(self).__name__} receive_id is empty: give the user or chat id to send to.")
        check_id_list_at_parse_time("mentions", mentions)

    def execute(self, context: Context) -> str:
        from airflow_provider_feishu.api.errors import FeishuError

        message = self._build_message(mentions=recipient_ids("mentions", self.mentions) or ())
        uuid = self.uuid or task_instance_uuid(context)
        self.log.info("Sending a %s message to %s %s", message.msg_type, self.receive_id_type, self.receive_id)
        try:
            sent = self.hook.send_message(
                self.receive_id, message.msg_type, message.im_content(), receive_id_type=self.receive_id_type, uuid=uuid
            )
        except FeishuError as err:
            self._fail_on_permanent(err)
            raise
        self.log.info("Message %s sent", sent.message_id)
        return sent.message_id
