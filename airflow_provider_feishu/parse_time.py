"""Which operator arguments can be checked when the DAG is parsed, and which only after rendering.

A literal argument (``text="hi"``, ``open_ids=["ou_1"]``) is known when the DAG file runs, so a
mistake in it should fail the parse, not the task hours later. A Jinja template or an XCom
reference (``some_task.output``, a ``@task`` call) is known only at run time and is checked then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
