"""The figure cache must key on the database a connection really has open."""

from pathlib import Path

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


def test_cache_version_changes_with_every_commit(tmp_path: Path) -> None:
    writer = sqlite_utils.Database(tmp_path / "hub.db")
    writer.enable_wal()
    writer.execute("CREATE TABLE t (x)")
    writer.conn.commit()
    reader = sqlite_utils.Database(tmp_path / "hub.db")
    seen = {cache.version(reader)}
    for i in range(50):
        writer.execute("INSERT INTO t VALUES (?)", [i])
        writer.conn.commit()
        seen.add(cache.version(reader))
    assert len(seen) == 51
