"""Scores from the aggregates: the API the CLI and the dashboard call.

Every function reads only the aggregate tables (``hub.aggregates`` keeps them current), so
their cost depends on the number of groups and periods asked for, not on the number of
presses.  Periods are branch-local: ``start``/``end`` are local wall-clock bounds (a date, a
datetime, or text like '2026-11', '2026-11-22', '2026-11-22T10'), start inclusive, end
exclusive, rounded down to the hour; None means unbounded.

Definitions (per group of presses, flagged presses left out):

- ``index``: satisfaction index 0..100, buttons weighted 0, 33.3, 66.7, 100.
- ``positive_share``: share of buttons 3 and 4; ``positive_low``/``positive_high``: its
  Wilson score 95 % interval (z = 1.96), which stays inside 0..1 and is honest for small n.
- ``very_unhappy_share``: share of button 1.
- ``adjusted_index`` (rankings): ``(W * mean + n * index) / (W + n)`` where ``mean`` is the
  pooled index of everyone ranked together and ``W`` the prior weight in responses: a
  newcomer with 3 perfect presses sits near the mean, not on top.  Groups with fewer than
  ``min_responses`` are left out of a ranking (``report`` shows them with ``rank`` None).
- ``flagged``: presses left out, by reason ({'cooldown': 2, 'burst': 0, ..., 'total': 2}).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from hub import branches as branch_settings
from hub.aggregates import delta, split_flags
from hub.analytics_schema import COUNT_COLUMNS
from hub.periods import split
from hub.store import Database
from otklik.times import Bound, local_today, parse_bound, utc_range, week_key, week_start

# The index puts the four buttons at equal steps on 0..100.
SCORE_WEIGHTS = {1: 0.0, 2: 100 / 3, 3: 200 / 3, 4: 100.0}
Z95 = 1.959963984540054
# Fewer responses than this and a group is shown but not ranked: at 20 the Wilson interval of the
# positive share is still about +-20 points, but the shrinkage (W = 30) already pulls a small sample
# most of the way to the mean, and 20 is what the monthly report, the CLI and the README promised.
DEFAULT_MIN_RESPONSES = 20
DEFAULT_WEIGHT = 30.0
BY = ("branch", "kiosk", "employee", "hour", "day", "week", "month")
RANKED = ("branch", "employee")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FLAG_REASONS = ("cooldown", "burst", "hours", "clock", "other")


# --- statistics ---------------------------------------------------------------


def wilson(k: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for k successes out of n; (None, None) when n is 0."""
    if n <= 0:
        return None, None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def index_of(counts: Sequence[int]) -> float | None:
    """Satisfaction index from [n1, n2, n3, n4]."""
    n = sum(counts[:4])
    if not n:
        return None
    return sum(SCORE_WEIGHTS[s] * counts[s - 1] for s in (1, 2, 3, 4)) / n


def shrink(index: float | None, n: int, mean: float | None, weight: float) -> float | None:
    """Index pulled toward ``mean`` by a prior worth ``weight`` responses."""
    if index is None or mean is None:
        return index
    return (weight * mean + n * index) / (weight + n)


def summarize(counts: Sequence[int]) -> dict[str, Any]:
    """The score fields of one group from its count vector (see COUNT_COLUMNS)."""
    n1, n2, n3, n4 = (int(c or 0) for c in counts[:4])
    n = n1 + n2 + n3 + n4
    index = index_of([n1, n2, n3, n4])
    low, high = wilson(n3 + n4, n)
    flagged = {reason: int(counts[5 + i] or 0) for i, reason in enumerate(FLAG_REASONS)}
    flagged["total"] = int(counts[4] or 0)
    return {
        "counts": {"1": n1, "2": n2, "3": n3, "4": n4},
        "responses": n,
        "index": _r(index, 1),
        "positive_share": _r((n3 + n4) / n, 4) if n else None,
        "positive_low": _r(low, 4),
        "positive_high": _r(high, 4),
        "very_unhappy_share": _r(n1 / n, 4) if n else None,
        "flagged": flagged,
    }


