"""Database connections for one request, kept on ``flask.g`` (flaskr's get_db pattern).

Two stores: the hub's database (events, kiosks, analytics tables; a SQLite file or a
PostgreSQL URL, hub.store) and the dashboard's own (accounts, always a SQLite file).

A SQLite connection is kept by the thread that opened it and handed to that thread's next
request (:class:`_Kept`): opening one and reading the schema on its first statement cost
1-2 ms of a request that otherwise takes a few (the benchmark's 20 clients queue behind that).
It is kept only between requests, outside any transaction, so it reads the latest commit like
a fresh one and never holds back the hub's checkpoints; a request that failed closes its
connections rather than pass on whatever state the failure left.

PostgreSQL: opening a connection costs 20-30 ms (TCP, authentication, a backend forked), so a
request borrows one from a psycopg_pool pool and gives it back on teardown. One pool per process,
made on first use in that process: a pool made before gunicorn forks would hand every worker the
same sockets.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlite_utils
from flask import Flask, Response, current_app, g, request, session

from dashboard import accounts, cache
from hub import db as hub_db
from hub.store import Database, PgDatabase, StoreUnavailable, adapted, is_url, redacted
from otklik import config as env

# Each of a worker's threads holds at most one hub connection at a time, so a pool as large as
# the thread count never makes a request wait; idle ones beyond min_size close after max_idle.
POOL_WAIT_S = 10.0

_pools: dict[str, tuple[int, Any]] = {}
_pools_lock = threading.Lock()


def connect_hub(target: str) -> Database:
    return hub_db.connect(target)


def hub_pool(url: str) -> Any:
    """This process's pool for ``url`` (a psycopg_pool.ConnectionPool), made on first use."""
    import psycopg
    from psycopg_pool import ConnectionPool

    pid = os.getpid()
    with _pools_lock:
        held = _pools.get(url)
        if held is None or held[0] != pid:
            # A pool inherited across a fork is dropped, not closed: its sockets and threads are the parent's.
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=env.get_int("OTKLIK_DASHBOARD_THREADS", 32, minimum=1),
                kwargs={"autocommit": True, "cursor_factory": psycopg.ClientCursor},
                configure=adapted,
                # A connection the server dropped while idle (restart, pg_terminate_backend) is
                # replaced at checkout instead of failing the request that drew it.
                check=ConnectionPool.check_connection,
                timeout=POOL_WAIT_S,
                name="otklik-dashboard",
                open=True,
            )
            _pools[url] = (pid, pool)
        return _pools[url][1]


def close_pools() -> None:
    """Close this process's pools (tests; a worker's own exit closes them with the process)."""
    with _pools_lock:
        mine = [pool for pid, pool in _pools.values() if pid == os.getpid()]
        _pools.clear()
    for pool in mine:
        pool.close()


def _borrow(url: str) -> PgDatabase:
    from psycopg_pool import PoolTimeout

    pool = hub_pool(url)
    try:
        conn = pool.getconn()
    except PoolTimeout as err:
        raise StoreUnavailable(
            f"cannot connect to {redacted(url)}: no connection within {POOL_WAIT_S:g} s", field="--db"
        ) from err
    db = PgDatabase(conn, url)
    db.pool = pool
    return db


class _Kept(threading.local):
    """Each thread's SQLite connections between its requests, by file (the few most recent)."""

    LIMIT = 4

    def __init__(self) -> None:
        self.conns: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def take(self, target: str, connect: Callable[[str], Any]) -> tuple[Any, int]:
        """A connection to ``target`` and the inode it was opened on."""
        kept = self.conns.pop(target, None)
        try:
            inode = os.stat(target).st_ino
        except OSError:
            inode = -1
        if kept is not None:
            if kept[1] == inode:
                return kept
            # The file was replaced (or removed) since: that connection reads the old one.
            kept[0].conn.close()
        return connect(target), inode

    def give(self, target: str, db: Any, inode: int) -> None:
        if db.conn.in_transaction:
            db.conn.rollback()
        self.conns[target] = (db, inode)
        while len(self.conns) > self.LIMIT:
            self.conns.popitem(last=False)[1][0].conn.close()


_kept = _Kept()


def _open(name: str, target: str, connect: Callable[[str], Any]) -> Any:
    if name not in g:
        if is_url(target):
            setattr(g, name, connect(target))
        else:
            db, inode = _kept.take(target, connect)
            setattr(g, name, db)
            g.setdefault("db_kept", {})[name] = (target, inode)
    return g.get(name)


def get_db() -> Database:
    """The hub's database for this request."""
    target = current_app.config["OTKLIK_DB"]
    return _open("hub_db", target, _borrow if is_url(target) else connect_hub)


def get_store() -> sqlite_utils.Database:
    """The dashboard's own database (accounts) for this request."""
    return _open("auth_db", current_app.config["OTKLIK_AUTH_DB"], connect_store)


def connect_store(path: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def close_dbs(exc: BaseException | None = None) -> None:
    kept = g.pop("db_kept", {})
    for name in ("hub_db", "auth_db"):
        db = g.pop(name, None)
        if db is None:
            continue
        if isinstance(db, PgDatabase) and db.pool is not None:
            # Back to the pool, which rolls back a transaction an error left open before lending it again.
            db.pool.putconn(db.conn.raw)
            continue
        if exc is None and name in kept:
            try:
                target, inode = kept[name]
                _kept.give(target, db, inode)
                continue
            except sqlite3.Error:
                pass
        db.conn.close()


# How long after a user's own change their pages are read fresh (the cache may serve figures
# up to MAX_STALE_S old; twice that covers the redirect and the page that follows it).
OWN_WRITE_S = 2 * cache.MAX_STALE_S
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _note_write(response: Response) -> Response:
    if request.method in _WRITES and response.status_code < 400 and "sid" in session:
        session["wrote_at"] = time.time()
    return response


def _read_own_writes() -> None:
    wrote = session.get("wrote_at")
    if isinstance(wrote, int | float) and time.time() - wrote < OWN_WRITE_S:
        g.cache_fresh = cache.fresh_only()


def _end_fresh(_exc: BaseException | None = None) -> None:
    token: Any = g.pop("cache_fresh", None)
    if token is not None:
        cache.release(token)


def init_app(app: Flask) -> None:
    # The dashboard's own file is the dashboard's to migrate, once at start-up, not per request
    # (the hub's database was checked by create_app: `otklik db migrate` migrates that one).
    accounts.open_store(app.config["OTKLIK_AUTH_DB"]).conn.close()
    app.teardown_appcontext(close_dbs)
    # Read your own writes: a page right after the user's own change never shows it undone.
    app.before_request(_read_own_writes)
    app.after_request(_note_write)
    app.teardown_request(_end_fresh)
