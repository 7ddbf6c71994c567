"""Injected faults: the next N requests whose path matches get a broken answer.

Kinds:

* ``response``       answer with ``status``/``code``/``msg`` (or a raw ``body``) without processing.
* ``html_502``       a gateway-style HTML 502 page, request not processed.
* ``empty_body``     ``status`` (default 200) with an empty body, request not processed.
* ``malformed_json`` HTTP 200, ``application/json`` header, truncated JSON, request not processed.
* ``delay``          sleep ``delay`` real seconds, then answer normally.
* ``delay_after``    process the request (state changes) at once, then sleep ``delay`` real seconds
                     before answering: a client killed meanwhile never hears that it succeeded.
* ``drop_before``    close the connection before the request is processed (no state change).
* ``drop_after``     process the request (state changes), send the response head and part of the
                     body, then abort the connection.
* ``expire_token``   the presented tenant token expires now; the request then fails with 99991663.
* ``redirect``       answer ``status`` (default 302) with ``Location`` (default the admin path
                     ``/__emulator__/redirect-target``, which answers a success envelope and counts
                     hits as ``redirect_target``), request not processed. A client must not follow it.
* ``trickle``        process the request, then send the answer one byte every ``delay`` seconds.
* ``huge_body``      HTTP 200 with a JSON body of ``size`` bytes (gzip-encoded on the wire when
                     ``encoding="gzip"``, so a small answer inflates to ``size``), request not processed.

A path pattern is an exact path or a prefix ending in ``*``. Admin paths are never faulted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = frozenset(
    {"response", "html_502", "empty_body", "malformed_json", "delay", "delay_after", "drop_before", "drop_after",
     "expire_token", "redirect", "trickle", "huge_body"}
)


@dataclass
class Fault:
    path: str
    kind: str = "response"
    times: int | None = 1  # None = until cleared
    status: int | None = None
    code: int | None = None
    msg: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    size: int = 0  # huge_body: the decoded size in bytes
    encoding: str | None = None  # huge_body: "gzip" to send it compressed

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 (or None for 'until reset')")
        if not self.path.startswith("/"):
            raise ValueError("fault path must start with '/'")

    def matches(self, path: str) -> bool:
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str) -> Fault | None:
        if not self._faults:
            return None
        with self._lock:
            for i, f in enumerate(self._faults):
                if f.matches(path):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            del self._faults[i]
                    return f
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
