"""Keeping the aggregates up to date as events arrive, and correcting them afterwards.

``on_event`` runs inside ``hub.ingest.store_event``, in the ingest transaction, for each new
event: it adds the analytics flags (burst, opening hours), attributes the press to an
employee, and adds it to the hour, day, month and weekday x hour aggregates of the branch's
local time.  A late event simply lands in its own (old) buckets.  A roster correction calls
``reattribute`` which moves the affected presses from one employee's rows to another's; a
time zone change calls ``rebuild`` for the branch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from hub import branches, misuse
from hub.analytics_schema import AGG_TABLES, COUNT_COLUMNS, FLAG_COLUMNS
from otklik.times import local_keys

# Switch for the benchmark's "aggregates off" ingest run; production leaves it on.
ENABLED = True

_SETTINGS = branches.CACHE
_N = len(COUNT_COLUMNS)
_COLS = ", ".join(COUNT_COLUMNS)
_MARKS = ", ".join("?" * _N)
_ADD = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNT_COLUMNS)
# Only the hour grain is written from Python; triggers (analytics_schema.m002) roll it up.
_UPSERT_HOUR = (
    f"INSERT INTO agg_hour (branch, period, kiosk, employee, {_COLS}) VALUES (?, ?, ?, ?, {_MARKS}) "
    f"ON CONFLICT (branch, period, kiosk, employee) DO UPDATE SET {_ADD}"
)


def split_flags(flags: str | None) -> set[str]:
    return {f for f in (flags or "").split(",") if f}


def delta(score: int, flags: set[str], sign: int = 1) -> list[int]:
    """The counts one press adds to its aggregate rows (negated with sign=-1)."""
    row = [0] * _N
    if flags:
        row[4] = sign
        for flag in flags:
            column = FLAG_COLUMNS.get(flag, "f_other")
            row[COUNT_COLUMNS.index(column)] = sign
    else:
        row[score - 1] = sign
    return row


def attribute(db: Database, branch: str, kiosk: str, ts: str, named: str | None) -> tuple[str, str]:
    """(employee, source) for a press: the employee the event names, else the one on shift.

    A shift at this kiosk wins over a branch-wide shift (kiosk ''); among overlapping shifts
    the one that started last wins (the relief cashier who just took over).
    """
    if named:
        return named, "event"
    for where in (kiosk, ""):
        found = db.execute(
            'SELECT employee FROM shifts WHERE branch = ? AND kiosk = ? AND start <= ? AND "end" > ? '
            "ORDER BY start DESC, id DESC LIMIT 1",
            [branch, where, ts, ts],
        ).fetchone()
        if found:
            return found[0], "shift"
    return "", ""


def on_event(db: Database, row: dict[str, Any]) -> None:
    """Flag, attribute and aggregate one newly stored event (inside the caller's transaction)."""
    if not ENABLED:
        return
    settings = _SETTINGS.get(db, row["branch"])
    hour, local = _hour_key(row["ts"], settings.zone)
    flags = split_flags(row["flags"])
    added = misuse.check(db, row, settings, local) - flags
    if added:
        flags |= added
        row["flags"] = ",".join(sorted(flags))
        db.execute("UPDATE events SET flags = ? WHERE id = ?", [row["flags"], row["id"]])
    employee, source = attribute(db, row["branch"], row["kiosk"], row["ts"], row.get("employee"))
    if source == "shift":
        # An employee named in the event is already stored with it (events.employee).
        db.execute(
            "INSERT INTO attribution (event_id, employee, source) VALUES (?, ?, ?) "
            "ON CONFLICT (event_id) DO UPDATE SET employee = excluded.employee, source = excluded.source",
            [row["id"], employee, source],
        )
    db.execute(_UPSERT_HOUR, [row["branch"], hour, row["kiosk"], employee, *delta(row["score"], flags)])


_HOUR_CACHE: dict[tuple[str, Any], tuple[str, datetime]] = {}


def _hour_key(ts: str, zone: Any) -> tuple[str, datetime]:
    """Local hour key and local time; the zone offset is constant within a UTC minute, so cache by it."""
    minute = ts[:16]
    found = _HOUR_CACHE.get((minute, zone))
    if found is None:
        if len(_HOUR_CACHE) > 4096:
            _HOUR_CACHE.clear()
        base = local_keys(minute + ":00.000Z", zone)[5]
        found = _HOUR_CACHE[(minute, zone)] = (base.strftime("%Y-%m-%dT%H"), base)
    hour, base = found
    return hour, base.replace(second=int(ts[17:19]))


def _add(db: Database, branch: str, kiosk: str, employee: str, hour: str, counts: list[int]) -> None:
    db.execute(_UPSERT_HOUR, [branch, hour, kiosk, employee, *counts])


def on_reaction(db: Database, row: dict[str, Any]) -> None:
    """Add one camera window to the hourly camera figures (by the window's start, local time)."""
    if not ENABLED:
        return
    settings = _SETTINGS.get(db, row["branch"])
    hour = local_keys(row["window_start"], settings.zone)[0]
    db.execute(
        "INSERT INTO camera_hour (branch, period, kiosk, visitors, smiling, windows, seconds) "
        "VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (branch, period, kiosk) DO UPDATE SET "
        "visitors = visitors + excluded.visitors, smiling = smiling + excluded.smiling, "
        "windows = windows + 1, seconds = seconds + excluded.seconds",
        [row["branch"], hour, row["kiosk"], row["visitors"], row["smiling"], row["window_s"]],
    )


def reattribute(db: Database, branch: str, kiosk: str, start: str, end: str) -> int:
    """Recompute attribution of the branch's presses in [start, end) (UTC timestamps).

    ``kiosk`` '' means every kiosk of the branch (a branch-wide shift changed).  Presses whose
    employee changes are moved between aggregate rows; returns how many moved.
    """
    kiosks = [kiosk] if kiosk else branches.known_kiosks(db, branch)
    if not kiosks:
        return 0
    settings = _SETTINGS.get(db, branch)
    moved = 0
    marks = ", ".join("?" * len(kiosks))
    rows = db.execute(
        f"""
        SELECT e.id, e.kiosk, e.ts, e.score, e.employee, e.flags, COALESCE(a.employee, e.employee, '')
        FROM events e LEFT JOIN attribution a ON a.event_id = e.id
        WHERE e.branch = ? AND e.kiosk IN ({marks}) AND e.ts >= ? AND e.ts < ?
        """,
        [branch, *kiosks, start, end],
    ).fetchall()
    for event_id, ev_kiosk, ts, score, named, flags, old in rows:
        new, source = attribute(db, branch, ev_kiosk, ts, named)
        if new == old:
            continue
        hour = local_keys(ts, settings.zone)[0]
        flagset = split_flags(flags)
        _add(db, branch, ev_kiosk, old, hour, delta(score, flagset, -1))
        _add(db, branch, ev_kiosk, new, hour, delta(score, flagset))
        if new:
            db.execute(
                "INSERT INTO attribution (event_id, employee, source) VALUES (?, ?, ?) ON CONFLICT (event_id) "
                "DO UPDATE SET employee = excluded.employee, source = excluded.source",
                [event_id, new, source],
            )
        else:
            db.execute("DELETE FROM attribution WHERE event_id = ?", [event_id])
        moved += 1
    return moved


class BulkAggregates:
    """Hour rows summed in memory and written in one go: the same counting as ``on_event``.

    The roll-up triggers build the day, month and weekday x hour rows from them, exactly as
    they do for ingest.  Used by ``rebuild`` and by the benchmark loader.
    """

    def __init__(self) -> None:
        self.rows: defaultdict[tuple, list[int]] = defaultdict(lambda: [0] * _N)

    def add(self, branch: str, kiosk: str, employee: str, hour: str, counts: Iterable[int]) -> None:
        target = self.rows[(branch, hour, kiosk, employee)]
        for i, c in enumerate(counts):
            if c:
                target[i] += c

    def write(self, db: Database) -> int:
        db.conn.executemany(_UPSERT_HOUR, _flat(self.rows.items()))
        return len(self.rows)


def _flat(items: Iterable[tuple[tuple, list[int]]]) -> Iterator[list]:
    for key, counts in items:
        yield [*key, *counts]


def rebuild(db: Database, branch: str | None = None) -> int:
    """Recompute the aggregates of one branch (or all) from stored events and attribution.

    Needed after a branch's time zone changes (every local period moves).  Flags and
    attribution stored with the events are kept as they are.  Returns events counted.
    """
    where, params = ("WHERE e.branch = ?", [branch]) if branch else ("", [])
    bulk = BulkAggregates()
    camera: defaultdict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    count = 0
    with db.atomic():
        for table in (*AGG_TABLES, "camera_hour"):
            db.execute(f"DELETE FROM {table} {where.replace('e.', '')}", params)
        zones: dict[str, Any] = {}
        cursor = db.execute(
            f"SELECT e.branch, e.kiosk, e.ts, e.score, e.flags, COALESCE(a.employee, e.employee, '') "
            f"FROM events e LEFT JOIN attribution a ON a.event_id = e.id {where}",
            params,
        )
        for ev_branch, kiosk, ts, score, flags, employee in cursor:
            zone = zones.get(ev_branch) or zones.setdefault(ev_branch, branches.get(db, ev_branch).zone)
            bulk.add(ev_branch, kiosk, employee, local_keys(ts, zone)[0], delta(score, split_flags(flags)))
            count += 1
        bulk.write(db)
        if db["reactions"].exists():
            for r_branch, kiosk, start, visitors, smiling, seconds in db.execute(
                f"SELECT branch, kiosk, window_start, visitors, smiling, window_s FROM reactions "
                f"{where.replace('e.', '')}",
                params,
            ).fetchall():
                zone = zones.get(r_branch) or zones.setdefault(r_branch, branches.get(db, r_branch).zone)
                entry = camera[(r_branch, local_keys(start, zone)[0], kiosk)]
                entry[0] += visitors
                entry[1] += smiling
                entry[2] += 1
                entry[3] += seconds
            db.conn.executemany(
                "INSERT INTO camera_hour (branch, period, kiosk, visitors, smiling, windows, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[*k, *v] for k, v in camera.items()],
            )
    _SETTINGS.clear()
    return count
