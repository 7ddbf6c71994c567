"""The keep-alive ``requests.Session`` a sync hook uses: its own, or its app's shared one."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Self

import requests

from airflow_provider_feishu.hooks.pool import USER_AGENT, new_session, shared_session

__all__ = ["USER_AGENT", "SessionOwner"]


class SessionOwner:
    """Gives a hook ``session`` (lazy, our User-Agent, the connection's proxy), ``get_conn``,
    ``close`` and use as a context manager. The hook provides ``config`` with a ``proxy``.
    With ``shares_session`` the hooks of one app in a process share one session (and its pool)."""

    config: Any
    shares_session = False

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session for all calls of this hook (of the app, with ``shares_session``)."""
        if self.shares_session:
            return shared_session(self.config)
        return new_session(self.config.proxy)

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        """Close the hook's own session (a shared one stays open for the app's other hooks)."""
        if "session" in self.__dict__:
            if not self.shares_session:
                self.session.close()
            del self.__dict__["session"]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
