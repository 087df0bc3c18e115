"""A period's summed counts read as its past days, kept until one of them changes, plus its newest days.

Under presses every commit makes every figure stale (dashboard.cache), and each recomputation
read its whole period again: months of aggregate rows of which only today's had changed (the
employee field and the overview were most of the workers' time at 5 presses/s). A commit
nearly always adds to the branch's newest local day alone; what writes an older day (a late
press, a re-attribution, a rebuild) says so in the branch's marks (hub.aggregates.mark,
``agg_marks``): ``newest``, the latest local day written, and ``moved``, bumped by every write
to a day before it.

So :func:`fetch` splits [start, end) of each branch at its ``newest`` (clamped into the range):
the part before is read once and kept (dashboard.cache.kept) under the branches' ``moved``; the
part from ``newest`` on is read every time. A write to a day before ``newest`` bumps ``moved``,
so whatever was kept before it is never used again; ``newest`` only grows (a rebuild clears it,
and bumps ``moved``). The marks are read first: a commit between them and the rows read makes at
worst a kept part that is newer than its key, never one older.

The sums are exactly those of one read of the whole period (every grain is the sum of the hour
rows, hub.aggregates.Tally), groups at zero dropped after the parts are added up, as
``hub.scores.fetch`` drops them. Rows come sorted by their group values in Python's order (which
is SQLite's; a PostgreSQL collation may order text otherwise, and no figure depends on it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from dashboard import cache
from hub import scores
from hub.store import Database
from otklik.times import Bound, parse_bound

_COUNTED = 5  # n1..n4 and flagged: a group whose five are all zero is no group (hub.scores.fetch)


def marks(db: Database, names: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Branch -> (newest local day written, moved counter); a branch never written is absent."""
    if not names:
        return {}
    found = db.execute(
        f"SELECT branch, newest, moved FROM agg_marks WHERE branch IN ({', '.join('?' * len(names))})", list(names)
    ).fetchall()
    return {b: (newest, moved) for b, newest, moved in found}


def _part(
    db: Database, group: Sequence[str], names: list[str], s: datetime, e: datetime, grain: str, narrow: dict[str, Any]
) -> list[tuple]:
    return scores.fetch(db, group, branch=names, start=s, end=e, grain=grain, keep_empty=True, **narrow)


def fetch(
    db: Database,
    group: Sequence[str],
    *,
    branch: str | Iterable[str] | None = None,
    start: Bound = None,
    end: Bound = None,
    grain: str = "month",
    **narrow: Any,
) -> list[tuple]:
    """``hub.scores.fetch``'s rows, the days before each branch's newest kept between calls."""
    s, e = parse_bound(start, "start"), parse_bound(end, "end")
    names = [branch] if isinstance(branch, str) else None if branch is None else list(branch)
    if not cache.enabled() or names is None or s is None or e is None or s >= e:
        return scores.fetch(db, group, branch=branch, start=start, end=end, grain=grain, **narrow)
    known = marks(db, names)
    # Branches whose newest day cuts the range at the same moment are read together.
    by_cut: dict[datetime, list[str]] = {}
    for name in names:
        newest = known.get(name, ("", 0))[0]
        cut = datetime.fromisoformat(newest) if newest else s
        by_cut.setdefault(min(max(cut, s), e), []).append(name)
    n = len(group)
    # Grouped by day or hour (and by branch, or one cut for all): no group has rows on both sides
    # of a cut, so each side's rows are the answer's, the past ones kept as they will be returned.
    apart = "period" in group and grain != "month" and ("branch" in group or len(by_cut) == 1)
    sums: dict[tuple, list[int]] = {}
    found: list[tuple] = []
    for cut, members in by_cut.items():
        parts: list[list[tuple]] = []
        if s < cut:
            key = ("history.fetch", apart, tuple(group), tuple(members), s, cut, grain, tuple(sorted(narrow.items())),
                   tuple(known[m][1] if m in known else None for m in members))  # fmt: skip
            read = functools.partial(_part, db, group, members, s, cut, grain, narrow)
            if apart:
                found.extend(cache.kept(db, key, functools.partial(_groups, read, n)))
            else:
                parts.append(cache.kept(db, key, read))
        if cut < e:
            rows = _part(db, group, members, cut, e, grain, narrow)
            if apart:
                found.extend(r for r in rows if _counted(r, n))
            else:
                parts.append(rows)
        for rows in parts:
            for row in rows:
                if row[n] is None:  # no rows at all behind a sum without groups
                    continue
                target = sums.get(row[:n])
                if target is None:
                    sums[row[:n]] = list(row[n:])
                else:
                    for i, c in enumerate(row[n:]):
                        target[i] += c
    if apart:
        return sorted(found)
    return [(*k, *v) for k, v in sorted(sums.items()) if sum(v[:_COUNTED])]


def _groups(read: Callable[[], list[tuple]], n: int) -> list[tuple]:
    return [r for r in read() if _counted(r, n)]


def _counted(row: tuple, n: int) -> bool:
    """Whether a row of a part is a group of the answer (hub.scores.fetch's test)."""
    return row[n] is not None and bool(sum(row[n : n + _COUNTED]))
