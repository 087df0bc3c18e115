"""The database change signal (hub/changes.py) on both stores, across processes.

SQLite's ``data_version`` and PostgreSQL's LISTEN/NOTIFY, each with the real
store: the writer is another process (``sqlite3``/``psql`` command lines), as a
hub is to the dashboard. ``pg_url`` (tests/hub_db.py) is a schema of its own.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from hub import changes, ingest
from hub.db import open_db
from tests.analytics_util import feed, press
from tests.broker import wait_until
from tests.hub_db import migrate_target


def psql(url: str, sql: str) -> None:
    """A commit (or not) from another process, as another hub or a CLI command makes it."""
    binary = shutil.which("psql")
    assert binary, "psql is not installed (apt-get install postgresql-client)"
    subprocess.run([binary, url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def sqlite_cli(path: Path, sql: str) -> None:
    # Python's own sqlite3 in a child process: another process, as the hub is to the dashboard.
    subprocess.run(
        ["python3", "-c", f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute({sql!r}); c.commit()"],
        check=True,
    )


def test_sqlite_a_connection_hears_the_others_commits_not_its_own(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    db = open_db(path)
    own = changes.watch(db)
    everyone = changes.shared(str(path))
    mine, all_ = own.version(), everyone.version()
    with db.atomic():
        db.execute("INSERT INTO branch_settings (branch, timezone, settings) VALUES ('b1', 'UTC', '{}')")
    assert own.version() == mine, "ingest would forget its settings after each of its own batches"
    assert everyone.version() != all_, "the dashboard would not see the hub's commit"
    mine = own.version()
    sqlite_cli(path, "UPDATE branch_settings SET timezone = 'Europe/Moscow'")
    assert own.version() != mine


def test_sqlite_wait_wakes_on_another_process_commit(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    open_db(path).close()
    watcher = changes.shared(str(path))
    before = watcher.version()
    t0 = time.monotonic()
    assert watcher.wait(before, 0.3) == before and time.monotonic() - t0 >= 0.3  # nothing committed: the timeout
    writer = subprocess.Popen(["python3", "-c", f"""
import sqlite3, time
time.sleep(0.5)
c = sqlite3.connect({str(path)!r})
c.execute("INSERT INTO branch_settings (branch, timezone, settings) VALUES ('b2', 'UTC', '{{}}')")
c.commit()
"""])  # fmt: skip
    try:
        woke = watcher.wait(before, 20)
        assert woke != before, "no change seen within 20 s"
    finally:
        writer.wait(10)


def test_sqlite_a_file_replaced_at_the_same_path_is_watched_afresh(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    open_db(path).close()
    first = changes.shared(str(path))
    assert changes.shared(str(path)) is first
    shutil.copy(path, tmp_path / "copy.db")
    (tmp_path / "copy.db").replace(path)
    second = changes.shared(str(path))
    assert second is not first
    before = second.version()
    sqlite_cli(path, "INSERT INTO branch_settings (branch, timezone, settings) VALUES ('b3', 'UTC', '{}')")
    assert second.version() != before


def test_postgres_every_table_notifies_its_commits_to_other_processes(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id text PRIMARY KEY)")
        conn.execute("CREATE TABLE branch_settings (branch text PRIMARY KEY)")
        assert changes.install(conn) == ["branch_settings", "events"]
        assert changes.install(conn) == []  # nothing missing: nothing done
    watcher = changes.shared(pg_url)
    settings_only = changes.shared(pg_url, tables=["branch_settings"])
    before, settings_before = watcher.version(), settings_only.version()
    t0 = time.monotonic()
    psql(pg_url, "INSERT INTO events VALUES ('e1')")
    assert watcher.wait(before, 10) != before, "the commit's NOTIFY did not arrive"
    print(f"woken {1000 * (time.monotonic() - t0):.0f} ms after the other process started its commit")
    time.sleep(0.3)
    assert settings_only.version() == settings_before, "a change to another table counted"
    psql(pg_url, "UPDATE branch_settings SET branch = 'x'")  # no rows: the statement still says it ran
    assert settings_only.wait(settings_before, 10) != settings_before


def events_watched(pg_url: str) -> changes.Watcher:
    """A table with the change trigger, and this process's watcher of its database."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id text PRIMARY KEY)")
        changes.install(conn)
    return changes.shared(pg_url)


