"""Uploading images and files for messages (im/v1 images and files), checked before anything is sent.

Feishu refuses an empty upload, an image over 10 MB or in a format it does not read, and a file
over 30 MB (Feishu docs: im-v1/image/create, im-v1/file/create). These rules are checked here so a
DAG fails with a clear message instead of spending a request on a certain refusal. The bytes come
from the caller: reading a path is the transport's job (no I/O here).

An upload is a send: without an idempotency key it is never repeated once it may have reached
Feishu (a repeat would only leave an unused copy, but the caller would lose the key of the first).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_feishu.api.endpoints import ApiRequest
from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.results import as_str, section

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # (Feishu docs: im-v1/image/create)
MAX_FILE_BYTES = 30 * 1024 * 1024  # (Feishu docs: im-v1/file/create)
IMAGE_TYPES = ("message", "avatar")
#: ``file_type`` values: ``stream`` is any other file; audio must be OPUS (Feishu docs: im-v1/file/create).
FILE_TYPES = ("opus", "mp4", "pdf", "doc", "xls", "ppt", "stream")
MAX_FILE_NAME_CHARS = 250

#: Image formats Feishu reads, with their content type (TIFF and HEIC are converted to JPEG).
IMAGE_FORMATS = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "ico": "image/x-icon",
    "tiff": "image/tiff",
    "heic": "image/heic",
}
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")

# file extension -> the file_type Feishu files it under; anything else is "stream".
_EXTENSION_FILE_TYPES = {
    "opus": "opus",
    "mp4": "mp4",
    "pdf": "pdf",
    "doc": "doc",
    "docx": "doc",
    "xls": "xls",
    "xlsx": "xls",
    "ppt": "ppt",
    "pptx": "ppt",
}
# file_type -> the msg_type that sends it; a mismatch is refused with 230055 (Feishu docs: im-v1/message/create).
_FILE_MSG_TYPES = {"opus": "audio", "mp4": "media"}


def sniff_image_format(data: bytes) -> str | None:
    """The image format of ``data`` from its first bytes (``"png"``, ``"jpeg"``...), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM"):
        return "bmp"
    if data.startswith(b"\x00\x00\x01\x00"):
        return "ico"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def file_type_for(file_name: str) -> str:
    """The ``file_type`` for a file name by its extension (``report.pdf`` -> ``pdf``, ``x.csv`` -> ``stream``)."""
    extension = posixpath.splitext(file_name)[1].lstrip(".").lower()
    return _EXTENSION_FILE_TYPES.get(extension, "stream")


def msg_type_for_file(file_type: str) -> str:
    """The msg_type that sends an uploaded file: ``media`` for mp4, ``audio`` for opus, else ``file``."""
    return _FILE_MSG_TYPES.get(file_type, "file")


def _bytes(name: str, data: Any, limit: int) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FeishuConfigError(f"{name} must be bytes (or a path, read by the hook), got {type(data).__name__}.")
    raw = bytes(data)
    if not raw:
        raise FeishuConfigError(f"{name} is empty; Feishu refuses empty uploads.")
    if len(raw) > limit:
        raise FeishuConfigError(
            f"{name} is {len(raw):,} bytes; Feishu takes at most {limit // (1024 * 1024)} MB "
            f"({limit:,} bytes). Send a link to the file instead, or compress it."
        )
    return raw


def _file_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FeishuConfigError("file_name must be a non-empty name such as 'report.pdf'.")
    if value != value.strip() or "/" in value or "\\" in value or any(ord(c) < 32 for c in value):
        raise FeishuConfigError(f"file_name must be a bare file name (no path or control characters): {value!r:.60}.")
    if len(value) > MAX_FILE_NAME_CHARS:
        raise FeishuConfigError(f"file_name is {len(value)} characters; keep it under {MAX_FILE_NAME_CHARS}.")
    return value


def _data_key(field: str) -> Callable[[str, Mapping[str, Any]], str]:
    """A parser for an upload's answer: the key in ``data.<field>``."""

    def parse(api: str, envelope: Mapping[str, Any]) -> str:
        key = as_str(api, section(api, envelope, "data"), field)
        assert key is not None
        return key

    return parse


parse_image_key = _data_key("image_key")
parse_file_key = _data_key("file_key")


def upload_image_request(image: bytes, image_type: str = "message", *, file_name: str = "") -> ApiRequest[str]:
    """POST im/v1/images (multipart): upload an image; the result is its ``image_key``.

    ``image_type`` is ``message`` (to send it) or ``avatar``. The format is read from the bytes,
    not from the name: Feishu reads JPEG, PNG, WEBP, GIF, BMP, ICO, TIFF and HEIC.
    """
    if image_type not in IMAGE_TYPES:
        raise FeishuConfigError(f"image_type must be one of {', '.join(IMAGE_TYPES)}; got {image_type!r:.30}.")
    data = _bytes("image", image, MAX_IMAGE_BYTES)
    image_format = sniff_image_format(data)
    if image_format is None:
        raise FeishuConfigError(
            "image is not in a format Feishu reads (JPEG, PNG, WEBP, GIF, BMP, ICO, TIFF, HEIC); "
            "send other files with upload_file."
        )
    name = _file_name(file_name) if file_name else f"image.{image_format}"
    return ApiRequest(
        name="image_upload",
        method="POST",
        path="/open-apis/im/v1/images",
        parser=parse_image_key,
        form={"image_type": image_type},
        files={"image": (name, data, IMAGE_FORMATS[image_format])},
        idempotent=False,
    )


def upload_file_request(file: bytes, file_type: str, file_name: str, *, duration: int | None = None) -> ApiRequest[str]:
    """POST im/v1/files (multipart): upload a file to send; the result is its ``file_key``.

    ``file_type`` is one of :data:`FILE_TYPES` (``stream`` for anything else, see
    :func:`file_type_for`); ``duration`` is the length in milliseconds of an opus or mp4 file.
    """
    if file_type not in FILE_TYPES:
        raise FeishuConfigError(
            f"file_type must be one of {', '.join(FILE_TYPES)} ('stream' for any other file); got {file_type!r:.30}."
        )
    name = _file_name(file_name)
    data = _bytes("file", file, MAX_FILE_BYTES)
    form = {"file_type": file_type, "file_name": name}
    if duration is not None:
        if file_type not in ("opus", "mp4"):
            raise FeishuConfigError(f"duration is for opus and mp4 files only, not file_type {file_type!r}.")
        if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
            raise FeishuConfigError(f"duration must be a whole number of milliseconds >= 0, got {duration!r:.30}.")
        form["duration"] = str(duration)
    return ApiRequest(
        name="file_upload",
        method="POST",
        path="/open-apis/im/v1/files",
        parser=parse_file_key,
        form=form,
        files={"file": (name, data, "application/octet-stream")},
        idempotent=False,
    )
