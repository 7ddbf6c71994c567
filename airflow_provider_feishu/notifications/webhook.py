"""FeishuWebhookNotifier: task and DAG callbacks posted into a group by a custom bot's webhook.

.. code-block:: python

    from airflow_provider_feishu.notifications.webhook import FeishuWebhookNotifier

    DAG(..., default_args={"on_failure_callback": FeishuWebhookNotifier()})  # default failure card

Light at import time (DAG files import it while being parsed): the hook, ``requests`` and
``httpx`` are imported only when a notification is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.notifications.base import FeishuMessageNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook


class FeishuWebhookNotifier(FeishuMessageNotifier):
    """Posts a notification through a custom bot (``feishu_webhook`` connection).

    Without ``text`` and ``title`` it posts a card about the task: red on failure, with the dag,
    task and run ids, the try, the exception and a link to the task's log. With ``text`` it posts
    that text (@mentions prepended); with ``title`` a card whose body is ``text`` as markdown.

    A webhook has no idempotency key: a post whose answer was lost is not repeated (it may have
    arrived), and a callback that runs twice posts twice. Use :class:`FeishuNotifier` (app bot)
    where exactly-once matters.

    :param feishu_webhook_conn_id: the ``feishu_webhook`` connection. Templated.
    :param text: message text (Jinja templated); markdown when ``title`` is set.
    :param title: card title (templated); turns the message into a card.
    :param template: card header colour (blue, green, red, orange, grey, ...); default by state.
    :param at_user_ids: open_ids to @mention (a list, or a rendered ``"ou_1,ou_2"``). Templated.
    :param at_all: @mention everyone in the group.
    """

    template_fields: Sequence[str] = ("feishu_webhook_conn_id", "text", "title", "at_user_ids")

    def __init__(
        self,
        *,
        feishu_webhook_conn_id: str = "feishu_webhook_default",
        text: str | None = None,
        title: str | None = None,
        template: str | None = None,
        at_user_ids: Sequence[str] | str | None = None,
        at_all: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(text=text, title=title, template=template, at_user_ids=at_user_ids, at_all=at_all, **kwargs)
        self.feishu_webhook_conn_id = feishu_webhook_conn_id

    @cached_property
    def hook(self) -> FeishuWebhookHook:
        """The webhook hook, built on first use (after templating)."""
        from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook

        return FeishuWebhookHook(feishu_webhook_conn_id=self.feishu_webhook_conn_id)

    def notify(self, context: Context) -> None:
        self.hook.send_message(self.message(context))

    async def async_notify(self, context: Context) -> None:
        """:meth:`notify` over httpx, for the triggerer and deadline alerts: never blocks the loop."""
        await self.hook.asend_message(self.message(context))


#: Functional alias, as ``send_slack_webhook_notification``.
send_feishu_webhook_notification = FeishuWebhookNotifier
