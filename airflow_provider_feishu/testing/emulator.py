"""The public handle: :class:`FeishuEmulator` (start/stop, inspection, clock, faults, limits)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .app import EmulatorApp
from .cards import card_history
from .clock import Clock, ManualClock, ScaledClock
from .faults import Fault, FaultBook
from .ratelimit import RateLimiter
from .reading import ReadingModel
from .state import Seed, Tenant
from .tracking import tracking_admin
from .world import World

_DEFAULT: Any = object()
WEBHOOK_PER_SECOND, WEBHOOK_PER_MINUTE = 5, 100


class FeishuEmulator:
    """A local Feishu Open Platform server on ``127.0.0.1`` (think ``moto`` for Feishu).

    ``seed``: tenant dict or JSON file path (default: the shipped ``default_tenant.json``).
    ``clock``: any object with ``now()``/``advance()``; default :class:`ManualClock`.
    ``speed``: when no clock is given, run a real-time clock ``speed`` times faster instead.
    ``rate_limits``: enforce 50/s + 1000/min per app per API (real time).
    ``reading``: a :class:`ReadingModel` (delivery and reading curves).
    """

    def __init__(
        self,
        seed: Seed | None = None,
        clock: Clock | None = None,
        speed: float | None = None,
        rate_limits: bool = True,
        reading: ReadingModel | None = None,
        port: int = 0,
    ) -> None:
        self._tenant = Tenant(seed)
        if clock is None:
            clock = ScaledClock(speed) if speed else ManualClock()
        self.clock: Clock = clock
        self.reading = reading or ReadingModel()
        self.world = World(self._tenant, self.clock, self.reading)
        self.faults = FaultBook()
        self.limiter = RateLimiter(50, 1000) if rate_limits else RateLimiter(None, None)
        self.webhook_limiter = (
            RateLimiter(WEBHOOK_PER_SECOND, WEBHOOK_PER_MINUTE) if rate_limits else RateLimiter(None, None)
        )
        self.app = EmulatorApp(self.world, self.faults, self.limiter, self.webhook_limiter, self._admin)
        self._port = port
        self._server: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FeishuEmulator:
        if self._server is None:
            from .server import ServerThread

            server = ServerThread(self.app, port=self._port)
            server.start()
            self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FeishuEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; use `with FeishuEmulator() as emu:` or start()")
        return int(self._server.port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ tenant
    @property
    def app_id(self) -> str:
        return str(self._tenant.default_app["app_id"])

    @property
    def app_secret(self) -> str:
        return str(self._tenant.default_app["app_secret"])

    @property
    def apps(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self._tenant.data["apps"]]

    @property
    def tenant(self) -> dict[str, Any]:
        return self._tenant.to_dict()

    @property
    def users(self) -> list[dict[str, Any]]:
        return [dict(u) for u in self._tenant.users]

    @property
    def departments(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self._tenant.departments]

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self._tenant.data["chats"]]

    def department_members(self, department_id: str) -> list[str]:
        """open_ids a department send reaches (sub-departments included)."""
        members = self._tenant.department_members(department_id)
        if members is None:
            raise KeyError(department_id)
        return list(members)

    def webhook_url(self, index: int = 0) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{self._tenant.data['webhooks'][index]['token']}"

    def connection_json(self, conn_type: str = "feishu", app_id: str | None = None,
                        extra: dict[str, Any] | None = None) -> str:
        """JSON for ``AIRFLOW_CONN_<ID>`` pointing at this emulator."""
        app_id = app_id or self.app_id
        app = self._tenant.apps.get(app_id)
        if app is None:
            raise KeyError(f"unknown app_id {app_id!r}")
        return json.dumps({
            "conn_type": conn_type,
            "login": app_id,
            "password": app["app_secret"],
            "host": self.base_url,
            "extra": dict(extra or {}),
        })

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ------------------------------------------------------------------ faults and limits
    def inject(self, path: str, *, times: int | None = 1, status: int | None = None, code: int | None = None,
               msg: str | None = None, body: Any = None, headers: dict[str, str] | None = None,
               kind: str = "response", delay: float = 0.0, size: int = 0, encoding: str | None = None) -> None:
        self.faults.add(Fault(path=path, kind=kind, times=times, status=status, code=code, msg=msg,
                              body=body, headers=dict(headers or {}), delay=delay, size=size, encoding=encoding))

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_rate_limits(self, per_second: int | None = 50, per_minute: int | None = _DEFAULT) -> None:
        """``set_rate_limits(None)`` switches limits off; ``set_rate_limits(5)`` tightens to 5/s."""
        if per_minute is _DEFAULT:
            per_minute = None if per_second is None else 1000
        self.limiter.configure(per_second, per_minute)
        if per_second is None and per_minute is None:
            self.webhook_limiter.configure(None, None)
        else:
            self.webhook_limiter.configure(WEBHOOK_PER_SECOND, WEBHOOK_PER_MINUTE)

    # ------------------------------------------------------------------ inspection
    def request_count(self, endpoint: str) -> int:
        return int(self.world.counts.get(endpoint, 0))

    @property
    def requests_log(self) -> list[tuple[float, str, str, int, int | None]]:
        return list(self.world.log)

    def delivered(self, open_id: str) -> list[dict[str, Any]]:
        return self.world.delivered(open_id)

    def chat_messages(self, chat_id: str) -> list[dict[str, Any]]:
        return self.world.chat_messages(chat_id)

    def webhook_messages(self) -> list[dict[str, Any]]:
        with self.world.lock:
            return [dict(e) for e in self.world.webhook_log]

    # ------------------------------------------------------------------ uploads and cards
    def upload(self, key: str) -> dict[str, Any]:
        """An uploaded image or file by its image_key / file_key: kind, file_name, size, sha256, data..."""
        with self.world.lock:
            return dict(self.world.uploads[key])

    def uploads(self) -> list[dict[str, Any]]:
        """Every upload so far, oldest first."""
        with self.world.lock:
            return [dict(u) for u in self.world.uploads.values()]

    def card(self, message_id: str) -> dict[str, Any]:
        """The card an interactive message shows now (after any updates)."""
        return card_history(self.world, message_id)[-1]

    def card_history(self, message_id: str) -> list[dict[str, Any]]:
        """Every card an interactive message has shown, the sent one first, then each update."""
        return card_history(self.world, message_id)

    def batch(self, batch_message_id: str) -> dict[str, Any]:
        return self.world.batch_snapshot(batch_message_id)

    def batches(self) -> list[str]:
        with self.world.lock:
            return [b.message_id for b in self.world.batches.values()]

    def mark_read(self, batch_message_id: str, open_ids: list[str] | None = None,
                  count: int | None = None) -> int:
        """Force reads now; returns how many recipients became readers."""
        return self.world.mark_read(batch_message_id, open_ids, count)

    # ------------------------------------------------------------------ who has read (tracking.py)
    def message_reads(self, message_id: str) -> dict[str, Any]:
        """An im/v1 message's audience now, its readers (open_id -> epoch seconds), the unread, reminders."""
        return self.world.tracking.snapshot(message_id)

    def mark_message_read(self, message_id: str, open_ids: list[str] | None = None) -> int:
        """Force reads of an im/v1 message now (everyone in its audience by default); returns how many."""
        return self.world.tracking.mark_read(message_id, open_ids)

    def react(
        self, message_id: str, operator_id: str, emoji_type: str = "THUMBSUP", operator_type: str = "user"
    ) -> None:
        """Add a reaction now (``operator_type="app"`` for an app's reaction, which listings keep)."""
        with self.world.lock:
            self.world.tracking.react(message_id, operator_id, emoji_type, operator_type)

    def reminders(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Every buzz, reply @-mention and direct-message reminder: kind, message_id, open_id, at, had_read."""
        with self.world.lock:
            return [r.to_dict() for r in self.world.tracking.reminders if message_id in (None, r.message_id)]

    def add_chat_members(self, chat_id: str, open_ids: list[str]) -> list[str]:
        return self.world.tracking.set_membership(chat_id, add=open_ids)

    def remove_chat_members(self, chat_id: str, open_ids: list[str]) -> list[str]:
        return self.world.tracking.set_membership(chat_id, remove=open_ids)

    def set_bot_in_chat(self, chat_id: str, present: bool) -> None:
        """Make the bot leave (``False``) or rejoin a chat: its calls about the chat then fail with 230002."""
        with self.world.lock:
            self.world.tenant.chats[chat_id]["bot_member"] = present

    def set_unread_buzzes(self, open_id: str, count: int) -> None:
        """Pretend ``open_id`` already holds ``count`` unread buzzes (Feishu refuses more at 200: 230023)."""
        with self.world.lock:
            self.world.tracking.extra_unread_buzzes[open_id] = count
    @property
    def connections_seen(self) -> int:
        """How many client connections (address and port) have sent requests since the last reset."""
        return len(self.app.client_connections)

    def stats(self) -> dict[str, Any]:
        out = self.world.stats()
        out["faults_pending"] = len(self.faults.pending())
        out["rate_limits"] = {"per_second": self.limiter.per_second, "per_minute": self.limiter.per_minute}
        return out

    def reset(self) -> None:
        """Forget messages, batches, counters, logs, faults and rate windows; keep tenant and tokens."""
        self.world.reset()
        self.app.client_connections.clear()
        self.faults.clear()
        self.limiter.reset()
        self.webhook_limiter.reset()

    # ------------------------------------------------------------------ admin HTTP API
    def _admin(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        q = {k: v[0] for k, v in query.items()}
        if body is None:
            return 400, {"error": "body is not valid JSON"}
        if path == "/faults" and method == "POST":
            self.inject(**body)
            return 200, {"ok": True, "faults_pending": len(self.faults.pending())}
        if path == "/faults" and method == "GET":
            return 200, {"faults": [asdict(f) for f in self.faults.pending()]}
        if path == "/faults" and method == "DELETE":
            self.clear_faults()
            return 200, {"ok": True}
        if path == "/advance" and method == "POST":
            self.advance(float(body.get("seconds", 0)))
            return 200, {"ok": True, "now": self.now()}
        if path == "/stats" and method == "GET":
            return 200, self.stats()
        if path == "/tenant" and method == "GET":
            return 200, self.tenant
        if path == "/reset" and method == "POST":
            self.reset()
            return 200, {"ok": True}
        if path == "/rate_limits" and method == "POST":
            self.set_rate_limits(body.get("per_second"), body.get("per_minute"))
            return 200, {"ok": True}
        if path == "/requests" and method == "GET":
            return 200, {"requests": [list(r) for r in self.requests_log]}
        if path == "/messages" and method == "GET":
            if "open_id" in q:
                return 200, {"open_id": q["open_id"], "messages": self.delivered(q["open_id"])}
            if "chat_id" in q:
                return 200, {"chat_id": q["chat_id"], "messages": self.chat_messages(q["chat_id"])}
            return 400, {"error": "pass open_id=... or chat_id=..."}
        if path.startswith("/batches/"):
            rest = path[len("/batches/"):]
            if method == "GET" and "/" not in rest:
                return 200, self.batch(rest)
            if method == "POST" and rest.endswith("/read"):
                n = self.mark_read(rest[: -len("/read")], body.get("open_ids"), body.get("count"))
                return 200, {"ok": True, "newly_read": n}
        tracked = tracking_admin(self.world.tracking, method, path, body)
        if tracked is not None:
            return tracked
        return 404, {"error": f"unknown emulator admin endpoint {method} {path}"}


def start_emulator_thread(
    seed: Seed | None = None,
    clock: Clock | None = None,
    speed: float | None = None,
    rate_limits: bool = True,
    reading: ReadingModel | None = None,
    port: int = 0,
) -> FeishuEmulator:
    """Start an emulator in a background thread and return it; the caller calls ``stop()``."""
    return FeishuEmulator(seed=seed, clock=clock, speed=speed, rate_limits=rate_limits, reading=reading,
                          port=port).start()


__all__ = ["FeishuEmulator", "ManualClock", "ScaledClock", "start_emulator_thread"]
