"""Alerts: rules per branch, a small state machine, and no re-firing while an alert is live.

Rules (thresholds in ``hub.branches.BranchSettings``):

- ``unhappy_share``: buttons 1+2 at or above X % of the unflagged presses of the last W
  minutes, with at least N presses (default 50 %, 15 min, 4).
- ``day_index``: the branch's index for its local today below a threshold once the day has
  enough presses (default below 40 with 20 presses; ``day_index_below`` None turns it off).
- ``kiosk_offline``: a kiosk silent, or reported offline, for longer than T minutes.
- ``backlog``: a kiosk's outbox deeper than B presses (it cannot get them out).

An alert is ``open`` -> ``acknowledged`` -> ``resolved`` (an open alert may be resolved
directly); each step records who and a note.  The dedup key is (rule, branch, kiosk): the
same condition cannot open a second alert until the first is resolved - the database's
partial unique index enforces it even with two evaluators racing.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from hub import aggregates, branches, scores
from otklik.protocol import format_ts

RULES = ("unhappy_share", "day_index", "kiosk_offline", "backlog")
STATES = ("open", "acknowledged", "resolved")
LIVE = ("open", "acknowledged")
_COLUMNS = (
    "id, rule, branch, kiosk, dedup_key, state, message, value, details, opened_at, acknowledged_at, "
    "acknowledged_by, acknowledge_note, resolved_at, resolved_by, resolve_note, delivered"
)


class AlertError(ValueError):
    """An alert change that is not allowed (unknown id, wrong state, missing name)."""


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _row(r: tuple) -> dict[str, Any]:
    out = dict(zip([c.strip() for c in _COLUMNS.split(",")], r, strict=True))
    out["details"] = json.loads(out["details"] or "{}")
    out["delivered"] = json.loads(out["delivered"] or "{}")
    return out


def fire(
    db: Database,
    rule: str,
    branch: str,
    message: str,
    *,
    kiosk: str = "",
    value: float | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Open an alert unless the same (rule, branch, kiosk) is still live; returns it or None."""
    key = f"{rule}:{branch}:{kiosk}"
    try:
        with db.atomic():
            cursor = db.execute(
                "INSERT INTO alerts (rule, branch, kiosk, dedup_key, message, value, details, opened_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    rule,
                    branch,
                    kiosk,
                    key,
                    message,
                    value,
                    json.dumps(details or {}, sort_keys=True),
                    format_ts(_now(now)),
                ],
            )
    except sqlite3.IntegrityError:
        return None  # already live: the partial unique index said so
    assert cursor.lastrowid is not None  # sqlite3 sets it on every INSERT that succeeds
    return get(db, cursor.lastrowid)


def get(db: Database, alert_id: int) -> dict[str, Any]:
    row = db.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        raise AlertError(f"alert {alert_id} does not exist; see `otklik alerts list`")
    return _row(row)


