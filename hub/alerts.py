"""Alerts: rules per branch, a small state machine, and no re-firing while an alert is live.

Rules (thresholds in ``hub.branches.BranchSettings``):

- ``unhappy_share``: buttons 1+2 at or above X % of the unflagged presses of the last W
  minutes, with at least N presses (default 50 %, 15 min, 4).
- ``day_index``: the branch's index for its local today below a threshold once the day has
  enough presses (default below 40 with 20 presses; ``day_index_below`` None turns it off).
- ``kiosk_offline``: a kiosk silent, or reported offline, for longer than T minutes.
- ``backlog``: a kiosk's outbox deeper than B presses (it cannot get them out).
- ``unhappy_change``: per branch and per kiosk, the last W minutes' unhappy share against that
  branch's (kiosk's) own baseline for the same hours of the week over the past weeks; fires only
  when a rise this large is unlikely to be chance (see ``change_pvalue``).
- ``good_hour``: the same test on the very-happy share, upward (off by default).
- ``kiosk_silent``: a kiosk that is online (heartbeats arrive) but has had no press for a while
  during opening hours, where its own past weeks had presses then or its camera saw visitors:
  turned to the wall, buttons unplugged or broken.

Every evaluation of a branch also looks at its live alerts: one whose condition has been gone
for ``auto_resolve_min`` is resolved by ``auto``.

An alert is ``open`` -> ``acknowledged`` -> ``resolved`` (an open alert may be resolved
directly); each step records who and a note.  The dedup key is (rule, branch, kiosk): the
same condition cannot open a second alert until the first is resolved - the database's
partial unique index enforces it even with two evaluators racing.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub import alert_text, answers, branches, scores, store
from hub.store import Database
from otklik.errors import OtklikError
from otklik.times import format_ts, local_today, read_ts

RULES = ("unhappy_share", "day_index", "kiosk_offline", "backlog", "unhappy_change", "good_hour", "kiosk_silent")
STATES = ("open", "acknowledged", "resolved")
MOSTLY_MIN = 2  # presses naming one reason before an unhappy-share alert says it is "mostly" that
LIVE = ("open", "acknowledged")
_COLUMNS = (
    "id, rule, branch, kiosk, dedup_key, state, message, value, details, opened_at, acknowledged_at, "
    "acknowledged_by, acknowledge_note, resolved_at, resolved_by, resolve_note, delivered, params, cleared_at"
)


class AlertError(OtklikError, ValueError):
    """An alert change that is not allowed (unknown id, wrong state, missing name)."""


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _row(r: tuple) -> dict[str, Any]:
    out = dict(zip([c.strip() for c in _COLUMNS.split(",")], r, strict=True))
    out["details"] = json.loads(out["details"] or "{}")
    out["delivered"] = json.loads(out["delivered"] or "{}")
    out["params"] = json.loads(out["params"] or "{}")
    return out


def fire(
    db: Database,
    rule: str,
    branch: str,
    message: str = "",
    *,
    kiosk: str = "",
    value: float | None = None,
    details: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Open an alert unless the same (rule, branch, kiosk) is still live; returns it or None.

    ``params`` fill the rule's text in ``hub.alert_text`` (any language); ``message`` defaults
    to its English rendering, kept for exports.
    """
    key = f"{rule}:{branch}:{kiosk}"
    params = params or {}
    if not message:
        message = alert_text.render({"rule": rule, "branch": branch, "kiosk": kiosk, "params": params}, "en")
    try:
        with db.atomic():
            cursor = db.execute(
                "INSERT INTO alerts (rule, branch, kiosk, dedup_key, message, value, details, params, opened_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [
                    rule,
                    branch,
                    kiosk,
                    key,
                    message,
                    value,
                    json.dumps(details or {}, sort_keys=True),
                    json.dumps(params, sort_keys=True),
                    format_ts(_now(now)),
                ],
            )
            alert_id = cursor.fetchone()[0]
    except store.integrity_errors():
        return None  # already live: the partial unique index said so
    return get(db, alert_id)


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


@dataclass
class Changes:
    """What one evaluation changed: alerts newly opened and alerts resolved by ``auto``."""

    opened: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)


