"""One strict conversion of an id-list argument, for every operator and notifier.

An id list arrives either as a Python list (or tuple) of strings, or as the text a template
rendered: ``"['ou_1', 'ou_2']"`` (a rendered list), ``'["ou_1"]'`` (JSON), or ids separated by
commas, semicolons, spaces or newlines (``"ou_1, ou_2\\nou_3"``). Anything that is not an id
string (``None``, a number, a dict) is an error that names the argument and the item, never
silently stringified. Pure functions; no I/O, no Airflow.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

#: Separators between ids in a rendered string: commas, semicolons and any whitespace (newlines too).
ID_SEPARATORS = re.compile(r"[\s,;]+")

#: What a template renders for "no value" (``{{ None }}``, or an XCom that was never pushed).
_NO_VALUE_TEXTS = ("", "None")


def id_list(name: str, value: Any) -> list[str]:
    """``value`` as a list of clean ids (``[]`` for none), or a ``ValueError`` naming ``name``.

    :param name: the argument's name, quoted in errors (``open_ids``, ``at_user_ids``...).
    :param value: a list or tuple of id strings, or a rendered template string (see the module).
    """
    if value is None:
        return []
    if isinstance(value, str):
        return _ids_from_text(name, value)
    if isinstance(value, (bytes, bytearray, Mapping, set, frozenset)) or not isinstance(value, (list, tuple)):
        raise ValueError(
            f"{name} must be a list of id strings (or a comma-separated string), got {type(value).__name__}."
        )
    return _clean_items(name, value)


def _ids_from_text(name: str, value: str) -> list[str]:
    text = value.strip()
    if text in _NO_VALUE_TEXTS:
        return []
    if not text.startswith("["):
        return [part for part in ID_SEPARATORS.split(text) if part]
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = ast.literal_eval(text)  # a rendered Python list: "['ou_1', 'ou_2']"
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"{name} is not a list of ids: {text!r:.80}.") from None
    if not isinstance(parsed, list):
        raise ValueError(f"{name} is not a list of ids: {text!r:.80}.")
    return _clean_items(name, parsed)


def _clean_items(name: str, items: list[Any] | tuple[Any, ...]) -> list[str]:
    ids = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(
                f"{name}[{index}] must be an id string, got {type(item).__name__} {item!r:.40}. "
                "Quote every id (Feishu ids are strings, even numeric department ids)."
            )
        if not item.strip():
            raise ValueError(f"{name}[{index}] is an empty id.")
        ids.append(item.strip())
    return ids