def list_alerts(
    db: Database, *, branch: str | None = None, state: str | None = "live", limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts newest first; ``state`` is one of STATES, 'live' (open or acknowledged) or None (all)."""
    where, params = [], []
    if branch:
        where.append("branch = ?")
        params.append(branch)
    if state == "live":
        where.append("state != 'resolved'")
    elif state:
        if state not in STATES:
            raise AlertError(f"state {state!r} must be one of {', '.join(STATES)}, 'live' or 'all'")
        where.append("state = ?")
        params.append(state)
    sql = f"SELECT {_COLUMNS} FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
    return [_row(r) for r in db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])]


def acknowledge(db: Database, alert_id: int, who: str, note: str = "", now: datetime | None = None) -> dict[str, Any]:
    """open -> acknowledged: someone is on it."""
    if not who.strip():
        raise AlertError("acknowledging an alert needs the name of who does it")
    with db.atomic():
        alert = get(db, alert_id)
        if alert["state"] != "open":
            raise AlertError(f"alert {alert_id} is {alert['state']}; only an open alert can be acknowledged")
        db.execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, acknowledge_note = ? "
            "WHERE id = ?",
            [format_ts(_now(now)), who.strip(), note, alert_id],
        )
    return get(db, alert_id)


def resolve(db: Database, alert_id: int, who: str, note: str = "", now: datetime | None = None) -> dict[str, Any]:
    """open/acknowledged -> resolved; the rule may fire again afterwards."""
    if not who.strip():
        raise AlertError("resolving an alert needs the name of who does it")
    with db.atomic():
        alert = get(db, alert_id)
        if alert["state"] == "resolved":
            raise AlertError(f"alert {alert_id} is already resolved (by {alert['resolved_by']})")
        db.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_by = ?, resolve_note = ? WHERE id = ?",
            [format_ts(_now(now)), who.strip(), note, alert_id],
        )
    return get(db, alert_id)


def mark_delivered(db: Database, alert_id: int, results: dict[str, str]) -> None:
    with db.atomic():
        alert = get(db, alert_id)
        alert["delivered"].update(results)
        db.execute("UPDATE alerts SET delivered = ? WHERE id = ?", [json.dumps(alert["delivered"]), alert_id])


# --- rules -------------------------------------------------------------------------


def _all_branches(db: Database) -> list[str]:
    names = set(branches.known_branches(db))
    if db["kiosks"].exists():
        names.update(r[0] for r in db.execute("SELECT DISTINCT branch FROM kiosks"))
    return sorted(names)


def evaluate(db: Database, now: datetime | None = None, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Check every rule of every branch (or ``only`` these); return the alerts newly opened."""
    moment = _now(now)
    opened: list[dict[str, Any]] = []
    for branch in only or _all_branches(db):
        settings = branches.get(db, branch)
        for found in (
            _unhappy(db, settings, moment),
            _day_index(db, settings, moment),
            *_kiosks(db, settings, moment),
        ):
            if found:
                alert = fire(db, found.pop("rule"), branch, now=moment, **found)
                if alert:
                    opened.append(alert)
    return opened


def _unhappy(db: Database, s: branches.BranchSettings, now: datetime) -> dict[str, Any] | None:
    kiosks = aggregates.branch_kiosks(db, s.branch)
    if not kiosks or s.unhappy_window_min <= 0:
        return None
    since = format_ts(now - timedelta(minutes=s.unhappy_window_min))
    marks = ", ".join("?" * len(kiosks))
    n, unhappy = db.execute(
        f"SELECT count(*), COALESCE(SUM(score <= 2), 0) FROM events WHERE branch = ? AND kiosk IN ({marks}) "
        "AND ts > ? AND ts <= ? AND flags = ''",
        [s.branch, *kiosks, since, format_ts(now)],
    ).fetchone()
    if n < max(1, s.unhappy_min_responses) or unhappy * 100 < s.unhappy_share_pct * n:
        return None
    share = 100 * unhappy / n
    return {
        "rule": "unhappy_share",
        "message": f"{s.branch}: {share:.0f}% unhappy ({unhappy} of {n} presses) in the last "
        f"{s.unhappy_window_min} min (limit {s.unhappy_share_pct:g}%)",
        "value": round(share, 1),
        "details": {"responses": n, "unhappy": unhappy, "window_min": s.unhappy_window_min},
    }


def _day_index(db: Database, s: branches.BranchSettings, now: datetime) -> dict[str, Any] | None:
    if s.day_index_below is None:
        return None
    today = scores.local_today(s.timezone, now)
    summary = scores.total(db, branch=s.branch, start=today, end=today + timedelta(days=1))
    if summary["responses"] < max(1, s.day_min_responses) or summary["index"] >= s.day_index_below:
        return None
    return {
        "rule": "day_index",
        "message": f"{s.branch}: today's index is {summary['index']:.1f} over {summary['responses']} presses "
        f"(alert below {s.day_index_below:g})",
        "value": summary["index"],
        "details": {"date": today.isoformat(), "responses": summary["responses"]},
    }


def _kiosks(db: Database, s: branches.BranchSettings, now: datetime) -> list[dict[str, Any]]:
    if not db["kiosks"].exists():
        return []
    found = []
    limit = format_ts(now - timedelta(minutes=s.offline_after_min))
    for kiosk, state, state_at, last_seen, depth in db.execute(
        "SELECT kiosk, state, state_at, last_seen, outbox_depth FROM kiosks WHERE branch = ?", [s.branch]
    ):
        silent = last_seen < limit
        offline = state == "offline" and (state_at or last_seen) < limit
        if silent or offline:
            since = state_at if offline and state_at else last_seen
            found.append(
                {
                    "rule": "kiosk_offline",
                    "kiosk": kiosk,
                    "message": f"{s.branch}/{kiosk}: {'offline' if offline else 'silent'} since {since} "
                    f"(more than {s.offline_after_min:g} min)",
                    "details": {"state": state, "last_seen": last_seen, "state_at": state_at},
                }
            )
        if depth is not None and depth > s.backlog_above:
            found.append(
                {
                    "rule": "backlog",
                    "kiosk": kiosk,
                    "message": f"{s.branch}/{kiosk}: {depth} presses waiting in the outbox (limit {s.backlog_above})",
                    "value": depth,
                    "details": {"outbox_depth": depth},
                }
            )
    return found
