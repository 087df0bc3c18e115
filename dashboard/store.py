"""Database connections for one request, kept on ``flask.g`` (flaskr's get_db pattern).

Two stores: the hub's database (events, kiosks, analytics tables; a SQLite file or a
PostgreSQL URL, hub.store) and the dashboard's own (accounts, always a SQLite file). Each
request gets fresh connections, closed on teardown: sqlite3 connections must not cross
threads, and a short-lived reader in WAL mode never blocks the hub's ingest nor holds back
its checkpoints long.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlite_utils
from flask import Flask, Response, current_app, g, request, session

from dashboard import accounts, cache
from hub import db as hub_db
from hub.store import Database


def connect_hub(target: str) -> Database:
    return hub_db.connect(target)


def get_db() -> Database:
    """The hub's database for this request."""
    if "hub_db" not in g:
        g.hub_db = connect_hub(current_app.config["OTKLIK_DB"])
    return g.hub_db


def get_store() -> sqlite_utils.Database:
    """The dashboard's own database (accounts) for this request."""
    if "auth_db" not in g:
        g.auth_db = connect_store(current_app.config["OTKLIK_AUTH_DB"])
    return g.auth_db


def connect_store(path: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def close_dbs(_exc: BaseException | None = None) -> None:
    for name in ("hub_db", "auth_db"):
        db = g.pop(name, None)
        if db is not None:
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
