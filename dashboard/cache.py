"""A small per-process cache of figures, invalidated by any commit to the hub's database.

Twenty managers opening the overview at nine o'clock ask for the same numbers;
computing them once per change is the difference between a few milliseconds and
tens of them a page.

How a change is noticed: one long-lived watcher connection per database file is
asked ``PRAGMA data_version``, which SQLite changes whenever any other
connection (the hub, another worker, a roster edit) commits. File modification
times are not used: every new reader creates and every last close deletes the
``-wal`` file, which changed the key on each request whenever the hub was not
holding the database open, and the cache then never hit. The key also holds the
file's inode (a database replaced at the same path gets a new watcher) and the
current minute, so "today" rolls over even if nothing is pressed.

Twenty requests arriving together after a press would otherwise all compute the
same figure at once; a per-key lock lets the first compute it and the rest wait
for its result.

OTKLIK_DASH_CACHE=0 turns it off (the benchmark measures both).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from hub.store import Database, is_sqlite
from otklik import config

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
MAX_ENTRIES = 512
MAX_WATCHERS = 8
_lock = threading.Lock()
_entries: OrderedDict[tuple, Any] = OrderedDict()
_building: dict[tuple, threading.Lock] = {}


def enabled() -> bool:
    return config.get("OTKLIK_DASH_CACHE") != "0"


class _Watcher:
    def __init__(self, path: str, inode: tuple[int, int]) -> None:
        self.inode = inode
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, check_same_thread=False)

    def data_version(self) -> int:
        with self.lock:
            return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.conn.close()


_watchers: OrderedDict[str, _Watcher] = OrderedDict()


def _db_path(db: Database) -> str:
    # Asked every time (a few microseconds): remembering it by id(conn) went
    # wrong when a new connection reused a closed one's id, and the cache then
    # watched another database's file and served stale figures for good.
    return db.execute("PRAGMA database_list").fetchone()[2]


def _watcher(path: str) -> _Watcher:
    st = os.stat(path)
    inode = (st.st_dev, st.st_ino)
    with _lock:
        watcher = _watchers.get(path)
        if watcher is not None and watcher.inode == inode:
            _watchers.move_to_end(path)
            return watcher
        if watcher is not None:
            watcher.close()
        watcher = _watchers[path] = _Watcher(path, inode)
        while len(_watchers) > MAX_WATCHERS:
            _watchers.popitem(last=False)[1].close()
        return watcher


def version(db: Database) -> tuple:
    """Changes with every commit to ``db``'s file by any connection, and every minute."""
    path = _db_path(db)
    watcher = _watcher(path)
    return (path, watcher.inode, watcher.data_version(), _minute())


def _minute() -> int:
    return int(time.time() // 60)


def remember(db: Database, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave for ``key`` since the last commit to ``db``'s file.

    The result is shared between requests: callers must treat it as read-only
    (copying it each time cost more than computing some of the figures).
    """
    if not enabled() or not is_sqlite(db):
        # PostgreSQL has no data_version to notice a commit by: its change signal is hub.changes' (hubs' part).
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