def test_postgres_a_rolled_back_transaction_notifies_nobody(pg_url: str) -> None:
    watcher = events_watched(pg_url)
    before = watcher.version()
    psql(pg_url, "BEGIN; INSERT INTO events VALUES ('e1'); ROLLBACK;")
    assert watcher.wait(before, 1.0) == before
    psql(pg_url, "BEGIN; INSERT INTO events VALUES ('e2'); COMMIT;")
    assert watcher.wait(before, 10) != before


def test_postgres_a_fresh_version_counts_a_commit_that_has_just_returned(pg_url: str) -> None:
    """Ingest's "from the next batch": the notification reaches the listener after the writer's COMMIT returned."""
    watcher = events_watched(pg_url)
    assert isinstance(watcher, changes.PostgresWatcher)
    unheard = 0
    with psycopg.connect(pg_url, autocommit=True) as other:  # another backend: to the server, another process
        for i in range(100):
            before = watcher.version(fresh=True)
            other.execute("INSERT INTO events VALUES (%s)", [f"e{i}"])
            unheard += watcher.version() == before
            assert watcher.version(fresh=True) != before, f"commit {i} had returned, and was not counted"
    print(f"a plain version() had not heard {unheard} of 100 commits yet")
    assert watcher.round_trips >= 200  # one each: nothing else asked


def test_postgres_a_lost_listening_connection_counts_as_a_change_and_listens_again(pg_url: str) -> None:
    watcher = events_watched(pg_url)
    assert isinstance(watcher, changes.PostgresWatcher)
    before = watcher.version()
    # What a restarted server or a dropped network does to it; meanwhile a commit goes unheard.
    psql(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'otklik-changes'")
    moved = watcher.wait(before, 10)
    assert moved != before and watcher.reconnects >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # listening again: a later commit is heard
        again = watcher.version()
        psql(pg_url, f"INSERT INTO events VALUES ('{uuid.uuid4().hex}')")
        if watcher.wait(again, 1.0) != again:
            return
    raise AssertionError("not listening again after the connection was lost")


def test_watch_on_a_sqlite_connection_needs_no_listener(tmp_path: Path) -> None:
    db = open_db(tmp_path / "hub.db")
    watcher = changes.watch(db)
    assert isinstance(watcher, changes.SQLiteWatcher) and watcher.conn is db.conn
    assert changes.target_of(db) == str((tmp_path / "hub.db").resolve())
    assert isinstance(db.conn, sqlite3.Connection)


def test_postgres_the_hubs_commit_names_the_branches_that_got_new_presses(pg_url: str) -> None:
    """What the alert watcher reads on PostgreSQL instead of rowids: ``events:<branch>`` with the commit."""
    migrate_target(pg_url)
    watcher = changes.shared(pg_url, tables=("events", "reactions"))
    before = watcher.version()
    db = open_db(pg_url, migrate=False)
    now = datetime.now(UTC)
    first = press(now, 4, branch="b1")
    feed(db, [first, press(now, 1, branch="b2")], now)
    wait_until(lambda: {"events:b1", "events:b2"} <= set(watcher.since(before) or []), message="b1 and b2 named")
    said = watcher.since(before)
    assert said is not None and "events:b3" not in said
    again = watcher.version()
    assert ingest.handle_batch(db, [first])[0].result == ingest.DUPLICATE  # the same press again: nothing new
    time.sleep(0.5)
    assert [p for p in watcher.since(again) or [] if ":" in p] == []
    assert watcher.since(-1) is None  # a version it never gave: not known, so "anything may have changed"
