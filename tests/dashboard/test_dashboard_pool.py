"""The dashboard's PostgreSQL connections come from a per-process pool and go back to it on teardown.

Real PostgreSQL (tests/hub_db.py): the backend's pid tells which server connection served a request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask

from dashboard import create_app
from dashboard import store as dash_store
from tests.hub_db import migrate_target


@pytest.fixture
def pg_app(pg_url: str, tmp_path: Path) -> Iterator[Flask]:
    migrate_target(pg_url)
    config = {"OTKLIK_DB": pg_url, "OTKLIK_AUTH_DB": str(tmp_path / "dashboard.db")}
    yield create_app({**config, "SECRET_KEY": "test", "TESTING": True})
    dash_store.close_pools()


def _backend_pid(app: Flask) -> int:
    # One app context is one request's life: teardown_appcontext runs when it ends.
    with app.app_context():
        return int(dash_store.get_db().execute("SELECT pg_backend_pid()").fetchone()[0])


def test_requests_reuse_one_server_connection(pg_app: Flask) -> None:
    pids = {_backend_pid(pg_app) for _ in range(10)}
    # Without the pool each request opens (and pays for) a server connection of its own: 10 here.
    # With it, at most two: a request that comes while the pool's first connection is still being
    # made may make the pool open one more.
    assert len(pids) <= 2, pids


def test_a_transaction_left_open_is_not_lent_on(pg_app: Flask) -> None:
    with pytest.raises(RuntimeError), pg_app.app_context():
        db = dash_store.get_db()
        db.conn.begin()
        db.execute("SELECT 1")
        raise RuntimeError("a view failed mid-transaction")
    with pg_app.app_context():
        assert not dash_store.get_db().conn.in_transaction


def test_a_connection_the_server_dropped_is_replaced(pg_app: Flask, pg_url: str) -> None:
    first = _backend_pid(pg_app)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [first]).fetchone() == (True,)
    # The pool's checkout check finds it dead and lends a fresh one: the request does not fail.
    assert _backend_pid(pg_app) != first


def test_a_forked_worker_makes_its_own_pool(pg_app: Flask) -> None:
    parent_pool = dash_store.hub_pool(pg_app.config["OTKLIK_DB"])
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # gunicorn's worker: a pool made before the fork must not be shared with it
        same = dash_store.hub_pool(pg_app.config["OTKLIK_DB"]) is parent_pool
        os.write(write, b"same" if same else b"own")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(child, 0)
    assert answer == b"own"
