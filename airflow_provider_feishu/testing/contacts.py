"""Departments and their people (contact/v3), for expanding departments into people.

``find_by_department`` lists a department's direct members; ``children`` with ``fetch_child``
lists every sub-department (Feishu docs: contact-v3 user/find_by_department, department/children).
The emulated app sees the whole tenant (its contact scope is everyone); a department it does not
know is refused with 40004, as one outside the contact scope would be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .state import ROOT_DEPARTMENT
from .tracking import ReadTracking

if TYPE_CHECKING:
    from .world import World

Result = tuple[int, dict[str, Any]]

MAX_PAGE, DEFAULT_PAGE = 50, 10
USER_ID_TYPES = frozenset({"open_id", "user_id", "union_id"})
DEPARTMENT_ID_TYPES = frozenset({"open_department_id", "department_id"})
E_NO_DEPT_AUTHORITY = (403, 40004, "no dept authority error")
E_PAGE_SIZE = (400, 40011, "page size is invalid")
E_PAGE_TOKEN = (400, 40012, "page token is invalid")
E_PARAM = (400, 40003, "invalid parameter")


def _error(err: tuple[int, int, str]) -> Result:
    status, code, msg = err
    return status, {"code": code, "msg": msg}


def _query(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    return query.get(name, [default])[0]


def _department(world: World, value: str | None, id_type: str) -> dict[str, Any] | None:
    field = "open_department_id" if id_type == "open_department_id" else "department_id"
    return next((d for d in world.tenant.departments if value and d.get(field) == value), None)


def _paged(items: list[Any], query: dict[str, list[str]], scope: str) -> tuple[list[Any], dict[str, Any]] | Result:
    try:
        size = int(_query(query, "page_size", str(DEFAULT_PAGE)) or DEFAULT_PAGE)
    except ValueError:
        return _error(E_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE:
        return _error(E_PAGE_SIZE)
    page = ReadTracking._page(items, query, size, scope)
    return _error(E_PAGE_TOKEN) if page is None else page


def op_department_users(world: World, query: dict[str, list[str]]) -> Result:
    """find_by_department: the department's direct members."""
    user_type = _query(query, "user_id_type", "open_id")
    dept_type = _query(query, "department_id_type", "open_department_id")
    if user_type not in USER_ID_TYPES or dept_type not in DEPARTMENT_ID_TYPES:
        return _error(E_PARAM)
    assert dept_type is not None
    value = _query(query, "department_id")
    dept = _department(world, value, dept_type)
    if dept is None and value != ROOT_DEPARTMENT:
        return _error(E_NO_DEPT_AUTHORITY)
    key = dept["department_id"] if dept else ROOT_DEPARTMENT
    direct = [u for u in world.tenant.users if key in u.get("department_ids", [])]
    page = _paged(direct, query, f"users/{key}")
    if not isinstance(page[0], list):
        return page
    chunk, paging = page
    items = [
        {k: u[k] for k in ("open_id", "user_id", "union_id", "name", "email") if u.get(k)}
        | {"department_ids": list(u.get("department_ids", []))}
        for u in chunk
    ]
    return 200, {"code": 0, "msg": "success", "data": {"items": items, **paging}}


def op_department_children(world: World, department_id: str, query: dict[str, list[str]]) -> Result:
    """children: direct sub-departments, or every descendant with ``fetch_child=true``."""
    dept_type = _query(query, "department_id_type", "open_department_id")
    if dept_type not in DEPARTMENT_ID_TYPES:
        return _error(E_PARAM)
    assert dept_type is not None
    dept = _department(world, department_id, dept_type)
    if dept is None and department_id != ROOT_DEPARTMENT:
        return _error(E_NO_DEPT_AUTHORITY)
    parent = dept["department_id"] if dept else ROOT_DEPARTMENT
    recursive = _query(query, "fetch_child", "false") == "true"
    found: list[dict[str, Any]] = []
    frontier = [parent]
    while frontier:
        current = frontier.pop(0)
        kids = [d for d in world.tenant.departments if (d.get("parent") or ROOT_DEPARTMENT) == current]
        found += kids
        if recursive:
            frontier += [d["department_id"] for d in kids]
    page = _paged(found, query, f"children/{parent}/{recursive}")
    if not isinstance(page[0], list):
        return page
    chunk, paging = page
    items = [
        {
            "name": d.get("name", ""),
            "department_id": d["department_id"],
            "open_department_id": d.get("open_department_id", ""),
            "parent_department_id": d.get("parent") or ROOT_DEPARTMENT,
        }
        for d in chunk
    ]
    return 200, {"code": 0, "msg": "success", "data": {"items": items, **paging}}
