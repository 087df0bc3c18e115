"""How long `otklik db copy` takes for a big store: rows per second from a SQLite hub file into PostgreSQL.

    python -m tests.bench.bench_db_copy [--events 1000000] [--compare] [--server URL]

The source is the demo's two days (through hub.ingest) plus ``--events`` presses (with their
attribution rows) written straight into ``events``, as years of a busy store would hold them. The
destination is a database made on ``--server`` for the run (OTKLIK_TEST_PG by default) and dropped
after. Printed: the time to build the source (not part of the figure), then the copy as the command
makes it (migrations, COPY, identity counters and the comparison of both sides), its rows per
second, and the events table alone (its COPY and index builds). ``--compare`` also copies with
the indexes kept up to date row by row (as before they were rebuilt), runs in the order A B B A.
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
from unittest import mock
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
    parser.add_argument("--compare", action="store_true", help="Also copy keeping the indexes, to compare.")
    args = parser.parse_args()
    name = f"otklik_bench_copy_{secrets.token_hex(3)}"
    admin = psycopg.connect(args.server, autocommit=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "hub.db"
            began = time.monotonic()
            build(source, args.events)
            size = source.stat().st_size / 1e6
            print(f"source: {size:,.0f} MB built in {time.monotonic() - began:.1f} s")
            # --compare: the same copy with the indexes kept up to date row by row (what it did before),
            # in the order A B B A, each into a new database, so a loaded machine weighs on both alike.
            for rebuild in [True, False, False, True] if args.compare else [True]:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
                dest = urlunsplit(urlsplit(args.server)._replace(path=f"/{name}"))
                with mock.patch.object(db_copy, "_drop_indexes", db_copy._drop_indexes if rebuild else keep):
                    done = db_copy.copy_to_pg(source, dest)
                events = next(t for t in done.tables if t.table == "events")
                how = "indexes built after the rows" if rebuild else "indexes kept up to date"
                print(
                    f"copy ({how}): {done.rows:,} rows of {len(done.tables)} tables in {done.seconds:.1f} s "
                    f"({done.rows / done.seconds:,.0f} rows/s), verified; events {events.seconds:.1f} s "
                    f"({events.rows / events.seconds:,.0f} rows/s)"
                )
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def keep(raw: object, table: str) -> list[str]:
    return []


if __name__ == "__main__":
    main()
