"""``feishu-emulator``: run the local Feishu Open Platform emulator from a shell."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import TYPE_CHECKING

from .reading import ReadingModel
from .state import Tenant

if TYPE_CHECKING:
    from .emulator import FeishuEmulator

EPILOG = """\
examples:
  feishu-emulator --port 8700
  feishu-emulator --port 8700 --speed 60          # an hour of reading per real minute
  feishu-emulator --manual-clock                  # time moves only via POST /__emulator__/advance
  feishu-emulator --seed my_tenant.json --no-rate-limit
  feishu-emulator --print-tenant > tenant.json    # the default tenant, in the seed format

Point a client at the printed base URL, e.g. for Airflow:
  export AIRFLOW_CONN_FEISHU_DEFAULT='<the connection JSON printed at start-up>'

Emulator-only admin API (never part of Feishu): POST /__emulator__/advance {"seconds": N},
POST /__emulator__/faults {...}, GET /__emulator__/stats, GET /__emulator__/tenant,
POST /__emulator__/reset, GET /__emulator__/messages?open_id=...  See docs/emulator.md.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="feishu-emulator",
        description="Local Feishu / Lark Open Platform emulator (tokens, batch_send, read_user, "
        "get_progress, recall, im/v1 messages, urgent_app, custom-bot webhooks) on 127.0.0.1.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (0 = any free port; default 8700)")
    p.add_argument("--seed", metavar="FILE", help="tenant seed JSON file (default: the shipped default tenant)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="emulated seconds per real second (default 1.0; 60 = an hour per minute)")
    p.add_argument("--manual-clock", action="store_true",
                   help="freeze the emulated clock; move it with POST /__emulator__/advance")
    p.add_argument("--no-rate-limit", action="store_true", help="switch off the 50/s + 1000/min limits")
    p.add_argument("--reading-seed", type=int, default=0, help="seed of the delivery/reading curves")
    p.add_argument("--median-read-seconds", type=float, default=600.0,
                   help="median time from delivery to read (default 600)")
    p.add_argument("--never-read-fraction", type=float, default=0.1,
                   help="fraction of recipients who never read (default 0.1)")
    p.add_argument("--delivery-seconds", type=float, default=5.0,
                   help="spread of deliveries after scheduling (default 5)")
    p.add_argument("--undeliverable-fraction", type=float, default=0.0,
                   help="fraction of recipients never delivered (default 0)")
    p.add_argument("--print-tenant", action="store_true", help="print the tenant as seed JSON and exit")
    return p


def start_banner(emu: FeishuEmulator, *, clock: str, rate_limits: bool) -> list[str]:
    """What the emulator prints at start: where it listens, the app, and ids to paste into a DAG."""
    lines = [
        f"Feishu emulator listening on {emu.base_url}  (clock {clock}, rate limits {'on' if rate_limits else 'off'})",
        f"  app_id:     {emu.app_id}",
        f"  app_secret: {emu.app_secret}",
    ]
    lines += [f"  other app:  {app['app_id']} / {app['app_secret']}" for app in emu.apps[1:]]
    lines.append(f"  AIRFLOW_CONN_FEISHU_DEFAULT='{emu.connection_json()}'")
    lines.append("  department_ids (batch send; sub-departments included):")
    for dep in emu.tenant["departments"]:
        members = len(emu.department_members(dep["department_id"]))
        lines.append(f"    {dep['department_id']:<14} or {dep['open_department_id']}  {dep['name']} ({members} users)")
    lines.append("  chat_ids (receive_id_type='chat_id'):")
    lines += [f"    {chat['chat_id']}  {chat['name']}" for chat in emu.chats]
    lines.append("  custom-bot webhooks (feishu_webhook connection password):")
    for index, hook in enumerate(emu.tenant["webhooks"]):
        kind = f"signed, secret {hook['secret']}" if hook.get("secret") else "unsigned"
        if hook.get("keyword"):
            kind += f", keyword {hook['keyword']!r}"
        lines.append(f"    {emu.webhook_url(index)}  ({kind})")
    users = emu.users
    lines.append("  open_ids: " + ", ".join(u["open_id"] for u in users[:3]) + f", ... ({len(users)} users)")
    lines.append("  Ctrl-C to stop.")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_tenant:
        json.dump(Tenant(args.seed).to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    from .clock import ManualClock
    from .emulator import FeishuEmulator

    reading = ReadingModel(
        seed=args.reading_seed,
        median_seconds=args.median_read_seconds,
        never_read_fraction=args.never_read_fraction,
        delivery_seconds=args.delivery_seconds,
        undeliverable_fraction=args.undeliverable_fraction,
    )
    emu = FeishuEmulator(
        seed=args.seed,
        clock=ManualClock() if args.manual_clock else None,
        speed=None if args.manual_clock else args.speed,
        rate_limits=not args.no_rate_limit,
        reading=reading,
        port=args.port,
    )
    emu.start()
    clock = "manual" if args.manual_clock else f"x{args.speed:g}"
    print("\n".join(start_banner(emu, clock=clock, rate_limits=not args.no_rate_limit)), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
