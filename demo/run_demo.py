"""`make demo`: the reminder workflow against the local emulator, told as a story.

Starts the Feishu emulator on 127.0.0.1 with a clock running 1440x (a day of reading in a
minute), points ``feishu_default`` at it, and runs ``dags_examples/feishu_reminder_workflow.py``
with ``airflow dags test`` on a throwaway SQLite Airflow. Airflow's own output goes to a log
file; this script prints what a person wants to see: the sends, the read ratio over time, the
deadline or the threshold crossing, the reminders, and the report the owner received.

No credentials and no network: everything talks to the emulator on loopback. The DAG is the
same one a real tenant runs; only the connection and the params (shorter waits) differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from airflow_provider_feishu.testing import ReadingModel, start_emulator_thread

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "feishu_reminder_workflow"
SPEED = 1440.0  # emulated seconds per real second: one day per minute
ROUND_HOURS = 4.0  # each wait round's deadline, in emulated hours
OWNER_CHAT = "oc_35045226853e38407cda43fb1cde7840"
BAR = 30


def hours(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"+{minutes // 60:>2}h{minutes % 60:02d}m"


def bar(ratio: float, threshold: float) -> str:
    filled = round(ratio * BAR)
    mark = round(threshold * BAR)
    cells = ["█" if i < filled else "·" for i in range(BAR)]
    if 0 <= mark < BAR:
        cells[mark] = "|" if mark >= filled else cells[mark]
    return "".join(cells)


class Story:
    """Watches the emulator and prints what happens, in emulated time since the first send."""

    def __init__(self, emu, threshold: float) -> None:
        self.emu = emu
        self.threshold = threshold
        self.start: float | None = None
        self.seen_batches: list[str] = []
        self.last_row = -1.0
        self.crossed = False
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.tick()
        self.tick()

    def tick(self) -> None:
        for batch_id in self.emu.batches():
            if batch_id not in self.seen_batches:
                self.announce(batch_id)
        if not self.seen_batches or self.start is None:
            return
        elapsed = self.emu.now() - self.start
        state = self.emu.batch(self.seen_batches[0])
        read, total = len(state["read"]), len(state["recipients"])
        ratio = read / total if total else 0.0
        if elapsed - self.last_row >= 1800 or (ratio >= self.threshold and not self.crossed):
            self.last_row = elapsed
            print(f"  [{hours(elapsed)}] notice read {read:>3}/{total:<3} {ratio:6.1%}  {bar(ratio, self.threshold)}")
        if ratio >= self.threshold and not self.crossed:
            self.crossed = True
            print(f"  [{hours(elapsed)}] ✅ {self.threshold:.0%} of the recipients have read the notice")

    def announce(self, batch_id: str) -> None:
        state = self.emu.batch(batch_id)
        if self.start is None:
            self.start = state["sent_at"]
        self.seen_batches.append(batch_id)
        elapsed = state["sent_at"] - self.start
        kind = "notice" if len(self.seen_batches) == 1 else f"reminder {len(self.seen_batches) - 1}"
        if kind != "notice":
            print(f"  [{hours(elapsed)}] ⏰ round deadline passed below {self.threshold:.0%}")
        print(f"  [{hours(elapsed)}] 📤 {kind} sent to {len(state['recipients'])} people ({batch_id[:12]}…)")


def main() -> int:
    reading = ReadingModel(seed=2026, median_seconds=2 * 3600, never_read_fraction=0.1, delivery_seconds=60)
    emu = start_emulator_thread(speed=SPEED, reading=reading)
    home = Path(tempfile.mkdtemp(prefix="feishu-demo-airflow-"))
    log_path = home / "airflow.log"
    threshold = 0.8
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_FEISHU_DEFAULT": emu.connection_json(),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    conf = {
        "threshold": threshold,
        "wait_minutes": ROUND_HOURS * 3600 / SPEED / 60,
        "poke_seconds": 0.5,
        "owner_chat_id": OWNER_CHAT,
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    print("Feishu reminder workflow demo")
    print(f"  emulator  {emu.base_url} (app {emu.app_id}), clock at {SPEED:g}x: one day of reading per minute")
    print(f"  airflow   SQLite in {home}; its output goes to {log_path}")
    print(f"  DAG       {DAG_ID}: notice to 2 departments, need {threshold:.0%} within {ROUND_HOURS:g}h per round\n")
    started = time.monotonic()
    story = Story(emu, threshold)
    watcher = threading.Thread(target=story.run, daemon=True)
    try:
        with log_path.open("w") as log:
            subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
            watcher.start()
            result = subprocess.run(
                [airflow, "dags", "test", DAG_ID, "--conf", json.dumps(conf)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=600,
            )
        story.stop.set()
        watcher.join(timeout=5)
        print()
        report = [m for m in emu.chat_messages(OWNER_CHAT) if m.get("source") == "im"]
        if report:
            print("The owner's chat received:")
            for line in str(report[-1]["content"].get("text", report[-1]["content"])).splitlines():
                print(f"  │ {line}")
        ok = result.returncode == 0 and b"state=success" in log_path.read_bytes().replace(b" ", b"")
        verdict = "succeeded" if ok else f"did NOT succeed (exit {result.returncode}); see {log_path}"
        reminders = max(len(story.seen_batches) - 1, 0)
        print(
            f"\nDAG run {verdict} in {time.monotonic() - started:.0f}s real time; {reminders} reminder(s); "
            f"{emu.request_count('read_user')} read_user calls, "
            f"{emu.request_count('tenant_access_token')} token fetch(es)."
        )
        return 0 if ok else 1
    finally:
        story.stop.set()
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