def evaluate(db: Database, now: datetime | None = None, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Check every rule of every branch (or ``only`` these); return the alerts newly opened."""
    return check(db, now, only).opened


def check(db: Database, now: datetime | None = None, only: list[str] | None = None) -> Changes:
    """Check every rule of every branch (or ``only`` these): open what newly holds, auto-resolve
    what has been gone for the branch's ``auto_resolve_min``."""
    moment = _now(now)
    changes = Changes()
    for branch in only or branches.known_branches(db):
        settings = branches.get(db, branch)
        found = [
            f
            for f in (
                _unhappy(db, settings, moment),
                _day_index(db, settings, moment),
                *_kiosks(db, settings, moment),
                *_change(db, settings, moment),
                *_silent(db, settings, moment),
            )
            if f
        ]
        holding = {f"{f['rule']}:{branch}:{f.get('kiosk', '')}" for f in found}
        changes.resolved.extend(_auto_resolve(db, settings, holding, moment))
        for f in found:
            alert = fire(db, f.pop("rule"), branch, now=moment, **f)
            if alert:
                changes.opened.append(alert)
    return changes


def _auto_resolve(db: Database, s: branches.BranchSettings, holding: set[str], now: datetime) -> list[dict[str, Any]]:
    """Mark when each live alert's condition was first seen gone; resolve it once gone long enough.

    A condition that comes back before then clears the mark, so a flapping rule keeps one alert.
    """
    resolved = []
    stamp = format_ts(now)
    for alert_id, key, cleared_at in db.execute(
        "SELECT id, dedup_key, cleared_at FROM alerts WHERE branch = ? AND state != 'resolved'", [s.branch]
    ).fetchall():
        if key in holding:
            if cleared_at:
                with db.atomic():
                    db.execute("UPDATE alerts SET cleared_at = NULL WHERE id = ?", [alert_id])
            continue
        if not cleared_at:
            with db.atomic():
                db.execute("UPDATE alerts SET cleared_at = ? WHERE id = ?", [stamp, alert_id])
            cleared_at = stamp
        gone = now - read_ts(cleared_at)
        if s.auto_resolve_min > 0 and gone >= timedelta(minutes=s.auto_resolve_min):
            note = f"condition cleared for {s.auto_resolve_min:g} min"
            with contextlib.suppress(AlertError):  # resolved by hand meanwhile
                resolved.append(resolve(db, alert_id, "auto", note, now=now))
    return resolved


def _unhappy(db: Database, s: branches.BranchSettings, now: datetime) -> dict[str, Any] | None:
    kiosks = branches.known_kiosks(db, s.branch)
    if not kiosks or s.unhappy_window_min <= 0:
        return None
    since = format_ts(now - timedelta(minutes=s.unhappy_window_min))
    marks = ", ".join("?" * len(kiosks))
    n, unhappy = db.execute(
        f"SELECT count(*), count(*) FILTER (WHERE score <= 2) FROM events WHERE branch = ? AND kiosk IN ({marks}) "
        "AND ts > ? AND ts <= ? AND flags = ''",
        [s.branch, *kiosks, since, format_ts(now)],
    ).fetchone()
    if n < max(1, s.unhappy_min_responses) or unhappy * 100 < s.unhappy_share_pct * n:
        return None
    share = 100 * unhappy / n
    params: dict[str, Any] = {
        "share": round(share),
        "unhappy": unhappy,
        "responses": n,
        "window_min": s.unhappy_window_min,
        "limit": s.unhappy_share_pct,
    }
    # What the shoppers who said why said most: the reason's words go into the alert as the
    # kiosks ask it now, in every language, so the text still reads once the question changes.
    top = answers.top_reason(db, s.branch, kiosks, since, format_ts(now))
    if top is not None and top[1] >= MOSTLY_MIN:
        reason, count, answered = top
        label = answers.reason_labels(db, s.branch).get(reason, {})
        params["mostly"] = {"reason": reason, "label": label, "n": count, "answered": answered}
    return {
        "rule": "unhappy_share",
        "value": round(share, 1),
        "params": params,
        "details": {"responses": n, "unhappy": unhappy, "window_min": s.unhappy_window_min},
    }


def _day_index(db: Database, s: branches.BranchSettings, now: datetime) -> dict[str, Any] | None:
    if s.day_index_below is None:
        return None
    today = local_today(s.zone, now)
    summary = scores.total(db, branch=s.branch, start=today, end=today + timedelta(days=1))
    if summary["responses"] < max(1, s.day_min_responses) or summary["index"] >= s.day_index_below:
        return None
    return {
        "rule": "day_index",
        "value": summary["index"],
        "params": {"index": float(summary["index"]), "responses": summary["responses"], "limit": s.day_index_below},
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
                    "params": {
                        "text": "kiosk_offline" if offline else "kiosk_silent_heartbeat",
                        "since": since,
                        "limit_min": s.offline_after_min,
                    },
                    "details": {"state": state, "last_seen": last_seen, "state_at": state_at},
                }
            )
        if depth is not None and depth > s.backlog_above:
            found.append(
                {
                    "rule": "backlog",
                    "kiosk": kiosk,
                    "value": depth,
                    "params": {"depth": depth, "limit": s.backlog_above},
                    "details": {"outbox_depth": depth},
                }
            )
    return found


