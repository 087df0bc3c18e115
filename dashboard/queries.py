"""What the dashboard shows, as plain data: one function per table or figure.

Pages, the JSON API and CSV export all call these, so they can never disagree,
and every function checks what the user may see before it reads anything.
The figures themselves come from the hub's analytics layer (hub.scores,
hub.alerts, hub.roster); nothing here computes a score.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import sqlite_utils
from flask import abort
from flask_babel import gettext as _

from dashboard import fleet as fleet_mod
from dashboard.accounts import User
from dashboard.cache import cached
from otklik.times import FAR_FUTURE, FAR_PAST, format_ts, read_ts

if TYPE_CHECKING:
    from hub.roster import RosterError, Shift

GRAINS = ("day", "week", "month")
DEFAULT_MIN_RESPONSES = 30
ALERT_STATES = ("live", "open", "acknowledged", "resolved", "all")
T = TypeVar("T")


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


def not_found(what: str = "") -> NoReturn:
    """The answer for anything the user may not see: the same as for what does not exist, so
    another branch's ids cannot be told from ids nobody has."""
    abort(404, what or _("Not found."))


def _one_branch(user: User, branch: str | None) -> str:
    if not branch:
        raise InputError("branch: choose a branch")
    if not user.can_see_branch(branch):
        not_found(_("branch '%(value)s' not found", value=branch))
    return branch


