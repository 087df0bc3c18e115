"""Opening the hub's SQLite database: WAL, durable commits, every migration set applied."""

from __future__ import annotations

import importlib
from pathlib import Path

from sqlite_utils import Database

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