def channel_summary(db: Database, branch: str, channel: str, start: date, end: date) -> dict[str, Any]:
    """``summarize`` of ``branch``'s presses made on ``channel`` over its local days [start, end).

    Read from the events: the aggregates hold no channel, and a branch that shows its phone
    ratings apart (``phone_ratings = separate``) leaves them out of the aggregates altogether.
    """
    lo, hi = utc_range(branch_settings.get(db, branch).zone, start, end)
    counts = [0] * len(COUNT_COLUMNS)
    rows = db.execute(
        "SELECT score, flags FROM events WHERE branch = ? AND channel = ? AND ts >= ? AND ts < ?",
        [branch, channel, lo, hi],
    )
    for score, flags in rows:
        _add_into(counts, delta(score, split_flags(flags)))
    return summarize(counts)


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --- reading aggregates -----------------------------------------------------------

# What reads summed counts: ``fetch``, or a caller's reader taking the same arguments and giving
# the same rows (dashboard.history keeps the days that did not change).
Fetch = Callable[..., list[tuple]]


def _branches(db: Database, branch: str | Iterable[str] | None) -> list[str]:
    if branch is None:
        return branch_settings.known_branches(db)
    if isinstance(branch, str):
        return [branch]
    return list(branch)


def fetch(
    db: Database,
    group: Sequence[str],
    *,
    branch: str | Iterable[str] | None = None,
    kiosk: str | None = None,
    employee: str | None = None,
    start: Bound = None,
    end: Bound = None,
    grain: str = "month",
    keep_empty: bool = False,
) -> list[tuple]:
    """Summed counts grouped by some of branch, kiosk, employee and 'period' (at ``grain``).

    Returns tuples (*group values, n1, n2, n3, n4, flagged, f_cooldown, ...).  The range is
    covered by whole months, days and hours (see ``hub.periods.split``). ``keep_empty``: the
    sums as the query gave them, groups at zero included (for a caller adding up the parts of
    a period before it drops those, as this does).
    """
    names = _branches(db, branch)
    if not names:
        return []
    s, e = parse_bound(start, "start"), parse_bound(end, "end")
    width = {"hour": 13, "day": 10, "month": 7}[grain]
    exprs = [f"substr(period, 1, {width})" if g == "period" else g for g in group]
    selects, params = [], []
    for part_grain, lo, hi in split(s, e, grain):
        where = [f"branch IN ({', '.join('?' * len(names))})", "period >= ?", "period < ?"]
        part_params: list[Any] = [*names, lo, hi]
        if kiosk is not None:
            where.append("kiosk = ?")
            part_params.append(kiosk)
        if employee is not None:
            where.append("employee = ?")
            part_params.append(employee)
        cols = ", ".join([*(f"{x} AS g{i}" for i, x in enumerate(exprs)), *COUNT_COLUMNS])
        selects.append(f"SELECT {cols} FROM agg_{part_grain} WHERE {' AND '.join(where)}")
        params.extend(part_params)
    if not selects:
        return []
    keys = ", ".join(f"g{i}" for i in range(len(exprs)))
    sums = ", ".join(f"SUM({c})" for c in COUNT_COLUMNS)
    sql = f"SELECT {keys + ', ' if keys else ''}{sums} FROM ({' UNION ALL '.join(selects)}) parts"
    if keys:
        sql += f" GROUP BY {keys} ORDER BY {keys}"
    rows = db.execute(sql, params).fetchall()
    if keep_empty:
        return rows
    # Rows left at zero by a re-attribution (or groups with nothing in range) are not groups.
    n = len(exprs)
    return [r for r in rows if r[n] is not None and sum(r[n : n + 5])]


def total(db: Database, **filters: Any) -> dict[str, Any]:
    """One summary for everything matching the filters (branch, kiosk, employee, start, end)."""
    rows = fetch(db, [], **filters)
    return summarize(rows[0] if rows else [0] * len(COUNT_COLUMNS))


