"""im/v1 image and file uploads (multipart/form-data) with Feishu's limits and error codes.

Rules (Feishu docs: im-v1/image/create, im-v1/file/create): ``image_type`` is ``message`` or
``avatar``; an image is at most 10 MB in a format Feishu reads; ``file_type`` is one of opus, mp4,
pdf, doc, xls, ppt, stream and ``file_name`` is required; a file is at most 30 MB; nothing may be
empty. Uploads are kept per key (``FeishuEmulator.upload(key)``) so tests can check what arrived.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .world import Result, World

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 30 * 1024 * 1024
IMAGE_TYPES = frozenset({"message", "avatar"})
FILE_TYPES = frozenset({"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"})

E_UPLOAD_PARAM = (234001, "Invalid request param.")
E_UPLOAD_TOO_BIG = (234006, "The file size exceed the max value.")
E_UPLOAD_EMPTY = (234010, "File's size can't be 0.")
E_IMAGE_FORMAT = (234011, "Can't recognize image format.")

# (offset, signature) of the image formats Feishu reads: JPEG, PNG, GIF, WEBP, BMP, ICO, TIFF, HEIC.
_IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff"),
    (0, b"\x89PNG"),
    (0, b"GIF8"),
    (8, b"WEBP"),
    (0, b"BM"),
    (0, b"\x00\x00\x01\x00"),
    (0, b"II*\x00"),
    (0, b"MM\x00*"),
    (4, b"ftypheic"),
    (4, b"ftypheix"),
    (4, b"ftypmif1"),
)
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(\w+)="([^"]*)"')

Part = tuple[str | None, bytes]  # (file name or None for a text field, the bytes)


def parse_form(content_type: str | None, body: bytes) -> dict[str, Part] | None:
    """The parts of a multipart/form-data body by field name, or None if it is not one."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        return None
    found = _BOUNDARY.search(content_type)
    if found is None:
        return None
    parts: dict[str, Part] = {}
    for chunk in body.split(b"--" + found.group(1).encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            (line for line in head.decode("utf-8", "replace").split("\r\n") if line.lower().startswith("content-dis")),
            "",
        )
        params = dict(_DISPOSITION_PARAM.findall(disposition))
        if "name" in params:
            parts[params["name"]] = (params.get("filename"), data.removesuffix(b"\r\n"))
    return parts


def _error(err: tuple[int, str], detail: str | None = None) -> Result:
    code, msg = err
    return 400, {"code": code, "msg": f"{msg} {detail}" if detail else msg}


def _text(parts: dict[str, Part], name: str) -> str | None:
    part = parts.get(name)
    if part is None or part[0] is not None:
        return None
    return part[1].decode("utf-8", "replace")


class _Refused(Exception):
    def __init__(self, result: Result) -> None:
        self.result = result


def _file_part(parts: dict[str, Part], name: str, limit: int) -> Part:
    """The named file part; :class:`_Refused` with Feishu's error when it is missing, empty or too big."""
    part = parts.get(name)
    if part is None or part[0] is None:
        raise _Refused(_error(E_UPLOAD_PARAM, f"{name} is required."))
    if not part[1]:
        raise _Refused(_error(E_UPLOAD_EMPTY))
    if len(part[1]) > limit:
        raise _Refused(_error(E_UPLOAD_TOO_BIG, f"The limit is {limit // (1024 * 1024)} MB."))
    return part


def _store(world: World, app_id: str, kind: str, prefix: str, name: str | None, data: bytes, **extra: Any) -> str:
    """Keep an upload under a new key (``img_v3_...`` / ``file_v3_...``) and return the key."""
    with world.lock:
        key = prefix + world.hex(28)
        world.uploads[key] = {
            "kind": kind,
            "key": key,
            "app_id": app_id,
            "file_name": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": data,
            "uploaded_at": world.clock.now(),
            **extra,
        }
    return key


def op_image_upload(world: World, app_id: str, content_type: str | None, body: bytes) -> Result:
    parts = parse_form(content_type, body)
    if parts is None:
        return _error(E_UPLOAD_PARAM, "the body must be multipart/form-data.")
    image_type = _text(parts, "image_type")
    if image_type not in IMAGE_TYPES:
        return _error(E_UPLOAD_PARAM, "image_type must be message or avatar.")
    try:
        name, data = _file_part(parts, "image", MAX_IMAGE_BYTES)
    except _Refused as refused:
        return refused.result
    if not any(data[offset : offset + len(sig)] == sig for offset, sig in _IMAGE_SIGNATURES):
        return _error(E_IMAGE_FORMAT)
    key = _store(world, app_id, "image", "img_v3_", name, data, image_type=image_type)
    return 200, {"code": 0, "msg": "success", "data": {"image_key": key}}


def op_file_upload(world: World, app_id: str, content_type: str | None, body: bytes) -> Result:
    parts = parse_form(content_type, body)
    if parts is None:
        return _error(E_UPLOAD_PARAM, "the body must be multipart/form-data.")
    file_type = _text(parts, "file_type")
    if file_type not in FILE_TYPES:
        return _error(E_UPLOAD_PARAM, "file_type is invalid.")
    file_name = _text(parts, "file_name")
    if not file_name:
        return _error(E_UPLOAD_PARAM, "file_name is required.")
    duration = _text(parts, "duration")
    if duration is not None and not duration.isdigit():
        return _error(E_UPLOAD_PARAM, "duration must be an integer number of milliseconds.")
    try:
        data = _file_part(parts, "file", MAX_FILE_BYTES)[1]
    except _Refused as refused:
        return refused.result
    key = _store(
        world,
        app_id,
        "file",
        "file_v3_",
        file_name,
        data,
        file_type=file_type,
        duration=int(duration) if duration is not None else None,
    )
    return 200, {"code": 0, "msg": "success", "data": {"file_key": key}}
