"""Any Feishu API the provider does not wrap, as an :class:`ApiRequest` (``FeishuHook.call_api``).

The caller names the method and the path; this module makes sure the path can only ever reach an
API of the connection's host (no scheme, host, query, ``.``/``..`` segment or odd character), so a
templated path cannot send the tenant token anywhere else. Only GET is retried after an ambiguous
failure: a POST, PUT, PATCH or DELETE that may have reached Feishu is never repeated, since this
module cannot know whether the API is safe to repeat (a DELETE repeated after it succeeded can
fail with "not found", or remove something created since).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from airflow_provider_feishu.api.endpoints import ApiRequest
from airflow_provider_feishu.api.errors import FeishuConfigError

CALL_API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
API_PATH_PREFIX = "/open-apis/"
MAX_API_PATH_CHARS = 512
MAX_PARAMS = 50

# RFC 3986 path characters (unreserved, sub-delims, ':', '@', '/', and %-escapes); no '?', '#', '\\'.
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]+")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Segments that name an API rather than a resource: lowercase words and version tags (v1, v3),
# unless they carry a Feishu id prefix (open_id ou_, chat oc_, message om_, batch bm-...).
_API_WORD = re.compile(r"[a-z][a-z_]*|v[0-9]+")
_ID_PREFIX = re.compile(r"(ou|on|oc|om|od|bm|cli|img|file)[_-]")


def validate_api_path(path: Any) -> str:
    """``path`` if it is a clean Feishu API path such as ``/open-apis/im/v1/chats``, else a FeishuConfigError."""
    if not isinstance(path, str):
        raise FeishuConfigError(f"path must be a string such as '/open-apis/im/v1/chats', got {type(path).__name__}.")
    if len(path) > MAX_API_PATH_CHARS:
        raise FeishuConfigError(f"path is {len(path)} characters; at most {MAX_API_PATH_CHARS} are allowed.")
    if not path.startswith(API_PATH_PREFIX):
        raise FeishuConfigError(
            f"path must start with {API_PATH_PREFIX!r} (a path on the connection's host, no scheme or host); "
            f"got {path!r:.80}."
        )
    if "?" in path or "#" in path:
        raise FeishuConfigError("path may not carry a query or fragment; pass query arguments as params={...}.")
    if not _PATH_CHARS.fullmatch(path) or _ESCAPE.search(path):
        raise FeishuConfigError(
            f"path has a character that is not allowed in a URL path (space, backslash, non-ASCII, bad %-escape): "
            f"{path!r:.80}. Percent-encode ids that need it."
        )
    segments = path[len(API_PATH_PREFIX) :].split("/")
    # A trailing slash is part of some Feishu paths (message/v4/batch_send/); empty inner segments are not.
    inner = segments[:-1] if segments and segments[-1] == "" else segments
    if not inner or any(not s for s in inner):
        raise FeishuConfigError(f"path has an empty segment ('//') or names no API: {path!r:.80}.")
    if any(unquote(s) in (".", "..") for s in inner):
        raise FeishuConfigError(f"path may not contain '.' or '..' segments: {path!r:.80}.")
    return path


def api_label(method: str, path: str) -> str:
    """A stable name for an API: ``GET /open-apis/contact/v3/users/:id``.

    Used in error messages and as the pacing key (Feishu limits each API, not each resource), so
    segments that look like ids are folded into ``:id`` and one API keeps one pacer.
    """
    parts = [
        s if not s or (_API_WORD.fullmatch(s) and not _ID_PREFIX.match(s)) else ":id"
        for s in path[len(API_PATH_PREFIX) :].split("/")
    ]
    return f"{method} {API_PATH_PREFIX}{'/'.join(parts)}"


def _params(params: Mapping[str, Any] | None) -> dict[str, str | list[str]] | None:
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise FeishuConfigError(f"params must be a dict of query arguments, got {type(params).__name__}.")
    if len(params) > MAX_PARAMS:
        raise FeishuConfigError(f"params has {len(params)} keys; at most {MAX_PARAMS} are allowed.")
    out: dict[str, str | list[str]] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise FeishuConfigError(f"params keys must be non-empty strings, got {key!r:.40}.")
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            # A list repeats the key (?user_ids=a&user_ids=b), as Feishu's batch GETs expect.
            out[key] = [_param_value(key, v) for v in value]
        else:
            out[key] = _param_value(key, value)
    return out


def _param_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # Feishu's booleans in queries are lowercase
    if isinstance(value, (str, int, float)):
        return str(value)
    raise FeishuConfigError(f"params[{key!r}] must be a string, number or boolean, got {type(value).__name__}.")


def parse_data_or_body(api: str, envelope: Mapping[str, Any]) -> Any:
    """The envelope's ``data``, or the whole (successful) envelope for APIs that answer without one."""
    return envelope["data"] if "data" in envelope else dict(envelope)


def call_api_request(
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Mapping[str, Any] | None = None,
) -> ApiRequest[Any]:
    """Any Feishu API: ``method`` on ``path`` (under ``/open-apis/``), with query ``params`` and a JSON body.

    The result is the answer's ``data`` (or the whole body when it has none). Only GET is retried
    after an ambiguous failure; see the module docstring.
    """
    if not isinstance(method, str) or method.upper() not in CALL_API_METHODS:
        raise FeishuConfigError(f"method must be one of {', '.join(CALL_API_METHODS)}; got {method!r:.20}.")
    verb = method.upper()
    clean_path = validate_api_path(path)
    if json is not None and not isinstance(json, Mapping):
        raise FeishuConfigError(f"json must be a dict (the request body), got {type(json).__name__}.")
    if json is not None and verb == "GET":
        raise FeishuConfigError("a GET takes no body: pass its arguments as params={...}.")
    return ApiRequest(
        name=api_label(verb, clean_path),
        method=verb,
        path=clean_path,
        parser=parse_data_or_body,
        params=_params(params),
        json=dict(json) if json is not None else None,
        idempotent=verb == "GET",
    )