def report(
    db: Database,
    by: str = "branch",
    *,
    branch: str | Iterable[str] | None = None,
    kiosk: str | None = None,
    employee: str | None = None,
    start: Bound = None,
    end: Bound = None,
    min_responses: int = DEFAULT_MIN_RESPONSES,
    weight: float = DEFAULT_WEIGHT,
    reader: Fetch | None = None,
) -> list[dict[str, Any]]:
    """Rows of scores grouped ``by`` one of BY; branch and employee rows are also ranked (``reader``: see Fetch)."""
    if by not in BY:
        raise ValueError(f"by {by!r} must be one of {', '.join(BY)}")
    filters: dict[str, Any] = {"branch": branch, "kiosk": kiosk, "employee": employee, "start": start, "end": end}
    if by in ("branch", "kiosk", "employee"):
        group = {"branch": ["branch"], "kiosk": ["branch", "kiosk"], "employee": ["branch", "employee"]}[by]
        rows = []
        for r in (reader or fetch)(db, group, **filters):
            row = dict(zip(group, r[: len(group)], strict=True))
            if by == "employee" and not row["employee"]:
                row["employee"] = None  # presses nobody could be credited with
            row.update(summarize(r[len(group) :]))
            rows.append(row)
        if by in RANKED:
            rank(rows, min_responses=min_responses, weight=weight, key=by)
        return rows
    return series(db, by, **filters)


def rank(
    rows: list[dict[str, Any]],
    *,
    min_responses: int = DEFAULT_MIN_RESPONSES,
    weight: float = DEFAULT_WEIGHT,
    key: str = "employee",
) -> list[dict[str, Any]]:
    """Add ``adjusted_index`` and ``rank`` to summary rows (in place); return the ranked ones, best first.

    The mean is the pooled index of all rows that name someone (including those under the
    minimum: they are real presses, they just do not earn a place).
    """
    named = [r for r in rows if r.get(key)]
    pooled = [sum(r["counts"][s] for r in named) for s in ("1", "2", "3", "4")]
    mean = index_of(pooled)
    for r in rows:
        exact = index_of([r["counts"][s] for s in ("1", "2", "3", "4")])
        r["adjusted_index"] = _r(shrink(exact, r["responses"], mean, weight), 1) if r.get(key) else None
        r["_adjusted"] = shrink(exact, r["responses"], mean, weight)
        r["rank"] = None
    eligible = [r for r in named if r["responses"] >= max(1, min_responses)]
    eligible.sort(key=lambda r: (-r["_adjusted"], -r["responses"], str(r.get(key))))
    for place, r in enumerate(eligible, 1):
        r["rank"] = place
    for r in rows:
        del r["_adjusted"]
    return eligible


def field(
    db: Database,
    kind: str = "employee",
    *,
    branch: str | Iterable[str] | None = None,
    start: Bound = None,
    end: Bound = None,
    periods: Mapping[str, tuple[Bound, Bound]] | None = None,
    min_responses: int = DEFAULT_MIN_RESPONSES,
    weight: float = DEFAULT_WEIGHT,
    reader: Fetch | None = None,
) -> list[dict[str, Any]]:
    """Every employee, branch or kiosk with responses, ranked in place (``rank`` None below the minimum).

    ``periods`` ({branch: (start, end)}) gives each branch its own period instead of ``branch``,
    ``start`` and ``end``: "the last 30 days" of a chain across time zones is each branch's last 30
    local days, ending on its own today. The ranking is one over all periods' rows.
    """
    if kind not in ("employee", "branch", "kiosk"):
        raise ValueError(f"kind {kind!r} must be employee, branch or kiosk")
    options: dict[str, Any] = {"min_responses": min_responses, "weight": weight, "reader": reader}
    if periods is None:
        rows = report(db, kind, branch=branch, start=start, end=end, **options)
    else:
        by_period: dict[tuple[Bound, Bound], list[str]] = defaultdict(list)
        for name, bounds in periods.items():
            by_period[bounds].append(name)
        rows = [
            row
            for (first, stop), names in by_period.items()
            for row in report(db, kind, branch=names, start=first, end=stop, **options)
        ]
    rank(rows, min_responses=min_responses, weight=weight, key=kind)
    return rows


def ranking(db: Database, kind: str = "employee", **options: Any) -> list[dict[str, Any]]:
    """Employees or branches (or kiosks) best first by adjusted index; under-minimum groups left out.

    Takes ``field``'s options (branch, start, end, periods, min_responses, weight)."""
    return sorted((r for r in field(db, kind, **options) if r["rank"] is not None), key=lambda r: r["rank"])


