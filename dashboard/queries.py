"""What the dashboard shows, as plain data: one function per table or figure.

Pages, the JSON API and CSV export all call these, so they can never disagree,
and every function checks what the user may see before it reads anything.
The figures themselves come from the hub's analytics layer (hub.scores,
hub.alerts, hub.roster); nothing here computes a score.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import abort
from flask_babel import gettext as _

from dashboard import fleet as fleet_mod
from dashboard.accounts import User
from dashboard.cache import cached
from otklik.protocol import format_ts

if TYPE_CHECKING:
    from hub.roster import Shift

GRAINS = ("day", "week", "month")
DEFAULT_MIN_RESPONSES = 30
ALERT_STATES = ("live", "open", "acknowledged", "resolved", "all")


class InputError(ValueError):
    """Bad input from a form or a query string; the text names the field and the reason."""


def _now() -> datetime:
    return datetime.now(UTC)


def my_branches(user: User, db: sqlite_utils.Database | None = None) -> list[str]:
    if user.role == "manager":
        return list(user.branches)
    if db is None:
        return []
    return fleet_mod.all_branches(db)


def visible_branches(db: sqlite_utils.Database, user: User) -> list[str]:
    if user.role == "manager":
        return list(user.branches)
    return fleet_mod.all_branches(db)


def _one_branch(user: User, branch: str | None) -> str:
    if not branch:
        raise InputError("branch: choose a branch")
    if not user.can_see_branch(branch):
        abort(403)
    return branch


def _scores_allowed(user: User) -> None:
    if not user.sees_scores:
        abort(403)


def parse_date(value: str | None, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)  # type: ignore[arg-type]
    except ValueError:
        raise InputError(f"{field}: {value!r} is not a date like 2026-01-31") from None


def period(args: dict[str, str], default_days: int = 30) -> tuple[date, date]:
    """[from, to] inclusive local dates from ?from=&to=, default the last ``default_days``."""
    end = parse_date(args.get("to"), "to") or _now().date()
    start = parse_date(args.get("from"), "from") or end - timedelta(days=default_days - 1)
    if start > end:
        raise InputError("from: the start date is after the end date")
    if (end - start).days > 3660:
        raise InputError("from: the period is longer than ten years")
    return start, end


def min_responses(args: dict[str, str]) -> int:
    raw = args.get("min_responses")
    if raw in (None, ""):
        return DEFAULT_MIN_RESPONSES
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise InputError(f"min_responses: {raw!r} is not a whole number") from None
    if not 0 <= value <= 100000:
        raise InputError("min_responses: use a number between 0 and 100000")
    return value


# --- fleet (the spine's registry) ---------------------------------------------


def fleet(db: sqlite_utils.Database, user: User, branch: str | None = None) -> list[dict[str, Any]]:
    if branch is not None:
        if user.role == "manager" and branch not in user.branches:
            abort(403)
        return fleet_mod.fleet(db, [branch])
    # Admins and technicians look after every kiosk; a manager only their branches'.
    return fleet_mod.fleet(db, list(user.branches) if user.role == "manager" else None)


# --- scores (hub.scores) ---------------------------------------------------------


def overview(db: sqlite_utils.Database, user: User) -> list[dict[str, Any]]:
    _scores_allowed(user)
    return _overview(db, tuple(visible_branches(db, user)))


@cached
def _overview(db: sqlite_utils.Database, names: tuple[str, ...]) -> list[dict[str, Any]]:
    from hub import scores

    if not names:
        return []
    rows = scores.overview(db, list(names))
    _add_trend_and_rate(db, rows)
    for row in rows:
        row["week"] = row.get("last_7_days") or {}
        row["month"] = row.get("last_30_days") or {}
    return rows


def _add_trend_and_rate(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> None:
    """``trend``: last 7 days' index minus the 7 days before; ``response_rate``: presses per camera visitor.

    Branches whose local date is the same are read together: a few queries, not two per branch.
    """
    from hub import scores
    from hub.analytics_schema import COUNT_COLUMNS

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
            for r in scores.fetch(db, ["branch"], branch=names, start=week_start - timedelta(days=7), end=week_start)
        }
        visitors: dict[str, int] = {}
        for cam in scores.camera(db, branch=names, start=week_start, end=date.fromisoformat(today) + timedelta(days=1)):
            visitors[cam["branch"]] = visitors.get(cam["branch"], 0) + (cam["visitors"] or 0)
        for row in members:
            week = row.get("last_7_days") or {}
            prev = before.get(row["branch"], scores.summarize([0] * len(COUNT_COLUMNS)))
            if week.get("index") is not None and prev["index"] is not None:
                row["trend"] = round(week["index"] - prev["index"], 1)
            if visitors.get(row["branch"]):
                row["response_rate"] = round(week.get("responses", 0) / visitors[row["branch"]], 4)


def branch_summary(db: sqlite_utils.Database, user: User, branch: str) -> dict[str, Any]:
    _scores_allowed(user)
    _one_branch(user, branch)
    rows = _overview(db, (branch,))
    return rows[0] if rows else {"branch": branch}


def series(db: sqlite_utils.Database, user: User, branch: str, args: dict[str, str]) -> list[dict[str, Any]]:

    _scores_allowed(user)
    _one_branch(user, branch)
    grain = args.get("by", "day")
    if grain not in GRAINS:
        raise InputError(f"by: {grain!r} is not one of {', '.join(GRAINS)}")
    start, end = period(args, {"day": 30, "week": 7 * 26, "month": 366}[grain])
    return _series(db, grain, branch, start, end + timedelta(days=1))


@cached
def _series(db: sqlite_utils.Database, grain: str, branch: str, start: date, stop: date) -> list[dict[str, Any]]:
    from hub import scores

    return scores.series(db, grain, branch=branch, start=start, end=stop)


def heatmap(db: sqlite_utils.Database, user: User, branch: str, args: dict[str, str]) -> list[dict[str, Any]]:

    _scores_allowed(user)
    _one_branch(user, branch)
    start, end = period(args, 90)
    return _heatmap(db, branch, start, end + timedelta(days=1))


@cached
def _heatmap(db: sqlite_utils.Database, branch: str, start: date, stop: date) -> list[dict[str, Any]]:
    from hub import scores

    return scores.heatmap(db, branch=branch, start=start, end=stop)


def flagged(db: sqlite_utils.Database, user: User, branch: str, args: dict[str, str]) -> list[dict[str, Any]]:
    """The latest flagged presses of a branch: kept and shown, left out of scores."""
    _scores_allowed(user)
    _one_branch(user, branch)
    start, end = period(args, 30)
    raw = args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 5000:
        raise InputError("limit: use a whole number between 1 and 5000")
    return list(
        db.query(
            "SELECT id, branch, kiosk, seq, ts, score, employee, flags FROM events "
            "WHERE branch = ? AND ts >= ? AND ts < ? AND flags != '' ORDER BY ts DESC LIMIT ?",
            [branch, start.isoformat(), (end + timedelta(days=1)).isoformat(), int(raw)],
        )
    )


def ranking(db: sqlite_utils.Database, user: User, args: dict[str, str]) -> list[dict[str, Any]]:

    _scores_allowed(user)
    branch = args.get("branch") or None
    names = [_one_branch(user, branch)] if branch else visible_branches(db, user)
    if not names:
        return []
    start, end = period(args, 30)
    return _ranking(db, tuple(names), start, end + timedelta(days=1), min_responses(args))


@cached
def _ranking(
    db: sqlite_utils.Database, names: tuple[str, ...], start: date, stop: date, minimum: int
) -> list[dict[str, Any]]:
    from hub import roster, scores

    rows = scores.ranking(db, "employee", branch=list(names), start=start, end=stop, min_responses=minimum)
    known = roster.employee_names(db) if db["employees"].exists() else {}
    return [_flat(r, name=known.get(r["employee"], "")) for r in rows]


def _flat(row: dict[str, Any], **more: Any) -> dict[str, Any]:
    """Nested counts and flags spread into columns, so a row is one CSV line."""
    out = {k: v for k, v in row.items() if k not in ("counts", "flagged")}
    for button, n in (row.get("counts") or {}).items():
        out[f"n{button}"] = n
    out["flagged"] = (row.get("flagged") or {}).get("total", 0)
    out.update(more)
    return out


def employee(
    db: sqlite_utils.Database, user: User, branch: str, employee_id: str, args: dict[str, str] | None = None
) -> dict[str, Any] | None:
    from hub import roster, scores

    _scores_allowed(user)
    _one_branch(user, branch)
    args = args or {}
    start, end = period(args, 90)
    stop = end + timedelta(days=1)
    summary = scores.total(db, branch=branch, employee=employee_id, start=start, end=stop)
    on_roster = None
    if db["employees"].exists():
        try:
            on_roster = roster.get_employee(db, employee_id)
        except roster.RosterError:
            on_roster = None
    if on_roster is None and summary["responses"] == 0 and summary["flagged"]["total"] == 0:
        return None
    if on_roster is not None and on_roster["branch"] != branch and summary["responses"] == 0:
        return None
    weekly = scores.series(db, "week", branch=branch, employee=employee_id, start=start, end=stop)
    return {
        "branch": branch,
        "employee": employee_id,
        "name": (on_roster or {}).get("name", ""),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "summary": summary,
        "series": weekly,
    }


# --- tables for export ------------------------------------------------------------

EXPORTABLE = ("overview", "fleet", "employees", "series", "heatmap", "flagged", "alerts", "roster", "shifts")


def table(db: sqlite_utils.Database, user: User, view: str, args: dict[str, str]) -> list[dict[str, Any]]:
    """Any table a page shows, as flat rows for CSV, with the same filters and permissions."""
    if view not in EXPORTABLE:
        raise InputError(f"view: {view!r} is not one of {', '.join(EXPORTABLE)}")
    if view == "fleet":
        return fleet(db, user, branch=args.get("branch") or None)
    _scores_allowed(user)
    if view == "overview":
        return [
            {
                "branch": r["branch"],
                "date": r.get("date"),
                **{f"today_{k}": v for k, v in _flat(r["today"]).items()},
                **{f"week_{k}": v for k, v in _flat(r["last_7_days"]).items()},
                "trend": r.get("trend"),
                "response_rate": r.get("response_rate"),
                "open_alerts": r.get("open_alerts"),
            }
            for r in overview(db, user)
        ]
    if view == "employees":
        return ranking(db, user, args)
    if view == "alerts":
        return alerts(db, user, args.get("state", "all"))
    if view == "roster":
        return roster(db, user)
    if view == "shifts":
        return shifts(db, user, args)
    branch = _one_branch(user, args.get("branch"))
    if view == "series":
        return [_flat(r) for r in series(db, user, branch, args)]
    if view == "heatmap":
        return [_flat(r) for r in heatmap(db, user, branch, args)]
    return flagged(db, user, branch, args)


# --- alerts (hub.alerts) ------------------------------------------------------------


def alerts(db: sqlite_utils.Database, user: User, state: str = "live") -> list[dict[str, Any]]:
    _scores_allowed(user)
    if state not in ALERT_STATES:
        raise InputError(f"state: {state!r} is not one of {', '.join(ALERT_STATES)}")
    from hub import alerts as hub_alerts

    names = visible_branches(db, user)
    rows: list[dict[str, Any]] = []
    for name in names:
        rows.extend(hub_alerts.list_alerts(db, branch=name, state=None if state == "all" else state))
    rows.sort(key=lambda r: r["opened_at"], reverse=True)
    return rows


def alert_action(db: sqlite_utils.Database, user: User, alert_id: int, action: str, note: str) -> dict[str, Any]:
    from hub import alerts as hub_alerts

    _scores_allowed(user)
    if action not in ("ack", "resolve"):
        raise InputError(f"action: {action!r} is not ack or resolve")
    row = db.execute("SELECT branch FROM alerts WHERE id = ?", [alert_id]).fetchone() if db["alerts"].exists() else None
    if row is None:
        abort(404, f"alert {alert_id} does not exist")
    _one_branch(user, row[0])
    note = (note or "").strip()
    if len(note) > 2000:
        raise InputError("note: keep it under 2000 characters")
    if action == "resolve" and not note:
        raise InputError("note: say how the alert was resolved")
    try:
        if action == "ack":
            result = hub_alerts.acknowledge(db, alert_id, who=user.username, note=note)
        else:
            result = hub_alerts.resolve(db, alert_id, who=user.username, note=note)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return result if isinstance(result, dict) else {"id": alert_id, "action": action}


# --- roster (hub.roster) ---------------------------------------------------------------


def roster(db: sqlite_utils.Database, user: User) -> list[dict[str, Any]]:
    from hub import roster as hub_roster

    _scores_allowed(user)
    if user.role == "manager":
        return [r for b in user.branches for r in hub_roster.list_employees(db, b)]
    return hub_roster.list_employees(db)


SHIFT_DAYS_BACK = 7
SHIFT_DAYS_AHEAD = 14
# Longer than a day is a mistyped date, not a shift: it would silently take over a day's presses.
MAX_SHIFT_HOURS = 24
MAX_NOTE = 500
LOCAL_MINUTE = "%Y-%m-%d %H:%M"


def shift_period(args: dict[str, str]) -> tuple[date, date]:
    """[from, to] local dates of the shifts shown: by default a week back and two weeks ahead."""
    start = parse_date(args.get("from"), "from")
    end = parse_date(args.get("to"), "to")
    span = timedelta(days=SHIFT_DAYS_BACK + SHIFT_DAYS_AHEAD)
    if start is None:
        start = end - span if end else _now().date() - timedelta(days=SHIFT_DAYS_BACK)
    if end is None:
        end = start + span
    # period() holds the checks every page shares (order, length).
    return period({"from": start.isoformat(), "to": end.isoformat()})


def shifts(db: sqlite_utils.Database, user: User, args: dict[str, str]) -> list[dict[str, Any]]:
    """Shifts overlapping the period, times in each branch's local time (as the CSV import takes them)."""
    from hub import branches
    from hub import roster as hub_roster

    _scores_allowed(user)
    branch = args.get("branch") or None
    names = [_one_branch(user, branch)] if branch else visible_branches(db, user)
    first, last = shift_period(args)
    people = hub_roster.employee_names(db)
    rows: list[dict[str, Any]] = []
    for name in names:
        zone = branches.get(db, name).zone
        start = format_ts(datetime.combine(first, time(), zone))
        end = format_ts(datetime.combine(last + timedelta(days=1), time(), zone))
        rows.extend(_shift_row(s, zone, people) for s in hub_roster.list_shifts(db, branch=name, start=start, end=end))
    return rows


