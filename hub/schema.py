"""The spine's tables: events, dead letters (and their bounds), the kiosk registry, camera reactions, answers."""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

from hub.store import Database

migrations = Migrations("otklik-hub")


@migrations()
def m001_spine(db: Database) -> None:
    # Written as SQL rather than table.create() for the CHECK constraints and
    # the NOT NULLs: the hub validates first, the schema is the last line.
    db.execute(
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts TEXT NOT NULL,
            kiosk_ts TEXT NOT NULL,
            ts_source TEXT NOT NULL CHECK (ts_source IN ('kiosk', 'hub')),
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 4),
            employee TEXT,
            flags TEXT NOT NULL DEFAULT '',
            received_at TEXT NOT NULL,
            extra TEXT
        )
        """
    )
    db.execute("CREATE INDEX events_branch_kiosk_ts ON events (branch, kiosk, ts)")
    db.execute("CREATE INDEX events_ts ON events (ts)")
    db.execute(
        """
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            payload_size INTEGER NOT NULL,
            reason TEXT NOT NULL,
            received_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE kiosks (
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'unknown',
            state_at TEXT,
            version TEXT,
            uptime_s REAL,
            outbox_depth INTEGER,
            last_seq_sent INTEGER,
            heartbeat_at TEXT,
            seq_max INTEGER NOT NULL DEFAULT 0,
            seq_count INTEGER NOT NULL DEFAULT 0,
            heartbeat_extra TEXT,
            PRIMARY KEY (branch, kiosk)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE reactions (
            id TEXT PRIMARY KEY,
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL,
            window_start TEXT NOT NULL,
            window_s REAL NOT NULL,
            visitors INTEGER NOT NULL,
            smiling INTEGER NOT NULL,
            frames INTEGER NOT NULL,
            fps REAL NOT NULL,
            detector TEXT NOT NULL,
            received_at TEXT NOT NULL,
            extra TEXT
        )
        """
    )
    db.execute("CREATE INDEX reactions_branch_kiosk_window ON reactions (branch, kiosk, window_start)")


@migrations()
def m002_bounded_dead_letters(db: Database) -> None:
    # See hub/dead_letters.py: payloads are cut to 1 KB, so the hash tells
    # repeats apart; the index serves the retention prune.
    db.execute("ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT")
    db.execute("CREATE INDEX dead_letters_received_at ON dead_letters (received_at)")
    db.execute(
        """
        CREATE TABLE dead_letter_sources (
            source TEXT PRIMARY KEY,
            tokens REAL NOT NULL,
            refilled_at REAL NOT NULL,
            written INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0,
            retained_repeats INTEGER NOT NULL DEFAULT 0,
            last_dropped_at TEXT,
            last_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE retained_rejects (
            topic TEXT NOT NULL,
            payload_sha256 TEXT NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL,
            repeats INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (topic, payload_sha256)
        )
        """
    )


@migrations()
def m003_answers(db: Database) -> None:
    # What a shopper adds after a press (hub/answers.py). No foreign key to events: an answer may
    # arrive before its rating (another kiosk batch, a re-send) and is kept all the same.
    db.execute(
        """
        CREATE TABLE answers (
            id TEXT PRIMARY KEY,
            rating_id TEXT NOT NULL,
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL,
            ts TEXT NOT NULL,
            reason TEXT,
            comment TEXT CHECK (comment IS NULL OR length(comment) <= 500),
            received_at TEXT NOT NULL,
            hidden_at TEXT,
            hidden_by TEXT,
            extra TEXT,
            CHECK (reason IS NOT NULL OR comment IS NOT NULL),
            CHECK ((hidden_at IS NULL) = (hidden_by IS NULL))
        )
        """
    )
    db.execute("CREATE INDEX answers_rating ON answers (rating_id, ts)")
    db.execute("CREATE INDEX answers_branch_ts ON answers (branch, ts)")


@migrations()
def m004_event_channel(db: Database) -> None:
    # Where the press was made (protocol.CHANNELS). Every press stored before came from buttons.
    db.execute(
        "ALTER TABLE events ADD COLUMN channel TEXT NOT NULL DEFAULT 'buttons'"
        " CHECK (channel IN ('buttons', 'touch', 'phone', 'pad'))"
    )


@migrations()
def m005_flagged_index(db: Database) -> None:
    # The flagged presses of a branch (the dashboard's list, about 1 % of the presses) read from
    # an index of those rows alone instead of scanning the branch's raw events: a few ms cold on a
    # 10 M-press database instead of seconds. Partial indexes are SQL both SQLite and PostgreSQL
    # take; the query must say ``flags <> ''`` for either planner to use it (dashboard.figures).
    db.execute("CREATE INDEX events_flagged ON events (branch, ts) WHERE flags <> ''")
