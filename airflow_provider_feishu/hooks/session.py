"""The keep-alive ``requests.Session`` a sync hook owns: one per hook, closed with it."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Self

import requests

USER_AGENT = "airflow-provider-feishu"


class SessionOwner:
    """Gives a hook ``session`` (lazy, our User-Agent, the connection's proxy), ``get_conn``,
    ``close`` and use as a context manager. The hook provides ``config`` with a ``proxy``."""

    config: Any

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session for all calls of this hook."""
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        if self.config.proxy:
            session.proxies = {"http": self.config.proxy, "https": self.config.proxy}
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        """Close the session; the next call opens a new one."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
