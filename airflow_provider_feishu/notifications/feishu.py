"""FeishuNotifier: task and DAG callbacks as messages from the app's bot (im/v1) to a chat or a user.

.. code-block:: python

    from airflow_provider_feishu.notifications.feishu import FeishuNotifier

    PythonOperator(
        task_id="load",
        python_callable=load,
        on_failure_callback=FeishuNotifier(receive_id="oc_0123456789abcdef"),  # default failure card
    )

Light at import time (DAG files import it while being parsed): the hook, ``requests`` and
``httpx`` are imported only when a notification is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.notifications.base import FeishuMessageNotifier
from airflow_provider_feishu.notifications.content import notification_uuid

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.hooks.feishu import FeishuHook
    from airflow_provider_feishu.messages import Message


class FeishuNotifier(FeishuMessageNotifier):
    """Sends a notification as the app's bot through im/v1, once per callback.

    Without ``text`` and ``title`` it sends a card about the task: red on failure, with the dag,
    task and run ids, the try, the exception and a link to the task's log. With ``text`` it sends
    that text (@mentions prepended); with ``title`` a card whose body is ``text`` as markdown.

    Each message carries a ``uuid`` derived from the run, task, try, recipient and content, so a
    callback that runs twice for the same event posts once (Feishu keeps the key for an hour).

    :param feishu_conn_id: the ``feishu`` (app) connection. Templated.
    :param receive_id: the chat (``oc_...``) or user to notify. Templated.
    :param receive_id_type: ``chat_id`` (default), ``open_id``, ``user_id``, ``union_id`` or ``email``.
    :param text: message text (Jinja templated); markdown when ``title`` is set.
    :param title: card title (templated); turns the message into a card.
    :param template: card header colour (blue, green, red, orange, grey, ...); default by state.
    :param at_user_ids: open_ids to @mention (a list, or a rendered ``"ou_1,ou_2"``). Templated.
    :param at_all: @mention everyone in the chat.
    :param uuid: explicit idempotency key (at most 50 characters); default derived from the context.
    """

    template_fields: Sequence[str] = (
        "feishu_conn_id",
        "receive_id",
        "receive_id_type",
        "text",
        "title",
        "at_user_ids",
        "uuid",
    )

    def __init__(
        self,
        *,
        receive_id: str,
        receive_id_type: str = "chat_id",
        feishu_conn_id: str = "feishu_default",
        text: str | None = None,
        title: str | None = None,
        template: str | None = None,
        at_user_ids: Sequence[str] | str | None = None,
        at_all: bool = False,
        uuid: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(text=text, title=title, template=template, at_user_ids=at_user_ids, at_all=at_all, **kwargs)
        self.feishu_conn_id = feishu_conn_id
        self.receive_id = receive_id
        self.receive_id_type = receive_id_type
        self.uuid = uuid

    @cached_property
    def hook(self) -> FeishuHook:
        """The app hook, built on first use (after templating)."""
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def _uuid(self, context: Context, message: Message) -> str | None:
        return self.uuid or notification_uuid(context, self.receive_id_type, self.receive_id, message)

    def notify(self, context: Context) -> None:
        message = self.message(context)
        sent = self.hook.send_message(
            self.receive_id,
            message.msg_type,
            message.im_content(),
            receive_id_type=self.receive_id_type,
            uuid=self._uuid(context, message),
        )
        self.log.info(
            "Feishu notification sent to %s %s (message %s).", self.receive_id_type, self.receive_id, sent.message_id
        )

    async def async_notify(self, context: Context) -> None:
        """:meth:`notify` over httpx, for the triggerer and deadline alerts: never blocks the loop."""
        from airflow_provider_feishu.api.endpoints import create_message_request
        from airflow_provider_feishu.hooks.feishu_async import AsyncFeishuClient

        message = self.message(context)
        request = create_message_request(
            self.receive_id,
            message.msg_type,
            message.im_content(),
            receive_id_type=self.receive_id_type,
            uuid=self._uuid(context, message),
        )
        async with await AsyncFeishuClient.from_conn_id(self.feishu_conn_id) as client:
            sent = await client.call(request)
        self.log.info(
            "Feishu notification sent to %s %s (message %s).", self.receive_id_type, self.receive_id, sent.message_id
        )


#: Functional alias, as ``send_slack_notification``: ``on_failure_callback=send_feishu_notification(...)``.
send_feishu_notification = FeishuNotifier
