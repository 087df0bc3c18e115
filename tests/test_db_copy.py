"""`otklik db copy`: a store's SQLite hub database moved into PostgreSQL, all of it or nothing.

A real SQLite file filled by the demo's history (every press through hub.ingest) plus what the demo
leaves empty (dead letters, credentials, QR codes, a flood cut-off, alert channels), copied into the
suite's real PostgreSQL (tests/hub_db.py: a failure, never a skip, without one).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner

from hub import db_copy, ingest, notify, scores
from hub.db import connect, open_db
from hub.flood_guard import FloodGuard
from hub.provisioning import qr, registry
from otklik import demo_seed, protocol
from otklik.cli import cli

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
AWKWARD = "tab\there, new\nline, back\\slash, quote' \" 50% ٫ 😀"


def _fill(path: Path) -> None:
    db = open_db(path)
    demo_seed.seed(db, days=2, seed=1, now=NOW)
    topic = protocol.topic("central", "exit-1", "rating")
    # Junk, through ingest: dead letters (bytes a COPY must escape), their sources, a retained reject,
    # and enough of it within a second for the flood guard to cut the kiosk off.
    junk = [(topic, b"\x00\\\xff not json\t\n" + bytes([i]), NOW) for i in range(5)]
    outcomes = ingest.handle_batch(db, junk)
    assert all(o.result != "stored" for o in outcomes)
    FloodGuard(lambda topic, payload: None, per_s=3).after_commit(db, [(t, r) for t, _, r in junk], outcomes, [])
    ingest.handle_batch(db, [(topic, b"{retained junk", NOW, True)])
    notify.add_channel(db, "webhook", "https://hooks.example.com/secret-path", branch="central")
    notify.set_smtp(db, smtp_host="mail.example.com", smtp_port=587)
    registry.add_device(db, "central", "exit-1", note=AWKWARD)
    qr.create(db, "a-signing-key", "central", "exit-1", note=AWKWARD)
    db.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "hub.db"
    _fill(path)
    return path


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return sorted(r[0] for r in rows if r[0] != "_sqlite_migrations")


def _rows(db, table: str, columns: list[str]) -> list[tuple]:
    quoted = ", ".join(f'"{c}"' for c in columns)
    return sorted((tuple(r) for r in db.execute(f'SELECT {quoted} FROM "{table}"').fetchall()), key=repr)


def _copy(*args: str) -> tuple[int, str, str]:
    # Unset: the command names the files to set them to.
    unset = dict.fromkeys(["OTKLIK_AUTH_DB", "OTKLIK_QR_KEY_FILE"])
    result = CliRunner().invoke(cli, ["db", "copy", *args], env=unset)
    return result.exit_code, result.stdout, result.output


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)  # trust authentication here: the password is carried, never checked
    return urlunsplit(parts._replace(netloc=parts.netloc.replace("@", f":{password}@", 1)))


def test_every_table_of_the_schema_has_rows_in_the_source_so_its_copy_is_checked(source: Path) -> None:
    lite = sqlite3.connect(source)
    empty = [t for t in _tables(source) if not lite.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]]
    assert not empty, f"fill {empty} in _fill() so that copying them is tested"


def _indexes(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 2"
        ).fetchall()


def test_the_copy_holds_every_row_and_gives_the_same_figures(source: Path, pg_url: str) -> None:
    assert CliRunner().invoke(cli, ["db", "migrate", "--db", pg_url]).exit_code == 0
    migrated = _indexes(pg_url)
    code, stdout, output = _copy(str(source), pg_url, "--json")
    assert code == 0, output
    done = json.loads(stdout)
    assert done["verified"] and sorted(t["table"] for t in done["tables"]) == _tables(source)
    lite, pg = connect(source), connect(pg_url)
    for table in _tables(source):
        columns = [c.name for c in lite[table].columns]
        expected = _rows(lite, table, columns)
        assert _rows(pg, table, columns) == expected, f"{table} differs"
        assert next(t["rows"] for t in done["tables"] if t["table"] == table) == len(expected)
    assert done["rows"] == sum(t["rows"] for t in done["tables"]) > 4000
    # The indexes it dropped to copy faster are back, the same ones (primary keys and unique ones included).
    assert _indexes(pg_url) == migrated and len(migrated) > 30
    with psycopg.connect(pg_url) as conn:  # analyzed: the planner knows how many presses there are
        stats = "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'events'"
        assert conn.execute(stats).fetchone()[0] > 5
    # The figures: the same report from either store.
    for by in ("branch", "employee", "week"):
        assert scores.report(pg, by) == scores.report(lite, by), by
    reports = [
        CliRunner().invoke(cli, ["report", "--db", str(db), "--by", "kiosk", "--json"]) for db in (source, pg_url)
    ]
    assert reports[0].exit_code == 0 and reports[0].stdout == reports[1].stdout
    # Identity counters moved past the copied ids: the hub's next dead letter on PostgreSQL gets a new one.
    top = pg.execute("SELECT max(id) FROM dead_letters").fetchone()[0]
    ingest.handle_batch(pg, [(protocol.topic("central", "exit-1", "rating"), b"more junk", NOW)])
    assert pg.execute("SELECT max(id) FROM dead_letters").fetchone()[0] == top + 1


def test_a_destination_holding_hub_rows_is_refused_and_the_password_is_never_shown(source: Path, pg_url: str) -> None:
    url = with_password(pg_url, "s3cret-pw")
    accounts, qr_key = source.with_name("hub-dashboard.db"), Path(f"{source}.qr-key")
    accounts.touch()
    qr_key.touch()
    code, _, first = _copy(str(source), url)
    accounts.unlink()
    qr_key.unlink()
    assert code == 0, first
    assert "events" in first and "column sums are equal" in first and "***@" in first
    # The two files that stay local, named so the technician keeps them.
    assert f"OTKLIK_AUTH_DB={accounts}" in first and f"OTKLIK_QR_KEY_FILE={qr_key}" in first
    code, _, again = _copy(str(source), url)
    assert code == 1
    assert "already holds data: events (1," in again and "more tables" in again
    assert "Hint: copy into a new, empty database" in again
    assert "s3cret-pw" not in first + again


def test_a_database_holding_something_else_is_refused_before_it_is_migrated(source: Path, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('the accountant''s')")
    code, _, output = _copy(str(source), pg_url)
    assert code == 1 and "already holds data: notes (1 row)\n" in output, output
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('_otklik_migrations')").fetchone()[0] is None


def test_a_copy_killed_mid_way_leaves_no_hub_row_and_the_same_command_then_works(source: Path, pg_url: str) -> None:
    # The library call the command makes, stopped for good once agg_hour is being copied: events and
    # the tables before it are on the server, in the open transaction.
    script = (
        "import sys, time\n"
        "from hub import db_copy\n"
        "def progress(table, done, total):\n"
        "    if table == 'agg_hour':\n"
        "        print('mid-way', flush=True)\n"
        "        time.sleep(60)\n"
        "db_copy.copy_to_pg(sys.argv[1], sys.argv[2], progress=progress)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(source), pg_url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout and proc.stdout.readline() == "mid-way\n"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            copying = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND mode = 'AccessExclusiveLock'"
            ).fetchone()[0]
            assert copying == 1  # the copy's transaction, still open
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    pg = connect(pg_url)
    assert {t: pg[t].count for t in _tables(source)} == dict.fromkeys(_tables(source), 0)
    pg.close()
    code, stdout, output = _copy(str(source), pg_url, "--json")
    assert code == 0, output
    assert json.loads(stdout)["rows"] > 4000


def test_a_hub_writing_meanwhile_gets_the_snapshot_copied_and_a_warning(source: Path, pg_url: str,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "live.db"
    with sqlite3.connect(source) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    before = sqlite3.connect(path).execute("SELECT count(*) FROM events").fetchone()[0]
    writer = open_db(path)

    def progress(table: str, done: int, total: int) -> None:
        if table == "agg_hour" and done == total:  # events are copied; the hub stores one more press
            outcomes = ingest.handle_batch(writer, [press_message("live-press-1")])
            assert [o.result for o in outcomes] == ["stored"], outcomes

    done = db_copy.copy_to_pg(path, pg_url, progress=progress)
    writer.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM events").fetchone()[0] == before + 1
    pg = connect(pg_url)
    assert pg["events"].count == before and done.source_changed
    assert "changed while it was copied" in db_copy.next_steps(path, "postgresql://...", done)[0]


def press_message(event_id: str) -> tuple[str, bytes, datetime]:
    body = protocol.rating_payload(branch="central", kiosk="exit-1", id=event_id, seq=10_000, ts="2026-12-01T14:59:00Z",
                                   score=4)  # fmt: skip
    return protocol.topic("central", "exit-1", "rating"), protocol.encode(body), NOW


def test_a_table_a_later_migration_adds_is_copied_without_a_list_naming_it(source: Path, pg_url: str,
                                                                            tmp_path: Path) -> None:  # fmt: skip
    lite_path = tmp_path / "newer.db"
    with sqlite3.connect(source) as src, sqlite3.connect(lite_path) as dst:
        src.backup(dst)
        dst.execute("CREATE TABLE later_table (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
        dst.execute("INSERT INTO later_table (note) VALUES (?), ('two')", [AWKWARD])
    code, _, output = _copy(str(lite_path), pg_url)
    assert code == 1 and "only the source has later_table" in output  # a destination without it: refused
    pg = connect(pg_url)
    pg.execute("CREATE TABLE later_table (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note TEXT NOT NULL)")
    pg.close()
    code, _, output = _copy(str(lite_path), pg_url)
    assert code == 0, output
    pg = connect(pg_url)
    assert pg.execute("SELECT note FROM later_table ORDER BY id").fetchall() == [(AWKWARD,), ("two",)]
    assert pg.execute("INSERT INTO later_table (note) VALUES ('three') RETURNING id").fetchone()[0] == 3


@pytest.mark.parametrize(
    ("make", "dest", "said"),
    [
        ("none", "postgresql://otklik@db.example.com/otklik", "no SQLite hub database at"),
        ("junk", "postgresql://otklik@db.example.com/otklik", "not a hub database"),
        ("hub", "elsewhere.db", "is not a postgresql:// URL"),
        ("url", "postgresql://otklik@db.example.com/otklik", "must be the store's SQLite file"),
        ("hub", "postgresql://otklik:pw@127.0.0.1:1/otklik", "cannot connect to postgresql://otklik:***@127.0.0.1:1"),
    ],
)
def test_what_cannot_be_copied_is_refused_before_anything_is_written(tmp_path: Path, make: str, dest: str,
                                                                     said: str) -> None:  # fmt: skip
    path = tmp_path / "hub.db"
    if make == "junk":
        sqlite3.connect(path).execute("CREATE TABLE notes (x)")
    elif make == "hub":
        open_db(path).close()
    target = "postgresql://otklik:pw@db.example.com/otklik" if make == "url" else str(path)
    code, _, output = _copy(target, dest)
    assert code == 1 and said in output and ":pw@" not in output, output


def test_tables_go_after_the_tables_they_reference() -> None:
    order = db_copy.dependency_order(["c", "b", "a", "d"], {"c": {"b"}, "b": {"a"}, "d": {"elsewhere"}})
    assert order == ["a", "b", "c", "d"]
