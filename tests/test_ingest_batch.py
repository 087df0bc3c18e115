"""Ingest by the batch: the same rows as message by message, with statements per key and per kiosk, not per press.

Against both real stores through ``hub.ingest`` (the batch on each store must store what one by one
stores on SQLite); statements are counted with SQLite's own trace callback.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from hub import aggregates, branches, ingest, roster
from hub.db import open_db
from hub.store import Database
from otklik import protocol, times

NOW = datetime(2026, 11, 16, 12, 0, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def db(hub_target: str | Path) -> Iterator[Database]:
    database = open_db(hub_target)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    database = open_db(tmp_path / "hub.db")
    assert isinstance(database, sqlite_utils.Database)
    yield database
    database.close()


def rating(kiosk: str, seq: int, at: datetime, *, branch: str = "b1", **fields: object) -> tuple[str, bytes]:
    body = protocol.rating_payload(
        branch=branch, kiosk=kiosk, id=f"evt-{branch}-{kiosk}-{seq:06d}", seq=seq, ts=times.format_ts(at),
        score=1 + seq % 4,
    )  # fmt: skip
    body.update(fields)
    return protocol.topic(branch, kiosk, "rating"), protocol.encode(body)


def mixed_traffic() -> list[tuple[str, bytes, datetime]]:
    """Everything the rules look at, in one stream: bursts that straddle batches, closed hours, shifts,
    re-sent presses, an id re-used with other content, a kiosk clock that cannot be right, heartbeats."""
    rng = random.Random(7)
    out = []
    seq = {k: 0 for k in ("k1", "k2", "k3")}
    at = NOW - timedelta(hours=3)
    for i in range(400):
        # k1 hammered every 0.3 s at times, all three at a till's pace otherwise
        hammered = (i // 40) % 3 == 1
        kiosk = "k1" if hammered else rng.choice(("k1", "k2", "k3"))
        at += timedelta(seconds=0.3 if hammered else rng.uniform(1, 40))
        seq[kiosk] += 1
        branch = "b2" if kiosk == "k3" else "b1"
        fields: dict[str, object] = {}
        if i % 50 == 7:
            fields["ts"] = "2020-01-01T00:00:00.000Z"  # before any real press: flagged clock
        if i % 30 == 3:
            fields["employee"] = "named-1"
        press = (*rating(kiosk, seq[kiosk], at, branch=branch, **fields), at + timedelta(seconds=2))
        out.append(press)
        if i % 37 == 5:
            out.append(out[rng.randrange(len(out))])  # a re-send, maybe within the same batch
        if i % 91 == 11:
            clash = rating(kiosk, seq[kiosk], at, branch=branch, score=4 if seq[kiosk] % 4 != 3 else 1)
            out.append((*clash, press[2]))  # same id, other content: a dead letter
        if i % 60 == 0:
            hb = protocol.heartbeat_payload(
                branch=branch, kiosk=kiosk, uptime_s=i, version="1.0", outbox_depth=0, last_seq_sent=seq[kiosk]
            )
            hb["ts"] = times.format_ts(at)
            out.append((protocol.topic(branch, kiosk, "heartbeat"), protocol.encode(hb), at))
    return out


def prepare(db: Database) -> None:
    branches.update(db, "b1", timezone="Europe/Moscow", burst_max=8, burst_window_s=5)
    branches.update(db, "b2", timezone="Asia/Yekaterinburg", hours="mon-fri 09:00-15:30", hours_grace_min=0)
    hello = protocol.heartbeat_payload(
        branch="b1", kiosk="k2", uptime_s=1, version="1.0", outbox_depth=0, last_seq_sent=0
    )
    ingest.handle_message(db, protocol.topic("b1", "k2", "heartbeat"), protocol.encode(hello), NOW - timedelta(hours=5))
    roster.add_employee(db, "ann", "b1", "Ann", actor=roster.ADMIN)
    roster.add_employee(db, "bob", "b1", "Bob", actor=roster.ADMIN)
    roster.add_shift(
        db, "ann", "b1", NOW - timedelta(hours=4), NOW - timedelta(hours=1, minutes=30), actor=roster.ADMIN
    )
    roster.add_shift(db, "bob", "b1", NOW - timedelta(hours=2), NOW, kiosk="k2", actor=roster.ADMIN)


def contents(db: Database) -> dict[str, list[tuple]]:
    tables = {
        "events": "SELECT id, ts, ts_source, flags, score, employee FROM events",
        "attribution": "SELECT * FROM attribution",
        "kiosks": "SELECT branch, kiosk, last_seen, seq_max, seq_count, heartbeat_at FROM kiosks",
        "dead_letters": "SELECT topic, reason FROM dead_letters",
        **{t: f"SELECT * FROM {t}" for t in aggregates.AGG_TABLES},
    }
    return {name: sorted(db.execute(sql).fetchall()) for name, sql in tables.items()}


def test_a_batch_stores_exactly_what_the_same_messages_store_one_by_one(hub_target: str | Path, tmp_path: Path) -> None:
    messages = mixed_traffic()
    # Together on each store, alone on SQLite: on PostgreSQL the batch must also store what SQLite does.
    together, alone = open_db(hub_target), open_db(tmp_path / "alone.db")
    for database in (together, alone):
        prepare(database)
    hub = ingest.Ingest(together)
    results = []
    for i in range(0, len(messages), 150):
        results += [o.result for o in hub.handle_batch(messages[i : i + 150])]
    single = [ingest.handle_message(alone, t, p, r).result for t, p, r in messages]
    assert results == single
    got, expected = contents(together), contents(alone)
    # The stream really exercises every rule, so agreeing means something.
    flags = {f for (_, _, _, f, _, _) in expected["events"]}
    assert {"burst", "hours", "clock"} <= {x for f in flags for x in f.split(",")}, flags
    assert {e for (_, e, _) in expected["attribution"]} == {"ann", "bob"}
    assert {"duplicate", "rejected", "updated"} <= set(single)
    assert got == expected
    aggregates.rebuild(together)
    assert contents(together) == expected, "the live aggregates equal a rebuild from the events"


class Statements:
    """Every statement SQLite runs on the connection (an executemany runs its statement once per row)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.sql: list[str] = []
        conn.set_trace_callback(self.sql.append)

    def count(self, start: str) -> int:
        return sum(1 for s in self.sql if s.lstrip().startswith(start))


