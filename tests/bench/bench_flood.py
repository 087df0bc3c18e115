"""Dead-letter flood benchmark: one kiosk floods non-JSON payloads while another keeps pressing.

A real Mosquitto and `otklik hub` (its own process, as deployed). A valid
kiosk publishes presses at a steady rate (QoS 1) throughout; in the middle
phase C clients (`mosquitto_pub -l`, the fast publisher) flood 4 KB lines of
non-JSON on one kiosk's rating topic. For the phase without the flood and the
phase with it, side by side: dead letters written (and counted as dropped by
the rate limit), how much hub.db grew, and how long the valid kiosk's presses
took from publish to being stored (polling the database, 20 ms resolution).

    python -m tests.bench.bench_flood [--seconds 6] [--flooders 2] [--rate 20]
    python -m tests.bench.bench_flood --hub-src /path/to/other/checkout   # the same run against other code
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from hub.db import open_db
from otklik import protocol, times
from otklik.mosquitto import MosquittoProcess

FLOOD_TOPIC = "otklik/v1/b1/flood/rating"
FLOOD_LINE = "x" * 4000  # just under the protocol's 4096 bytes, which the broker will enforce


class ValidKiosk:
    """Publishes a press every 1/rate s and remembers when; a poller notes when each one is stored."""

    def __init__(self, port: int, db_path: Path, rate: float) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-valid", protocol=mqtt.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.db_path, self.interval = db_path, 1 / rate
        self.sent: dict[str, tuple[float, str]] = {}  # id -> (sent at, phase)
        self.stored: dict[str, float] = {}
        self.phase = "no flood"
        self._stop = threading.Event()
        self._seq = 0
        self._threads = [threading.Thread(target=self._press, daemon=True), threading.Thread(target=self._poll)]
        for thread in self._threads:
            thread.start()

    def _press(self) -> None:
        next_at = time.perf_counter()
        while not self._stop.is_set():
            self._seq += 1
            event_id = uuid.uuid4().hex
            body = protocol.rating_payload(branch="b1", kiosk="valid", id=event_id, seq=self._seq,
                                           ts=times.now_ts(), score=4)  # fmt: skip
            self.sent[event_id] = (time.perf_counter(), self.phase)
            self.client.publish(protocol.topic("b1", "valid", "rating"), protocol.encode(body), qos=1)
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def _poll(self) -> None:
        db = open_db(self.db_path, migrate=False)
        try:
            while not (self._stop.is_set() and len(self.stored) >= len(self.sent)):
                now = time.perf_counter()
                for (event_id,) in db.execute("SELECT id FROM events WHERE kiosk = 'valid'"):
                    self.stored.setdefault(event_id, now)
                if self._stop.is_set() and now - self._stopped_at > 60:
                    break
                time.sleep(0.02)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped_at = time.perf_counter()
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.client.loop_stop()

    def delays(self, phase: str) -> tuple[int, int, list[float]]:
        mine = [(i, t) for i, (t, p) in self.sent.items() if p == phase]
        done = [self.stored[i] - t for i, t in mine if i in self.stored]
        return len(mine), len(done), done


def flood(port: int, clients: int) -> list[subprocess.Popen[bytes]]:
    # `yes` writes the line as fast as mosquitto_pub reads it: one PUBLISH per line.
    return [
        subprocess.Popen(
            [
                "bash",
                "-c",
                f"yes {FLOOD_LINE} | mosquitto_pub -h 127.0.0.1 -p {port} -q 1 -i flood{n} -l -t {FLOOD_TOPIC}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n in range(clients)
    ]


def db_bytes(db_path: Path) -> int:
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def letters(db_path: Path) -> tuple[int, int]:
    """Dead letters stored, and those the rate limit only counted (0 where the hub has no such table)."""
    db = open_db(db_path, migrate=False)
    try:
        stored = db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        dropped = 0
        if db["dead_letter_sources"].exists():
            dropped = db.execute("SELECT coalesce(sum(dropped), 0) FROM dead_letter_sources").fetchone()[0]
        return stored, dropped
    finally:
        db.close()


def run(seconds: float, flooders: int, rate: float, hub_src: Path | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="otklik-flood-"))
    broker = MosquittoProcess(work / "mosquitto").start()
    db_path = work / "hub.db"
    env = dict(os.environ)
    if hub_src:
        env["PYTHONPATH"] = str(hub_src)
    hub = subprocess.Popen(
        [sys.executable, "-m", "otklik", "hub", "--broker", broker.url, "--db", str(db_path)],
        stdout=subprocess.DEVNULL, stderr=(work / "hub.log").open("w"), env=env, cwd=hub_src or None,
    )  # fmt: skip
    try:
        while not db_path.exists():
            time.sleep(0.1)
        time.sleep(1.5)  # let it subscribe
        kiosk = ValidKiosk(broker.port, db_path, rate)
        figures: dict[str, dict[str, float]] = {}
        for phase in ("no flood", "flood", "after"):
            kiosk.phase = phase
            before_bytes, before_letters = db_bytes(db_path), letters(db_path)
            floods = flood(broker.port, flooders) if phase == "flood" else []
            time.sleep(seconds)
            for proc in floods:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
            after_letters = letters(db_path)
            figures[phase] = {
                "letters": after_letters[0] - before_letters[0],
                "dropped": after_letters[1] - before_letters[1],
                "growth": db_bytes(db_path) - before_bytes,
            }
        kiosk.stop()
        print(f"hub code: {hub_src or 'this checkout'}; {flooders} flooding C clients, {len(FLOOD_LINE)} B each; "
              f"valid kiosk {rate:g} presses/s; {seconds:g} s per phase")  # fmt: skip
        print(f"{'':22} {'no flood':>12} {'flood':>12} {'after flood':>12}")
        keys = ("sent", "stored", "p50", "p95", "max", "letters", "dropped", "intake", "db")
        rows: dict[str, list[str]] = {k: [] for k in keys}
        for phase in ("no flood", "flood", "after"):
            sent, done, delays = kiosk.delays(phase)
            ordered = sorted(delays) or [float("nan")]
            rows["sent"].append(str(sent))
            rows["stored"].append(str(done))
            rows["p50"].append(f"{statistics.median(ordered) * 1000:.0f} ms")
            rows["p95"].append(f"{ordered[int(len(ordered) * 0.95) - 1 if len(ordered) > 1 else 0] * 1000:.0f} ms")
            rows["max"].append(f"{ordered[-1] * 1000:.0f} ms")
            rows["letters"].append(str(int(figures[phase]["letters"])))
            rows["dropped"].append(str(int(figures[phase]["dropped"])))
            junk = figures[phase]["letters"] + figures[phase]["dropped"]
            rows["intake"].append(f"{junk / seconds:,.0f}/s")
            rows["db"].append(f"{figures[phase]['growth'] / 1e6:+.1f} MB")
        labels = {"sent": "valid presses sent", "stored": "valid presses stored", "p50": "delay p50",
                  "p95": "delay p95", "max": "delay max", "letters": "dead letters written",
                  "dropped": "dead letters dropped", "intake": "bad msgs handled",
                  "db": "hub.db growth"}  # fmt: skip
        for key, values in rows.items():
            print(f"{labels[key]:22} " + " ".join(f"{v:>12}" for v in values))
    finally:
        hub.terminate()
        hub.wait(30)
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6, help="length of each phase")
    parser.add_argument("--flooders", type=int, default=2, help="flooding mosquitto_pub clients")
    parser.add_argument("--rate", type=float, default=20, help="valid presses per second")
    parser.add_argument("--hub-src", type=Path, help="run the hub from this checkout instead (before/after)")
    args = parser.parse_args()
    run(args.seconds, args.flooders, args.rate, args.hub_src)


if __name__ == "__main__":
    main()
