"""The emulated tenant: apps, users, departments, chats (and custom-bot webhooks).

Seed format (a dict, or a path to a JSON file holding one)::

    {"apps": [{"app_id": "cli_...", "app_secret": "...", "flavour": "feishu" | "lark", "name": "..."}],
     "users": [{"name": "...", "open_id": "ou_...", "user_id": "...", "union_id": "on_...",
                "email": "...", "department_ids": ["eng"]}],
     "departments": [{"department_id": "eng", "open_department_id": "od-...", "name": "...",
                      "parent": "0"}],
     "chats": [{"chat_id": "oc_...", "name": "...", "members": ["ou_..."], "bot_member": true}],
     "webhooks": [{"token": "...", "chat_id": "oc_...", "secret": null, "keyword": null}]}

Only ``apps`` is required. ``bot_member`` may be ``true`` (every app's bot is in the chat),
``false``, or a list of app ids. A user belongs to a department and, through ``parent`` links, to
all of its ancestors, so department sends reach members of sub-departments. One open_id per user is
shared by all apps (real Feishu issues a different open_id per app; this emulator does not).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

Seed = Mapping[str, Any] | str | Path

DEFAULT_TENANT_FILE = "default_tenant.json"
ROOT_DEPARTMENT = "0"


def _h(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def generate_default_tenant() -> dict[str, Any]:
    """Deterministically build the documented default tenant (what default_tenant.json holds)."""
    apps = [
        {
            "app_id": "cli_" + _h("app:main", 16),
            "app_secret": _h("secret:main", 32),
            "flavour": "feishu",
            "name": "Airflow Notifier (main app)",
        },
        {
            "app_id": "cli_" + _h("app:other", 16),
            "app_secret": _h("secret:other", 32),
            "flavour": "feishu",
            "name": "Other App (for 'not the sender' errors)",
        },
    ]
    dept_specs = [
        ("eng", "Engineering", ROOT_DEPARTMENT),
        ("eng-platform", "Platform (sub-department of Engineering)", "eng"),
        ("sales", "Sales", ROOT_DEPARTMENT),
        ("ops", "Operations", ROOT_DEPARTMENT),
    ]
    departments = [
        {"department_id": did, "open_department_id": "od-" + _h("dept:" + did, 32), "name": name, "parent": p}
        for did, name, p in dept_specs
    ]
    first = ["Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun"]
    given = ["Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yan", "Tao", "Ming"]
    users = []
    for i in range(120):
        dept = dept_specs[i % 4][0]
        users.append(
            {
                "name": f"{first[i % len(first)]} {given[(i // len(first)) % len(given)]} {i:03d}",
                "open_id": "ou_" + _h(f"user:{i}:open", 32),
                "user_id": _h(f"user:{i}:user", 8),
                "union_id": "on_" + _h(f"user:{i}:union", 32),
                "email": f"user{i:03d}@example.com",
                "department_ids": [dept],
            }
        )
    platform = [u["open_id"] for u in users if u["department_ids"] == ["eng-platform"]]
    chats = [
        {
            "chat_id": "oc_" + _h("chat:all", 32),
            "name": "All hands",
            "members": [u["open_id"] for u in users],
            "bot_member": True,
        },
        {"chat_id": "oc_" + _h("chat:platform", 32), "name": "Platform team", "members": platform,
         "bot_member": True},
        {
            "chat_id": "oc_" + _h("chat:nobot", 32),
            "name": "Chat without the bot (230002)",
            "members": platform[:5],
            "bot_member": False,
        },
    ]
    webhooks = [
        {"token": _h("hook:plain", 36), "chat_id": chats[1]["chat_id"], "secret": None, "keyword": None},
        {"token": _h("hook:signed", 36), "chat_id": chats[1]["chat_id"], "secret": _h("hook:s", 20),
         "keyword": None},
        {"token": _h("hook:keyword", 36), "chat_id": chats[1]["chat_id"], "secret": None,
         "keyword": "airflow"},
    ]
    return {"apps": apps, "users": users, "departments": departments, "chats": chats, "webhooks": webhooks}


@cache
def _default_tenant_text() -> str:
    try:
        return resources.files(__package__).joinpath(DEFAULT_TENANT_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):  # pragma: no cover - package data missing
        return json.dumps(generate_default_tenant())


def default_tenant() -> dict[str, Any]:
    """A fresh copy of the shipped default tenant."""
    return json.loads(_default_tenant_text())


def load_seed(seed: Seed | None) -> dict[str, Any]:
    if seed is None:
        return default_tenant()
    if isinstance(seed, str | Path):
        return json.loads(Path(seed).read_text(encoding="utf-8"))
    return copy.deepcopy(dict(seed))


class SeedError(ValueError):
    pass


class Tenant:
    """Read-only, indexed view of a seed."""

    def __init__(self, seed: Seed | None = None) -> None:
        data = load_seed(seed)
        if not data.get("apps"):
            raise SeedError("a tenant needs at least one app")
        data.setdefault("users", [])
        data.setdefault("departments", [])
        data.setdefault("chats", [])
        data.setdefault("webhooks", [])
        self.data = data
        self.apps: dict[str, dict[str, Any]] = {}
        for app in data["apps"]:
            if not str(app.get("app_id", "")) or "app_secret" not in app:
                raise SeedError(f"app needs app_id and app_secret: {app!r}")
            app.setdefault("flavour", "feishu")
            app.setdefault("name", app["app_id"])
            self.apps[app["app_id"]] = app
        self.users: list[dict[str, Any]] = data["users"]
        self.by_open_id = {u["open_id"]: u for u in self.users}
        self.by_user_id = {u["user_id"]: u for u in self.users if u.get("user_id")}
        self.by_union_id = {u["union_id"]: u for u in self.users if u.get("union_id")}
        self.by_email = {u["email"]: u for u in self.users if u.get("email")}
        self.departments: list[dict[str, Any]] = data["departments"]
        self._dept_key: dict[str, str] = {}  # department_id or open_department_id -> department_id
        for d in self.departments:
            self._dept_key[d["department_id"]] = d["department_id"]
            if d.get("open_department_id"):
                self._dept_key[d["open_department_id"]] = d["department_id"]
        children: dict[str, list[str]] = {}
        for d in self.departments:
            children.setdefault(d.get("parent") or ROOT_DEPARTMENT, []).append(d["department_id"])
        direct: dict[str, list[str]] = {}
        for u in self.users:
            for dep in u.get("department_ids", []):
                key = self._dept_key.get(dep, dep)
                direct.setdefault(key, []).append(u["open_id"])
        self._members: dict[str, list[str]] = {}
        for d in self.departments:
            seen: dict[str, None] = {}
            stack = [d["department_id"]]
            visited: set[str] = set()
            while stack:
                cur = stack.pop()
                if cur in visited:
                    continue
                visited.add(cur)
                for oid in direct.get(cur, []):
                    seen[oid] = None
                stack.extend(children.get(cur, []))
            self._members[d["department_id"]] = list(seen)
        self.chats = {c["chat_id"]: c for c in data["chats"]}
        self.webhooks = {w["token"]: w for w in data["webhooks"]}

    @property
    def default_app(self) -> dict[str, Any]:
        return self.data["apps"][0]

    def department_members(self, dep: str) -> list[str] | None:
        """open_ids in a department and all its sub-departments; None if unknown."""
        key = self._dept_key.get(dep)
        return None if key is None else self._members[key]

    def resolve_user(self, id_type: str, value: str) -> dict[str, Any] | None:
        table = {
            "open_id": self.by_open_id,
            "user_id": self.by_user_id,
            "union_id": self.by_union_id,
            "email": self.by_email,
        }.get(id_type)
        return None if table is None else table.get(value)

    def bot_in_chat(self, chat: dict[str, Any], app_id: str) -> bool:
        member = chat.get("bot_member", True)
        if isinstance(member, list):
            return app_id in member
        return bool(member)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)
