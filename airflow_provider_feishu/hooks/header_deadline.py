"""The call's total deadline, kept while a sync request waits for the answer's head.

requests and urllib3 bound each socket read, not the wait for the status line and headers: a
server that sends a header byte just inside every read timeout holds the call for as long as it
likes. (The body is bounded by ``transport.read_answer``; the async client by ``asyncio.timeout``.)
So the sync hooks' sessions use connections that, while they read the head, let one watchdog
thread shut their socket down once the call's deadline has passed; the blocked read then ends at
once and the hook reports the deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_call = threading.local()


@contextlib.contextmanager
def call_deadline(at: float) -> Iterator[None]:
    """Requests this thread makes inside the block must have their answer's head by ``at``
    (a ``time.monotonic()`` value)."""
    previous = getattr(_call, "at", None)
    _call.at = at
    try:
        yield
    finally:
        _call.at = previous


class _Watchdog:
    """One thread for the process: shuts down the socket of each armed read whose moment has come."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def arm(self, at: float, sock: socket.socket) -> int:
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._heap.clear()  # a forked child inherits entries, not the thread
                self._live.clear()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="feishu-header-deadline", daemon=True)
                self._thread.start()
            handle = next(self._ids)
            heapq.heappush(self._heap, (at, handle, sock))
            self._live.add(handle)
            if self._heap[0][1] == handle:
                self._cond.notify()
            return handle

    def disarm(self, handle: int) -> None:
        with self._cond:
            self._live.discard(handle)
            if len(self._heap) > 2 * len(self._live) + 64:  # drop ended entries (and their sockets)
                self._heap = [entry for entry in self._heap if entry[1] in self._live]
                heapq.heapify(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # disarmed: the read ended in time
                if not self._heap:
                    self._cond.wait()
                    continue
                at, handle, sock = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(handle)
                # Under the lock: a read that ended meanwhile has disarmed first, so a socket that
                # may go back to the pool is never shut down.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


class _HeadDeadline:
    """Mixed into urllib3's connections: the head is read under the calling thread's deadline."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        at = getattr(_call, "at", None)
        sock = self.sock
        if at is None or sock is None:
            return super().getresponse()  # type: ignore[misc]
        handle = _WATCHDOG.arm(at, sock)
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            _WATCHDOG.disarm(handle)


class _HTTPConnection(_HeadDeadline, HTTPConnection):
    pass


class _HTTPSConnection(_HeadDeadline, HTTPSConnection):
    pass


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class HeadDeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections honour :func:`call_deadline` while reading the head."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager
