"""Misuse rules the hub applies to each new press (the kiosk itself flags cooldown presses).

- ``burst``: more than ``burst_max`` presses on one kiosk within ``burst_window_s`` seconds,
  counting the press itself and every stored press of that kiosk in the window before it
  (flagged or not: a child hammering the buttons is one burst however the kiosk flagged it).
  The press that crosses the limit and every press after it while the rate stays above it
  are flagged; the first ``burst_max`` presses of the window stay counted.
- ``hours``: a press outside the branch's opening hours (plus a grace margin).  No hours
  configured means always open.

Flagged presses are kept and shown but left out of every score.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from hub.branches import BranchSettings, is_open
from otklik.times import format_ts, read_ts


def check(db: Database, row: dict[str, Any], settings: BranchSettings, local: datetime) -> set[str]:
    """The analytics flags one stored event earns (the event row is already in ``events``)."""
    found: set[str] = set()
    if settings.burst_max > 0 and settings.burst_window_s > 0:
        since = format_ts(read_ts(row["ts"]) - timedelta(seconds=settings.burst_window_s))
        # LIMIT keeps the cost bounded during a real burst: we only need to know "more than N".
        n = db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE branch = ? AND kiosk = ? AND ts > ? AND ts <= ? LIMIT ?)",
            [row["branch"], row["kiosk"], since, row["ts"], settings.burst_max + 1],
        ).fetchone()[0]
        if n > settings.burst_max:
            found.add("burst")
    if not is_open(settings, local):
        found.add("hours")
    return found
