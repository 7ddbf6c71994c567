"""Which operator arguments can be checked when the DAG is parsed, and which only after rendering.

A literal argument (``text="hi"``, ``open_ids=["ou_1"]``) is known when the DAG file runs, so a
mistake in it should fail the parse, not the task hours later. A Jinja template or an XCom
reference (``some_task.output``, a ``@task`` call) is known only at run time and is checked then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_feishu.id_lists import id_list


def is_template_text(value: Any) -> bool:
    """Whether ``value`` is a string Jinja will render (``{{ ... }}`` or ``{% ... %}``)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def is_deferred(value: Any) -> bool:
    """Whether ``value`` is known only at run time: a template, an XCom reference, or a container of one.

    XCom references are recognised by the two methods of Airflow's ``ResolveMixin`` (``resolve`` and
    ``iter_references``), which ``XComArg`` and the other run-time values share.
    """
    if isinstance(value, str):
        return is_template_text(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(is_deferred(item) for item in value)
    if isinstance(value, Mapping):
        return any(is_deferred(item) for item in value.values())
    return callable(getattr(value, "resolve", None)) and callable(getattr(value, "iter_references", None))


def check_id_list_at_parse_time(name: str, value: Any, *, limit: int | None = None) -> list[str] | None:
    """A literal id list's ids (``ValueError`` for a bad item or more than ``limit``); ``None`` if deferred."""
    if is_deferred(value):
        return None
    ids = id_list(name, value)
    if limit is not None and len(ids) > limit:
        raise ValueError(
            f"{name} has {len(ids)} ids; Feishu takes at most {limit} per list in one batch_send. "
            "Split the recipients over several sends, or send to their departments."
        )
    return ids
