"""The HTTP layer: a plain ASGI application (served by uvicorn) in front of :class:`.world.World`.

It is written against the raw ASGI interface rather than Starlette's router so that faults can act
on the connection itself (``drop_before`` / ``drop_after``) and so that the per-request cost stays
small under benchmark load.

Order of checks for a business call: fault -> route (404) -> Authorization (99991661 / 99991663) ->
rate limit (429 / 99991400) -> the endpoint's own validation.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from . import contacts
from .cards import op_message_patch
from .directory import op_chat_list, op_contact_user
from .faults import Fault, FaultBook
from .ratelimit import RateLimiter
from .uploads import op_file_upload, op_image_upload
from .world import World

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ADMIN_PREFIX = "/__emulator__"
REDIRECT_TARGET = ADMIN_PREFIX + "/redirect-target"
REDIRECT_TARGET_BODY = b'{"code":0,"msg":"ok","data":{"read_user":{"read_count":"1","total_count":"1"}}}'
JSON_CT = (b"content-type", b"application/json; charset=utf-8")

E_AUTH_MISSING = (99991661, "Missing access token for authorization. Please make a request with token attached.")
E_AUTH_INVALID = (99991663, "Invalid access token for authorization. Please make a request with token attached.")
E_RATE = (99991400, "request trigger frequency limit")

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

# (method, regex, endpoint name, needs auth)
ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = [
    ("POST", re.compile(r"^/open-apis/auth/v3/tenant_access_token/internal/?$"), "tenant_access_token", False),
    ("POST", re.compile(r"^/open-apis/auth/v3/app_access_token/internal/?$"), "app_access_token", False),
    ("POST", re.compile(r"^/open-apis/message/v4/batch_send/?$"), "batch_send", True),
    ("GET", re.compile(r"^/open-apis/im/v1/batch_messages/(?P<id>[^/]+)/read_user$"), "read_user", True),
    ("GET", re.compile(r"^/open-apis/im/v1/batch_messages/(?P<id>[^/]+)/get_progress$"), "get_progress", True),
    ("DELETE", re.compile(r"^/open-apis/im/v1/batch_messages/(?P<id>[^/]+)$"), "batch_recall", True),
    ("POST", re.compile(r"^/open-apis/im/v1/messages$"), "message_create", True),
    ("PATCH", re.compile(r"^/open-apis/im/v1/messages/(?P<id>[^/]+)/urgent_app$"), "urgent_app", True),
    ("POST", re.compile(r"^/open-apis/bot/v2/hook/(?P<id>[^/]+)$"), "webhook", False),
    # who has read (tracking.py)
    ("GET", re.compile(r"^/open-apis/im/v1/messages/(?P<id>[^/]+)/read_users$"), "read_users", True),
    ("GET", re.compile(r"^/open-apis/im/v1/chats/(?P<id>[^/]+)/members$"), "chat_members", True),
    ("GET", re.compile(r"^/open-apis/im/v1/messages/(?P<id>[^/]+)/reactions$"), "message_reactions", True),
    ("POST", re.compile(r"^/open-apis/im/v1/messages/(?P<id>[^/]+)/reply$"), "message_reply", True),
    # departments and their people (contacts.py)
    # before contact_user, whose pattern would also match .../users/find_by_department
    ("GET", re.compile(r"^/open-apis/contact/v3/users/find_by_department$"), "department_users", True),
    ("GET", re.compile(r"^/open-apis/contact/v3/departments/(?P<id>[^/]+)/children$"), "department_children", True),
]
# The messaging surface: uploads, card updates, and two lookups for call_api (.uploads, .cards, .directory).
ROUTES.extend([
    ("POST", re.compile(r"^/open-apis/im/v1/images$"), "image_upload", True),
    ("POST", re.compile(r"^/open-apis/im/v1/files$"), "file_upload", True),
    ("PATCH", re.compile(r"^/open-apis/im/v1/messages/(?P<id>[^/]+)$"), "message_patch", True),
    ("GET", re.compile(r"^/open-apis/contact/v3/users/(?P<id>[^/]+)$"), "contact_user", True),
    ("GET", re.compile(r"^/open-apis/im/v1/chats$"), "chat_list", True),
])


def match_route(method: str, path: str) -> tuple[str, bool, dict[str, str]] | None:
    for m, rx, name, auth in ROUTES:
        if m == method:
            hit = rx.match(path)
            if hit:
                return name, auth, hit.groupdict()
    return None


def _abort_connection(send: Send) -> bool:
    """Abort the TCP connection under uvicorn's response cycle (no ASGI way to do this)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True