def busy_hour(kiosks: int, per_kiosk: int) -> list[tuple[str, bytes, datetime]]:
    """``per_kiosk`` presses on each kiosk, 20 s apart within one local hour, interleaved as they arrive."""
    start = NOW - timedelta(minutes=59)
    return [
        (*rating(f"k{k}", n + 1, start + timedelta(seconds=20 * n), employee="cashier"), NOW)
        for n in range(per_kiosk)
        for k in range(kiosks)
    ]


@pytest.mark.parametrize("per_kiosk", [2, 100])
def test_one_statement_per_key_and_per_kiosk_however_many_presses(
    sqlite_db: sqlite_utils.Database, per_kiosk: int
) -> None:
    db = sqlite_db
    branches.update(db, "b1", timezone="UTC")
    hub = ingest.Ingest(db)
    hub.handle_batch(busy_hour(1, 1))  # settings and the prune pass are behind us: the steady state
    statements = Statements(db.conn)
    outcomes = hub.handle_batch(busy_hour(3, per_kiosk + 1)[3:])
    db.conn.set_trace_callback(None)
    assert {o.result for o in outcomes} == {"stored"}
    # 3 kiosks x 1 hour x 1 employee: one upsert per key in each grain, whatever the press count.
    assert statements.count("INSERT INTO agg_hour") == 3
    assert statements.count("INSERT INTO agg_day") == 3
    assert statements.count("INSERT INTO agg_month") == 3
    assert statements.count("INSERT INTO agg_weekhour") == 1
    assert statements.count("INSERT INTO agg_bhour") == 1
    assert statements.count("UPDATE kiosks") == 3, "the registry once per kiosk"
    assert statements.count("SELECT ts FROM events") == 3, "the burst rule reads once per kiosk"
    assert statements.count("SELECT id, branch") == 1, "one look-up for the ids already stored"
    assert statements.count("SELECT timezone") == 0, "branch settings are not read again while unchanged"
    assert statements.count("INSERT INTO events") == 3 * per_kiosk, "each event inserted once"
    assert statements.count("UPDATE events") == 0, "an event is never updated after its insert"


def test_a_settings_change_by_another_process_applies_from_the_next_batch(db: Database, hub_target: str | Path) -> None:
    hub = ingest.Ingest(db)
    start = NOW - timedelta(minutes=30)
    fast = [(*rating("k1", n + 1, start + timedelta(seconds=n)), NOW) for n in range(12)]
    hub.handle_batch(fast[:6])
    other = open_db(hub_target, migrate=False)  # the CLI, say
    branches.update(other, "b1", burst_max=3)
    other.close()
    hub.handle_batch(fast[6:])
    flagged = [f for (f,) in db.execute("SELECT flags FROM events ORDER BY seq")]
    # with the default (10 in 10 s) none would be; with 3 the presses 7..12 are: 4+ in every 10 s
    assert flagged == [""] * 6 + ["burst"] * 6
