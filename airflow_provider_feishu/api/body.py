"""Reading an answer's body with a cap on its size, decompressed size included, with no I/O.

Both transports ask for ``gzip`` or ``deflate`` only (:data:`ACCEPT_ENCODING`), read the raw bytes
off the wire themselves and feed them to a :class:`BoundedBody`. It decompresses with a bound on
each step's output, so a small gzip bomb can never inflate past the cap in memory: the answer is
refused with a :class:`FeishuProtocolError` as soon as it would exceed the cap.
"""

from __future__ import annotations

import zlib

from airflow_provider_feishu.api.errors import FeishuProtocolError

#: The largest answer read into memory. Feishu's JSON answers are a few KB (a page of 100 members
#: is under 20 KB); 4 MiB is far above any of them and far below what would hurt a triggerer.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: What both transports send as ``Accept-Encoding``: the encodings :class:`BoundedBody` can bound.
ACCEPT_ENCODING = "gzip, deflate"


def _too_large(api: str, limit: int, status: int | None) -> FeishuProtocolError:
    return FeishuProtocolError(
        api=api,
        code=None,
        msg=f"the answer is larger than {limit} bytes; refused unread",
        http_status=status,
        hint="Feishu's answers are a few KB: check the host, or a proxy in between.",
    )


class BoundedBody:
    """Collects an answer's bytes, decoding ``Content-Encoding``, and refuses more than ``limit``.

    :param api: the call's name, for the error.
    :param content_encoding: the answer's ``Content-Encoding`` header (``None`` for identity).
    :param limit: the cap in bytes, on the raw and on the decompressed size.
    :param status: the answer's HTTP status, for the error.
    """

    def __init__(
        self, api: str, content_encoding: str | None = None, *, limit: int = MAX_ANSWER_BYTES, status: int | None = None
    ) -> None:
        self.api = api
        self.limit = limit
        self.status = status
        encoding = (content_encoding or "identity").strip().lower()
        if encoding in ("", "identity"):
            self._decoder = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS: zlib detects a gzip or a zlib header. A raw deflate stream (some
            # servers send that for "deflate") is retried with -MAX_WBITS on the first chunk.
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise FeishuProtocolError(
                api=api,
                code=None,
                msg=f"the answer uses Content-Encoding {encoding[:40]!r}, which was not asked for",
                http_status=status,
            )
        self._raw_deflate = encoding == "deflate"
        self._started = False
        self._raw_size = 0
        self._parts: list[bytes] = []
        self._size = 0

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            self._parts.clear()
            raise _too_large(self.api, self.limit, self.status)
        self._parts.append(data)

    def _inflate(self, data: bytes) -> None:
        assert self._decoder is not None
        while data:
            # Never more than one byte past the cap per step: the cap bounds memory, not only the result.
            room = self.limit - self._size + 1
            try:
                out = self._decoder.decompress(data, room)
            except zlib.error:
                if self._raw_deflate and not self._started:
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._started = True
                    continue
                raise FeishuProtocolError(
                    api=self.api, code=None, msg="the compressed answer is corrupt", http_status=self.status
                ) from None
            self._started = True
            self._keep(out)
            data = self._decoder.unconsumed_tail

    def feed(self, chunk: bytes) -> None:
        """Add the next raw bytes read off the wire."""
        if not chunk:
            return
        self._raw_size += len(chunk)
        if self._raw_size > self.limit:
            self._parts.clear()
            raise _too_large(self.api, self.limit, self.status)
        if self._decoder is None:
            self._keep(chunk)
        else:
            self._inflate(chunk)

    def finish(self) -> bytes:
        """The whole decoded body, once the transport has read the last chunk."""
        if self._decoder is not None:
            self._keep(self._decoder.flush())
        return b"".join(self._parts)
