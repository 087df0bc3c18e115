"""The receipt's fault table: a broker SIGKILLed with its queue lost while the hub is away, with and without receipts.

Real Mosquitto, the real hub service and real kiosk outboxes/publishers
(tests/receipt_faults.py). Prints sent / stored / lost / doubled for both
modes side by side, what the receipt costs in messages, and the size of the
snapshot Mosquitto rewrites every ``autosave_interval`` while that queue waits
for the hub (the price of a short interval).

    python -m tests.bench.bench_receipts [--kiosks 5] [--during 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from hub import ingest
from hub.db import open_db
from hub.receipts import receipts_for_batch
from otklik import protocol, times
from tests.broker import Mosquitto, wait_until
from tests.receipt_faults import broker_loses_queue


def snapshot_bytes(queued: int) -> int:
    """Bytes of mosquitto.db with ``queued`` ratings waiting for an offline persistent subscriber."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-hub", protocol=mqtt.MQTTv5)
            props = mqtt.Properties(mqtt.PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            hub.connect(broker.host, broker.port, clean_start=False, properties=props)
            hub.loop_start()
            hub.subscribe(protocol.subscription(protocol.RATING), qos=1)
            time.sleep(0.3)
            hub.disconnect()
            hub.loop_stop()
            kiosk = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-kiosk", protocol=mqtt.MQTTv5)
            kiosk.connect(broker.host, broker.port)
            kiosk.loop_start()
            body = protocol.encode(
                protocol.rating_payload(branch="b1", kiosk="k1", id="0" * 32, seq=1, ts=times.now_ts(), score=3)
            )
            for _ in range(0, queued, 1000):  # in chunks: paho's own queue is bounded
                chunk = [kiosk.publish(protocol.topic("b1", "k1", protocol.RATING), body, qos=1) for _ in range(1000)]
                for info in chunk:
                    info.wait_for_publish(60)
            kiosk.disconnect()
            kiosk.loop_stop()
            db = broker.dir / "mosquitto.db"
            start = db.stat().st_mtime_ns if db.exists() else 0
            # The test broker autosaves every second: wait for a snapshot taken after the last publish.
            wait_until(lambda: db.exists() and db.stat().st_mtime_ns > start and db.stat().st_size > queued * 100,
                       timeout=20, message="a snapshot with the queue")  # fmt: skip
            return db.stat().st_size
        finally:
            broker.kill()


def hub_cpu(batches: int = 20, batch: int = 500, kiosks: int = 50) -> str:
    """Time of the receipt step next to the ingest it follows, for the same batches (the ratio survives a busy CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "hub.db")
        ingest_s = receipt_s = 0.0
        receipts = 0
        for b in range(batches):
            messages = []
            for i in range(batch):
                kiosk, seq = f"k{i % kiosks:03d}", b * batch + i + 1
                body = protocol.rating_payload(branch="b1", kiosk=kiosk, id=uuid.uuid4().hex, seq=seq,
                                               ts=times.now_ts(), score=1 + i % 4)  # fmt: skip
                messages.append((protocol.topic("b1", kiosk, protocol.RATING), protocol.encode(body)))
            now = datetime.now(UTC)
            t0 = time.perf_counter()
            outcomes = ingest.handle_batch(db, [(t, p, now) for t, p in messages])
            t1 = time.perf_counter()
            receipts += len(receipts_for_batch(messages, outcomes))
            receipt_s += time.perf_counter() - t1
            ingest_s += t1 - t0
        db.close()
    n = batches * batch
    return (f"hub CPU per press: ingest {ingest_s / n * 1e6:.1f} us, building receipts {receipt_s / n * 1e6:.2f} us "
            f"({receipt_s / ingest_s:.1%} of ingest); {receipts} receipts for {n} presses "
            f"(batches of {batch} from {kiosks} kiosks)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=5)
    parser.add_argument("--before", type=int, default=20, help="presses per kiosk stored before the hub stops")
    parser.add_argument("--during", type=int, default=400, help="per kiosk while the hub is away (then lost)")
    parser.add_argument("--after", type=int, default=20, help="per kiosk after the broker restart, no hub (code 16)")
    args = parser.parse_args()
    print(hub_cpu())
    rows = []
    for receipts in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            result = broker_loses_queue(
                Path(tmp), kiosks=args.kiosks, before=args.before, during=args.during, after=args.after,
                receipts=receipts, resend_s=1.0, timeout=120,
            )  # fmt: skip
            rows.append(result.row("with receipts" if receipts else "without receipts (old)"))
    print(f"broker SIGKILLed with its queue lost while the hub was away: {args.kiosks} kiosks, per kiosk "
          f"{args.before} before, {args.during} during, {args.after} after the restart")  # fmt: skip
    for row in rows:
        print(row)
    for queued in (10_000, 100_000):
        size = snapshot_bytes(queued)
        print(f"mosquitto.db with {queued:>7} queued ratings: {size / 1e6:.1f} MB rewritten every autosave_interval")


if __name__ == "__main__":
    main()
