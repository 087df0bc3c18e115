"""The figure cache must key on the database a connection really has open."""

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils

from dashboard import cache


def test_cache_version_follows_each_connections_own_file(tmp_path: Path) -> None:
    # Connections are opened and closed all the time (one per request, one per
    # live stream); a new one often reuses a closed one's memory address, so
    # anything remembered by id(conn) would point at another database's file
    # and the cache would stop seeing that database's commits.
    paths = [tmp_path / "hub.db", tmp_path / "hub-dashboard.db"]
    for i in range(60):
        path = paths[i % 2]
        db = sqlite_utils.Database(path)
        assert cache.version(db)[0] == str(path)
        db.conn.close()


def _wal_db(path: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("CREATE TABLE t (x)")
    db.conn.commit()
    return db


def test_cache_version_changes_with_every_commit(tmp_path: Path) -> None:
    writer = _wal_db(tmp_path / "hub.db")
    reader = sqlite_utils.Database(tmp_path / "hub.db")
    seen = {cache.version(reader)}
    for i in range(50):
        writer.execute("INSERT INTO t VALUES (?)", [i])
        writer.conn.commit()
        seen.add(cache.version(reader))
    assert len(seen) == 51


def test_cache_version_holds_still_between_requests_when_nothing_commits(tmp_path: Path) -> None:
    # With the hub not holding the database open, every request's connection
    # creates the -wal file and its close deletes it; a key built from file
    # times then changed on every request and the cache never hit.
    path = tmp_path / "hub.db"
    _wal_db(path).conn.close()
    seen = set()
    for _ in range(5):
        db = sqlite_utils.Database(path)
        seen.add(cache.version(db))
        db.execute("SELECT count(*) FROM t").fetchone()
        db.conn.close()
    assert len(seen) == 1


def test_cache_version_sees_a_commit_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    db = _wal_db(path)
    before = cache.version(db)
    code = f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute('INSERT INTO t VALUES (1)'); c.commit()"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert cache.version(db) != before


def test_a_database_replaced_at_the_same_path_is_not_served_from_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"

    @cache.cached
    def count(db: sqlite_utils.Database) -> int:
        return db.execute("SELECT count(*) FROM t").fetchone()[0]

    for rows in (1, 2):
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        db = _wal_db(path)
        db["t"].insert_all([{"x": i} for i in range(rows)])
        db.conn.commit()
        assert count(db) == rows
        db.conn.close()


def test_concurrent_misses_compute_a_figure_once(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    sqlite_utils.Database(path).execute("CREATE TABLE t (x)")
    calls = []

    @cache.cached
    def slow(db: sqlite_utils.Database, tag: str) -> str:
        calls.append(tag)
        time.sleep(0.2)
        return tag

    results = []

    def request() -> None:
        db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
        results.append(slow(db, "overview"))
        db.conn.close()

    threads = [threading.Thread(target=request) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["overview"] * 10
    assert calls == ["overview"]


def test_a_cached_fleet_still_counts_silence_up_to_the_request(hub_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from dashboard import fleet
    from tests.dashboard.conftest import heartbeat

    heartbeat(hub_path, "b1", "k1")
    db = sqlite_utils.Database(hub_path)
    now = datetime.now(UTC)
    first = fleet.fleet(db, None, now=now)
    later = fleet.fleet(db, None, now=now + timedelta(seconds=90))
    assert [r["kiosk"] for r in later] == ["k1"]
    assert later[0]["silent_s"] == pytest.approx(first[0]["silent_s"] + 90)
    assert first[0]["silent_s"] < 60  # the shared row was not changed by the second request


def test_fleet_rows_are_shared_within_a_second_and_new_after_a_change(hub_path: Path) -> None:
    """Streams, pages and the API ask many times a second: within a second of ``now`` they get the same
    rows (encoded once, dashboard.api); a heartbeat committed meanwhile shows in the same second."""
    from datetime import UTC, datetime, timedelta

    from dashboard import cache, fleet
    from tests.dashboard.conftest import heartbeat

    heartbeat(hub_path, "b1", "k1")
    db = sqlite_utils.Database(hub_path)
    second = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
    first = fleet.fleet(db, None, now=second)
    assert fleet.fleet(db, None, now=second + timedelta(milliseconds=900)) is first
    assert fleet.fleet(db, None, now=second + timedelta(seconds=1)) is not first
    heartbeat(hub_path, "b1", "k2")
    token = cache.fresh_only()  # as a request that must see the commit (else the cache's second applies)
    try:
        changed = fleet.fleet(db, None, now=second + timedelta(milliseconds=900))
    finally:
        cache.release(token)
    assert [r["kiosk"] for r in changed] == ["k1", "k2"]


_built: list[object] = []


def _counting_body(rows: list[dict]) -> dict:
    _built.append(rows)
    return {"rows": rows}


def test_a_shared_answer_is_encoded_once_per_figure_object(app) -> None:
    """dashboard.api.shared_json: the same cached figure object is encoded once; a recomputed one (equal or
    not) is encoded again, so an answer never outlives the figure it was made from."""
    from dashboard import api

    figure = [{"kiosk": "k1", "silent_s": 1.0}]
    _built.clear()
    with app.test_request_context():
        first = api.shared_json(_counting_body, figure).get_data()
        again = api.shared_json(_counting_body, figure).get_data()
        recomputed = [{"kiosk": "k1", "silent_s": 2.0}]
        other = api.shared_json(_counting_body, recomputed).get_data()
    assert first == again and b'"silent_s":1.0' in first and b'"silent_s":2.0' in other
    assert _built == [figure, recomputed]
