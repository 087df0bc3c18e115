"""Opening the hub's database: a SQLite file (WAL, durable commits) or a PostgreSQL URL; every migration set applied.

Which store is the target's business (``hub.store``): a ``postgresql://`` URL is PostgreSQL, anything else
a SQLite file. Both take the same migration sets, in the same order; on PostgreSQL the record of what
was applied is the ``_otklik_migrations`` table and migrating runs under an advisory lock, so several
hubs starting at once apply each migration once.
"""

from __future__ import annotations

import importlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database as SqliteDatabase
from sqlite_utils.migrations import Migrations

from hub import changes
from hub.store import Database, PgDatabase, connect_pg, is_url, redacted
from otklik.errors import OtklikError
from otklik.private_files import create_private

# Each area of the hub keeps its tables in its own migration set, in its own
# module (a module-level ``migrations``); they are applied in this order.
MIGRATION_MODULES = [
    "hub.schema",
    "hub.analytics_schema",
    "hub.provisioning.registry",
    "hub.flood_guard",
]

PG_MIGRATIONS_TABLE = "_otklik_migrations"
# Any fixed number: the advisory lock every migrating process takes on the database.
_PG_MIGRATE_LOCK = 0x6F746B6C


def _migration_sets() -> list[Migrations]:
    return [importlib.import_module(name).migrations for name in MIGRATION_MODULES]


def connect(target: str | Path) -> Database:
    """A plain connection to an existing hub database (no migrations, nothing created), for readers."""
    if is_url(str(target)):
        return connect_pg(str(target))
    conn = sqlite3.connect(target, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return SqliteDatabase(conn)


def open_db(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) the hub database.

    SQLite: WAL lets the dashboard read while ingest writes. synchronous=FULL because
    the hub acknowledges a message to the broker only after its commit: a commit
    that a power cut could undo would be a press lost after the kiosk let go of it.
    (PostgreSQL's commits are durable as configured by its own ``synchronous_commit``.)
    """
    if is_url(str(path)):
        pg = connect_pg(str(path))
        if migrate:
            _apply_pg(pg)
        return pg
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private(path)
    db = SqliteDatabase(path)
    db.conn.execute("PRAGMA busy_timeout = 10000")
    db.enable_wal()
    db.conn.execute("PRAGMA synchronous = FULL")
    if migrate:
        for migrations in _migration_sets():
            migrations.apply(db)
    return db


class NotMigrated(OtklikError):
    """A hub database that is missing, or older than this code's schema."""


# --- migrations on PostgreSQL ------------------------------------------------------------------
# The same sqlite-utils migration sets: each function takes the store it runs on (hub.store.Database)
# and writes SQL both engines read; hub.store respells the column types.


def _pg_applied(db: PgDatabase) -> set[tuple[str, str]]:
    if not db[PG_MIGRATIONS_TABLE].exists():
        return set()
    return {(r[0], r[1]) for r in db.execute(f"SELECT migration_set, name FROM {PG_MIGRATIONS_TABLE}").fetchall()}


def _pg_pending(db: PgDatabase) -> list[tuple[Migrations, Any]]:
    done = _pg_applied(db)
    # sqlite-utils keeps a set's migrations in registration order in ``_migrations``; its own
    # apply() needs a SQLite connection, so this walks the same list.
    return [(s, m) for s in _migration_sets() for m in s._migrations if (s.name, m.name) not in done]


def _apply_pg(db: PgDatabase) -> list[str]:
    db.execute("SELECT pg_advisory_lock(?)", [_PG_MIGRATE_LOCK])
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {PG_MIGRATIONS_TABLE} (migration_set TEXT NOT NULL, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL, PRIMARY KEY (migration_set, name))"
        )
        applied = []
        for migrations, migration in _pg_pending(db):
            # One transaction per migration with its record: PostgreSQL's DDL is transactional.
            with db.conn:
                db.conn.begin()
                migration.fn(db)
                db.execute(
                    f"INSERT INTO {PG_MIGRATIONS_TABLE} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                    [migrations.name, migration.name, datetime.now(UTC).isoformat()],
                )
            applied.append(f"{migrations.name}:{migration.name}")
        # Every table (a new one included) NOTIFYs its commits: hub.changes' signal.
        with db.conn:
            db.conn.begin()
            changes.install(db)
        return applied
    finally:
        db.execute("SELECT pg_advisory_unlock(?)", [_PG_MIGRATE_LOCK])


def pending(db: Database) -> list[str]:
    """Migrations not applied yet, as ``set:name`` (read-only: writes nothing)."""
    if isinstance(db, PgDatabase):
        return [f"{s.name}:{m.name}" for s, m in _pg_pending(db)]
    out: list[str] = []
    for migrations in _migration_sets():
        out += [f"{migrations.name}:{m.name}" for m in migrations.pending(db)]
    return out


def migrate(path: str | Path) -> list[str]:
    """Create the hub database if needed and apply every pending migration; returns what it applied.

    ``otklik db migrate`` runs this; the hub's own processes migrate on opening too, but
    readers of the database (the dashboard) only check it (``check_migrated``).
    """
    db = open_db(path, migrate=False)
    try:
        if isinstance(db, PgDatabase):
            return _apply_pg(db)
        todo = pending(db)
        for migrations in _migration_sets():
            migrations.apply(db)
        return todo
    finally:
        db.close()


def check_migrated(path: str | Path) -> None:
    """Refuse a database that is missing or not migrated, saying which command fixes it."""
    # The command is in the message, not a hint: under gunicorn only the message reaches the log.
    shown = redacted(path)
    todo = f"run `otklik db migrate --db {shown}` first"
    if not is_url(str(path)) and not Path(path).exists():
        raise NotMigrated(f"no hub database at {shown}: {todo}", field="OTKLIK_DB")
    db = connect(path)
    try:
        missing = pending(db)
    finally:
        db.close()
    if missing:
        raise NotMigrated(f"the hub database {shown} lacks {len(missing)} migrations: {todo}", field="OTKLIK_DB")


def open_existing(path: str | Path) -> Database:
    """``open_db`` for commands that read the hub: a missing file is an error, not a new empty hub."""
    if not is_url(str(path)) and not Path(path).exists():
        raise NotMigrated(
            f"no hub database at {path}",
            field="--db",
            hint=f"give --db (or OTKLIK_DB) the hub's file, or create one with `otklik db migrate --db {path}`",
        )
    return open_db(path)