def series(
    db: Database,
    by: str = "day",
    *,
    branch: str | Iterable[str] | None = None,
    kiosk: str | None = None,
    employee: str | None = None,
    start: Bound = None,
    end: Bound = None,
    first_weekday: int = 0,
) -> list[dict[str, Any]]:
    """Scores per local hour, day, week or month, oldest first (periods without presses omitted).

    Weeks start on ``first_weekday`` (0 = Monday: ISO weeks, keyed '2026-W49'; 5 = Saturday,
    keyed by their first day); each week row also says the day it ``start``s on.
    """
    grain = {"hour": "hour", "day": "day", "week": "day", "month": "month"}.get(by)
    if grain is None:
        raise ValueError(f"by {by!r} must be hour, day, week or month")
    rows = fetch(db, ["period"], branch=branch, kiosk=kiosk, employee=employee, start=start, end=end, grain=grain)
    if by == "week":
        weeks: dict[str, list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
        firsts: dict[str, str] = {}
        for r in rows:
            key = week_key(r[0], first_weekday)
            firsts.setdefault(key, week_start(r[0], first_weekday))
            target = weeks[key]
            for i, c in enumerate(r[1:]):
                target[i] += c or 0
        return [{"period": k, "start": firsts[k], **summarize(v)} for k, v in sorted(weeks.items())]
    return [{"period": r[0], **summarize(r[1:])} for r in rows]


def heatmap(
    db: Database,
    *,
    branch: str | Iterable[str] | None = None,
    kiosk: str | None = None,
    employee: str | None = None,
    start: Bound = None,
    end: Bound = None,
) -> list[dict[str, Any]]:
    """Hour of day x weekday (branch-local): 168 cells, Monday 00:00 first.

    Each cell is a summary plus ``dow`` (0 = Monday), ``day`` ('Mon') and ``hour``.  Whole
    months come from the per-branch weekday x hour aggregate, the uneven edges from the
    per-branch hour rows; a kiosk's or an employee's table comes from the hourly rows.
    """
    names = _branches(db, branch)
    cells: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
    if names:
        s, e = parse_bound(start, "start"), parse_bound(end, "end")
        marks = ", ".join("?" * len(names))
        extra, extra_params = "", []
        if kiosk is not None:
            extra += " AND kiosk = ?"
            extra_params.append(kiosk)
        sums = ", ".join(f"SUM({c})" for c in COUNT_COLUMNS)
        narrow = employee is not None or kiosk is not None
        for grain, lo, hi in split(s, e, "hour" if narrow else "month"):
            if grain == "month":
                sql = (
                    f"SELECT dow, hod, {sums} FROM agg_weekhour WHERE branch IN ({marks}) AND period >= ? "
                    "AND period < ? GROUP BY dow, hod"
                )
                for dow, hod, *counts in db.execute(sql, [*names, lo, hi]):
                    _add_into(cells[(dow, hod)], counts)
                continue
            emp_sql, emp_params = ("", []) if employee is None else (" AND employee = ?", [employee])
            # Branch-wide edges read the per-branch hour rows: 6 kiosks x 2 employees fewer rows.
            table = "agg_bhour" if kiosk is None and employee is None else "agg_hour"
            sql = (
                f"SELECT period, {sums} FROM {table} WHERE branch IN ({marks}) AND period >= ? AND period < ?"
                f"{extra}{emp_sql} GROUP BY period"
            )
            for period, *counts in db.execute(sql, [*names, lo, hi, *extra_params, *emp_params]):
                day = date(int(period[:4]), int(period[5:7]), int(period[8:10]))
                _add_into(cells[(day.weekday(), int(period[11:13]))], counts)
    out = []
    for dow in range(7):
        for hod in range(24):
            out.append({"dow": dow, "day": DAYS[dow], "hour": hod, **summarize(cells.get((dow, hod), [0] * 10))})
    return out


def _add_into(target: list[int], counts: Iterable[int | None]) -> None:
    for i, c in enumerate(counts):
        target[i] += c or 0


def overview(
    db: Database, branches: Iterable[str] | None = None, now: datetime | None = None, reader: Fetch | None = None
) -> list[dict[str, Any]]:
    """One row per branch for a manager's first screen.

    ``today``, ``last_7_days`` and ``last_30_days`` are summaries over the branch's local
    calendar days ending today (so they include today); plus open alerts and kiosk states.
    Branches sharing a time zone are read together, so the cost is a few queries per zone.
    """
    names = list(branches) if branches is not None else branch_settings.known_branches(db)
    zones = branch_settings.timezones(db, names)
    by_zone: dict[str, list[str]] = defaultdict(list)
    for b in names:
        by_zone[zones[b]].append(b)
    result: dict[str, dict[str, Any]] = {
        b: {"branch": b, "timezone": zones[b], "open_alerts": 0, "kiosks": {"total": 0}} for b in names
    }
    empty = summarize([0] * len(COUNT_COLUMNS))
    for tz, members in by_zone.items():
        today = local_today(branch_settings.zone(tz), now)
        tomorrow = today + timedelta(days=1)
        for label, first in (
            ("today", today),
            ("last_7_days", today - timedelta(days=6)),
            ("last_30_days", today - timedelta(days=29)),
        ):
            found = {r[0]: r[1:] for r in (reader or fetch)(db, ["branch"], branch=members, start=first, end=tomorrow)}
            for b in members:
                result[b][label] = summarize(found[b]) if b in found else dict(empty)
        for b in members:
            result[b]["date"] = today.isoformat()
    if names and db["alerts"].exists():
        marks = ", ".join("?" * len(names))
        for b, n in db.execute(
            f"SELECT branch, count(*) FROM alerts WHERE branch IN ({marks}) AND state != 'resolved' GROUP BY branch",
            names,
        ):
            result[b]["open_alerts"] = n
    if names and db["kiosks"].exists():
        marks = ", ".join("?" * len(names))
        for b, state, n in db.execute(
            f"SELECT branch, state, count(*) FROM kiosks WHERE branch IN ({marks}) GROUP BY branch, state", names
        ):
            result[b]["kiosks"][state] = n
            result[b]["kiosks"]["total"] += n
    return [result[b] for b in names]


def camera(
    db: Database,
    *,
    branch: str | Iterable[str] | None = None,
    kiosk: str | None = None,
    start: Bound = None,
    end: Bound = None,
    skew_points: float = 25.0,
    min_visitors: int = 50,
) -> list[dict[str, Any]]:
    """Camera figures per kiosk that sent any, beside its button scores.

    - ``visitors``, ``smiling``: summed over the camera's windows.
    - ``response_rate``: button presses (unflagged) / visitors.
    - ``smile_share``: smiling / visitors.
    - ``button_vs_smile``: positive_share - smile_share, in percentage points.  The two measure
      different crowds - everyone the camera saw vs. those who chose to press - so a gap is
      normal; a large one (``skewed`` when |gap| >= ``skew_points`` with at least
      ``min_visitors``) says the buttons no longer speak for the shop floor: e.g. staff
      pressing "very happy", or only angry shoppers bothering to press.
    """
    names = _branches(db, branch)
    if not names:
        return []
    s, e = parse_bound(start, "start"), parse_bound(end, "end")
    lo = s.strftime("%Y-%m-%dT%H") if s else ""
    hi = e.strftime("%Y-%m-%dT%H") if e else "9999"
    marks = ", ".join("?" * len(names))
    params: list[Any] = [*names, lo, hi]
    extra = ""
    if kiosk is not None:
        extra = " AND kiosk = ?"
        params.append(kiosk)
    rows = db.execute(
        f"SELECT branch, kiosk, SUM(visitors), SUM(smiling), SUM(windows), SUM(seconds) FROM camera_hour "
        f"WHERE branch IN ({marks}) AND period >= ? AND period < ?{extra} "
        "GROUP BY branch, kiosk ORDER BY branch, kiosk",
        params,
    ).fetchall()
    out = []
    for b, k, visitors, smiling, windows, seconds in rows:
        buttons = total(db, branch=b, kiosk=k, start=start, end=end)
        positive = buttons["positive_share"]
        smile = smiling / visitors if visitors else None
        gap = None if positive is None or smile is None else (positive - smile) * 100
        out.append(
            {
                "branch": b,
                "kiosk": k,
                "visitors": visitors,
                "smiling": smiling,
                "windows": windows,
                "seconds": seconds,
                "responses": buttons["responses"],
                "index": buttons["index"],
                "positive_share": positive,
                "response_rate": _r(buttons["responses"] / visitors, 4) if visitors else None,
                "smile_share": _r(smile, 4),
                "button_vs_smile": _r(gap, 1),
                "skewed": gap is not None and visitors >= min_visitors and abs(gap) >= skew_points,
            }
        )
    return out
