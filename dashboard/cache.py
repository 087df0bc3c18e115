"""A small per-process cache of figures, invalidated by any commit to the hub's database.

Twenty managers opening the overview at nine o'clock ask for the same numbers;
computing them once per change is the difference between a few milliseconds and
tens of them a page.

How a change is noticed: ``hub.changes.shared`` (SQLite's ``PRAGMA data_version``
on a watcher connection per file, PostgreSQL's LISTEN/NOTIFY), which moves
whenever any connection (a hub, another worker, a roster edit) commits. The key
also holds the current minute, so "today" rolls over even if nothing is pressed.

Twenty requests arriving together after a press would otherwise all compute the
same figure at once; a per-key lock lets the first compute it and the rest wait
for its result.

OTKLIK_DASH_CACHE=0 turns it off (the benchmark measures both).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from hub import changes
from hub.store import Database
from otklik import config

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
MAX_ENTRIES = 512
_lock = threading.Lock()
_entries: OrderedDict[tuple, Any] = OrderedDict()
_building: dict[tuple, threading.Lock] = {}


def enabled() -> bool:
    return config.get("OTKLIK_DASH_CACHE") != "0"


def version(db: Database) -> tuple:
    """Changes with every commit to ``db``'s database by any connection, and every minute."""
    target = changes.target_of(db)
    return (target, changes.shared(target).version(), _minute())


def _minute() -> int:
    return int(time.time() // 60)


def remember(db: Database, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave for ``key`` since the last commit to ``db``'s file.

    The result is shared between requests: callers must treat it as read-only
    (copying it each time cost more than computing some of the figures).
    """
    if not enabled():
        return compute()
    key = (key, version(db))
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
        building = _building.setdefault(key, threading.Lock())
    with building:
        with _lock:
            if key in _entries:
                return _entries[key]
        try:
            value = compute()
            with _lock:
                _entries[key] = value
                while len(_entries) > MAX_ENTRIES:
                    _entries.popitem(last=False)
        finally:
            with _lock:
                _building.pop(key, None)
    return value


def cached(fn: F) -> F:
    """Cache ``fn(db, *hashable_args)`` with :func:`remember`."""

    @functools.wraps(fn)
    def wrapper(db: Database, *args: Any) -> Any:
        return remember(db, (fn.__qualname__, args), lambda: fn(db, *args))

    return wrapper  # type: ignore[return-value]
