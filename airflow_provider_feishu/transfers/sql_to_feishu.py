"""SqlToFeishuOperator: run a SQL query on any Airflow SQL connection and send the result to Feishu.

Small results go as a card with a table; large ones as an uploaded CSV file after a short card
that gives the row count. Works with every connection whose hook is a ``common.sql``
``DbApiHook`` (Postgres, MySQL, SQLite, Snowflake, Trino...), like Slack's
``SqlToSlackApiFileOperator``. Only ``airflow.sdk`` and light modules are imported at module level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator

from airflow_provider_feishu.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.hooks.feishu import FeishuHook

#: Rows read at most; more are left out (and the message says so). A CSV must stay under 30 MB.
DEFAULT_MAX_ROWS = 100_000
#: Results with at most this many rows (and columns that fit) go as a card table.
DEFAULT_MAX_CARD_ROWS = 20
#: Leave room under Feishu's 30 KB card limit for the header and summary.
MAX_TABLE_CARD_BYTES = 28 * 1024


def part_uuid(base: str, part: str) -> str:
    """An idempotency key for one of several messages of a task instance (<= 50 chars)."""
    return "af-" + hashlib.sha256(f"{base}/{part}".encode()).hexdigest()[:47]


def fetch_result(hook: Any, sql: str | list[str], parameters: Any, max_rows: int) -> tuple[list[str], list[tuple]]:
    """The column names and at most ``max_rows + 1`` rows of the query's (last) result set."""

    def handler(cursor: Any) -> tuple[list[str], list[tuple]]:
        if cursor.description is None:
            return [], []
        columns = [str(d[0]) for d in cursor.description]
        return columns, [tuple(row) for row in cursor.fetchmany(max_rows + 1)]

    result = hook.run(sql, parameters=parameters, handler=handler, return_last=True)
    if not isinstance(result, tuple):  # a hook that does not hand back the handler's value
        raise AirflowFailException("The SQL hook returned no result set; the query must end in a SELECT.")
    return result


class SqlToFeishuOperator(BaseOperator):
    """Runs a SQL query and sends the result to a Feishu chat or person; returns the message id.

    At most ``max_card_rows`` rows (and 50 columns) go as a card table; larger results as a CSV
    file (``file_name``) after a card with the row count. At most ``max_rows`` rows are read; a
    result cut there says so. The CSV is refused if it passes Feishu's 30 MB file limit: filter
    or aggregate in SQL, or lower ``max_rows``. Every message carries an idempotency key from
    the task instance, so a retried task does not post twice within the hour.

    :param sql: the query, or a list of statements whose last one returns the rows (templated;
        ``.sql`` files are read).
    :param conn_id: an Airflow connection whose hook is a ``common.sql`` ``DbApiHook``.
    :param receive_id: the chat (``oc_...``) or user id to send to (templated).
    :param receive_id_type: ``chat_id`` (default), ``open_id``, ``user_id``, ``union_id`` or ``email``.
    :param parameters: query parameters, passed to the database driver (templated).
    :param title: the card's title (templated).
    :param max_card_rows: the most rows sent as a card table (0 always sends a file).
    :param max_rows: the most rows read from the database.
    :param file_name: the CSV's name in Feishu (templated).
    :param send_empty: send a "0 rows" card for an empty result (default) or send nothing.
    :param feishu_conn_id: the ``feishu`` connection.
    """

    template_fields: Sequence[str] = ("sql", "parameters", "receive_id", "receive_id_type", "title", "file_name")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    ui_color = "#d6ecff"

    def __init__(
        self,
        *,
        sql: str | list[str],
        conn_id: str,
        receive_id: str,
        receive_id_type: str = "chat_id",
        parameters: Mapping[str, Any] | Iterable[Any] | None = None,
        title: str = "Query result",
        max_card_rows: int = DEFAULT_MAX_CARD_ROWS,
        max_rows: int = DEFAULT_MAX_ROWS,
        file_name: str = "query_result.csv",
        send_empty: bool = True,
        feishu_conn_id: str = "feishu_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 <= max_card_rows <= max_rows:
            raise ValueError(f"max_card_rows must be between 0 and max_rows ({max_rows}); got {max_card_rows}.")
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1; got {max_rows}.")
        self.sql = sql
        self.conn_id = conn_id
        self.receive_id = receive_id
        self.receive_id_type = receive_id_type
        self.parameters = parameters
        self.title = title
        self.max_card_rows = max_card_rows
        self.max_rows = max_rows
        self.file_name = file_name
        self.send_empty = send_empty
        self.feishu_conn_id = feishu_conn_id

    @cached_property
    def hook(self) -> FeishuHook:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def sql_hook(self) -> Any:
        """The connection's hook, which must be a ``common.sql`` ``DbApiHook``."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        hook = BaseHook.get_connection(self.conn_id).get_hook()
        if not isinstance(hook, DbApiHook):
            raise AirflowFailException(
                f"Connection {self.conn_id!r} has a {type(hook).__name__}, not a SQL (common.sql DbApiHook) hook; "
                "use a database connection such as postgres, mysql or sqlite."
            )
        return hook

    def execute(self, context: Context) -> str | None:
        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.operators.send import task_instance_uuid
        from airflow_provider_feishu.threshold import is_permanent_error

        columns, rows = fetch_result(self.sql_hook(), self.sql, self.parameters, self.max_rows)
        if not columns:
            raise AirflowFailException("The query returned no result set; SqlToFeishuOperator needs a SELECT.")
        truncated = len(rows) > self.max_rows
        rows = rows[: self.max_rows]
        self.log.info("Query returned %d rows x %d columns%s", len(rows), len(columns), " (cut)" if truncated else "")
        if not rows and not self.send_empty:
            self.log.info("Empty result and send_empty=False: nothing sent")
            return None
        base_uuid = task_instance_uuid(context)
        try:
            return self._send(columns, rows, truncated, base_uuid)
        except FeishuError as err:
            if is_permanent_error(err):
                raise AirflowFailException(str(err)) from None
            raise

    def _send(self, columns: list[str], rows: list[tuple], truncated: bool, base_uuid: str) -> str:
        from airflow_provider_feishu.table_card import MAX_TABLE_COLUMNS, card_size, result_csv, table_card

        count = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
        cut = f" (the first {self.max_rows:,}; the query returned more)" if truncated else ""
        if len(rows) <= self.max_card_rows and len(columns) <= MAX_TABLE_COLUMNS:
            card = table_card(str(self.title), columns, rows, summary=f"**{count}**{cut}")
            if card_size(card) <= MAX_TABLE_CARD_BYTES:
                return self._send_message("interactive", card, part_uuid(base_uuid, "table"))
            self.log.info("The table card would pass Feishu's 30 KB card limit; sending a CSV file instead")
        file_name = str(self.file_name)
        summary = table_card(str(self.title), columns, [], summary=f"**{count}**{cut}, attached as `{file_name}`")
        data = result_csv(columns, rows)
        self.log.info("Uploading %s (%d bytes)", file_name, len(data))
        file_key = self.hook.upload_file(data, "stream", file_name=file_name)
        self._send_message("interactive", summary, part_uuid(base_uuid, "summary"))
        return self._send_message("file", {"file_key": file_key}, part_uuid(base_uuid, "file"))

    def _send_message(self, msg_type: str, content: Mapping[str, Any], uuid: str) -> str:
        sent = self.hook.send_message(
            self.receive_id, msg_type, content, receive_id_type=self.receive_id_type, uuid=uuid
        )
        self.log.info("Sent %s message %s", msg_type, sent.message_id)
        return sent.message_id