# --- statistical rules -------------------------------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def change_pvalue(k: int, n: int, k0: float, n0: float) -> float:
    """How likely at least ``k`` of ``n`` recent presses are unhappy if nothing changed.

    "Nothing changed" is the baseline's own rate, known only as well as the baseline allows:
    ``k0`` of ``n0`` past presses, with a uniform prior, so the rate is Beta(k0 + 1, n0 - k0 + 1)
    and the recent count is beta-binomial.  A quiet branch's thin baseline therefore needs a
    bigger jump than a busy one's, instead of firing on every unlucky hour; a busy branch's
    normally bad hour is its baseline, so it stays quiet.  One-sided: only a rise counts.
    """
    if n <= 0 or k <= 0:
        return 1.0
    a, b = k0 + 1.0, n0 - k0 + 1.0
    base = _log_beta(a, b)
    log_comb = math.lgamma(n + 1)
    terms = [
        log_comb - math.lgamma(x + 1) - math.lgamma(n - x + 1) + _log_beta(x + a, n - x + b) - base
        for x in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _local_hours(s: branches.BranchSettings, start: datetime, end: datetime, weeks: int) -> list[str]:
    """agg_hour periods (branch-local 'YYYY-MM-DDTHH') of the clock hours [start, end] touches, in
    each of the ``weeks`` weeks before."""
    zone = s.zone
    hours: list[str] = []
    # Local clock hours (a zone may be offset by half an hour), stepped in UTC (no DST gaps).
    moment = start.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    while moment <= end:
        for w in range(1, weeks + 1):
            # Local wall-clock arithmetic: "a week ago at 18:00" stays 18:00 across a DST change.
            period = (moment.astimezone(zone) - timedelta(weeks=w)).strftime("%Y-%m-%dT%H")
            if period not in hours:
                hours.append(period)
        moment += timedelta(hours=1)
    return hours


# Windows as multiples of change_window_min: a sharp jump at a busy branch shows in the short
# one, a quiet branch gathers enough presses only in the long one.  Each is tested at
# alpha / len(CHANGE_SCALES) (Bonferroni), so looking three ways does not triple false alarms.
CHANGE_SCALES = (0.5, 1.0, 2.0)


def strongest_change(windows: Sequence[tuple[int, int, float, float]], s: branches.BranchSettings) -> tuple[float, int]:
    """(p-value, index) of the most telling of ``windows`` = [(n, k, n0, k0), ...], each with at
    least ``change_min_responses`` presses and a share above its baseline; (1.0, -1) if none is."""
    best = (1.0, -1)
    for i, (n, k, n0, k0) in enumerate(windows):
        if n < max(1, s.change_min_responses) or k * (n0 + 2) <= n * (k0 + 1):
            continue  # too few presses, or not above the baseline's mean: no rise to test
        p = change_pvalue(k, n, k0, n0)
        if p < best[0]:
            best = (p, i)
    return best if best[0] < s.change_alpha / len(windows) else (1.0, -1)


def _change(db: Database, s: branches.BranchSettings, now: datetime) -> list[dict[str, Any]]:
    if s.change_alpha <= 0 or s.change_window_min <= 0 or s.change_weeks <= 0:
        return []
    kiosks = branches.known_kiosks(db, s.branch)
    if not kiosks:
        return []
    # kiosk IN (...) lets SQLite seek the (branch, kiosk, ts) index instead of scanning the branch.
    in_kiosks = ", ".join("?" * len(kiosks))
    # Per window: {kiosk: (n, unhappy, very happy)} recent, and the same for its baseline hours.
    recents, baselines, minutes = [], [], []
    for scale in CHANGE_SCALES:
        window = max(1, round(s.change_window_min * scale))
        start = now - timedelta(minutes=window)
        recents.append(_counts(db, "SELECT kiosk, count(*), count(*) FILTER (WHERE score <= 2), "
                               "count(*) FILTER (WHERE score = 4) FROM events "
                               f"WHERE branch = ? AND kiosk IN ({in_kiosks}) AND ts > ? AND ts <= ? AND flags = '' "
                               "GROUP BY kiosk", [s.branch, *kiosks, format_ts(start), format_ts(now)]))  # fmt: skip
        periods = _local_hours(s, start, now, s.change_weeks)
        marks = ", ".join("?" * len(periods))
        baselines.append(_counts(db, "SELECT kiosk, SUM(n1 + n2 + n3 + n4), SUM(n1 + n2), SUM(n4) FROM agg_hour "
                                 f"WHERE branch = ? AND period IN ({marks}) GROUP BY kiosk",
                                 [s.branch, *periods]))  # fmt: skip
        minutes.append(window)
    if sum(n for n, _, _ in recents[-1].values()) < max(1, s.change_min_responses):
        return []
    scopes = [""]
    if len(set(recents[-1]) | set(baselines[-1])) > 1:  # one kiosk: its alert would repeat the branch's
        scopes += sorted(recents[-1])
    tests = [("unhappy_change", 1, "unhappy")] + ([("good_hour", 2, "happy")] if s.positive_alerts else [])
    found = []
    for kiosk in scopes:
        for rule, col, name in tests:
            windows = []
            for recent, baseline in zip(recents, baselines, strict=True):
                now_counts = _sum(recent.values()) if not kiosk else recent.get(kiosk, (0, 0, 0))
                then = _sum(baseline.values()) if not kiosk else baseline.get(kiosk, (0, 0, 0))
                windows.append((now_counts[0], now_counts[col], then[0], then[col]))
            p, i = strongest_change(windows, s)
            if i < 0:
                continue
            n, k, n0, k0 = windows[i]
            share, usual = 100 * k / n, 100 * (k0 + 1) / (n0 + 2)
            found.append(
                {
                    "rule": rule,
                    "kiosk": kiosk,
                    "value": round(share, 1),
                    "params": {"share": round(share), name: k, "responses": n, "window_min": minutes[i],
                               "baseline": round(usual), "chance": f"{p:.1g}"},
                    "details": {"responses": n, name: k, "baseline_responses": n0, f"baseline_{name}": k0,
                                "p_value": p, "weeks": s.change_weeks, "window_min": minutes[i]},
                }
            )  # fmt: skip
    return found


def _counts(db: Database, sql: str, params: list[Any]) -> dict[str, tuple[int, int, int]]:
    return {kiosk: (n or 0, a or 0, b or 0) for kiosk, n, a, b in db.execute(sql, params)}


def _sum(rows: Any) -> tuple[int, int, int]:
    n = unhappy = happy = 0
    for a, b, c in rows:
        n, unhappy, happy = n + (a or 0), unhappy + (b or 0), happy + (c or 0)
    return n, unhappy, happy


SILENT_LOOKBACK = timedelta(hours=12)  # expected presses are counted over at most this much silence


def _silent(db: Database, s: branches.BranchSettings, now: datetime) -> list[dict[str, Any]]:
    if s.silent_after_min <= 0 or not db["kiosks"].exists():
        return []
    if s.opening_hours() is not None and not branches.is_open(s, now.astimezone(s.zone)):
        return []
    heard = format_ts(now - timedelta(minutes=s.offline_after_min))
    quiet_since = format_ts(now - timedelta(minutes=s.silent_after_min))
    found = []
    for kiosk, first_seen in db.execute(
        "SELECT kiosk, first_seen FROM kiosks WHERE branch = ? AND state != 'offline' AND heartbeat_at >= ?",
        [s.branch, heard],
    ).fetchall():
        last = db.execute("SELECT max(ts) FROM events WHERE branch = ? AND kiosk = ?", [s.branch, kiosk]).fetchone()[0]
        since_ts = last or first_seen
        if since_ts > quiet_since:
            continue
        since = max(read_ts(since_ts), now - SILENT_LOOKBACK)
        expected = _expected_presses(db, s, kiosk, since, now)
        visitors = 0
        if db["reactions"].exists():
            visitors = db.execute(
                "SELECT COALESCE(SUM(visitors), 0) FROM reactions WHERE branch = ? AND kiosk = ? AND window_start > ?",
                [s.branch, kiosk, format_ts(since)],
            ).fetchone()[0]
        if visitors >= max(1, s.silent_visitors_min):
            reason = {"text": "silent_visitors", "visitors": visitors}
        elif expected >= max(1.0, s.silent_expected_min):
            reason = {"text": "silent_expected", "expected": round(expected)}
        else:
            continue
        silent_min = int((now - read_ts(since_ts)).total_seconds() // 60)
        found.append(
            {
                "rule": "kiosk_silent",
                "kiosk": kiosk,
                "value": silent_min,
                "params": {"silent_min": silent_min, "reason": reason},
                "details": {"last_press": last, "expected": round(expected, 1), "visitors": visitors},
            }
        )
    return found


def _expected_presses(db: Database, s: branches.BranchSettings, kiosk: str, since: datetime, now: datetime) -> float:
    """Mean presses the kiosk had in the same stretch of the week over the past weeks."""
    weeks = max(1, s.change_weeks)
    zone = s.zone
    total = 0
    for w in range(1, weeks + 1):
        start = (since.astimezone(zone) - timedelta(weeks=w)).astimezone(UTC)
        end = (now.astimezone(zone) - timedelta(weeks=w)).astimezone(UTC)
        total += db.execute(
            "SELECT count(*) FROM events WHERE branch = ? AND kiosk = ? AND ts > ? AND ts <= ?",
            [s.branch, kiosk, format_ts(start), format_ts(end)],
        ).fetchone()[0]
    return total / weeks