def _scores_allowed(user: User) -> None:
    if not user.sees_scores:
        abort(403)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def parse_date(value: str | None, field: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        # Only 2026-01-31: fromisoformat also takes 20260131 and 2026-W05-6, which the API does not promise.
        if not _DATE.match(value):  # type: ignore[arg-type]
            raise ValueError(value)
        day = date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{field}: {value!r} is not a date like 2026-01-31") from None
    # Periods reach a day or a week past their ends; near year 1 or 9999 that is no date at all.
    if not FAR_PAST.date() <= day < FAR_FUTURE.date():
        raise InputError(f"{field}: {value!r} is outside the years {FAR_PAST.year}-{FAR_FUTURE.year - 1}")
    return day


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
    if not (raw.isascii() and raw.strip().lstrip("-").isdigit()):  # type: ignore[union-attr]
        raise InputError(f"min_responses: {raw!r} is not a whole number")
    value = int(raw)  # type: ignore[arg-type]
    if not 0 <= value <= 100000:
        raise InputError("min_responses: use a number between 0 and 100000")
    return value


# --- fleet (the spine's registry) ---------------------------------------------


def fleet(db: sqlite_utils.Database, user: User, branch: str | None = None) -> list[dict[str, Any]]:
    if branch is not None:
        if user.role == "manager" and branch not in user.branches:
            not_found(_("branch '%(value)s' not found", value=branch))
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
    # isdigit() alone lets '²' through to int().
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 5000:
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
    from hub.notify import redact

    return _URL.sub(lambda m: redact(m[0]), text)


def alert_action(db: sqlite_utils.Database, user: User, alert_id: int, action: str, note: str) -> dict[str, Any]:
    from hub import alerts as hub_alerts

    _scores_allowed(user)
    if action not in ("ack", "resolve"):
        raise InputError(f"action: {action!r} is not ack or resolve")
    check_row_id(alert_id, "alert_id")
    row = db.execute("SELECT branch FROM alerts WHERE id = ?", [alert_id]).fetchone() if db["alerts"].exists() else None
    if row is None or not user.can_see_branch(row[0]):
        not_found(f"alert {alert_id} does not exist")
    if not isinstance(note, str):
        raise InputError("note: must be text")
    note = note.strip()
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
    return read_ts(ts).astimezone(zone).strftime(LOCAL_MINUTE)


def shift(db: sqlite_utils.Database, user: User, shift_id: int) -> dict[str, Any]:
    """One shift as the table shows it; 404 if unknown or of a branch the user may not see."""
    from hub import roster as hub_roster

    _scores_allowed(user)
    return _one_shift_row(db, _write(hub_roster.own_shift, db, shift_id, _actor(user)))


def _one_shift_row(db: sqlite_utils.Database, found: Shift) -> dict[str, Any]:
    from hub import branches
    from hub import roster as hub_roster

    return _shift_row(found, branches.get(db, found.branch).zone, hub_roster.employee_names(db))


def check_row_id(value: int, field: str) -> int:
    """A row id from a path: SQLite's integers end at 2**63 - 1, and a bigger one is a typo, not a 500."""
    if not 0 < value < 2**63:
        raise InputError(_("%(field)s: %(value)s is not an id", field=field, value=value))
    return value


def parse_shift_id(raw: Any) -> int:
    """A shift id from a form or query string."""
    text = str(raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InputError(_("shift: '%(value)s' is not a shift id", value=text))
    return int(text)


SHIFT_FIELDS = ("employee", "branch", "kiosk", "start", "end", "note")


def _actor(user: User) -> frozenset[str] | None:
    """The branches whose roster the user may change (None: all of them)."""
    _scores_allowed(user)
    return None if user.is_admin else frozenset(user.branches)


def _write(change: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one of hub.roster's writes; its refusals become the dashboard's answers, translated.

    hub.roster is the one place the rules live (ownership, the fields); the form, the JSON API
    and the CSV import all come through here to it.
    """
    from hub import roster as hub_roster

    try:
        return change(*args, **kwargs)
    except hub_roster.NotYours as exc:
        not_found(_roster_message(exc))
    except hub_roster.RosterError as exc:
        raise InputError(_roster_message(exc)) from None


def _roster_message(exc: RosterError) -> str:
    reason = _(exc.template, **exc.params)
    return reason if exc.line is None else _("line %(line)s: %(reason)s", line=exc.line, reason=reason)


def save_shift(
    db: sqlite_utils.Database, user: User, form: dict[str, Any], shift_id: int | None = None
) -> dict[str, Any]:
    """Add a shift, or change shift ``shift_id`` (a field left out of a change keeps its value)."""
    from hub import roster as hub_roster

    actor = _actor(user)
    for name in SHIFT_FIELDS:
        if form.get(name) is not None and not isinstance(form[name], str):
            raise InputError(_("%(field)s: must be text", field=name))
    given = {k: form[k] for k in SHIFT_FIELDS if form.get(k) is not None}
    if shift_id is None:
        fields = {k: "" for k in SHIFT_FIELDS} | given
        stored = _write(hub_roster.add_shift, db, **fields, actor=actor)
    else:
        check_row_id(shift_id, "shift_id")
        stored = _write(hub_roster.update_shift, db, shift_id, **given, actor=actor)
    return _one_shift_row(db, stored)


def delete_shift(db: sqlite_utils.Database, user: User, shift_id: int) -> dict[str, Any]:
    """Delete a shift; the presses it covered go back to whoever else was on shift, or nobody."""
    from hub import roster as hub_roster

    check_row_id(shift_id, "shift_id")
    return _one_shift_row(db, _write(hub_roster.remove_shift, db, shift_id, actor=_actor(user)))


def save_employee(db: sqlite_utils.Database, user: User, form: dict[str, Any]) -> dict[str, Any]:
    from hub import roster as hub_roster

    actor = _actor(user)
    for name in ("id", "name", "branch"):
        if form.get(name) is not None and not isinstance(form[name], str):
            raise InputError(_("%(field)s: must be text", field=name))
    active = str(form.get("active", "1")).lower() not in ("0", "false", "no", "off", "")
    return _write(
        hub_roster.add_employee, db, form.get("id", ""), form.get("branch", ""), form.get("name", ""), active,
        actor=actor,
    )  # fmt: skip


def import_roster(db: sqlite_utils.Database, user: User, data: bytes) -> int:
    import io

    from hub import roster as hub_roster

    actor = _actor(user)
    if len(data) > 2_000_000:
        raise InputError("file: the CSV is larger than 2 MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("file: the CSV is not UTF-8 text") from None
    try:
        counts = hub_roster.import_csv(db, io.StringIO(text, newline=""), actor=actor)
    except hub_roster.RosterError as exc:
        # The whole file is refused, whichever row and why (another branch's too): a 400 with the line and reason.
        raise InputError(_roster_message(exc)) from None
    return sum(counts.values())
