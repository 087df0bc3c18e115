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

import bisect
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from hub.branches import BranchSettings, is_open
from hub.store import Database
from otklik.times import format_ts, read_ts

# A new press as the rules see it: branch, kiosk, its stored UTC timestamp (events.ts), its local wall-clock time.
Press = tuple[str, str, str, datetime]
# Stored presses further apart than this are fetched by separate queries, so a
# batch spanning days of one kiosk's backlog reads only what its windows need.
_GAP = timedelta(minutes=10)


def check_batch(db: Database, presses: Sequence[Press], settings: Mapping[str, BranchSettings]) -> list[set[str]]:
    """The analytics flags each of a batch's new presses earns, before any of them is stored.

    The same flags as checking each press after storing it and the ones before
    it in the batch: a press's burst window counts the kiosk's stored presses
    and the batch's earlier new presses, and the press itself. One query per
    kiosk (per cluster of its presses) instead of one per press.
    """
    found: list[set[str]] = [set() for _ in presses]
    by_kiosk: dict[tuple[str, str], list[int]] = {}
    for i, (branch, kiosk, _ts, _local) in enumerate(presses):
        by_kiosk.setdefault((branch, kiosk), []).append(i)
    for (branch, kiosk), positions in by_kiosk.items():
        s = settings[branch]
        if s.burst_max > 0 and s.burst_window_s > 0:
            stamps = [presses[i][2] for i in positions]
            for j in _bursts(db, branch, kiosk, stamps, s.burst_max, timedelta(seconds=s.burst_window_s)):
                found[positions[j]].add("burst")
    for i, (branch, _kiosk, _ts, local) in enumerate(presses):
        if not is_open(settings[branch], local):
            found[i].add("hours")
    return found


def _bursts(db: Database, branch: str, kiosk: str, ends: list[str], limit: int, window: timedelta) -> list[int]:
    """Positions in ``ends`` (one kiosk's new presses' timestamps, in arrival order) that cross the burst limit."""
    # Compared as the stored text, as SQLite compares events.ts.
    times = [read_ts(ts) for ts in ends]
    starts = [format_ts(t - window) for t in times]
    stored: list[str] = []
    for low, high in _clusters(times, window):
        stored += [
            r[0]
            for r in db.execute(
                "SELECT ts FROM events WHERE branch = ? AND kiosk = ? AND ts > ? AND ts <= ?",
                [branch, kiosk, format_ts(low), format_ts(high)],
            )
        ]
    stored.sort()
    earlier: list[str] = []
    out = []
    for j, (start, end) in enumerate(zip(starts, ends, strict=True)):
        bisect.insort(earlier, end)
        n = bisect.bisect_right(stored, end) - bisect.bisect_right(stored, start)
        n += bisect.bisect_right(earlier, end) - bisect.bisect_right(earlier, start)
        if n > limit:
            out.append(j)
    return out


def _clusters(stamps: list[datetime], window: timedelta) -> list[tuple[datetime, datetime]]:
    """The (start, end] ranges covering every press's window, windows less than _GAP apart merged."""
    spans: list[tuple[datetime, datetime]] = []
    for t in sorted(stamps):
        if spans and t - window - spans[-1][1] <= _GAP:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t - window, t))
    return spans
