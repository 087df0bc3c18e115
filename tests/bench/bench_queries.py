"""Query benchmark for the analytics layer: a year of presses for a retail chain.

    python -m tests.bench.bench_queries [--events 10000000] [--db PATH] [--repeat 15]

Shape: 50 branches in 5 Russian time zones, 300 kiosks (6 per branch), 600 employees (two
shifts per kiosk: until 15:00 and after), one local year, presses 08:00-22:00 local, 1 % of
them flagged cooldown by the kiosk.

How it is loaded (honestly): the presses are generated with numpy and counted straight into
the aggregate tables (agg_hour / agg_day / agg_month / agg_weekhour) in bulk - the same
rows ``hub.ingest`` produces batch by batch (through ``hub.aggregates.Tally``), but the 10 million raw rows
are NOT inserted into ``events`` (the queries never read them).  To show the bulk rows are
what ingest would have produced, a sample of the generated presses is also pushed through
``hub.ingest.handle_batch`` into a fresh database and its aggregates are compared.

Then it prints the median time of: the branch overview (all 50 branches: today, 7 and 30
days), employee rankings (last month, whole year), hour x weekday tables (one branch and the
whole chain over the year), and the ingest rate through ``hub.ingest.handle_batch`` (batches
of 500, synchronous=FULL, as the hub service runs) on the big database (the hub
against the broker and SQLite's own limit: tests/bench/bench_ingest.py).  Goal: each query
under 50 ms at the median; ingest keeps its rate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from hub import aggregates, branches, ingest, scores
from hub.analytics_schema import AGG_TABLES, COUNT_COLUMNS
from hub.db import open_db
from otklik import protocol, times

ZONES = [
    ("Europe/Kaliningrad", 2),
    ("Europe/Moscow", 3),
    ("Asia/Yekaterinburg", 5),
    ("Asia/Novosibirsk", 7),
    ("Asia/Vladivostok", 10),
]  # fmt: skip  (no DST since 2014: fixed offsets keep the generator vectorised)
BRANCHES, KIOSKS_PER_BRANCH = 50, 6
KIOSKS = BRANCHES * KIOSKS_PER_BRANCH
FIRST_DAY = date(2025, 11, 23)
DAYS = 365
OPEN_H, CLOSE_H, SWITCH_H = 8, 22, 15
# After the last local day has closed everywhere (22:00 UTC+2): no press lies in the future.
NOW = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)


def branch_name(b: int) -> str:
    return f"b{b:02d}"


def kiosk_name(k: int) -> str:
    return f"k{k % KIOSKS_PER_BRANCH}"


def employee_name(k: int, slot: int) -> str:
    return f"e{k * 2 + slot:03d}"


def generate(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """n presses: kiosk index, local hour index since FIRST_DAY 00:00, second within the hour, category.

    Category 0..3 is button 1..4, 4 is a cooldown-flagged press.  Each kiosk has its own mood so
    rankings have something to rank.
    """
    rng = np.random.default_rng(seed)
    kiosk = rng.integers(0, KIOSKS, n, dtype=np.int32)
    day = rng.integers(0, DAYS, n, dtype=np.int32)
    second = rng.integers(OPEN_H * 3600, CLOSE_H * 3600, n, dtype=np.int32)
    hour = day * 24 + second // 3600
    mood = rng.uniform(0.4, 0.9, KIOSKS)[kiosk]
    u = rng.random(n)
    category = np.where(u < mood, 3 - (rng.random(n) < 0.4), np.where(u < mood + (1 - mood) / 2, 1, 0)).astype(np.int8)
    category[rng.random(n) < 0.01] = 4
    return {"kiosk": kiosk, "hour": hour.astype(np.int32), "second": (second % 3600).astype(np.int32), "cat": category}


def hour_labels(first_day: date = FIRST_DAY) -> list[str]:
    return [f"{(first_day + timedelta(days=d)).isoformat()}T{h:02d}" for d in range(DAYS) for h in range(24)]


def load_bulk(db, ev: dict[str, np.ndarray], first_day: date = FIRST_DAY) -> int:
    """Count presses per (kiosk, local hour) with numpy and write the hour rows in one transaction.

    Writing agg_hour fires the same roll-up triggers ingest fires, which build the day,
    month, weekday x hour and branch-hour rows.
    """
    hours = hour_labels(first_day)
    n_hours = DAYS * 24
    key = ev["kiosk"].astype(np.int64) * n_hours + ev["hour"]
    counts = np.bincount(key * 5 + ev["cat"], minlength=KIOSKS * n_hours * 5).reshape(-1, 5)
    used = np.nonzero(counts.sum(axis=1))[0]
    rows = counts[used].tolist()
    kiosks, hour_idx = (used // n_hours).tolist(), (used % n_hours).tolist()

    def hour_rows():
        for k, h, (c1, c2, c3, c4, cooldown) in zip(kiosks, hour_idx, rows, strict=True):
            slot = int(h % 24 >= SWITCH_H)
            # n1..n4, flagged, f_cooldown, f_burst, f_hours, f_clock, f_other
            yield (branch_name(k // KIOSKS_PER_BRANCH), hours[h], kiosk_name(k), employee_name(k, slot),
                   c1, c2, c3, c4, cooldown, cooldown, 0, 0, 0, 0)  # fmt: skip

    tally = aggregates.Tally()
    for branch, hour, kiosk, employee, *counts in hour_rows():
        tally.add(branch, kiosk, employee, hour, counts)
    with db.atomic():
        tally.write(db)
    return len(rows)


def events_as_messages(ev: dict[str, np.ndarray], idx: np.ndarray, prefix: str) -> list[tuple[str, bytes, datetime]]:
    out = []
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day)
    for j, i in enumerate(idx.tolist()):
        k = int(ev["kiosk"][i])
        b = k // KIOSKS_PER_BRANCH
        offset = ZONES[b % len(ZONES)][1]
        local = start + timedelta(hours=int(ev["hour"][i]), seconds=int(ev["second"][i]))
        ts = (local - timedelta(hours=offset)).replace(tzinfo=UTC)
        cat = int(ev["cat"][i])
        slot = int(local.hour >= SWITCH_H)
        body = protocol.rating_payload(
            branch=branch_name(b), kiosk=kiosk_name(k), id=f"{prefix}{j:012d}", seq=j + 1, ts=times.format_ts(ts),
            score=4 if cat == 4 else cat + 1, employee=employee_name(k, slot), flags=["cooldown"] if cat == 4 else None,
        )  # fmt: skip
        out.append((protocol.topic(branch_name(b), kiosk_name(k), "rating"), protocol.encode(body), NOW))
    return out


def setup_branches(db) -> None:
    for b in range(BRANCHES):
        # burst rule off for the sample check only: random presses of one kiosk can land seconds apart
        branches.update(db, branch_name(b), timezone=ZONES[b % len(ZONES)][0])


def check_sample(ev: dict[str, np.ndarray], tmp: Path, n: int) -> str:
    """Bulk-count n presses and ingest the same n through handle_batch; compare every aggregate row."""
    idx = np.arange(n)
    sample = {k: v[idx] for k, v in ev.items()}
    bulk_db = open_db(tmp / "sample-bulk.db")
    setup_branches(bulk_db)
    load_bulk(bulk_db, sample)
    live_db = open_db(tmp / "sample-ingest.db")
    setup_branches(live_db)
    messages = events_as_messages(sample, idx, "s")
    for i in range(0, len(messages), 500):
        ingest.handle_batch(live_db, messages[i : i + 500])
    flagged = live_db.execute("SELECT count(*) FROM events WHERE flags NOT IN ('', 'cooldown')").fetchone()[0]
    same = all(
        sorted(bulk_db.execute(f"SELECT * FROM {t} WHERE {' + '.join(COUNT_COLUMNS)} > 0"))
        == sorted(live_db.execute(f"SELECT * FROM {t} WHERE {' + '.join(COUNT_COLUMNS)} > 0"))
        for t in AGG_TABLES
    )
    return f"{'identical' if same else 'DIFFERENT'} aggregates ({flagged} presses flagged beyond cooldown by ingest)"


def median_ms(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up (page cache, statement cache)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def ingest_rate(db, messages: list) -> float:
    hub = ingest.Ingest(db)
    t = time.perf_counter()
    for i in range(0, len(messages), 500):
        hub.handle_batch(messages[i : i + 500])
    return len(messages) / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, help="Database file (default: a temporary directory).")
    parser.add_argument("--repeat", type=int, default=15, help="Timed runs per query (median printed).")
    parser.add_argument("--ingest", type=int, default=20_000, help="Presses per ingest-rate run.")
    parser.add_argument("--sample", type=int, default=20_000, help="Presses in the bulk-vs-ingest check.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="otklik-bench-"))
    path = args.db or tmp / "bench.db"
    print(f"bench_queries: {args.events:,} presses, {BRANCHES} branches, {KIOSKS} kiosks, {KIOSKS * 2} employees, "
          f"{DAYS} days from {FIRST_DAY}; db {path}")  # fmt: skip

    t = time.perf_counter()
    ev = generate(args.events)
    print(f"generated presses with numpy in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    print(f"bulk loader vs hub.ingest.handle_batch on {args.sample:,} presses: {check_sample(ev, tmp, args.sample)} "
          f"({time.perf_counter() - t:.1f} s)")  # fmt: skip

    db = open_db(path)
    setup_branches(db)
    t = time.perf_counter()
    load_bulk(db, ev)
    written = {t_: db.execute(f"SELECT count(*) FROM {t_}").fetchone()[0] for t_ in AGG_TABLES}
    total = db.execute("SELECT SUM(n1 + n2 + n3 + n4 + flagged) FROM agg_month").fetchone()[0]
    print(f"loaded aggregates directly (raw events NOT inserted; each grain by aggregates.Tally as ingest) "
          f"in {time.perf_counter() - t:.1f} s: " + ", ".join(f"{t_} {n:,} rows" for t_, n in written.items())
          + f"; presses counted {total:,}")  # fmt: skip
    del ev
    db.execute("ANALYZE")
    size_mb = path.stat().st_size / 1e6
    print(f"database {size_mb:.0f} MB")

    last = FIRST_DAY + timedelta(days=DAYS)
    month_start = date(2026, 10, 1)
    queries = [
        ("branch overview, 50 branches (today / 7 d / 30 d)", lambda: scores.overview(db, now=NOW)),
        ("employee ranking, last month (2026-10), 600 employees",
         lambda: scores.ranking(db, "employee", start=month_start, end=date(2026, 11, 1))),
        ("employee ranking, whole year", lambda: scores.ranking(db, "employee", start=FIRST_DAY, end=last)),
        ("employee ranking, one branch, last 30 days",
         lambda: scores.ranking(db, "employee", branch="b07", start=last - timedelta(days=30), end=last)),
        ("branch ranking, whole year", lambda: scores.ranking(db, "branch", start=FIRST_DAY, end=last)),
        ("hour x weekday, one branch, whole year", lambda: scores.heatmap(db, branch="b07", start=FIRST_DAY, end=last)),
        ("hour x weekday, whole chain, whole year", lambda: scores.heatmap(db, start=FIRST_DAY, end=last)),
        ("hour x weekday, whole chain, 12 calendar months",
         lambda: scores.heatmap(db, start=date(2025, 11, 1), end=date(2026, 11, 1))),
        ("hour x weekday, one employee, whole year",
         lambda: scores.heatmap(db, branch="b07", employee="e084", start=FIRST_DAY, end=last)),
        ("daily series, one branch, whole year",
         lambda: scores.series(db, "day", branch="b07", start=FIRST_DAY, end=last)),
    ]  # fmt: skip
    print(f"\nquery medians over {args.repeat} runs (goal < 50 ms):")
    for label, fn in queries:
        ms, result = median_ms(fn, args.repeat)
        print(f"  {ms:8.1f} ms  {'ok  ' if ms < 50 else 'SLOW'}  {label}  [{len(result)} rows]")

    print(f"\ningest through hub.ingest.handle_batch, batches of 500, synchronous=FULL, {args.ingest:,} presses "
          "per run,\nspread over the last hour before 'now' across all 300 kiosks "
          "(as the live hub sees them):")  # fmt: skip
    rng = np.random.default_rng(11)
    rates = []
    for n in range(3):
        rates.append(ingest_rate(db, live_messages(rng, args.ingest, f"r{n}")))
        print(f"  run {n + 1}: {rates[-1]:8,.0f} presses/s")
    print(f"  median {statistics.median(rates):,.0f} presses/s")


def live_messages(rng: np.random.Generator, n: int, prefix: str) -> list[tuple[str, bytes, datetime]]:
    out = []
    for j in range(n):
        k = int(rng.integers(0, KIOSKS))
        b = k // KIOSKS_PER_BRANCH
        ts = NOW - timedelta(seconds=float(rng.uniform(0, 3600)))
        body = protocol.rating_payload(
            branch=branch_name(b), kiosk=kiosk_name(k), id=f"{prefix}{j:012d}", seq=j + 1, ts=times.format_ts(ts),
            score=int(rng.integers(1, 5)), employee=employee_name(k, 1),
        )  # fmt: skip
        out.append((protocol.topic(branch_name(b), kiosk_name(k), "rating"), protocol.encode(body), NOW))
    return out


if __name__ == "__main__":
    main()
