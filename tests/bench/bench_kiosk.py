"""Kiosk benchmark: how fast a press is made durable, and how fast a backlog drains to the broker.

Three figures, on this machine's disk and a real Mosquitto:
  1. commit latency of ``Outbox.add_rating`` (WAL, synchronous=FULL: one fsync per press);
  2. a whole press through a mock pin (debounce, cooldown, commit, LED blink started, publisher woken);
  3. drain rate of an outbox backlog (e.g. after a long outage): rows sent, stored by the real hub and
     deleted on its receipt per second, checked against a subscriber that counts what arrived.

    python -m tests.bench.bench_kiosk [--presses 2000] [--backlog 5000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from hub.service import HubService
from kiosk.app import Kiosk
from kiosk.config import simple_config
from kiosk.outbox import Outbox
from tests.broker import Collector, Mosquitto, wait_until


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {ordered[-1] * 1000:.2f} ms"


def bench_commit(work: Path, presses: int) -> None:
    with Outbox(work / "commit.sqlite", clock_synced=lambda: True) as box:
        times = []
        start = time.perf_counter()
        for i in range(presses):
            t0 = time.perf_counter()
            box.add_rating(branch="b1", kiosk="k1", score=i % 4 + 1)
            times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
    print(f"outbox commit (fsync each): {presses} presses, {presses / elapsed:.0f} presses/s; {percentiles(times)}")


def bench_press(work: Path, broker: Mosquitto, presses: int) -> None:
    factory = MockFactory()
    config = simple_config(broker_url=broker.url, branch="b1", kiosk="k2", data_dir=work / "press", cooldown_s=0)
    ticks = iter(range(10**9))
    kiosk = Kiosk(config, pin_factory=factory, clock_synced=lambda: True, clock=lambda: float(next(ticks)))
    try:
        kiosk.wait_connected(10)
        pins = [factory.pin(p) for p in config.buttons.pins]
        times = []
        for i in range(presses):
            pin = pins[i % 4]
            t0 = time.perf_counter()
            pin.drive_low()  # the whole press callback runs inside this call
            times.append(time.perf_counter() - t0)
            pin.drive_high()
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=60, message="press backlog drained")
    finally:
        kiosk.stop()
    print(f"press via mock pin -> committed + LED + publisher woken: {presses} presses; {percentiles(times)}")


def bench_drain(work: Path, broker: Mosquitto, backlog: int) -> None:
    config = simple_config(broker_url=broker.url, branch="b1", kiosk="k3", data_dir=work / "drain", cooldown_s=0)
    with Outbox(config.outbox_path, clock_synced=lambda: True) as box:
        for i in range(backlog):
            box.add_rating(branch="b1", kiosk="k3", score=i % 4 + 1)
    collector = Collector(broker, "otklik/v1/b1/k3/rating")
    start = time.perf_counter()
    kiosk = Kiosk(config, pin_factory=MockFactory(), clock_synced=lambda: True)
    try:
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=300, interval=0.01, message="backlog drained")
        elapsed = time.perf_counter() - start
    finally:
        kiosk.stop()
    received = collector.wait_for(backlog, timeout=30)
    seqs = {int(m.payload.split(b'"seq":')[1].split(b",")[0]) for m in received}
    collector.close()
    print(
        f"backlog drain (QoS 1, window 100, delete on the hub's receipt): {backlog} rows in {elapsed:.2f} s = "
        f"{backlog / elapsed:.0f} rows/s; subscriber got {len(received)} messages, {len(seqs)} distinct seq, "
        f"missing {backlog - len(seqs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otklik-bench-kiosk-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        broker = Mosquitto(work / "broker")
        broker.start()
        # The kiosk deletes a row on the hub's receipt, so the real hub stores what it sends.
        hub = HubService(broker.broker(), work / "hub.db", client_id="bench-hub").start()
        try:
            hub.connected.wait(10)
            bench_commit(work, args.presses)
            bench_press(work, broker, args.presses)
            bench_drain(work, broker, args.backlog)
        finally:
            hub.stop()
            broker.stop()


if __name__ == "__main__":
    main()
