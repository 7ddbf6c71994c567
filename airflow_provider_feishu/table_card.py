"""Query results as a card table or a CSV file: pure builders, no I/O, no Airflow.

The card uses Feishu's ``table`` component (card JSON 1.0, shown by Feishu clients from 7.4; at
most 50 columns, 1-10 rows per page; Feishu docs: feishu-cards/card-components/content-components/table).
Cells are typed: numbers stay numbers (so Feishu aligns and formats them), everything else is text.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

MAX_TABLE_COLUMNS = 50  # columns beyond 50 are not shown (Feishu docs: table component)
TABLE_PAGE_SIZE = 10  # rows per page of the table, at most 10
MAX_CELL_CHARS = 200  # a card cell is one line; longer text is cut (the CSV keeps it whole)


def cell_text(value: Any) -> str:
    """A value as CSV / card text: ISO dates, ``""`` for NULL, hex for bytes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _card_cell(value: Any) -> Any:
    if _is_number(value):
        return value
    text = cell_text(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def table_card(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, summary: str, template: str = "blue"
) -> dict[str, Any]:
    """A card with ``summary`` (e.g. the row count) and the rows as a table (no table for 0 rows).

    Columns whose values are all numbers (or NULL) are ``number`` columns; the rest ``text``.
    """
    if len(columns) > MAX_TABLE_COLUMNS:
        raise ValueError(f"a card table shows at most {MAX_TABLE_COLUMNS} columns; got {len(columns)}.")
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": summary}}]
    if rows:
        # Column keys are positional: SQL column names may repeat or hold any character.
        keys = [f"c{i}" for i in range(len(columns))]
        numeric = [
            all(row[i] is None or _is_number(row[i]) for row in rows) and any(_is_number(row[i]) for row in rows)
            for i in range(len(columns))
        ]
        elements.append(
            {
                "tag": "table",
                "page_size": min(TABLE_PAGE_SIZE, len(rows)),
                "row_height": "low",
                "header_style": {"bold": True, "background_style": "grey"},
                "columns": [
                    {"name": key, "display_name": str(name), "data_type": "number" if num else "text"}
                    for key, name, num in zip(keys, columns, numeric, strict=True)
                ],
                "rows": [
                    {key: (row[i] if numeric[i] else _card_cell(row[i])) for i, key in enumerate(keys)} for row in rows
                ],
            }
        )
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
        "elements": elements,
    }


def card_size(card: dict[str, Any]) -> int:
    """Bytes of the card as im/v1 sends it (compact JSON, UTF-8)."""
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def result_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The result as CSV (header row first), UTF-8 with a BOM so spreadsheet apps read CJK text right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(c) for c in columns])
    for row in rows:
        writer.writerow([v if _is_number(v) or isinstance(v, Decimal) else cell_text(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")
