"""What the dashboard shows, as plain data: one function per table or figure.

Pages, the JSON API, CSV export and the live stream all call these, so they can
never disagree. Each takes the branches :mod:`dashboard.access` allowed (it
checks nothing itself) and the query string's filters (read by
:mod:`dashboard.filters`). The scores come from the hub's analytics layer
(hub.scores, hub.alerts, hub.roster); what is derived here is only their shape
for a page: trends, response rates, flat rows, local shift times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dashboard import filters, history
from dashboard.cache import cached, remember
from hub import alerts as hub_alerts
from hub import branches as hub_branches
from hub import roster as hub_roster
from hub import scores
from hub.analytics_schema import COUNT_COLUMNS
from hub.notify import redact
from hub.store import Database
from otklik.protocol import CHANNEL_PHONE
from otklik.settings import PHONE_SEPARATE
from otklik.times import format_ts, local_minute, local_today, utc_range

DEFAULT_DAYS = 30  # the rankings' and flagged list's period when ?from= is not given
HEATMAP_DAYS = 90
EMPLOYEE_DAYS = 90


# --- each branch's today ----------------------------------------------------------


def zone(db: Database, branch: str) -> ZoneInfo:
    """The branch's time zone: every date and moment of the branch a page shows is in it."""
    return _zones(db, (branch,))[branch]


def zones(db: Database, names: Sequence[str]) -> dict[str, ZoneInfo]:
    """Each branch's time zone, in one look-up."""
    return _zones(db, tuple(names))


def today(db: Database, branch: str) -> date:
    """The branch's own date by the app's clock; every default period ends on it."""
    return local_today(zone(db, branch), filters.now())


def latest_today(db: Database, names: Sequence[str]) -> date:
    """The latest of the branches' own dates: one period for a page that lists several (the shifts)."""
    moment = filters.now()
    zones = _zones(db, tuple(names))
    return max((local_today(zone, moment) for zone in zones.values()), default=moment.date())


def local_days(db: Database, names: Sequence[str], now: datetime | None = None) -> tuple:
    """Each time zone of the branches with its local date: what a figure of "today" depends on.

    Part of the cache keys of such figures (instead of the clock): the key changes only when a
    branch's own day does (dashboard.cache).
    """
    moment = now or filters.now()
    return tuple(sorted({(zone.key, local_today(zone, moment)) for zone in _zones(db, tuple(names)).values()}))


@cached
def _zones(db: Database, names: tuple[str, ...]) -> dict[str, ZoneInfo]:
    # Recomputed after every commit: hub_branches.get per branch (two queries and a JSON parse
    # each) was a fifteenth of a worker's time under presses; only the zone is needed here.
    return {name: hub_branches.zone(tz) for name, tz in hub_branches.timezones(db, names).items()}


def _period(db: Database, branch: str, args: dict[str, str], days: int) -> tuple[date, date]:
    """The branch's [start, stop) local dates from the filters, ending on its today by default."""
    return _period_in(zone(db, branch), args, days)


def _period_in(where: ZoneInfo, args: dict[str, str], days: int, moment: datetime | None = None) -> tuple[date, date]:
    start, end = filters.period(args, days, local_today(where, moment or filters.now()))
    return start, end + timedelta(days=1)


# --- scores (hub.scores) ---------------------------------------------------------


def overview(db: Database, names: Sequence[str], now: datetime | None = None) -> list[dict[str, Any]]:
    """One card per branch, each on its own today (``now`` for a caller outside a request: the live stream)."""
    moment = now or filters.now()
    names = tuple(names)
    # Keyed on the branches' local dates, computed with a moment on those dates: the same figures all day.
    key = ("figures.overview", names, local_days(db, names, moment))
    return remember(db, key, lambda conn: _overview(conn, names, moment))


def _overview(db: Database, names: tuple[str, ...], now: datetime) -> list[dict[str, Any]]:
    if not names:
        return []
    rows = scores.overview(db, list(names), now=now, reader=history.fetch)
    _add_trend_and_rate(db, rows)
    for row in rows:
        row["week"] = row.get("last_7_days") or {}
        row["month"] = row.get("last_30_days") or {}
    return rows


