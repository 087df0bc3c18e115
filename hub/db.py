"""Opening the hub's SQLite database: WAL, durable commits, every migration set applied."""

from __future__ import annotations

import importlib
from pathlib import Path

from sqlite_utils import Database

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


def open_db(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) the hub database.

    WAL lets the dashboard read while ingest writes. synchronous=FULL because
    the hub acknowledges a message to the broker only after its commit: a commit
    that a power cut could undo would be a press lost after the kiosk let go of it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private(path)
    db = Database(path)
    db.conn.execute("PRAGMA busy_timeout = 10000")
    db.enable_wal()
    db.conn.execute("PRAGMA synchronous = FULL")
    if migrate:
        for name in MIGRATION_MODULES:
            importlib.import_module(name).migrations.apply(db)
    return db


class NotMigrated(OtklikError):
    """A hub database that is missing, or older than this code's schema."""


def pending(db: Database) -> list[str]:
    """Migrations not applied yet, as ``set:name`` (read-only: writes nothing)."""
    out: list[str] = []
    for module in MIGRATION_MODULES:
        migrations = importlib.import_module(module).migrations
        out += [f"{migrations.name}:{m.name}" for m in migrations.pending(db)]
    return out


def migrate(path: str | Path) -> list[str]:
    """Create the hub database if needed and apply every pending migration; returns what it applied.

    ``otklik db migrate`` runs this; the hub's own processes migrate on opening too, but
    readers of the database (the dashboard) only check it (``check_migrated``).
    """
    db = open_db(path, migrate=False)
    try:
        todo = pending(db)
        for name in MIGRATION_MODULES:
            importlib.import_module(name).migrations.apply(db)
        return todo
    finally:
        db.close()


def check_migrated(path: str | Path) -> None:
    """Refuse a database that is missing or not migrated, saying which command fixes it."""
    # The command is in the message, not a hint: under gunicorn only the message reaches the log.
    todo = f"run `otklik db migrate --db {path}` first"
    if not Path(path).exists():
        raise NotMigrated(f"no hub database at {path}: {todo}", field="OTKLIK_DB")
    db = Database(Path(path))
    try:
        missing = pending(db)
    finally:
        db.close()
    if missing:
        raise NotMigrated(f"the hub database {path} lacks {len(missing)} migrations: {todo}", field="OTKLIK_DB")


def open_existing(path: str | Path) -> Database:
    """``open_db`` for commands that read the hub: a missing file is an error, not a new empty hub."""
    if not Path(path).exists():
        raise NotMigrated(
            f"no hub database at {path}",
            field="--db",
            hint=f"give --db (or OTKLIK_DB) the hub's file, or create one with `otklik db migrate --db {path}`",
        )
    return open_db(path)
