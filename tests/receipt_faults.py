"""The fault the receipt exists for, on real parts: a broker that loses its queue while the hub is away.

Used by tests/test_receipts_faults.py (small, as a pass/fail test) and by
tests/bench/bench_receipts.py (bigger, printing the fault table).

Real Mosquitto (persistence on), the real hub service, real kiosk outboxes and
publishers. The hub stops; kiosks keep pressing and the broker acknowledges
every press into the hub's persistent session; the broker is SIGKILLed and its
persistence file deleted (the worst case of a kill before the next autosave:
the whole queue, and the hub's session, are gone); kiosks press on while no
hub is subscribed (the broker answers reason code 16 and drops them); then the
hub comes back.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.service import HubService
from kiosk.outbox import Outbox
from kiosk.publisher import Publisher
from tests.broker import Mosquitto, wait_until


@dataclass
class FaultResult:
    sent: int  # presses committed to the kiosks' outboxes
    stored: int  # distinct events the hub stored
    lost: int
    doubled: int  # rows beyond one per (kiosk, seq)
    published: int  # PUBLISH packets the kiosks sent (first sends and re-sends)
    receipts: int  # receipts the kiosks received
    left_in_outboxes: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def row(self, label: str) -> str:
        return (
            f"{label:<22} sent {self.sent:>6}  stored {self.stored:>6}  lost {self.lost:>6}  doubled {self.doubled:>3}"
            f"  publishes/press {self.published / max(1, self.sent):.2f}"
            f"  receipts/press {self.receipts / max(1, self.sent):.3f}  ({self.seconds:.1f} s)"
        )


class Fleet:
    """Simulated kiosks made of the real outbox and publisher."""

    def __init__(self, broker: Mosquitto, work: Path, kiosks: int, *, receipts: bool, resend_s: float) -> None:
        self.boxes: list[Outbox] = []
        self.publishers: list[Publisher] = []
        for i in range(kiosks):
            box = Outbox(work / f"k{i}" / "outbox.sqlite", clock_synced=lambda: True)
            self.boxes.append(box)
            publisher = Publisher(broker.broker(), box, branch="b1", kiosk=f"k{i}", heartbeat_s=60,
                                  receipts=receipts, resend_s=resend_s, resend_max_s=resend_s * 4)  # fmt: skip
            self.publishers.append(publisher.start())

    def press(self, each: int) -> None:
        for _ in range(each):
            for box, publisher in zip(self.boxes, self.publishers, strict=True):
                box.add_rating(branch="b1", kiosk=publisher.kiosk, score=3)
                publisher.wake()

    def all_taken_by_the_broker(self) -> bool:
        return all(box.last_seq_sent() == box.last_seq() for box in self.boxes)

    def depth(self) -> int:
        return sum(box.depth() for box in self.boxes)

    def stop(self) -> None:
        for publisher in self.publishers:
            publisher.stop()
        for box in self.boxes:
            box.close()


def stored_counts(db_path: Path) -> tuple[int, int]:
    """(distinct (kiosk, seq) stored, rows): a second row for one press would be a double."""
    with sqlite3.connect(db_path) as conn:
        distinct, rows = conn.execute("SELECT count(DISTINCT kiosk || '/' || seq), count(*) FROM events").fetchone()
    return distinct, rows


def broker_loses_queue(
    work: Path,
    *,
    kiosks: int = 3,
    before: int = 10,
    during: int = 40,
    after: int = 10,
    receipts: bool = True,
    resend_s: float = 0.5,
    settle_s: float = 3.0,
    timeout: float = 60.0,
) -> FaultResult:
    started = time.monotonic()
    broker = Mosquitto(work / "broker")
    broker.start()
    db_path = work / "hub.db"
    hubs: list[HubService] = []

    def start_hub() -> None:
        hub = HubService(broker.broker(), db_path, client_id="hub-faults").start()
        assert hub.connected.wait(20), "hub did not subscribe"
        hubs.append(hub)

    fleet = Fleet(broker, work, kiosks, receipts=receipts, resend_s=resend_s)
    total = kiosks * (before + during + after)
    try:
        start_hub()
        fleet.press(before)
        wait_until(lambda: fleet.depth() == 0 and stored_counts(db_path)[0] == kiosks * before, timeout=timeout,
                   message="first presses stored (and, with receipts, confirmed)")  # fmt: skip
        hubs.pop().stop()  # clean: its persistent session stays in the broker and queues for it

        fleet.press(during)
        wait_until(fleet.all_taken_by_the_broker, timeout=timeout, message="the broker PUBACKed every press")
        broker.kill()
        (broker.dir / "mosquitto.db").unlink(missing_ok=True)  # the queue and the hub's session: gone
        broker.start()

        fleet.press(after)  # nobody subscribed: reason code 16, the broker drops them
        wait_until(fleet.all_taken_by_the_broker, timeout=timeout, message="the restarted broker PUBACKed them")
        start_hub()

        # Wait for everything, or (without receipts) until nothing has changed for settle_s.
        deadline = time.monotonic() + timeout
        last, last_change = (-1, -1), time.monotonic()
        while time.monotonic() < deadline:
            now = stored_counts(db_path)
            if now != last:
                last, last_change = now, time.monotonic()
            if now[0] == total and fleet.depth() == 0:
                break
            if time.monotonic() - last_change > settle_s and not receipts:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a late double would show here
        distinct, rows = stored_counts(db_path)
        return FaultResult(
            sent=total,
            stored=distinct,
            lost=total - distinct,
            doubled=rows - distinct,
            published=sum(p.published for p in fleet.publishers),
            receipts=sum(p.receipts_received for p in fleet.publishers),
            left_in_outboxes=fleet.depth(),
            seconds=time.monotonic() - started,
        )
    finally:
        fleet.stop()
        for hub in hubs:
            hub.stop()
        broker.stop()
