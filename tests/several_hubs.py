"""Several `otklik hub` processes sharing one stream, on real parts, with one of them SIGKILLed every few seconds.

Used by tests/test_hubs_kill.py (small, pass/fail) and tests/bench/bench_hubs.py
(1, 2 and 3 hubs, and the 100 k-event kill run).

Real Mosquitto, real hub processes (`otklik hub --share-group`, each its own
client id and persistent session), the real store (PostgreSQL or SQLite) and C
publishers (`mosquitto_pub -l`, tests/backlog.py) fed a chain's presses with a
share sent twice. The publishers stand in for kiosks as their outbox behaves
(kiosk/outbox.py, kiosk/publisher.py): a press no receipt has named is sent again
``resend_s`` after its last send, the wait doubling up to ``resend_max_s``. The
receipts are watched on the broker like a kiosk watches its own.

What is reported is counted from the store afterwards, never assumed: rows,
distinct ids, the ids expected and missing, and whether every aggregate table
equals a rebuild from the stored events.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from hub import aggregates
from hub.db import migrate, open_db
from otklik import protocol
from tests.backlog import Kiosk, chain, publish
from tests.broker import Mosquitto
from tests.hub_db import PG_SERVER, database_url
from tests.hub_process import HubProcess

GROUP = "hubs"
BROKER_CONF = "max_queued_messages 5000000\n"


@dataclass
class Outcome:
    hubs: int
    unique: int  # distinct presses in the stream
    published: int  # lines sent: first sends, the stream's own duplicates and re-sends
    resent: int
    kills: int
    stored_rows: int
    stored_ids: int
    missing: int  # expected ids not in the store
    unexpected: int  # ids in the store nobody sent
    counted: int  # presses the hour aggregates count (buttons and flagged)
    equal_rebuild: bool
    seconds: float  # first send until the last press was confirmed
    notes: list[str] = field(default_factory=list)

    @property
    def doubled(self) -> int:
        return self.stored_rows - self.stored_ids

    @property
    def exactly_once(self) -> bool:
        return (self.missing, self.unexpected, self.doubled) == (0, 0, 0) and self.stored_ids == self.unique

    def row(self, label: str) -> str:
        return (
            f"{label:<26} unique {self.unique:>7}  stored {self.stored_ids:>7}  missing {self.missing:>4}  "
            f"doubled {self.doubled:>3}  published {self.published:>7} (re-sent {self.resent:>5})  "
            f"kills {self.kills:>3}  aggregates {'= rebuild' if self.equal_rebuild else '!= REBUILD'}  "
            f"{self.unique / self.seconds:>7.0f} events/s ({self.seconds:.1f} s)"
        )


class Receipts:
    """The hubs' receipts for every kiosk, as each kiosk's publisher watches its own."""

    def __init__(self, broker: Mosquitto) -> None:
        self.confirmed: set[str] = set()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="receipts-watch", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, *_: c.subscribe(protocol.subscription(protocol.RECEIPT), qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the receipt watcher did not subscribe within 10 s")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        receipt = protocol.decode(msg.topic, bytes(msg.payload))
        assert isinstance(receipt, protocol.Receipt)
        with self._lock:
            self.confirmed.update(receipt.ids)
            self.confirmed.update(receipt.rejected)

    def count(self) -> int:
        with self._lock:
            return len(self.confirmed)

    def missing(self, ids: dict[str, Any]) -> list[str]:
        with self._lock:
            return [i for i in ids if i not in self.confirmed]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Resender:
    """Each press not yet confirmed is sent again ``resend_s`` after its last send, the wait doubling to a bound."""

    def __init__(self, broker: Mosquitto, lines: dict[str, tuple[Kiosk, bytes]], *, resend_s: float,
                 resend_max_s: float) -> None:  # fmt: skip
        self.broker = broker
        self.lines = lines
        self.resend_s = resend_s
        self.resend_max_s = resend_max_s
        self.due: dict[str, tuple[float, float]] = {}  # id -> (next send, wait after it)
        self.resent = 0
        self.rounds = 0

    def sent_now(self) -> None:
        now = time.monotonic()
        self.due = {i: (now + self.resend_s, self.resend_s) for i in self.lines}

    def round(self, receipts: Receipts) -> None:
        now = time.monotonic()
        batch: dict[tuple[str, str], Kiosk] = {}
        for event_id in receipts.missing(self.due):
            at, wait = self.due[event_id]
            if at > now:
                continue
            kiosk, line = self.lines[event_id]
            again = batch.setdefault((kiosk.branch, kiosk.kiosk), Kiosk(kiosk.branch, kiosk.kiosk))
            again.lines.append(line)
            wait = min(wait * 2, self.resend_max_s)
            self.due[event_id] = (now + wait, wait)
        for event_id in [i for i in self.due if i in receipts.confirmed]:
            del self.due[event_id]
        if batch:
            self.rounds += 1
            self.resent += sum(len(k.lines) for k in batch.values())
            publish(self.broker.host, self.broker.port, list(batch.values()), client_prefix=f"resend{self.rounds}")


class Killer:
    """Every ``every_s``, SIGKILLs a hub that is up and subscribed (in turn) and starts it again at once.

    Only a subscribed hub: one still starting (a few seconds on a loaded machine) holds nothing
    yet, and killing it again and again would test only Python's start-up. Restarted at once,
    as systemd's Restart=always does (after its RestartSec).
    """

    def __init__(self, hubs: list[HubProcess], every_s: float, seed: int = 1) -> None:
        self.hubs = hubs
        self.every_s = every_s
        self.kills = 0
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._thread = threading.Thread(target=self._run, name="killer", daemon=True)

    def start(self) -> Killer:
        if self.every_s > 0:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s * self._rng.uniform(0.7, 1.3)):
            # The one longest in the stream first: up and subscribed, by its current run's log.
            up = [h for h in sorted(self.hubs, key=lambda h: h.runs) if "hub subscribed" in h.log()]
            if not up:
                continue
            up[0].kill()
            self.kills += 1
            up[0].start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


@contextlib.contextmanager
def fresh_postgres(prefix: str = "otklik_hubs") -> Iterator[str]:
    """A new, empty PostgreSQL database's URL, dropped afterwards with any connection still open to it.

    For the benchmarks, outside pytest (the tests take ``pg_url``, a schema of the run's database).
    """
    import psycopg

    from hub import changes

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        yield database_url(name)
    finally:
        changes.close_all()
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def run(
    work: Path,
    db_target: str | Path,
    *,
    hubs: int = 2,
    events: int = 2000,
    kiosks: int = 8,
    branches: int = 4,
    duplicates: float = 0.05,
    per_s: float | None = None,
    kill_every_s: float = 0.0,
    resend_s: float = 5.0,
    resend_max_s: float = 20.0,
    timeout: float = 120.0,
    progress: Callable[[str], object] | None = None,
) -> Outcome:
    """Stream ``events`` presses (and ``duplicates`` of them again) through ``hubs`` hubs until all are confirmed."""
    work.mkdir(parents=True, exist_ok=True)
    migrate(db_target)  # once, before any hub starts (as `otklik db migrate` runs before the units)
    broker = Mosquitto(work / "broker", extra_conf=BROKER_CONF)
    broker.start()
    options = ["--share-group", GROUP, "--no-alerts"]
    procs = [HubProcess(broker, db_target, client_id=f"hub-{n + 1}", args=options, log_dir=work) for n in range(hubs)]
    stream = chain(events, kiosks=kiosks, branches=branches, duplicates=duplicates)
    lines = {json.loads(line)["id"]: (k, line) for k in stream for line in k.lines}
    assert len(lines) == events, "the stream's ids are not distinct"
    receipts = Receipts(broker)
    resender = Resender(broker, lines, resend_s=resend_s, resend_max_s=resend_max_s)
    killer = Killer(procs, kill_every_s)
    publisher: threading.Thread | None = None
    try:
        for hub in procs:
            hub.start()
        for hub in procs:
            hub.wait_subscribed(timeout=120)  # a loaded machine took over 20 s to start one
        started = time.monotonic()
        publisher = threading.Thread(target=publish, args=(broker.host, broker.port, stream),
                                     kwargs={"per_s": per_s}, daemon=True)  # fmt: skip
        publisher.start()
        killer.start()
        resender.sent_now()
        deadline = started + timeout
        last_report = started
        while receipts.count() < events:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{events - receipts.count()} of {events} presses never confirmed within {timeout:g} s "
                    f"({killer.kills} kills); hub logs in {work}"
                )
            if not publisher.is_alive():
                resender.round(receipts)
            if progress and time.monotonic() - last_report > 5:
                last_report = time.monotonic()
                progress(f"  {receipts.count()} of {events} confirmed, {killer.kills} kills, "
                         f"{resender.resent} re-sent")  # fmt: skip
            time.sleep(0.1)
        seconds = time.monotonic() - started
        killer.stop()
        publisher.join(60)
        time.sleep(1.0)  # a press stored twice late would show up here
        for hub in procs:
            hub.stop()
        return _count(db_target, lines, hubs, sum(len(k.lines) for k in stream) + resender.resent,
                      resender.resent, killer.kills, seconds)  # fmt: skip
    finally:
        killer.stop()
        receipts.close()
        for hub in procs:
            hub.kill()
        broker.stop()


def _count(db_target: str | Path, lines: dict[str, Any], hubs: int, published: int, resent: int, kills: int,
           seconds: float) -> Outcome:  # fmt: skip
    db = open_db(db_target, migrate=False)
    try:
        rows, distinct = db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        stored = {r[0] for r in db.execute("SELECT id FROM events").fetchall()}
        counted = db.execute("SELECT coalesce(sum(n1 + n2 + n3 + n4 + flagged), 0) FROM agg_hour").fetchone()[0]
        equal = aggregate_rows(db)
        aggregates.rebuild(db)
        equal_rebuild = aggregate_rows(db) == equal
    finally:
        db.close()
    return Outcome(
        hubs=hubs, unique=len(lines), published=published, resent=resent, kills=kills, stored_rows=rows,
        stored_ids=distinct, missing=len(set(lines) - stored), unexpected=len(stored - set(lines)),
        counted=counted, equal_rebuild=equal_rebuild, seconds=seconds,
    )  # fmt: skip


def aggregate_rows(db: Any) -> dict[str, list[tuple]]:
    """Every aggregate table's non-empty rows, sorted: what a rebuild from the events must give again."""
    tables = aggregates.AGG_TABLES
    return {t: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {t}") if any(r[-10:])) for t in tables}