def _add_trend_and_rate(db: Database, rows: list[dict[str, Any]]) -> None:
    """``trend``: last 7 days' index minus the 7 days before; ``response_rate``: presses per camera visitor.

    Branches whose local date is the same are read together: a few queries, not two per branch.
    """
    by_date: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        row["trend"] = None
        row["response_rate"] = None
        if row.get("date"):
            by_date.setdefault(row["date"], []).append(row)
    for today, members in by_date.items():
        names = [r["branch"] for r in members]
        week_start = date.fromisoformat(today) - timedelta(days=6)
        before = {
            r[0]: scores.summarize(r[1:])
            for r in history.fetch(db, ["branch"], branch=names, start=week_start - timedelta(days=7), end=week_start)
        }
        visitors: dict[str, int] = {}
        for cam in scores.camera(db, branch=names, start=week_start, end=date.fromisoformat(today) + timedelta(days=1)):
            visitors[cam["branch"]] = visitors.get(cam["branch"], 0) + (cam["visitors"] or 0)
        daily = _daily_index(db, names, date.fromisoformat(today))
        for row in members:
            row["daily"] = daily.get(row["branch"], [None] * SPARK_DAYS)
            week = row.get("last_7_days") or {}
            prev = before.get(row["branch"], scores.summarize([0] * len(COUNT_COLUMNS)))
            if week.get("index") is not None and prev["index"] is not None:
                row["trend"] = round(week["index"] - prev["index"], 1)
            if visitors.get(row["branch"]):
                row["response_rate"] = round(week.get("responses", 0) / visitors[row["branch"]], 4)


SPARK_DAYS = 14  # an overview card's sparkline: the index of each of the branch's last 14 local days


def _daily_index(db: Database, names: list[str], today: date) -> dict[str, list[float | None]]:
    """Branch -> index per local day, oldest first, None for a day without responses; one query."""
    first = today - timedelta(days=SPARK_DAYS - 1)
    days = [(first + timedelta(days=i)).isoformat() for i in range(SPARK_DAYS)]
    found: dict[str, dict[str, float | None]] = {}
    for row in history.fetch(db, ["branch", "period"], branch=names, start=first, end=today + timedelta(days=1),
                             grain="day"):  # fmt: skip
        found.setdefault(row[0], {})[row[1]] = _day_index(row[2:6])
    return {b: [by_day.get(d) for d in days] for b, by_day in found.items()}


@lru_cache(maxsize=8192)
def _day_index(counts: tuple[int, ...]) -> float | None:
    """``summarize(counts)["index"]`` of (n1, n2, n3, n4), once per distinct counts: 700 cards' days at each
    recomputation of the overview, nearly all of them past days whose counts did not change."""
    index = scores.index_of([int(c or 0) for c in counts])
    return None if index is None else round(index, 1)


def branch_summary(db: Database, branch: str) -> dict[str, Any]:
    rows = overview(db, (branch,))
    summary = rows[0] if rows else {"branch": branch}
    if hub_branches.get(db, branch).phone_ratings == PHONE_SEPARATE and summary.get("date"):
        # Left out of every other figure of the branch (hub.aggregates): shown here, apart.
        summary = {**summary, "phone": _phone_week(db, branch, date.fromisoformat(summary["date"]))}
    return summary


@cached
def _phone_week(db: Database, branch: str, today: date) -> dict[str, Any]:
    return scores.channel_summary(db, branch, CHANNEL_PHONE, today - timedelta(days=6), today + timedelta(days=1))


def series(db: Database, branch: str, args: dict[str, str]) -> list[dict[str, Any]]:
    grain = filters.grain(args)
    start, stop = _period(db, branch, args, filters.GRAIN_DAYS[grain])
    return _series(db, grain, branch, start, stop, filters.first_weekday(args))


@cached
def _series(db: Database, grain: str, branch: str, start: date, stop: date, first: int = 0) -> list[dict[str, Any]]:
    return scores.series(db, grain, branch=branch, start=start, end=stop, first_weekday=first)


