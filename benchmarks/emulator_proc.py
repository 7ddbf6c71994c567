"""The emulator in its own process for the benchmarks (no shared GIL or event loop with the client).

Protocol on stdin/stdout, one JSON line each: at start it prints ``{"base_url", "app_id", "app_secret",
"batches", "crossings"}``; crossings are wall-clock UNIX times at which each batch gets all its reads
(``mark_read``), done by a thread here. Reading a line ``stats`` prints the counters and the number of
429 answers; ``log <path>`` writes every request as ``[wall time, method, path, status]`` to a JSON
file and prints ``{}``; ``quit`` (or EOF) stops it.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=0)
    parser.add_argument("--recipients", type=int, default=10)
    parser.add_argument("--cross-start", type=float, default=30.0, help="seconds from now of the first crossing")
    parser.add_argument("--cross-span", type=float, default=60.0, help="crossings spread over this many seconds")
    parser.add_argument("--per-second", type=int, default=0, help="0 = no rate limits")
    parser.add_argument("--per-minute", type=int, default=0, help="0 = no per-minute limit")
    args = parser.parse_args()

    quiet = ReadingModel(never_read_fraction=1.0, schedule_delay=1.0, delivery_seconds=5.0)
    emu = FeishuEmulator(rate_limits=False, reading=quiet, speed=1.0).start()  # real time: the log is timed
    users = [u["open_id"] for u in emu.users[: args.recipients]]
    batches = []
    for _ in range(args.batches):
        status, body = emu.world.op_batch_send(
            emu.app_id, {"msg_type": "text", "content": {"text": "bench"}, "open_ids": users}
        )
        assert status == 200, body
        batches.append(body["data"]["message_id"])
    emu.advance(10)  # scheduled and delivered, nobody has read
    if args.per_second or args.per_minute:
        emu.set_rate_limits(args.per_second or None, args.per_minute or None)
    now = time.time()
    step = args.cross_span / max(len(batches), 1)
    crossings = [now + args.cross_start + i * step for i in range(len(batches))]

    def reader() -> None:
        for bid, at in zip(batches, crossings, strict=True):
            time.sleep(max(0.0, at - time.time()))
            emu.mark_read(bid, count=args.recipients)

    threading.Thread(target=reader, daemon=True).start()
    out = {"base_url": emu.base_url, "app_id": emu.app_id, "app_secret": emu.app_secret}
    print(json.dumps({**out, "batches": batches, "crossings": crossings}), flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            log = emu.requests_log
            stats = {
                "counts": dict(emu.world.counts),
                "status_429": sum(1 for r in log if r[3] == 429),
                "ok": sum(1 for r in log if r[3] == 200),
            }
            print(json.dumps(stats), flush=True)
        elif line.startswith("log "):
            offset = time.time() - emu.now()  # the emulator's clock runs in real time plus advance()
            entries = [[t + offset, method, path, status] for t, method, path, status, _ in emu.requests_log]
            with open(line[4:].strip(), "w") as f:
                json.dump(entries, f)
            print(json.dumps({"connections": emu.connections_seen}), flush=True)
        elif line.strip() == "quit":
            break
    emu.stop()


if __name__ == "__main__":
    main()
