"""Ingest benchmark: the hub's sustained rate against the broker's raw delivery rate, in one run.

Many simulated kiosks (MQTT clients in a separate publisher process) publish N
ratings with QoS 1 through a real Mosquitto, plus a share of re-sent
duplicates. First a plain subscriber that only counts receives them (the raw
rate); then `otklik hub` (its own process, as deployed) stores them. Reports
both rates, their ratio, and whether every unique event was stored exactly once.

    python -m tests.bench.bench_ingest [--events 100000] [--kiosks 50] [--duplicates 0.01]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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


def make_messages(events: int, kiosks: int, duplicates: float) -> list[tuple[str, bytes]]:
    messages = []
    for i in range(events):
        branch, kiosk = f"b{i % kiosks // 6:02d}", f"k{i % kiosks:03d}"
        body = protocol.rating_payload(
            branch=branch, kiosk=kiosk, id=uuid.uuid4().hex, seq=i // kiosks + 1,
            ts=times.now_ts(), score=1 + i % 4, employee=f"e{i % 600:03d}",
        )  # fmt: skip
        messages.append((protocol.topic(branch, kiosk, "rating"), protocol.encode(body)))
    step = int(1 / duplicates) if duplicates else 0
    if step:
        messages += messages[::step]  # redeliveries the hub must store once
    return messages


def publish(port: int, messages: list[tuple[str, bytes]], clients: int, started: mp.Event) -> None:  # type: ignore[valid-type]
    pubs = []
    for n in range(clients):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-kiosk-{n}", protocol=mqtt.MQTTv5)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", port)
        c.loop_start()
        pubs.append(c)
    started.set()
    infos = [pubs[i % clients].publish(t, p, qos=1) for i, (t, p) in enumerate(messages)]
    for info in infos:
        info.wait_for_publish(120)
    for c in pubs:
        c.disconnect()
        c.loop_stop()


def run_publisher(port: int, messages: list[tuple[str, bytes]], clients: int) -> tuple[mp.Process, float]:
    started = mp.Event()
    proc = mp.Process(target=publish, args=(port, messages, clients, started))
    proc.start()
    started.wait(60)
    return proc, time.perf_counter()


def raw_rate(port: int, messages: list[tuple[str, bytes]], clients: int) -> tuple[float, int]:
    received = 0
    done = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-counter", protocol=mqtt.MQTTv5)
    subscribed = threading.Event()

    def on_message(*_: object) -> None:
        nonlocal received
        received += 1
        if received >= len(messages):
            done.set()

    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe(protocol.subscription("rating"), qos=1)
    sub.loop_start()
    subscribed.wait(10)
    proc, t0 = run_publisher(port, messages, clients)
    done.wait(600)
    elapsed = time.perf_counter() - t0
    proc.join()
    sub.loop_stop()
    return received / elapsed, received


class ReceiptCounter:
    """Counts what the hub publishes on otklik/v1/+/+/receipt (and so what each kiosk would receive)."""

    def __init__(self, port: int) -> None:
        self.messages = 0
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-receipts", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(protocol.subscription(protocol.RECEIPT), qos=1)
        self.client.loop_start()
        subscribed.wait(10)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def hub_rate(port: int, messages: list[tuple[str, bytes]], clients: int, unique: int, work: Path) -> tuple[float, int]:
    db_path = work / "hub.db"
    hub = subprocess.Popen(
        [sys.executable, "-m", "otklik", "hub", "--broker", f"mqtt://127.0.0.1:{port}", "--db", str(db_path)],
        stdout=subprocess.DEVNULL, stderr=(work / "hub.log").open("w"),
    )  # fmt: skip
    db = None
    while db is None:
        try:
            db = open_db(db_path, migrate=False)
            db.execute("SELECT 1 FROM events LIMIT 1")
        except Exception:
            db = None
            time.sleep(0.1)
    time.sleep(1)  # let it subscribe
    proc, t0 = run_publisher(port, messages, clients)
    stored, last_change, elapsed = 0, time.perf_counter(), 0.0
    while time.perf_counter() - last_change < 15:
        now_stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
        if now_stored != stored:
            stored, last_change = now_stored, time.perf_counter()
            elapsed = last_change - t0
        if stored >= unique:
            break
        time.sleep(0.05)
    proc.join()
    time.sleep(1)  # anything arriving late would be a double
    stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
    distinct = db.execute("SELECT count(DISTINCT id) FROM events").fetchone()[0]
    hub.terminate()
    hub.wait(30)
    assert stored == distinct
    return stored / elapsed, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--duplicates", type=float, default=0.01, help="share of events re-sent")
    args = parser.parse_args()
    messages = make_messages(args.events, args.kiosks, args.duplicates)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(work / "raw").start()
        raw, raw_received = raw_rate(broker.port, messages, args.kiosks)
        broker.stop()
        broker = MosquittoProcess(work / "hub").start()
        receipts = ReceiptCounter(broker.port)
        rate, stored = hub_rate(broker.port, messages, args.kiosks, args.events, work)
        time.sleep(0.5)
        receipts.close()
        broker.stop()
    print(f"messages published      {len(messages)} ({args.events} unique, {len(messages) - args.events} re-sent)")
    print(f"kiosk clients           {args.kiosks}")
    print(f"raw broker delivery     {raw:,.0f} msg/s ({raw_received} received by a counting subscriber)")
    print(f"hub ingest (stored)     {rate:,.0f} events/s")
    print(f"hub / raw               {rate / raw:.0%} (goal: at least 80%)")
    print(f"stored                  {stored} of {args.events} unique events, lost {args.events - stored}, doubled 0")
    print(f"receipts                {receipts.messages} messages, {receipts.messages / max(1, stored):.4f} per press")


if __name__ == "__main__":
    main()
