"""Tables of the analytics layer, in their own migration set (applied by ``hub.db.open_db``).

Aggregates are kept per (branch, local period, kiosk, employee) at three grains - local hour,
local day, local month - plus an hour-of-day x weekday grain per local month, so that any
query touches at most a few thousand pre-summed rows instead of raw events.  Periods are
strings in the branch's *local* time ('YYYY-MM-DDTHH', 'YYYY-MM-DD', 'YYYY-MM'): a store's
Monday morning is its own Monday morning, whatever UTC says.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("otklik-analytics")

# Columns every aggregate row carries: unflagged presses per button, flagged presses, and the
# flagged presses by reason (an event with two flags counts once in `flagged`, once per reason).
COUNT_COLUMNS = ("n1", "n2", "n3", "n4", "flagged", "f_cooldown", "f_burst", "f_hours", "f_clock", "f_other")
FLAG_COLUMNS = {"cooldown": "f_cooldown", "burst": "f_burst", "hours": "f_hours", "clock": "f_clock"}
AGG_TABLES = {"hour": "agg_hour", "day": "agg_day", "month": "agg_month"}

_COUNTS_SQL = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in COUNT_COLUMNS)


@MIGRATIONS()
def m001_analytics(db: Database) -> None:
    db.executescript(
        f"""
        CREATE TABLE IF NOT EXISTS branch_settings (
            branch TEXT PRIMARY KEY,
            timezone TEXT NOT NULL DEFAULT 'UTC',
            settings TEXT NOT NULL DEFAULT '{{}}',
            updated_at TEXT
        );
        CREATE TABLE IF NOT EXISTS employees (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            branch TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1
        );
        CREATE TABLE IF NOT EXISTS shifts (
            id INTEGER PRIMARY KEY,
            employee TEXT NOT NULL,
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL DEFAULT '',
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX IF NOT EXISTS shifts_lookup ON shifts (branch, kiosk, start);
        CREATE TABLE IF NOT EXISTS attribution (
            event_id TEXT PRIMARY KEY,
            employee TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT ''
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS agg_hour (
            branch TEXT NOT NULL, period TEXT NOT NULL, kiosk TEXT NOT NULL, employee TEXT NOT NULL,
            {_COUNTS_SQL},
            PRIMARY KEY (branch, period, kiosk, employee)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS agg_day (
            branch TEXT NOT NULL, period TEXT NOT NULL, kiosk TEXT NOT NULL, employee TEXT NOT NULL,
            {_COUNTS_SQL},
            PRIMARY KEY (branch, period, kiosk, employee)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS agg_month (
            branch TEXT NOT NULL, period TEXT NOT NULL, kiosk TEXT NOT NULL, employee TEXT NOT NULL,
            {_COUNTS_SQL},
            PRIMARY KEY (branch, period, kiosk, employee)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS agg_weekhour (
            branch TEXT NOT NULL, period TEXT NOT NULL, kiosk TEXT NOT NULL,
            dow INTEGER NOT NULL, hod INTEGER NOT NULL,
            {_COUNTS_SQL},
            PRIMARY KEY (branch, period, kiosk, dow, hod)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS camera_hour (
            branch TEXT NOT NULL, period TEXT NOT NULL, kiosk TEXT NOT NULL,
            visitors INTEGER NOT NULL DEFAULT 0, smiling INTEGER NOT NULL DEFAULT 0,
            windows INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (branch, period, kiosk)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS alerts (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL DEFAULT '',
            dedup_key TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
            message TEXT NOT NULL,
            value REAL,
            details TEXT NOT NULL DEFAULT '{{}}',
            opened_at TEXT NOT NULL,
            acknowledged_at TEXT, acknowledged_by TEXT, acknowledge_note TEXT,
            resolved_at TEXT, resolved_by TEXT, resolve_note TEXT,
            delivered TEXT NOT NULL DEFAULT '{{}}'
        );
        -- The same condition cannot fire again while its alert is open or acknowledged.
        CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_live ON alerts (dedup_key) WHERE state != 'resolved';
        CREATE INDEX IF NOT EXISTS alerts_branch_state ON alerts (branch, state);
        CREATE TABLE IF NOT EXISTS alert_channels (
            id INTEGER PRIMARY KEY,
            branch TEXT NOT NULL DEFAULT '*',
            kind TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
            target TEXT NOT NULL,
            UNIQUE (branch, kind, target)
        );
        CREATE TABLE IF NOT EXISTS hub_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )
    # Burst detection and re-attribution read events of one kiosk over a short time range through
    # the spine's index events (branch, kiosk, ts); no index of our own on events.


# hub.db.open_db applies each listed module's ``migrations``.
migrations = MIGRATIONS
