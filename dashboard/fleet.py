"""The fleet table: every kiosk's health, straight from the spine's ``kiosks`` registry."""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from dashboard.cache import cached
from hub import branches
from hub.store import Database
from otklik.times import read_ts_or_none

Seen = datetime | None
# A kiosk heartbeats every 30 s unless its config says otherwise (``heartbeat_s``,
# which it reports in the heartbeat). Two intervals without one and its last
# figures are history, not its present state.
DEFAULT_HEARTBEAT_S = 30.0
STALE_AFTER_INTERVALS = 2
FLEET_COLUMNS = (
    "branch",
    "kiosk",
    "state",
    "last_seen",
    "version",
    "outbox_depth",
    "refused",
    "unconfirmed",
    "unconfirmed_age_s",
    "camera",
    "config_version",
    "seq_gaps",
    "uptime_s",
    "heartbeat_at",
    "silent_s",
    "outbox_current",
)


def fleet(db: Database, branches: list[str] | None, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per kiosk in the given branches (None = all), worst first is the caller's choice.

    ``silent_s`` is the time since the kiosk last said anything; ``seq_gaps`` the
    presses the hub never received (highest seq minus distinct seqs stored).
    ``outbox_depth`` is what the kiosk last reported, at ``heartbeat_at``;
    ``outbox_current`` says whether that is still its present backlog: the kiosk
    is online and its heartbeat is at most two intervals old. A kiosk that
    drained and stopped keeps its last figure, shown as "last reported N at T".

    The rows are shared, read-only, by every caller within the same second of ``now``
    (the silence is counted from the first of them): open pages' streams, the fleet API
    and pages ask 20-100 times a second under presses, and building and encoding 300
    rows each time was a third of the workers' time (the encoders, dashboard.api, key
    on the rows' identity).
    """
    if branches is not None and not branches:
        return []
    now = now or datetime.now(UTC)
    # The registry is read once per change (a chain has hundreds of kiosks and the
    # fleet page is refreshed by every technician); only the silence is per second.
    registry = _registry(db, None if branches is None else tuple(branches))
    key = (id(registry), math.floor(now.timestamp()))
    with _rows_lock:
        found = _rows.get(key)
        if found is not None and found[0] is registry:
            _rows.move_to_end(key)
            return found[1]
    rows = [
        {
            **row,
            "silent_s": round((now - seen).total_seconds(), 1) if seen else None,
            "outbox_current": row["state"] == "online" and _fresh(reported, now),
        }
        for row, seen, reported in registry
    ]
    with _rows_lock:
        _rows[key] = (registry, rows)  # the registry kept: its id is not reused while the entry lives
        while len(_rows) > _ROWS_MAX:
            _rows.popitem(last=False)
    return rows


_ROWS_MAX = 64
_rows: OrderedDict[tuple[int, int], tuple[list, list[dict[str, Any]]]] = OrderedDict()
_rows_lock = threading.Lock()


@dataclass(frozen=True)
class _Reported:
    """When the last heartbeat came, and how often the kiosk sends one."""

    at: datetime | None
    interval_s: float


def _fresh(reported: _Reported, now: datetime) -> bool:
    if reported.at is None:
        return False
    return (now - reported.at).total_seconds() <= STALE_AFTER_INTERVALS * reported.interval_s


def _interval(extra: dict[str, Any]) -> float:
    value = extra.get("heartbeat_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 24 * 3600:
        return float(value)
    return DEFAULT_HEARTBEAT_S


@cached
def _registry(db: Database, branches: tuple[str, ...] | None) -> list[tuple[dict[str, Any], Seen, _Reported]]:
    if not db["kiosks"].exists():
        return []
    # Read again after every commit (each press moves its kiosk's last_seen): columns as tuples, and
    # the heartbeat's JSON and times parsed once per distinct text, since a press changes neither.
    sql = (
        "SELECT branch, kiosk, state, last_seen, version, outbox_depth, heartbeat_extra, seq_max, seq_count, "
        "uptime_s, heartbeat_at FROM kiosks"
    )
    params: list[Any] = []
    if branches is not None:
        sql += f" WHERE branch IN ({', '.join('?' for _ in branches)})"
        params = list(branches)
    rows = []
    found = db.execute(sql + " ORDER BY branch, kiosk", params).fetchall()
    for branch, kiosk, state, last_seen, version, outbox, extra_text, seq_max, seq_count, uptime, beat in found:
        extra = _extra(extra_text or "{}")
        shown = {
            "branch": branch,
            "kiosk": kiosk,
            "state": state or "unknown",
            "last_seen": last_seen,
            "version": version,
            "outbox_depth": outbox,
            "refused": extra.get("refused"),
            "unconfirmed": extra.get("unconfirmed"),
            "unconfirmed_age_s": extra.get("unconfirmed_age_s"),
            "camera": extra.get("camera"),
            "config_version": extra.get("config_version"),
            "seq_gaps": max(0, (seq_max or 0) - (seq_count or 0)),
            "uptime_s": uptime,
            "heartbeat_at": beat,
        }
        reported = _Reported(_moment(beat), _interval(extra))
        rows.append((shown, _moment(last_seen), reported))
    return rows


@lru_cache(maxsize=4096)
def _extra(text: str) -> dict[str, Any]:
    """A heartbeat's extra fields (shared: read-only); {} for anything but a JSON object."""
    try:
        extra = json.loads(text)
    except ValueError:
        return {}
    return extra if isinstance(extra, dict) else {}


@lru_cache(maxsize=4096)
def _moment(text: str | None) -> datetime | None:
    return read_ts_or_none(text)


def all_branches(db: Database) -> list[str]:
    """``hub.branches.known_branches``, kept until the next commit: nearly every request of an admin asks."""
    return list(_known_branches(db))


@cached
def _known_branches(db: Database) -> list[str]:
    return branches.known_branches(db)