def heatmap(db: Database, branch: str, args: dict[str, str]) -> list[dict[str, Any]]:
    return _heatmap(db, branch, *_period(db, branch, args, HEATMAP_DAYS))


def open_hours(db: Database, branch: str) -> list[list[int]] | None:
    """Per weekday (0 = Monday) the local hours the branch is open in (its settings' opening
    hours); None for a branch with none set (always open). The heat map opens on these."""
    hours = hub_branches.get(db, branch).opening_hours()
    return None if hours is None else hours.open_hours()


@cached
def _heatmap(db: Database, branch: str, start: date, stop: date) -> list[dict[str, Any]]:
    return scores.heatmap(db, branch=branch, start=start, end=stop)


def flagged(db: Database, branch: str, args: dict[str, str]) -> list[dict[str, Any]]:
    """The latest flagged presses of a branch in its local period: kept and shown, left out of scores."""
    lo, hi = utc_range(zone(db, branch), *_period(db, branch, args, DEFAULT_DAYS))
    return _flagged(db, branch, lo, hi, filters.limit(args))


@cached
def _flagged(db: Database, branch: str, lo: str, hi: str, limit: int) -> list[dict[str, Any]]:
    # Read from the partial index of flagged rows (hub.schema m005): ``flags <> ''`` as the index says it.
    return list(
        db.query(
            "SELECT id, branch, kiosk, seq, ts, score, employee, flags FROM events "
            "WHERE branch = ? AND ts >= ? AND ts < ? AND flags <> '' ORDER BY ts DESC LIMIT ?",
            [branch, lo, hi, limit],
        )
    )


def ranking(db: Database, names: Sequence[str], args: dict[str, str]) -> list[dict[str, Any]]:
    """The ranked employees, best first (those below the minimum are in ``employee_field``)."""
    return ranked(employee_field(db, names, args))


def ranked(field: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranked of ``employee_field``'s rows, in its order."""
    return [r for r in field if r["rank"] is not None]


def employee_field(db: Database, names: Sequence[str], args: dict[str, str]) -> list[dict[str, Any]]:
    """Everyone credited with responses, each branch over its own last 30 days ending on its own
    today: the ranked first, best first, then those below the ranking minimum (``rank`` None),
    most responses first."""
    if not names:
        return []
    # The zones in one look-up: one per branch was most of a cached 50-branch ranking's time.
    moment = filters.now()
    zones = _zones(db, tuple(names))
    periods = tuple((name, *_period_in(where, args, DEFAULT_DAYS, moment)) for name, where in zones.items())
    return _field(db, periods, filters.min_responses(args))


@cached
def _field(db: Database, periods: tuple[tuple[str, date, date], ...], minimum: int) -> list[dict[str, Any]]:
    by_branch = {name: (start, stop) for name, start, stop in periods}
    field = scores.field(db, "employee", periods=by_branch, min_responses=minimum, reader=history.fetch)
    rows = [r for r in field if r.get("employee")]
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["responses"], str(r["employee"])))
    known = hub_roster.employee_names(db) if db["employees"].exists() else {}
    return [flat(r, name=known.get(r["employee"], "")) for r in rows]


def flat(row: dict[str, Any], **more: Any) -> dict[str, Any]:
    """Nested counts and flags spread into columns, so a row is one table or CSV line."""
    out = {k: v for k, v in row.items() if k not in ("counts", "flagged")}
    for button, n in (row.get("counts") or {}).items():
        out[f"n{button}"] = n
    out["flagged"] = (row.get("flagged") or {}).get("total", 0)
    out.update(more)
    return out


