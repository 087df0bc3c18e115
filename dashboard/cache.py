"""A small per-process cache of figures, invalidated by any write to the hub's database.

Twenty managers opening the overview at nine o'clock ask for the same numbers;
computing them once per change is the difference between 5 ms and 300 ms a page
on a Raspberry Pi class machine. The key includes the size and modification
time of the database file and its WAL (every commit changes them) and the
current minute (so "today" rolls over even if nothing is pressed), so a cached
figure is never older than the data it was computed from.

OTKLIK_DASH_CACHE=0 turns it off (the benchmark measures both).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import sqlite_utils

F = TypeVar("F", bound=Callable[..., Any])
MAX_ENTRIES = 512
_lock = threading.Lock()
_entries: OrderedDict[tuple, Any] = OrderedDict()


def enabled() -> bool:
    return os.environ.get("OTKLIK_DASH_CACHE", "1") != "0"


def _db_path(db: sqlite_utils.Database) -> str:
    # Asked every time (a few microseconds): remembering it by id(conn) went
    # wrong when a new connection reused a closed one's id, and the cache then
    # watched another database's file and served stale figures for good.
    return db.execute("PRAGMA database_list").fetchone()[2]


def version(db: sqlite_utils.Database) -> tuple:
    path = _db_path(db)
    stamp: list[int] = []
    for name in (path, path + "-wal"):
        try:
            st = os.stat(name)
            stamp += [st.st_mtime_ns, st.st_size]
        except OSError:
            stamp += [0, 0]
    return (path, *stamp, int(time.time() // 60))


def cached(fn: F) -> F:
    """Cache ``fn(db, *hashable_args)``.

    The result is shared between requests: callers must treat it as read-only
    (copying it each time cost more than computing some of the figures).
    """

    @functools.wraps(fn)
    def wrapper(db: sqlite_utils.Database, *args: Any) -> Any:
        if not enabled():
            return fn(db, *args)
        key = (fn.__qualname__, version(db), args)
        with _lock:
            if key in _entries:
                _entries.move_to_end(key)
                return _entries[key]
        value = fn(db, *args)
        with _lock:
            _entries[key] = value
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
        return value

    return wrapper  # type: ignore[return-value]