class EmulatorApp:
    def __init__(self, world: World, faults: FaultBook, limiter: RateLimiter, webhook_limiter: RateLimiter,
                 admin: Callable[[str, str, dict[str, list[str]], Any], tuple[int, Any]]) -> None:
        self.world = world
        self.faults = faults
        self.limiter = limiter
        self.webhook_limiter = webhook_limiter
        self.admin = admin
        self._logids = itertools.count(1)
        #: (address, port) of every client connection seen: how many connections the callers opened.
        self.client_connections: set[tuple[Any, ...]] = set()

    # ------------------------------------------------------------------ helpers
    def _logid(self) -> str:
        return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{next(self._logids):012X}"

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    @staticmethod
    def _header(scope: Scope, name: bytes) -> str | None:
        for k, v in scope["headers"]:
            if k == name:
                return v.decode("latin-1")
        return None

    def _log(self, method: str, path: str, status: int, code: int | None) -> None:
        self.world.record(method, path, status, code)

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.client_connections.add(tuple(scope.get("client") or ()))
        method: str = scope["method"]
        path: str = scope["path"]
        if path == REDIRECT_TARGET:
            # Where the `redirect` fault points: a success that a client following redirects would take.
            self.world.counts["redirect_target"] += 1
            await self._send(send, 200, REDIRECT_TARGET_BODY, [JSON_CT])
            return
        if path.startswith(ADMIN_PREFIX + "/"):
            await self._admin(scope, receive, send, method, path)
            return

        fault = self.faults.take(path)
        route = match_route(method, path)
        name = route[0] if route else "unknown"
        self.world.counts[name] += 1
        logid = self._logid()
        headers: list[tuple[bytes, bytes]] = [(b"x-tt-logid", logid.encode())]

        if fault is not None:
            kind = fault.kind
            if kind == "delay":
                await asyncio.sleep(fault.delay)
            elif kind == "drop_before":
                self._log(method, path, 0, None)
                await self._drop(send, None)
                return
            elif kind in ("redirect", "huge_body"):
                status, payload, extra = self._hostile_response(fault)
                self._log(method, path, status, None)
                await self._send(send, status, payload, headers + extra)
                return
            elif kind in ("response", "html_502", "empty_body", "malformed_json"):
                status, payload, extra, fcode = self._fault_response(fault, path, logid)
                self._log(method, path, status, fcode)
                await self._send(send, status, payload, headers + extra)
                return

        body: Any
        if route is None:
            status, body = 404, {"code": 404, "msg": "404 page not found"}
        else:
            body_bytes = await self._read_body(receive)
            status, body, extra_headers = self._dispatch(scope, route, body_bytes, fault)
            headers.extend(extra_headers)
        code: int | None = body.get("code") if isinstance(body, dict) else None
        if status != 200 and path.startswith("/open-apis/im/") and isinstance(body, dict):
            body["error"] = {"log_id": logid, "troubleshooter":
                             f"https://open.feishu.cn/search?from=openapi&log_id={logid}"}
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self._log(method, path, status, code)
        if fault is not None and fault.kind == "drop_after":
            await self._drop(send, (status, payload, headers))
            return
        if fault is not None and fault.kind == "delay_after":
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.kind == "trickle":
            await self._trickle(receive, send, status, payload, [JSON_CT, *headers], fault.delay)
            return
        await self._send(send, status, payload, [JSON_CT, *headers])

    async def _send(self, send: Send, status: int, payload: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        headers = [*headers, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _trickle(
        self, receive: Receive, send: Send, status: int, payload: bytes, headers: list[tuple[bytes, bytes]],
        delay: float,
    ) -> None:
        """The whole answer, one byte every ``delay`` seconds (a client's per-read timeout never fires);
        stops as soon as the client hangs up."""
        headers = [*headers, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i in range(len(payload)):
            try:
                message = await asyncio.wait_for(receive(), timeout=delay)
            except TimeoutError:
                message = {}
            if message.get("type") == "http.disconnect":
                return
            await send({"type": "http.response.body", "body": payload[i : i + 1], "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _hostile_response(fault: Fault) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if fault.kind == "redirect":
            location = (fault.headers or {}).get("Location", REDIRECT_TARGET)
            return fault.status or 302, b"", [(b"location", location.encode())]
        # huge_body: a JSON object of `size` bytes; gzip-encoded, a few KB inflate to all of it.
        size = max(fault.size, 32)
        head, tail = b'{"code":0,"msg":"', b'"}'
        filler = size - len(head) - len(tail)
        if fault.encoding == "gzip":
            packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip header
            step = 1 << 20
            parts = [packer.compress(head)]
            parts.extend(packer.compress(b"a" * min(step, filler - i)) for i in range(0, filler, step))
            parts.extend([packer.compress(tail), packer.flush()])
            return 200, b"".join(parts), [JSON_CT, (b"content-encoding", b"gzip")]
        return 200, head + b"a" * filler + tail, [JSON_CT]

    async def _drop(self, send: Send, partial: tuple[int, bytes, list[tuple[bytes, bytes]]] | None) -> None:
        if partial is not None:
            status, payload, headers = partial
            headers = [JSON_CT, *headers, (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload[: len(payload) // 2],
                        "more_body": True})
        if _abort_connection(send):
            # let uvicorn notice the lost connection so it neither logs nor answers 500
            for _ in range(3):
                await asyncio.sleep(0)
            return
        if partial is None:  # pragma: no cover - non-uvicorn server
            raise ConnectionAbortedError("emulator fault: drop_before")

    def _fault_response(self, fault: Fault, path: str, logid: str
                        ) -> tuple[int, bytes, list[tuple[bytes, bytes]], int | None]:
        extra = [(k.lower().encode(), str(v).encode()) for k, v in (fault.headers or {}).items()]
        if fault.kind == "html_502":
            return fault.status or 502, HTML_502, [(b"content-type", b"text/html"), *extra], None
        if fault.kind == "empty_body":
            return fault.status or 200, b"", [JSON_CT, *extra], None
        if fault.kind == "malformed_json":
            return fault.status or 200, b'{"code":0,"msg":"ok","data":{"message_id":"bm-', [JSON_CT, *extra], None
        # kind == "response"
        code = fault.code
        if fault.body is not None:
            payload = (fault.body if isinstance(fault.body, bytes | str) else json.dumps(fault.body))
            body_bytes = payload.encode() if isinstance(payload, str) else payload
            if isinstance(fault.body, dict):
                code = fault.body.get("code", code)
        else:
            body: dict[str, Any] = {"code": code if code is not None else 500,
                                    "msg": fault.msg or "emulator injected fault"}
            if path.startswith("/open-apis/im/"):
                body["error"] = {"log_id": logid}
            code = body["code"]
            body_bytes = json.dumps(body).encode()
        status = fault.status or (400 if fault.code is not None else 500)
        names = {k for k, _ in extra}
        if status == 429 or code == 99991400:
            if b"x-ogw-ratelimit-limit" not in names:
                extra.append((b"x-ogw-ratelimit-limit", str(self.limiter.per_second or 50).encode()))
            if b"x-ogw-ratelimit-reset" not in names:
                extra.append((b"x-ogw-ratelimit-reset", b"1"))
        if b"content-type" not in names:
            extra.insert(0, JSON_CT)
        return status, body_bytes, extra, code

    # ------------------------------------------------------------------ business dispatch
    def _dispatch(self, scope: Scope, route: tuple[str, bool, dict[str, str]], raw: bytes,
                  fault: Fault | None) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        name, _needs_auth, params = route
        world = self.world
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = _BAD_JSON
        if name in ("tenant_access_token", "app_access_token"):
            status, out = world.op_token("tenant" if name == "tenant_access_token" else "app",
                                         None if body is _BAD_JSON else body)
            return status, out, []
        if name == "webhook":
            if self.webhook_limiter.enabled:
                refused = self.webhook_limiter.check(params["id"], "webhook")
                if refused:
                    # custom bots answer HTTP 200 with the code in the body
                    return 200, {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"
                                 "appID[0]"}, []
            return (*world.op_webhook(params["id"], body), [])
        auth = self._header(scope, b"authorization")
        token = None
        if auth:
            parts = auth.split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "bearer" and parts[1].strip():
                token = parts[1].strip()
        if token is None:
            return 400, _err(E_AUTH_MISSING), []
        if fault is not None and fault.kind == "expire_token":
            world.expire_token(token)
        app_id = world.token_app(token)
        if app_id is None:
            return 400, _err(E_AUTH_INVALID), []
        if self.limiter.enabled:
            refused = self.limiter.check(app_id, name)
            if refused:
                limit, reset = refused
                return 429, _err(E_RATE), [(b"x-ogw-ratelimit-limit", str(limit).encode()),
                                           (b"x-ogw-ratelimit-reset", str(reset).encode())]
        query = parse_qs(scope["query_string"].decode("latin-1")) if scope["query_string"] else {}
        if name == "batch_send":
            return (*world.op_batch_send(app_id, None if body is _BAD_JSON else body), [])
        if name == "read_user":
            return (*world.op_read_user(app_id, params["id"]), [])
        if name == "get_progress":
            return (*world.op_get_progress(app_id, params["id"]), [])
        if name == "batch_recall":
            return (*world.op_batch_recall(app_id, params["id"]), [])
        if name == "message_create":
            rtype = query.get("receive_id_type", [None])[0]
            return (*world.op_message_create(app_id, rtype, None if body is _BAD_JSON else body), [])
        if name == "urgent_app":
            utype = query.get("user_id_type", [None])[0]
            return (*world.op_urgent_app(app_id, params["id"], utype, None if body is _BAD_JSON else body), [])
        # who has read (tracking.py)
        if name == "read_users":
            return (*world.tracking.op_read_users(app_id, params["id"], query), [])
        if name == "chat_members":
            return (*world.tracking.op_chat_members(app_id, params["id"], query), [])
        if name == "message_reactions":
            return (*world.tracking.op_reactions(app_id, params["id"], query), [])
        if name == "message_reply":
            return (*world.tracking.op_reply(app_id, params["id"], None if body is _BAD_JSON else body), [])
        if name == "department_users":
            return (*contacts.op_department_users(world, query), [])
        if name == "department_children":
            return (*contacts.op_department_children(world, params["id"], query), [])
        if name in ("image_upload", "file_upload"):
            upload = op_image_upload if name == "image_upload" else op_file_upload
            return (*upload(world, app_id, self._header(scope, b"content-type"), raw), [])
        if name == "message_patch":
            return (*op_message_patch(world, app_id, params["id"], None if body is _BAD_JSON else body), [])
        if name == "contact_user":
            return (*op_contact_user(world, params["id"], query), [])
        if name == "chat_list":
            return (*op_chat_list(world, app_id, query), [])
        raise AssertionError(name)  # pragma: no cover

    # ------------------------------------------------------------------ admin
    async def _admin(self, scope: Scope, receive: Receive, send: Send, method: str, path: str) -> None:
        raw = await self._read_body(receive)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        query = parse_qs(scope["query_string"].decode("latin-1")) if scope["query_string"] else {}
        try:
            status, out = self.admin(method, path[len(ADMIN_PREFIX):], query, body)
        except (KeyError, ValueError, TypeError) as exc:
            status, out = 400, {"error": f"{type(exc).__name__}: {exc}"}
        if isinstance(out, dict):
            out = {"emulator_only": True, **out}
        payload = json.dumps(out, ensure_ascii=False).encode()
        await self._send(send, status, payload, [JSON_CT, (b"x-feishu-emulator", b"1")])


_BAD_JSON = object()


def _err(err: tuple[int, str]) -> dict[str, Any]:
    return {"code": err[0], "msg": err[1]}