def _shift_row(shift: Shift, zone: ZoneInfo, people: dict[str, str]) -> dict[str, Any]:
    return {
        "id": shift.id,
        "employee": shift.employee,
        "name": people.get(shift.employee, ""),
        "branch": shift.branch,
        "kiosk": shift.kiosk,
        "start": _local(shift.start, zone),
        "end": _local(shift.end, zone),
        "note": shift.note,
        "timezone": zone.key,
        "start_utc": shift.start,
        "end_utc": shift.end,
    }


def _local(ts: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(ts).astimezone(zone).strftime(LOCAL_MINUTE)


def shift(db: sqlite_utils.Database, user: User, shift_id: int) -> dict[str, Any]:
    """One shift as the table shows it; 404 if unknown, 403 if of another branch."""
    _scores_allowed(user)
    return _one_shift_row(db, _own_shift(db, user, shift_id))


def _one_shift_row(db: sqlite_utils.Database, found: Shift) -> dict[str, Any]:
    from hub import branches
    from hub import roster as hub_roster

    return _shift_row(found, branches.get(db, found.branch).zone, hub_roster.employee_names(db))


def _own_shift(db: sqlite_utils.Database, user: User, shift_id: int) -> Shift:
    from hub import roster as hub_roster

    try:
        found = hub_roster.get_shift(db, shift_id)
    except hub_roster.RosterError:
        abort(404, _("shift %(id)s does not exist", id=shift_id))
    _one_branch(user, found.branch)
    return found


def parse_shift_id(raw: Any) -> int:
    """A shift id from a form or query string."""
    text = str(raw or "").strip()
    if not text.isdigit() or len(text) > 18:
        raise InputError(_("shift: '%(value)s' is not a shift id", value=text))
    return int(text)


SHIFT_FIELDS = ("employee", "branch", "kiosk", "start", "end", "note")


def save_shift(
    db: sqlite_utils.Database, user: User, form: dict[str, Any], shift_id: int | None = None
) -> dict[str, Any]:
    """Add a shift, or change shift ``shift_id``; every field is checked before anything is written.

    A field left out of an update keeps its value (the JSON API may send only what changes).
    """
    from hub import roster as hub_roster

    _scores_allowed(user)
    given = {k: str(form[k]).strip() for k in SHIFT_FIELDS if form.get(k) is not None}
    old = None if shift_id is None else _own_shift(db, user, shift_id)
    values = {k: "" for k in SHIFT_FIELDS} if old is None else _stored_values(old)
    values.update(given)
    clean = _checked_shift(db, user, values, old)
    try:
        if old is None:
            stored = hub_roster.add_shift(db, **clean)
        else:
            clean.pop("branch")
            stored = hub_roster.update_shift(db, old.id, **clean)
    except hub_roster.RosterError as exc:
        raise InputError(str(exc)) from None
    return _one_shift_row(db, stored)


def delete_shift(db: sqlite_utils.Database, user: User, shift_id: int) -> dict[str, Any]:
    """Delete a shift; the presses it covered go back to whoever else was on shift, or nobody."""
    from hub import roster as hub_roster

    _scores_allowed(user)
    row = _one_shift_row(db, _own_shift(db, user, shift_id))
    hub_roster.remove_shift(db, shift_id)
    return row


def _stored_values(old: Shift) -> dict[str, str]:
    # Stored UTC timestamps parse as aware times, so an untouched start/end is kept to the millisecond.
    return {k: getattr(old, k) for k in SHIFT_FIELDS}


def _checked_shift(db: sqlite_utils.Database, user: User, values: dict[str, str], old: Shift | None) -> dict[str, Any]:
    """The shift's fields ready for hub.roster, or InputError naming the first bad one.

    Employee and kiosk are checked against the roster and the kiosk registry only when they
    change: a shift recorded before someone moved branch must still be correctable.
    """
    from hub import branches

    branch = _shift_branch(db, user, values["branch"], old)
    if old is None or values["employee"] != old.employee:
        _check_shift_employee(db, branch, values["employee"])
    if values["kiosk"] and (old is None or values["kiosk"] != old.kiosk):
        _check_shift_kiosk(db, branch, values["kiosk"])
    zone = branches.get(db, branch).zone
    start = _shift_time(values["start"], "start", zone)
    end = _shift_time(values["end"], "end", zone)
    if end <= start:
        raise InputError(_("end: the shift must end after it starts"))
    if end - start > timedelta(hours=MAX_SHIFT_HOURS):
        raise InputError(_("end: a shift cannot be longer than %(hours)s hours", hours=MAX_SHIFT_HOURS))
    if len(values["note"]) > MAX_NOTE:
        raise InputError(_("note: keep it under %(n)s characters", n=MAX_NOTE))
    return {**values, "branch": branch, "start": start, "end": end}


def _shift_branch(db: sqlite_utils.Database, user: User, branch: str, old: Shift | None) -> str:
    if not branch:
        raise InputError(_("branch: choose the shift's branch"))
    _one_branch(user, branch)
    if old is not None and branch != old.branch:
        raise InputError(_("branch: a shift stays in its branch; delete it and add a new one there"))
    if branch not in fleet_mod.all_branches(db):
        raise InputError(_("branch: '%(value)s' is not a known branch", value=branch))
    return branch


def _check_shift_employee(db: sqlite_utils.Database, branch: str, employee_id: str) -> None:
    # A typo here would not fail later: the shift would silently credit presses to an id nobody has.
    from hub import roster as hub_roster

    if not employee_id:
        raise InputError(_("employee: choose an employee"))
    try:
        found = hub_roster.get_employee(db, employee_id)
    except hub_roster.RosterError:
        raise InputError(_("employee: '%(value)s' is not on the roster; add them first", value=employee_id)) from None
    if found["branch"] != branch:
        raise InputError(
            _(
                "employee: %(value)s works at %(home)s, not %(branch)s",
                value=employee_id,
                home=found["branch"],
                branch=branch,
            )
        )


def _check_shift_kiosk(db: sqlite_utils.Database, branch: str, kiosk: str) -> None:
    # Kiosks register themselves with their first message; one the hub never heard of is a typo.
    from hub import aggregates

    known = aggregates.branch_kiosks(db, branch)
    if kiosk not in known:
        raise InputError(
            _(
                "kiosk: '%(value)s' is not a kiosk of %(branch)s (known: %(known)s); leave it empty for all of them",
                value=kiosk,
                branch=branch,
                known=", ".join(known) or "-",
            )
        )


def _shift_time(value: str, field: str, zone: ZoneInfo) -> datetime:
    """An aware time; a naive one is the branch's wall-clock time (what <input type=datetime-local> sends)."""
    if not value:
        raise InputError(_("%(field)s: give a time like 2026-11-22 09:00", field=field))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            _("%(field)s: '%(value)s' is not a time like 2026-11-22 09:00", field=field, value=value)
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def save_employee(db: sqlite_utils.Database, user: User, form: dict[str, Any]) -> dict[str, Any]:
    from hub import roster as hub_roster

    _scores_allowed(user)
    employee_id = str(form.get("id", "")).strip()
    branch = str(form.get("branch", "")).strip()
    name = str(form.get("name", "")).strip()
    if not employee_id:
        raise InputError("id: give the employee an id (e.g. e17)")
    if not branch:
        raise InputError("branch: choose the employee's branch")
    if len(name) > 200:
        raise InputError("name: keep it under 200 characters")
    _one_branch(user, branch)
    active = str(form.get("active", "1")).lower() not in ("0", "false", "no", "off", "")
    try:
        existing = hub_roster.get_employee(db, employee_id)
    except hub_roster.RosterError:
        existing = None
    if existing is not None and not user.can_see_branch(existing["branch"]):
        # Moving someone out of a branch the manager does not run is not theirs to do.
        abort(403)
    try:
        return hub_roster.add_employee(db, employee_id, branch, name, active)
    except hub_roster.RosterError as exc:
        raise InputError(str(exc)) from None


def import_roster(db: sqlite_utils.Database, user: User, data: bytes) -> int:
    import csv
    import io

    from hub import roster as hub_roster

    _scores_allowed(user)
    if len(data) > 2_000_000:
        raise InputError("file: the CSV is larger than 2 MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("file: the CSV is not UTF-8 text") from None
    # Check every row's branch before anything is written: all rows or none.
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        branch = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}.get("branch", "")
        if branch and not user.can_see_branch(branch):
            raise InputError(f"line {line}: branch {branch!r} is not one of yours")
    try:
        counts = hub_roster.import_csv(db, io.StringIO(text))
    except hub_roster.RosterError as exc:
        raise InputError(str(exc)) from None
    return sum(counts.values())
