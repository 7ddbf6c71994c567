"""Reading what an upload sends: bytes as given, or a local file, refused before reading when too big."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_feishu.api.errors import FeishuConfigError

UploadSource = str | os.PathLike[str] | bytes | bytearray | memoryview


def read_upload(source: UploadSource, *, limit: int, what: str) -> tuple[bytes, str]:
    """The bytes to upload and the file's name (``""`` for bytes given directly).

    A file larger than ``limit`` is refused from its size alone, so a 5 GB file is never read
    into memory only to be refused; the protocol module checks the bytes again.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), ""
    if not isinstance(source, (str, os.PathLike)):
        raise FeishuConfigError(f"{what} must be a file path or bytes, got {type(source).__name__}.")
    path = Path(source)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise FeishuConfigError(f"cannot read {what} {str(path)!r:.200}: {err.strerror or err}.") from None
    if not path.is_file():
        raise FeishuConfigError(f"{what} {str(path)!r:.200} is not a regular file.")
    if size > limit:
        raise FeishuConfigError(
            f"{what} {path.name!r} is {size:,} bytes; "
            f"Feishu takes at most {limit // (1024 * 1024)} MB ({limit:,} bytes)."
        )
    try:
        return path.read_bytes(), path.name
    except OSError as err:
        raise FeishuConfigError(f"cannot read {what} {str(path)!r:.200}: {err.strerror or err}.") from None
