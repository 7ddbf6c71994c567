"""What both Feishu notifiers share: the message arguments and how they become a message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_feishu.notifications.content import build_message
from airflow_provider_feishu.parse_time import check_id_list_at_parse_time

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.messages import Message


class FeishuMessageNotifier(BaseNotifier):
    """A notifier whose message is the default card, a text, or a titled card (see subclasses)."""

    def __init__(
        self,
        *,
        text: str | None = None,
        title: str | None = None,
        template: str | None = None,
        at_user_ids: Sequence[str] | str | None = None,
        at_all: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.title = title
        self.template = template
        self.at_user_ids = at_user_ids
        self.at_all = at_all
        check_id_list_at_parse_time("at_user_ids", at_user_ids)

    def message(self, context: Context) -> Message:
        """The message this notifier sends for ``context``."""
        return build_message(
            context,
            text=self.text,
            title=self.title,
            template=self.template,
            at_user_ids=self.at_user_ids,
            at_all=self.at_all,
        )
