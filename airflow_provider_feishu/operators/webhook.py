"""FeishuWebhookOperator: post a text or a card into a group through a custom bot's webhook.

Only ``airflow.sdk`` and light modules are imported at module level (DAG files import this); the
hook and its HTTP client load when the task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_feishu import messages
from airflow_provider_feishu.notifications.content import build_message
from airflow_provider_feishu.parse_time import check_id_list_at_parse_time
from airflow_provider_feishu.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook
    from airflow_provider_feishu.messages import Message


class FeishuWebhookOperator(BaseOperator):
    """Posts one message through a custom bot (``feishu_webhook`` connection).

    Give exactly one kind of message:

    * ``text``: a text message, with ``at_user_ids`` / ``at_all`` @mentions in front;
    * ``title`` (and optionally ``text`` as markdown): an interactive card coloured ``template``;
    * ``card``: a complete card (a dict, or JSON text as a template renders it).

    The webhook URL and signing secret live only in the connection; no argument takes them.
    A refusal that a retry cannot fix (bad token, bad signature, missing keyword, bad body), and a
    post whose outcome is unknown (its answer lost or garbled, a server error), fail the task
    without Airflow retries. Rate limits and refused connections stay retryable. A record written
    before posting (Airflow 3.3's task state store, or a Variable on 3.1/3.2) keeps it to one post
    per task instance even when the worker is killed mid-post.

    :param feishu_webhook_conn_id: the ``feishu_webhook`` connection. Templated.
    :param text: message text, or the card's markdown body when ``title`` is set. Templated.
    :param title: card title. Templated.
    :param template: card header colour: blue (default), green, red, orange, grey, ...
    :param card: a whole card instead of ``text`` / ``title``. Templated.
    :param at_user_ids: open_ids to @mention (a list, or a rendered ``"ou_1,ou_2"``). Templated.
    :param at_all: @mention everyone in the group.
    """

    template_fields: Sequence[str] = ("feishu_webhook_conn_id", "text", "title", "card", "at_user_ids")
    template_fields_renderers = {"card": "json", "text": "md"}
    ui_color = "#3370ff"

    def __init__(
        self,
        *,
        feishu_webhook_conn_id: str = "feishu_webhook_default",
        text: str | None = None,
        title: str | None = None,
        template: str = "blue",
        card: Mapping[str, Any] | str | None = None,
        at_user_ids: Sequence[str] | str | None = None,
        at_all: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if card is not None and (text is not None or title is not None):
            raise ValueError("FeishuWebhookOperator takes either card, or text / title; not both.")
        if card is None and not text and not title:
            raise ValueError("FeishuWebhookOperator needs text, title or card.")
        if template not in messages.CARD_TEMPLATES:
            raise ValueError(f"template must be one of {', '.join(messages.CARD_TEMPLATES)}; got {template!r}.")
        self.feishu_webhook_conn_id = feishu_webhook_conn_id
        self.text = text
        self.title = title
        self.template = template
        self.card = card
        self.at_user_ids = at_user_ids
        self.at_all = at_all
        check_id_list_at_parse_time("at_user_ids", at_user_ids)

    @cached_property
    def hook(self) -> FeishuWebhookHook:
        from airflow_provider_feishu.hooks.webhook import FeishuWebhookHook

        return FeishuWebhookHook(feishu_webhook_conn_id=self.feishu_webhook_conn_id)

    def build_message(self) -> Message:
        """The message to post, from the rendered fields."""
        if self.card is not None:
            return messages.raw_card_message(self.card)
        return build_message(
            {},
            text=self.text or None,
            title=self.title or None,
            template=self.template,
            at_user_ids=self.at_user_ids,
            at_all=self.at_all,
        )

    def execute(self, context: Context) -> None:
        from airflow_provider_feishu.api.errors import FeishuError, certainly_not_processed
        from airflow_provider_feishu.operators.send_record import WEBHOOK_RECORD_KEY, SendOnce

        try:
            message = self.build_message()
        except ValueError as err:
            raise AirflowFailException(f"Cannot build the Feishu message: {err}") from None
        # A webhook post has no idempotency key: a durable record, written before posting, stops a
        # retry after a killed worker from posting twice (see send_record.py).
        once = SendOnce(context, WEBHOOK_RECORD_KEY, "webhook message", self.log)
        if once.earlier() is not None:
            return
        once.begin()
        try:
            self.hook.send_message(message)
        except FeishuError as err:
            if not certainly_not_processed(err):
                raise once.unknown_outcome(err) from None
            once.not_sent()  # refused before anything was posted
            if err.retryable:
                raise  # a rate limit or a refused connection: an Airflow retry is safe
            raise AirflowFailException(str(err)) from None
        once.sent(None, {})
