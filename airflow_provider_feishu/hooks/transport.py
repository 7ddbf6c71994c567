"""Reading an answer off the wire within a total deadline and a size cap, for every transport.

``timeout`` in requests and httpx bounds each read, not the call: a server that trickles one byte a
second would hold a call for as long as it likes. The sync hooks (requests) and the async client
and webhook (httpx) therefore stream the answer raw into :class:`~airflow_provider_feishu.api.body.BoundedBody`
and give up once the call's total deadline (the connection's ``timeout``) has passed.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu.api.body import ACCEPT_ENCODING, BoundedBody
from airflow_provider_feishu.api.errors import FeishuConnectionError

if TYPE_CHECKING:
    import httpx
    import requests

#: Bytes asked of the socket per read (a read returns as soon as any bytes have arrived).
CHUNK_BYTES = 64 * 1024

__all__ = ["ACCEPT_ENCODING", "CHUNK_BYTES", "Deadline", "aread_answer", "read_answer"]


class Deadline:
    """The moment a call must be over: ``timeout`` seconds after it started."""

    def __init__(self, timeout: float, clock: Any = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._at = clock() + timeout

    @property
    def at(self) -> float:
        """The moment itself, on the clock it was made with (``time.monotonic`` by default)."""
        return self._at

    def remaining(self) -> float:
        return self._at - self._clock()

    def expired_error(self, api: str) -> FeishuConnectionError:
        """The error of a call whose answer did not arrive whole in time (it may have been processed)."""
        return FeishuConnectionError(
            api, f"no complete answer within {self.timeout:g}s (the call's total timeout)", may_have_arrived=True
        )


def _dropped(api: str) -> FeishuConnectionError:
    return FeishuConnectionError(api, "the connection dropped while the answer was arriving", may_have_arrived=True)


def read_answer(api: str, response: requests.Response, deadline: Deadline) -> bytes:
    """The decoded body of a ``stream=True`` requests answer, or our error; closes the response."""
    raw = response.raw
    try:
        body = BoundedBody(api, response.headers.get("content-encoding"), status=response.status_code)
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise deadline.expired_error(api)
            _set_socket_timeout(raw, remaining)
            failed = False
            try:
                chunk = raw.read1(CHUNK_BYTES, decode_content=False)
            except Exception:  # urllib3's ReadTimeoutError, ProtocolError, a reset socket...
                failed = True
            if failed:
                # Raised outside the except block: the transport's exception (its text may hold the
                # URL) is not even kept as __context__.
                raise deadline.expired_error(api) if deadline.remaining() <= 0 else _dropped(api)
            if not chunk:
                result = body.finish()
                raw.release_conn()  # read to the end: the connection goes back to the pool
                return result
            body.feed(chunk)
    except BaseException:
        response.close()  # unread bytes may follow: never reuse this connection
        raise


def _set_socket_timeout(raw: Any, seconds: float) -> None:
    """Let the next read wait no longer than the call has left (urllib3 keeps the socket public)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


async def aread_answer(api: str, response: httpx.Response, deadline: Deadline) -> bytes:
    """The decoded body of a streamed httpx answer, or our error. The caller bounds the wait with
    ``asyncio.timeout(deadline.remaining())`` around the whole exchange; this bounds the size."""
    import httpx

    body = BoundedBody(api, response.headers.get("content-encoding"), status=response.status_code)
    failed = False
    try:
        async for chunk in response.aiter_raw(CHUNK_BYTES):
            body.feed(chunk)
    except httpx.HTTPError:
        failed = True
    if failed:
        raise _dropped(api)  # outside the except block: no __context__ that may hold the URL
    return body.finish()
