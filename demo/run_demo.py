"""`make demo`: the reminder workflow, then "who has read", against the local emulator, told as stories.

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


WHO_DAG_ID = "feishu_who_has_read"
ALL_HANDS = "oc_cccb048e9c46eb318c6b36069b85d49c"


class WhoHasReadStory:
    """Watches the chat notice of the second DAG: who has read, and who gets buzzed."""

    def __init__(self, emu, threshold: float) -> None:
        self.emu = emu
        self.threshold = threshold
        self.message_id: str | None = None
        self.start = 0.0
        self.last_row = -1.0
        self.last_read = -1
        self.buzz_seen = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.tick()
        self.tick()

    def tick(self) -> None:
        if self.message_id is None:
            sent = [m for m in self.emu.chat_messages(ALL_HANDS) if m.get("source") == "im"]
            if not sent:
                return
            self.message_id, self.start = sent[0]["message_id"], sent[0]["delivered_at"]
            print(f"  [{hours(0)}] 📤 notice posted to the All hands chat ({len(self.reads()['audience'])} people)")
        elapsed = self.emu.now() - self.start
        reads = self.reads()
        read, total = len(reads["read"]), len(reads["audience"])
        buzzes = [r for r in self.emu.reminders(self.message_id) if r["kind"] == "buzz"]
        if len(buzzes) > self.buzz_seen:
            self.buzz_seen = len(buzzes)
            print(f"  [{hours(elapsed)}] 🔔 buzzed {len(buzzes)} people who had not read")
        if elapsed - self.last_row >= 1800 and read != self.last_read:
            self.last_row, self.last_read = elapsed, read
            ratio = read / total if total else 0.0
            print(f"  [{hours(elapsed)}] notice read {read:>3}/{total:<3} {ratio:6.1%}  {bar(ratio, self.threshold)}")

    def reads(self) -> dict:
        assert self.message_id is not None
        return self.emu.message_reads(self.message_id)


def read_before_the_check(emu, message_id: str, buzzes: list[dict]) -> list[dict]:
    """The buzzed people who had read the notice when the reminder last asked read_users before buzzing."""
    if not buzzes:
        return []
    first_buzz = min(r["at"] for r in buzzes)
    asked = [e[0] for e in emu.requests_log if e[2].endswith(f"/{message_id}/read_users") and e[0] <= first_buzz]
    checked_at = max(asked, default=first_buzz)
    read_at = emu.message_reads(message_id)["read"]
    return [r for r in buzzes if read_at.get(r["open_id"], float("inf")) <= checked_at]


def run_who_has_read(emu, env: dict[str, str], airflow: str, log_path: Path) -> bool:
    """The second story: a notice to a chat, wait for 80%, buzz only the unread, report who never read."""
    threshold = 0.8
    print(f"\nWho has read ({WHO_DAG_ID}): a notice to a chat, need {threshold:.0%} within 4h, then buzz the rest")
    started = time.monotonic()
    story = WhoHasReadStory(emu, threshold)
    watcher = threading.Thread(target=story.run, daemon=True)
    watcher.start()
    conf = {"chat_id": ALL_HANDS, "owner_chat_id": OWNER_CHAT, "threshold": threshold}
    with log_path.open("a") as log:
        result = subprocess.run(
            [airflow, "dags", "test", WHO_DAG_ID, "--conf", json.dumps(conf)],
            env={**env, "FEISHU_EXAMPLE_TIME_SCALE": str(SPEED)},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    story.stop.set()
    watcher.join(timeout=5)
    if story.message_id is None:
        print(f"  the notice was never sent; see {log_path}")
        return False
    buzzes = [r for r in emu.reminders(story.message_id) if r["kind"] == "buzz"]
    had_read = read_before_the_check(emu, story.message_id, buzzes)
    line = f"  buzzed {len(buzzes)} people; {len(had_read)} of them had read it when the reminder checked"
    late = [r for r in buzzes if r["had_read"] and r not in had_read]
    if late:
        # The clock runs 1440x: the few real milliseconds between the check and the buzz are minutes here.
        line += f" ({len(late)} read in the emulated minutes between the check and the buzz)"
    print(line)
    report = [m for m in emu.chat_messages(OWNER_CHAT) if m.get("source") == "im"]
    if report:
        print("The owner's chat received:")
        for line in str(report[-1]["content"].get("text", report[-1]["content"])).splitlines():
            print(f"  │ {line}")
    ok = result.returncode == 0 and not had_read
    verdict = "succeeded" if ok else f"did NOT succeed (exit {result.returncode}); see {log_path}"
    print(
        f"\nDAG run {verdict} in {time.monotonic() - started:.0f}s real time; "
        f"{emu.request_count('read_users')} read_users and {emu.request_count('chat_members')} chat_members calls."
    )
    return ok


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
        second_ok = run_who_has_read(emu, env, airflow, log_path)
        return 0 if ok and second_ok else 1
    finally:
        story.stop.set()
        emu.stop()


if __name__ == "__main__":
    sys.exit(main())
