"""``otklik kiosk --simulate`` as a process: killed with presses unsent, they go out after the restart."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from hub.service import HubService
from tests.broker import Collector, Mosquitto, wait_until
from tests.test_kiosk_publisher import ratings

ROOT = Path(__file__).resolve().parent.parent


def run_kiosk(broker: Mosquitto, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    # `python -m kiosk` is `otklik kiosk` without loading the other areas' commands.
    command = [
        sys.executable, "-m", "kiosk", "--simulate", "--broker", broker.url, "--branch", "b1", "--kiosk", "k1",
        "--data-dir", str(data_dir), "--cooldown", "0", "--heartbeat", "60", *args,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def outbox_rows(data_dir: Path) -> list[tuple[str, int]]:
    path = data_dir / "outbox-b1-k1.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT id, seq FROM outbox ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []  # the kiosk is still creating its tables


def test_a_killed_kiosk_sends_its_presses_after_restart(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")  # not started yet: nothing can be published
    data_dir = tmp_path / "data"
    first = run_kiosk(broker, data_dir, "--rate", "40", "--count", "6")
    try:
        wait_until(lambda: len(outbox_rows(data_dir)) == 6, timeout=20, message="six presses committed")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    stored = outbox_rows(data_dir)
    assert [seq for _, seq in stored] == [1, 2, 3, 4, 5, 6]

    broker.start()
    collector = Collector(broker, "otklik/v1/#")
    hub = HubService(broker.broker(), tmp_path / "hub.db", client_id="hub-cli").start()  # its receipts empty the outbox
    try:
        assert hub.connected.wait(10)
        # The SIGKILLed process left its outbox behind (and its lock, released by the kernel).
        second = run_kiosk(broker, data_dir, "--count", "2", "--rate", "40", "--exit-when-sent")
        output, _ = second.communicate(timeout=30)
        assert second.returncode == 0, output
        assert "outbox-b1-k1.sqlite (6 waiting)" in output
        got = ratings(collector.wait_for(8))
        by_seq = {r.seq: r for r in got}
        assert sorted(by_seq) == [1, 2, 3, 4, 5, 6, 7, 8]  # seq survived the kill: the new presses are 7 and 8
        assert {by_seq[seq].id for _, seq in stored} == {event_id for event_id, _ in stored}
        assert outbox_rows(data_dir) == []
        wait_until(
            lambda: any(m.topic.endswith("/status") and b'"offline"' in m.payload for m in collector.messages),
            message="status offline after a clean exit",
        )
    finally:
        collector.close()
        hub.stop()
        broker.stop()


def test_sigterm_stops_cleanly_and_says_offline(mosquitto: Mosquitto, tmp_path: Path) -> None:
    collector = Collector(mosquitto, "otklik/v1/b1/k1/status")
    process = run_kiosk(mosquitto, tmp_path / "data", "--rate", "5")
    try:
        wait_until(lambda: any(b'"online"' in m.payload for m in collector.messages), message="online")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "kiosk stopped; outbox closed" in output
    wait_until(lambda: b'"offline"' in collector.messages[-1].payload, message="offline published on SIGTERM")
    collector.close()
