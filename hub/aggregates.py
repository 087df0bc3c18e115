"""The aggregates: counting presses into hour, day, month and weekday x hour rows, and correcting them.

Ingest (``hub.ingest``) hands every committed batch's new presses to a
``Tally``: their counts are summed in memory per (branch, local hour, kiosk,
employee) and written with one upsert per key, and the same write rolls them up
into the day, month, weekday x hour and branch-hour rows of the branch's local
time (in Python, per key, not by per-row triggers: one statement per key and
grain per batch). A late press simply lands in its own (old) buckets. A roster
correction calls ``reattribute``, which moves the affected presses from one
employee's rows to another's through the same write; a time zone change calls
``rebuild`` for the branch.

Attribution (``Shifts``, ``attribute``) answers which employee a press counts
for: the one the event names, else the one on shift at that kiosk (or
branch-wide) when it was pressed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from hub import branches, retention
from hub.analytics_schema import AGG_TABLES, COUNT_COLUMNS, FLAG_COLUMNS
from hub.store import Database
from otklik.times import local_keys

_N = len(COUNT_COLUMNS)
_COLS = ", ".join(COUNT_COLUMNS)
# Each table's key columns after ``branch, period``.
_KEYS = {
    "agg_hour": ("kiosk", "employee"),
    "agg_day": ("kiosk", "employee"),
    "agg_month": ("kiosk", "employee"),
    "agg_weekhour": ("dow", "hod"),
    "agg_bhour": (),
}
# One statement adds to the stored row (no read-modify-write): concurrent writers lose no counts.
# The conflict target and the table-qualified column are what PostgreSQL needs (SQLite accepts both).
_UPSERT = {
    table: f"INSERT INTO {table} (branch, period, {''.join(k + ', ' for k in keys)}{_COLS}) "
    f"VALUES ({', '.join('?' * (2 + len(keys) + _N))}) ON CONFLICT (branch, period{''.join(', ' + k for k in keys)}) "
    f"DO UPDATE SET {', '.join(f'{c} = {table}.{c} + excluded.{c}' for c in COUNT_COLUMNS)}"
    for table, keys in _KEYS.items()
}
# One aggregate key of the hour grain: (branch, local hour 'YYYY-MM-DDTHH', kiosk, employee).
HourKey = tuple[str, str, str, str]
# A branch's marks (analytics_schema m005): ``newest`` moves up to the latest local day written;
# ``moved`` counts writes to a day before the ``newest`` there was. Both SET expressions read the
# row as it was (SQL's rule on either engine), so ``moved`` compares with the old ``newest``.
_MARK = (
    "INSERT INTO agg_marks (branch, newest, moved) VALUES (?, ?, 0) ON CONFLICT (branch) DO UPDATE SET "
    "moved = agg_marks.moved + (CASE WHEN ? < agg_marks.newest THEN 1 ELSE 0 END), "
    "newest = max(agg_marks.newest, excluded.newest)"
)


def mark(db: Database, days: Iterable[tuple[str, str]]) -> None:
    """Note in agg_marks the (branch, local day 'YYYY-MM-DD') pairs a write is about to change.

    Every writer of the aggregate tables calls it in the same transaction as its write: a reader
    that kept a branch's days before ``newest`` knows from ``moved`` whether any of them changed.
    """
    spans: dict[str, list[str]] = {}
    for branch, day in days:
        span = spans.get(branch)
        if span is None:
            spans[branch] = [day, day]
        elif day < span[0]:
            span[0] = day
        elif day > span[1]:
            span[1] = day
    if spans:
        # Sorted, after the aggregate rows: two hubs take these row locks in one order (PostgreSQL).
        db.conn.executemany(_MARK, [[b, hi, lo] for b, (lo, hi) in sorted(spans.items())])


def rows_deleted(db: Database, branch: str | None = None) -> None:
    """A branch's (or every branch's) aggregate rows were deleted: whatever a reader kept of them is gone.

    ``newest`` is cleared as well, so the write that follows (a rebuild's) sets it to the latest day
    it writes: after a time zone change that may be a day earlier than before.
    """
    where, params = ("WHERE branch = ?", [branch]) if branch else ("", [])
    db.execute(f"UPDATE agg_marks SET moved = moved + 1, newest = '' {where}", params)


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


def local_hour(ts: str, zone: Any) -> tuple[str, datetime]:
    """The local hour key ('YYYY-MM-DDTHH') of a stored UTC timestamp, and its local wall-clock time (to the second)."""
    hour, base = _local_minute(ts[:16], zone)
    return hour, base.replace(second=int(ts[17:19]))


@lru_cache(maxsize=4096)
def _local_minute(minute: str, zone: Any) -> tuple[str, datetime]:
    # A zone's offset is constant within a UTC minute, and a batch's presses share few minutes.
    base = local_keys(minute + ":00.000Z", zone)[5]
    return base.strftime("%Y-%m-%dT%H"), base


@lru_cache(maxsize=8192)
def _weekhour(hour: str) -> tuple[int, int]:
    """(weekday 0=Mon, hour of day) of a local hour key."""
    return date.fromisoformat(hour[:10]).weekday(), int(hour[11:13])


class Tally:
    """Aggregate counts summed in memory per hour key, written (with every roll-up) in ``write``.

    The one writer of the aggregate tables: ingest, re-attribution, rebuild and
    the benchmark loaders all go through it, so every grain stays the sum of the
    hour rows by construction.
    """

    def __init__(self) -> None:
        self.rows: defaultdict[HourKey, list[int]] = defaultdict(lambda: [0] * _N)

    def add(self, branch: str, kiosk: str, employee: str, hour: str, counts: Iterable[int]) -> None:
        target = self.rows[(branch, hour, kiosk, employee)]
        for i, c in enumerate(counts):
            if c:
                target[i] += c

    def write(self, db: Database) -> int:
        """One upsert per key and grain; returns how many hour rows were written."""
        grains: dict[str, defaultdict[tuple, list[int]]] = {t: defaultdict(lambda: [0] * _N) for t in AGG_TABLES}
        for (branch, hour, kiosk, employee), counts in self.rows.items():
            dow, hod = _weekhour(hour)
            for table, key in (
                ("agg_hour", (branch, hour, kiosk, employee)),
                ("agg_day", (branch, hour[:10], kiosk, employee)),
                ("agg_month", (branch, hour[:7], kiosk, employee)),
                ("agg_weekhour", (branch, hour[:7], dow, hod)),
                ("agg_bhour", (branch, hour)),
            ):
                target = grains[table][key]
                for i, c in enumerate(counts):
                    target[i] += c
        for table, rows in grains.items():
            # Tables and keys in one order: two hubs adding to the same rows (PostgreSQL) wait
            # for each other in turn, never each for the other (a deadlock).
            db.conn.executemany(_UPSERT[table], [[*key, *counts] for key, counts in sorted(rows.items())])
        mark(db, ((key[0], key[1]) for key in grains["agg_day"]))
        return len(self.rows)


class Shifts:
    """The shifts of one kiosk (and its branch's branch-wide ones) over a time range, read in one query.

    ``attribute`` answers for any press in that range which employee it counts for.
    """

    def __init__(self, db: Database, branch: str, kiosk: str, first: str, last: str) -> None:
        rows = db.execute(
            "SELECT kiosk, start, \"end\", id, employee FROM shifts WHERE branch = ? AND kiosk IN (?, '') "
            'AND start <= ? AND "end" > ? ORDER BY start DESC, id DESC',
            [branch, kiosk, last, first],
        ).fetchall()
        # The kiosk's own shifts first, each side latest start first, as attribute() searches.
        self._order = [r for r in rows if r[0] == kiosk] + [r for r in rows if r[0] != kiosk]

    def attribute(self, ts: str, named: str | None) -> tuple[str, str]:
        """(employee, source): the employee the event names, else the one on shift.

        A shift at this kiosk wins over a branch-wide shift (kiosk ''); among overlapping
        shifts the one that started last wins (the relief cashier who just took over).
        """
        if named:
            return named, "event"
        for _kiosk, start, end, _id, employee in self._order:
            if start <= ts < end:
                return employee, "shift"
        return "", ""


def attribute_batch(db: Database, presses: Sequence[tuple[str, str, str, str | None]]) -> list[tuple[str, str]]:
    """(employee, source) for each (branch, kiosk, ts, named employee): one shift query per kiosk, not per press."""
    spans: dict[tuple[str, str], list[str]] = {}
    for branch, kiosk, ts, named in presses:
        if not named:
            span = spans.setdefault((branch, kiosk), [ts, ts])
            span[0], span[1] = min(span[0], ts), max(span[1], ts)
    shifts = {key: Shifts(db, *key, first, last) for key, (first, last) in spans.items()}
    return [shifts[(b, k)].attribute(ts, None) if not named else (named, "event") for b, k, ts, named in presses]


def reattribute(db: Database, branch: str, kiosk: str, start: str, end: str) -> int:
    """Recompute attribution of the branch's presses in [start, end) (UTC timestamps).

    ``kiosk`` '' means every kiosk of the branch (a branch-wide shift changed).  Presses whose
    employee changes are moved between aggregate rows; returns how many moved.
    """
    kiosks = [kiosk] if kiosk else branches.known_kiosks(db, branch)
    if not kiosks:
        return 0
    rule = branches.get(db, branch)
    zone = rule.zone
    moved = 0
    marks = ", ".join("?" * len(kiosks))
    rows = db.execute(
        f"""
        SELECT e.id, e.kiosk, e.ts, e.score, e.employee, e.flags, COALESCE(a.employee, e.employee, ''), e.channel
        FROM events e LEFT JOIN attribution a ON a.event_id = e.id
        WHERE e.branch = ? AND e.kiosk IN ({marks}) AND e.ts >= ? AND e.ts < ?
        """,
        [branch, *kiosks, start, end],
    ).fetchall()
    tally = Tally()
    shifts = {k: Shifts(db, branch, k, start, end) for k in {r[1] for r in rows}}
    for event_id, ev_kiosk, ts, score, named, flags, old, channel in rows:
        new, source = shifts[ev_kiosk].attribute(ts, named)
        if new == old:
            continue
        if rule.in_scores(channel):  # a press the branch shows apart has no aggregate rows to move
            hour = local_keys(ts, zone)[0]
            flagset = split_flags(flags)
            tally.add(branch, ev_kiosk, old, hour, delta(score, flagset, -1))
            tally.add(branch, ev_kiosk, new, hour, delta(score, flagset))
        if new:
            db.execute(
                "INSERT INTO attribution (event_id, employee, source) VALUES (?, ?, ?) ON CONFLICT (event_id) "
                "DO UPDATE SET employee = excluded.employee, source = excluded.source",
                [event_id, new, source],
            )
        else:
            db.execute("DELETE FROM attribution WHERE event_id = ?", [event_id])
        moved += 1
    tally.write(db)
    return moved


def add_reactions(db: Database, windows: Sequence[tuple[str, str, str, int, int, float]]) -> None:
    """Add camera windows to camera_hour: (branch, kiosk, local hour of its start, visitors, smiling, seconds) each."""
    sums: defaultdict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for branch, kiosk, hour, visitors, smiling, seconds in windows:
        entry = sums[(branch, hour, kiosk)]
        entry[0] += visitors
        entry[1] += smiling
        entry[2] += 1
        entry[3] += seconds
    mark(db, ((branch, hour[:10]) for branch, hour, _kiosk in sums))
    db.conn.executemany(
        "INSERT INTO camera_hour (branch, period, kiosk, visitors, smiling, windows, seconds) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (branch, period, kiosk) DO UPDATE SET "
        "visitors = camera_hour.visitors + excluded.visitors, smiling = camera_hour.smiling + excluded.smiling, "
        "windows = camera_hour.windows + excluded.windows, seconds = camera_hour.seconds + excluded.seconds",
        [[*k, *v] for k, v in sums.items()],
    )


def rebuild(db: Database, branch: str | None = None) -> int:
    """Recompute the aggregates of one branch (or all) from stored events and attribution.

    Needed after a branch's time zone changes (every local period moves).  Flags and
    attribution stored with the events are kept as they are.  Returns events counted.
    """
    retention.check_rebuild(db)
    where, params = ("WHERE e.branch = ?", [branch]) if branch else ("", [])
    tally = Tally()
    count = 0
    with db.atomic():
        for table in (*AGG_TABLES, "camera_hour"):
            db.execute(f"DELETE FROM {table} {where.replace('e.', '')}", params)
        rows_deleted(db, branch)
        zones: dict[str, Any] = {}
        rules: dict[str, branches.BranchSettings] = {}
        cursor = db.execute(
            f"SELECT e.branch, e.kiosk, e.ts, e.score, e.flags, COALESCE(a.employee, e.employee, ''), e.channel "
            f"FROM events e LEFT JOIN attribution a ON a.event_id = e.id {where}",
            params,
        )
        for ev_branch, kiosk, ts, score, flags, employee, channel in cursor:
            rule = rules.get(ev_branch) or rules.setdefault(ev_branch, branches.get(db, ev_branch))
            if not rule.in_scores(channel):
                continue
            zone = zones.get(ev_branch) or zones.setdefault(ev_branch, rule.zone)
            tally.add(ev_branch, kiosk, employee, local_keys(ts, zone)[0], delta(score, split_flags(flags)))
            count += 1
        tally.write(db)
        if db["reactions"].exists():
            windows = []
            for r_branch, kiosk, start, visitors, smiling, seconds in db.execute(
                f"SELECT branch, kiosk, window_start, visitors, smiling, window_s FROM reactions "
                f"{where.replace('e.', '')}",
                params,
            ).fetchall():
                zone = zones.get(r_branch) or zones.setdefault(r_branch, branches.get(db, r_branch).zone)
                windows.append((r_branch, kiosk, local_keys(start, zone)[0], visitors, smiling, seconds))
            add_reactions(db, windows)
    return count