def employee(db: Database, branch: str, employee_id: str, args: dict[str, str] | None = None) -> dict[str, Any] | None:
    """One employee's figures in ``branch``; None if nobody of that id worked there."""
    args = args or {}
    start, stop = _period(db, branch, args, EMPLOYEE_DAYS)
    summary = scores.total(db, branch=branch, employee=employee_id, start=start, end=stop)
    on_roster = None
    if db["employees"].exists():
        try:
            on_roster = hub_roster.get_employee(db, employee_id)
        except hub_roster.RosterError:
            on_roster = None
    if on_roster is None and summary["responses"] == 0 and summary["flagged"]["total"] == 0:
        return None
    if on_roster is not None and on_roster["branch"] != branch and summary["responses"] == 0:
        return None
    first = filters.first_weekday(args)
    weekly = scores.series(db, "week", branch=branch, employee=employee_id, start=start, end=stop, first_weekday=first)
    return {
        "branch": branch,
        "employee": employee_id,
        "name": (on_roster or {}).get("name", ""),
        "from": start.isoformat(),
        "to": (stop - timedelta(days=1)).isoformat(),
        "days": (stop - start).days,
        "summary": summary,
        "series": weekly,
    }


# --- alerts (hub.alerts) ------------------------------------------------------------


def alerts(db: Database, names: Sequence[str], state: str = "live") -> list[dict[str, Any]]:
    return _alerts(db, tuple(names), filters.alert_state(state))


@cached
def _alerts(db: Database, names: tuple[str, ...], state: str) -> list[dict[str, Any]]:
    # Asked by every open page's live stream after each commit: once per change, not once per page.
    rows: list[dict[str, Any]] = []
    for name in names:
        rows.extend(hub_alerts.list_alerts(db, branch=name, state=None if state == "all" else state))
    rows.sort(key=lambda r: r["opened_at"], reverse=True)
    for row in rows:
        row["delivered"] = {redact_urls(k): redact_urls(str(v)) for k, v in (row.get("delivered") or {}).items()}
    return rows


# A URL, up to the next blank or quote.
_URL = re.compile(r"""[a-z][a-z0-9+.-]*://[^\s'"]*""", re.I)


def redact_urls(text: str) -> str:
    """Text with every URL cut as hub.notify.redact cuts a webhook's: scheme and host only.

    A webhook's path is its secret (Slack, Teams and most others put the key there), and the
    alerts' delivery results name each webhook, failures quoting it again (older rows in full):
    the dashboard shows them to managers, so only the admin's channel list (``otklik alerts
    channel list``, on the hub) shows the URL.
    """
    return _URL.sub(lambda m: redact(m[0]), text)


# --- roster (hub.roster) ---------------------------------------------------------------


def roster(db: Database, names: Sequence[str] | None) -> list[dict[str, Any]]:
    """The employees of ``names`` (None: everyone on the roster)."""
    if names is None:
        return hub_roster.list_employees(db)
    return [r for b in names for r in hub_roster.list_employees(db, b)]


def shifts(db: Database, names: Sequence[str], args: dict[str, str]) -> list[dict[str, Any]]:
    """Shifts overlapping the period, times in each branch's local time (as the CSV import takes them)."""
    first, last = shift_period(db, names, args)
    people = hub_roster.employee_names(db)
    rows: list[dict[str, Any]] = []
    for name in names:
        zone = hub_branches.get(db, name).zone
        start = format_ts(datetime.combine(first, time(), zone))
        end = format_ts(datetime.combine(last + timedelta(days=1), time(), zone))
        rows.extend(_shift_row(s, zone, people) for s in hub_roster.list_shifts(db, branch=name, start=start, end=end))
    return rows


def shift_period(db: Database, names: Sequence[str], args: dict[str, str]) -> tuple[date, date]:
    """[from, to] local dates of the shifts shown, by default around the branches' (latest) today."""
    return filters.shift_period(args, latest_today(db, names))


def shift_row(db: Database, found: hub_roster.Shift) -> dict[str, Any]:
    """One shift as the table shows it."""
    return _shift_row(found, hub_branches.get(db, found.branch).zone, hub_roster.employee_names(db))


def _shift_row(shift: hub_roster.Shift, zone: ZoneInfo, people: dict[str, str]) -> dict[str, Any]:
    return {
        "id": shift.id,
        "employee": shift.employee,
        "name": people.get(shift.employee, ""),
        "branch": shift.branch,
        "kiosk": shift.kiosk,
        "start": local_minute(shift.start, zone),
        "end": local_minute(shift.end, zone),
        "note": shift.note,
        "timezone": zone.key,
        "start_utc": shift.start,
        "end_utc": shift.end,
    }
