"""How long `otklik db copy` takes for a big store: rows per second from a SQLite hub file into PostgreSQL.

    python -m tests.bench.bench_db_copy [--events 1000000] [--server postgresql://postgres@127.0.0.1:5432/postgres]

The source is the demo's two days (through hub.ingest) plus ``--events`` presses (with their
attribution rows) written straight into ``events``, as years of a busy store would hold them. The
destination is a database made on ``--server`` for the run (OTKLIK_TEST_PG by default) and dropped
after. Printed: the time to build the source (not part of the figure), then the copy as the command
makes it (migrations, COPY, identity counters and the comparison of both sides), its rows per
second, and the events table alone.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from hub import db_copy
from hub.db import open_db
from otklik import demo_seed, times

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def presses(n: int) -> Iterator[tuple]:
    start = NOW - timedelta(days=400)
    for i in range(n):
        ts = times.format_ts(start + timedelta(seconds=30 * i))
        flags = "cooldown" if i % 97 == 0 else ""
        yield (f"bench{i:012d}", f"b{i % 20}", f"k{i % 7}", i + 1, ts, ts, "kiosk", 1 + i % 4, None, flags, ts,
               None, "buttons")  # fmt: skip


def build(path: Path, events: int) -> None:
    db = open_db(path)
    demo_seed.seed(db, days=2, seed=1, now=NOW)
    db.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO events (id, branch, kiosk, seq, ts, kiosk_ts, ts_source, score, employee, flags, "
            "received_at, extra, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            presses(events),
        )
        conn.execute(
            "INSERT INTO attribution (event_id, employee, source) SELECT id, 'e' || (seq % 30), 'shift' FROM events "
            "WHERE id LIKE 'bench%'"
        )
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--server", default=os.environ.get("OTKLIK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    args = parser.parse_args()
    name = f"otklik_bench_copy_{secrets.token_hex(3)}"
    admin = psycopg.connect(args.server, autocommit=True)
    admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "hub.db"
            began = time.monotonic()
            build(source, args.events)
            size = source.stat().st_size / 1e6
            print(f"source: {size:,.0f} MB built in {time.monotonic() - began:.1f} s")
            dest = urlunsplit(urlsplit(args.server)._replace(path=f"/{name}"))
            done = db_copy.copy_to_pg(source, dest)
            events = next(t for t in done.tables if t.table == "events")
            print(f"copy: {done.rows:,} rows of {len(done.tables)} tables in {done.seconds:.1f} s "
                  f"({done.rows / done.seconds:,.0f} rows/s), verified")  # fmt: skip
            rate = events.rows / events.seconds
            print(f"events (COPY, indexes): {events.rows:,} rows in {events.seconds:.1f} s ({rate:,.0f} rows/s)")
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    main()
