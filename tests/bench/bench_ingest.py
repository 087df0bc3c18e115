"""Ingest benchmark: `otklik hub` against the raw broker and against SQLite's own limit, in one run.

Every side is fed the same pre-built rating lines (tests/backlog.py: presses
spread as a real chain's, ending now, the shift's cashier named, a share re-sent
with the same id), published live by parallel C `mosquitto_pub -l -q 1` clients:

1. raw broker: `mosquitto_sub -q 1 -C N` counts every message (the broker's live rate);
2. the hub: `otklik hub` (its own process, as deployed) stores them; the rate is
   the time until the database holds them all, and stored / lost / doubled /
   flagged are counted from the database afterwards, with the aggregates checked
   against a rebuild from the stored events;
3. the SQLite limit: the same events as plain rows `executemany`d into the hub's
   own tables (events and every aggregate table, the sums made before the
   clock starts) in transactions of the hub's batch size, synchronous=FULL;
4. `hub.ingest.handle_batch` in this process on the same messages (the
   pipeline's CPU cost without MQTT).

    python -m tests.bench.bench_ingest [--events 100000] [--kiosks 8] [--branches 4] [--duplicates 0.01]

The hub's RSS is read when the database first holds 10 k, 100 k and 1 M
events; the 1 M / 100 k ratio (goal: within 20%) needs ``--events 1000000``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from hub import aggregates, branches, ingest
from hub.analytics_schema import COUNT_COLUMNS
from hub.db import open_db
from otklik import protocol, times
from otklik.times import local_keys
from tests.backlog import Kiosk, chain, publish
from tests.bench.bench_backlog import rss_mb
from tests.broker import Mosquitto
from tests.hub_process import HubProcess

BROKER_CONF = "max_queued_messages 5000000\n"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used: a figure other load on the machine hardly moves."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


BATCH = 500  # hub.service.HubService's batch_max


def raw_rate(work: Path, kiosks: list[Kiosk], total: int) -> tuple[float, int]:
    binary = shutil.which("mosquitto_sub")
    assert binary, "mosquitto_sub is not installed (apt-get install mosquitto-clients)"
    broker = Mosquitto(work / "raw", extra_conf=BROKER_CONF)
    broker.start()
    sub = subprocess.Popen(
        [binary, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-i", "bench-raw", "-C", str(total),
         "-W", "600", "-t", protocol.subscription(protocol.RATING)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1)  # subscribed (mosquitto_sub says nothing when it is)
    t0 = time.perf_counter()
    publish(broker.host, broker.port, kiosks)
    out = sub.stdout
    assert out is not None
    received = 0
    while chunk := out.read(1 << 16):
        received += chunk.count(b"\n")
    sub.wait()
    elapsed = time.perf_counter() - t0
    broker.stop()
    return received / elapsed, received


def hub_rate(
    work: Path, kiosks: list[Kiosk], unique: int
) -> tuple[float, float, dict[str, object], tuple[float, float], dict[int, float]]:
    broker = Mosquitto(work / "hub", extra_conf=BROKER_CONF)
    broker.start()
    db_path = work / "hub.db"
    hub = HubProcess(broker, db_path, client_id="bench-hub")
    hub.start().wait_subscribed()
    db = open_db(db_path, migrate=False)
    t0, cpu0 = time.perf_counter(), cpu_s(hub.pid)
    publish(broker.host, broker.port, kiosks)
    stored, last_change = 0, time.perf_counter()
    # RSS when the database first holds each milestone's events (10 k, 100 k, 1 M).
    milestones = [m for m in (10_000, 100_000, 1_000_000) if m <= unique]
    rss_at: dict[int, float] = {}
    while stored < unique and time.perf_counter() - last_change < 15:
        assert hub.proc is not None and hub.proc.poll() is None, hub.log()
        now_stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
        if now_stored != stored:
            stored, last_change = now_stored, time.perf_counter()
        while milestones and stored >= milestones[0]:
            rss_at[milestones.pop(0)] = rss_mb(hub.pid)
        time.sleep(0.05)

    elapsed = last_change - t0
    cpu_us = (cpu_s(hub.pid) - cpu0) / max(1, stored) * 1e6
    rss = rss_mb(hub.pid), rss_mb(hub.pid, "VmHWM")
    time.sleep(2)  # anything arriving late would be a double
    hub.stop()
    assert hub.wait_exit(30) == 0, hub.log()
    broker.stop()
    return stored / elapsed, cpu_us, check(db), rss, rss_at


def check(db: Database) -> dict[str, object]:
    """What the database holds: counted, not assumed."""
    stored, ids, presses = db.execute(
        "SELECT count(*), count(DISTINCT id), count(DISTINCT branch || '/' || kiosk || '/' || seq) FROM events"
    ).fetchone()
    flagged = dict(db.execute("SELECT flags, count(*) FROM events WHERE flags != '' GROUP BY flags").fetchall())
    counted = {
        table: db.execute(f"SELECT coalesce(sum(n1 + n2 + n3 + n4 + flagged), 0) FROM {table}").fetchone()[0]
        for table in aggregates.AGG_TABLES
    }
    live = snapshot(db)
    aggregates.rebuild(db)
    db.conn.commit()
    return {"stored": stored, "ids": ids, "presses": presses, "flagged": flagged, "counted": counted,
            "equal_rebuild": snapshot(db) == live}  # fmt: skip


def snapshot(db: Database) -> dict[str, list[tuple]]:
    return {t: sorted(r for r in db.execute(f"SELECT * FROM {t}") if any(r[-10:])) for t in aggregates.AGG_TABLES}


def messages_of(kiosks: list[Kiosk]) -> list[tuple[str, bytes, datetime]]:
    """The lines as the hub receives them, interleaved across kiosks as parallel publishers deliver them."""
    now = datetime.now(UTC)
    longest = max(len(k.lines) for k in kiosks)
    return [(k.topic, k.lines[i], now) for i in range(longest) for k in kiosks if i < len(k.lines)]


def handle_batch_rate(work: Path, messages: list[tuple[str, bytes, datetime]]) -> tuple[float, float]:
    """Messages per second and CPU microseconds per message through one long-lived hub.ingest.Ingest."""
    db = open_db(work / "pipeline.db")
    hub = ingest.Ingest(db)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(0, len(messages), BATCH):
        hub.handle_batch(messages[i : i + BATCH])
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    db.close()
    return len(messages) / elapsed, cpu / len(messages) * 1e6


_EVENT_SQL = (
    "INSERT INTO events (id, branch, kiosk, seq, ts, kiosk_ts, ts_source, score, employee, flags, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?, 'kiosk', ?, ?, '', ?) ON CONFLICT (id) DO NOTHING"
)


def _upsert(table: str, keys: tuple[str, ...]) -> str:
    cols = ", ".join((*keys, *COUNT_COLUMNS))
    marks = ", ".join("?" * (len(keys) + len(COUNT_COLUMNS)))
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNT_COLUMNS)
    return f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO UPDATE SET {add}"


def executemany_rate(work: Path, messages: list[tuple[str, bytes, datetime]]) -> tuple[float, float]:
    """SQLite's limit for the hub's own tables: every row built and summed beforehand, only the writes timed."""
    db = open_db(work / "limit.db")
    rolled_up_by_triggers = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0] > 0
    tables: dict[str, tuple[str, ...]] = {"agg_hour": ("branch", "period", "kiosk", "employee")}
    if not rolled_up_by_triggers:
        per_employee = ("branch", "period", "kiosk", "employee")
        tables.update(agg_day=per_employee, agg_month=per_employee, agg_weekhour=("branch", "period", "dow", "hod"),
                      agg_bhour=("branch", "period"))  # fmt: skip
    zone = branches.get(db, "b1").zone
    batches: list[tuple[list[tuple], dict[str, list[list]]]] = []
    seen: set[str] = set()
    for i in range(0, len(messages), BATCH):
        rows: list[tuple] = []
        sums: dict[str, defaultdict[tuple, list[int]]] = {
            t: defaultdict(lambda: [0] * len(COUNT_COLUMNS)) for t in tables
        }
        for topic, payload, received in messages[i : i + BATCH]:
            r = protocol.decode(topic, payload)
            assert isinstance(r, protocol.Rating)
            if r.id in seen:
                continue
            seen.add(r.id)
            ts = times.format_ts(r.ts)
            rows.append((r.id, r.branch, r.kiosk, r.seq, ts, ts, r.score, r.employee, times.format_ts(received)))
            hour, day, month, dow, hod, _ = local_keys(ts, zone)
            keys = {"agg_hour": (r.branch, hour, r.kiosk, r.employee or ""),
                    "agg_day": (r.branch, day, r.kiosk, r.employee or ""),
                    "agg_month": (r.branch, month, r.kiosk, r.employee or ""),
                    "agg_weekhour": (r.branch, month, dow, hod), "agg_bhour": (r.branch, hour)}  # fmt: skip
            for table in tables:
                sums[table][keys[table]][r.score - 1] += 1
        batches.append((rows, {t: [[*k, *v] for k, v in s.items()] for t, s in sums.items()}))
    sql = {t: _upsert(t, keys) for t, keys in tables.items()}
    conn = db.conn
    t0, cpu0 = time.perf_counter(), time.process_time()
    for events, summed in batches:
        with conn:
            conn.executemany(_EVENT_SQL, events)
            for table, values in summed.items():
                conn.executemany(sql[table], values)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == len(seen)
    db.close()
    return len(seen) / elapsed, cpu / len(seen) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="unique presses")
    parser.add_argument("--kiosks", type=int, default=8, help="parallel mosquitto_pub clients, one kiosk each")
    parser.add_argument("--branches", type=int, default=4)
    parser.add_argument("--duplicates", type=float, default=0.01, help="share of presses re-sent")
    args = parser.parse_args()
    kiosks = chain(args.events, kiosks=args.kiosks, branches=args.branches, duplicates=args.duplicates)
    total = sum(len(k.lines) for k in kiosks)
    messages = messages_of(kiosks)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        raw, raw_received = raw_rate(work, kiosks, total)
        hub, hub_cpu, found, (rss, peak), rss_at = hub_rate(work, kiosks, args.events)
        limit, limit_cpu = executemany_rate(work, messages)
        pipeline, pipeline_cpu = handle_batch_rate(work, messages)
    stored, ids, presses = found["stored"], found["ids"], found["presses"]
    assert isinstance(stored, int) and isinstance(ids, int) and isinstance(presses, int)
    print(f"messages published      {total:,} ({args.events:,} unique, {total - args.events:,} re-sent) "
          f"by {len(kiosks)} mosquitto_pub clients, {args.branches} branches")  # fmt: skip
    print(f"raw broker              {raw:>9,.0f} msg/s   (mosquitto_sub counted {raw_received:,} of {total:,})")
    print(f"hub, stored             {hub:>9,.0f} ev/s    hub / raw     {hub / raw:6.1%}  (goal >= 50%)"
          f"   {hub_cpu:5.0f} us CPU/event (whole hub process: paho, pipeline, SQLite)")  # fmt: skip
    print(f"executemany limit       {limit:>9,.0f} ev/s    hub / limit   {hub / limit:6.1%}  (goal >= 50%)"
          f"   {limit_cpu:5.0f} us CPU/event")  # fmt: skip
    print(f"handle_batch in-process {pipeline:>9,.0f} msg/s   batch / limit {pipeline / limit:6.1%}"
          f"                 {pipeline_cpu:5.0f} us CPU/message (limit / batch in CPU "
          f"{limit_cpu / pipeline_cpu:.1%})")  # fmt: skip
    print(f"stored                  {ids:,} of {args.events:,} unique, lost {args.events - ids:,}, "
          f"doubled {stored - presses:,} (rows per press)")  # fmt: skip
    print(f"flagged                 {found['flagged'] or 'none'}")
    print(f"aggregated presses      {found['counted']}")
    print(f"aggregates == rebuild   {found['equal_rebuild']}")
    print(f"hub RSS after the run   {rss:.1f} MB (peak {peak:.1f} MB); when the database held "
          + ", ".join(f"{n:,}: {mb:.1f} MB" for n, mb in rss_at.items()))  # fmt: skip
    if 100_000 in rss_at and 1_000_000 in rss_at:
        growth = rss_at[1_000_000] / rss_at[100_000]
        print(f"RSS 1 M / 100 k         {growth:6.1%}  (goal <= 120%)")
    else:
        print("RSS 1 M / 100 k         not measured (run with --events 1000000: about 10 minutes here)")
    ok = ids == args.events and stored == presses and found["equal_rebuild"] and not found["flagged"]
    ok = ok and all(n == stored for n in found["counted"].values())  # type: ignore[attr-defined]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
