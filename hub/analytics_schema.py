"""Tables of the analytics layer, in their own migration set (applied by ``hub.db.open_db``).

Aggregates are kept per (branch, local period, kiosk, employee) at three grains - local hour,
local day, local month - plus an hour-of-day x weekday grain per local month, so that any
query touches at most a few thousand pre-summed rows instead of raw events.  Periods are
strings in the branch's *local* time ('YYYY-MM-DDTHH', 'YYYY-MM-DD', 'YYYY-MM'): a store's
Monday morning is its own Monday morning, whatever UTC says.
"""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

from hub.store import Database, is_sqlite

MIGRATIONS = Migrations("otklik-analytics")

# Columns every aggregate row carries: unflagged presses per button, flagged presses, and the
# flagged presses by reason (an event with two flags counts once in `flagged`, once per reason).
COUNT_COLUMNS = ("n1", "n2", "n3", "n4", "flagged", "f_cooldown", "f_burst", "f_hours", "f_clock", "f_other")
FLAG_COLUMNS = {"cooldown": "f_cooldown", "burst": "f_burst", "hours": "f_hours", "clock": "f_clock"}
# Every table of pre-summed press counts (camera_hour counts visitors, not presses).
AGG_TABLES = ("agg_hour", "agg_day", "agg_month", "agg_weekhour", "agg_bhour")

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


def _rollup_sql(target: str, period_expr: str, key_cols: str, key_vals: str, sign_old: bool) -> str:
    values = ", ".join(f"NEW.{c} - OLD.{c}" if sign_old else f"NEW.{c}" for c in COUNT_COLUMNS)
    add = ", ".join(f"{c} = {c} + excluded.{c}" for c in COUNT_COLUMNS)
    return (
        f"INSERT INTO {target} (branch, period, {key_cols}{', ' if key_cols else ''}{', '.join(COUNT_COLUMNS)}) "
        f"VALUES (NEW.branch, {period_expr}, {key_vals}{', ' if key_vals else ''}{values}) "
        f"ON CONFLICT DO UPDATE SET {add};"
    )


@MIGRATIONS()
def m002_rollup_triggers(db: Database) -> None:
    """The per-branch weekday x hour grain and ``agg_bhour`` (per branch and local hour, no kiosk or
    employee), which serves the uneven edges of branch-wide hour x weekday tables.

    The roll-up triggers made here fired once per hour row written, four upserts each; m004
    drops them: ``hub.aggregates.Tally`` now writes every grain, one upsert per key per batch.
    """
    db.executescript(
        f"""
        -- Per branch only (no kiosk): a chain-wide hour x weekday table reads ~100 rows per
        -- branch and month instead of ~600.  A kiosk's or employee's table uses agg_hour.
        DROP TABLE IF EXISTS agg_weekhour;
        CREATE TABLE agg_weekhour (
            branch TEXT NOT NULL, period TEXT NOT NULL, dow INTEGER NOT NULL, hod INTEGER NOT NULL,
            {_COUNTS_SQL},
            PRIMARY KEY (branch, period, dow, hod)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS agg_bhour (
            branch TEXT NOT NULL, period TEXT NOT NULL,
            {_COUNTS_SQL},
            PRIMARY KEY (branch, period)
        ) WITHOUT ROWID;
        """
    )
    if not is_sqlite(db):
        return  # the triggers below are SQLite's, and m004 drops them: a PostgreSQL store never had them
    dow = "(CAST(strftime('%w', substr(NEW.period, 1, 10)) AS INTEGER) + 6) % 7"
    hod = "CAST(substr(NEW.period, 12, 2) AS INTEGER)"
    for event, sign_old in (("INSERT", False), ("UPDATE", True)):
        body = "\n".join(
            [
                _rollup_sql(
                    "agg_day", "substr(NEW.period, 1, 10)", "kiosk, employee", "NEW.kiosk, NEW.employee", sign_old
                ),
                _rollup_sql(
                    "agg_month", "substr(NEW.period, 1, 7)", "kiosk, employee", "NEW.kiosk, NEW.employee", sign_old
                ),
                _rollup_sql("agg_weekhour", "substr(NEW.period, 1, 7)", "dow, hod", f"{dow}, {hod}", sign_old),
                _rollup_sql("agg_bhour", "NEW.period", "", "", sign_old),
            ]
        )
        db.execute(
            f"CREATE TRIGGER IF NOT EXISTS agg_hour_rollup_{event.lower()} AFTER {event} ON agg_hour BEGIN {body} END"
        )


@MIGRATIONS()
def m003_alert_texts(db: Database) -> None:
    """Alerts keep their rule's parameters, so each reader gets the text in their own language
    (``hub.alert_text``); ``message`` stays as the English text for exports and old rows.
    ``cleared_at`` is when the condition was last seen gone, for auto-resolve; a channel may
    name the language its e-mails are written in (empty: the branch's ``alert_language``)."""
    db.executescript(
        """
        ALTER TABLE alerts ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE alerts ADD COLUMN cleared_at TEXT;
        ALTER TABLE alert_channels ADD COLUMN language TEXT NOT NULL DEFAULT '';
        """
    )


@MIGRATIONS()
def m004_rollups_by_the_batch(db: Database) -> None:
    """Roll-ups are written by ``hub.aggregates.Tally`` (every writer of the aggregates goes through it),
    one upsert per key and grain per batch, not by a trigger per hour-row change."""
    if not is_sqlite(db):
        return
    db.executescript(
        """
        DROP TRIGGER IF EXISTS agg_hour_rollup_insert;
        DROP TRIGGER IF EXISTS agg_hour_rollup_update;
        """
    )


@MIGRATIONS()
def m005_agg_marks(db: Database) -> None:
    """Per branch, what lets a reader keep the figures of its past days until they change (``hub.aggregates``).

    ``newest``: the latest branch-local day ('YYYY-MM-DD') any aggregate row was written for;
    ``moved``: a counter bumped by every write to a day before ``newest`` (a late press, a
    re-attribution, a rebuild). The dashboard (dashboard.history) keeps a period's days before
    ``newest`` keyed on ``moved``, and re-reads only the days from ``newest`` on after a commit.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS agg_marks ("
        "branch TEXT PRIMARY KEY, newest TEXT NOT NULL DEFAULT '', moved INTEGER NOT NULL DEFAULT 0)"
    )
    # A database counted before this migration: its newest days as they stand (camera rows too).
    db.execute(
        "INSERT INTO agg_marks (branch, newest, moved) "
        "SELECT branch, max(day), 0 FROM ("
        "SELECT branch, max(period) AS day FROM agg_day GROUP BY branch "
        "UNION ALL SELECT branch, substr(max(period), 1, 10) AS day FROM camera_hour GROUP BY branch"
        ") days GROUP BY branch"
    )
