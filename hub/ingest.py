"""Turning received MQTT messages into rows: validate, correct the time, de-duplicate, store.

Nothing here talks to a broker, so every rule can be tested with a topic, a
payload and a database. ``hub.service`` feeds it from MQTT in batches.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from hub import aggregates
from otklik import protocol
from otklik.protocol import Heartbeat, ProtocolError, Rating, Reaction, Status

log = logging.getLogger(__name__)

# Dead letters keep the raw payload so nothing is lost, but not without limit:
# a hostile 100 MB publish must not become 100 MB on the hub's disk.
DEAD_LETTER_KEEP_BYTES = 64 * 1024
# A Pi without a real-time clock boots at a stale time; anything before this
# cannot be a real press time for this product.
EARLIEST_PLAUSIBLE = datetime(2025, 1, 1, tzinfo=UTC)
# Clocks drift; a kiosk a little ahead of the hub is normal, far ahead is wrong.
FUTURE_TOLERANCE = timedelta(minutes=5)

STORED, DUPLICATE, REJECTED, UPDATED, IGNORED = "stored", "duplicate", "rejected", "updated", "ignored"


@dataclass
class Outcome:
    result: str
    reason: str | None = None
    # The stored (or already stored) event's id, for the hub's receipt to its kiosk.
    id: str | None = None


@dataclass
class _KioskSeen:
    last_seen: str
    seq_max: int = 0
    new_events: int = 0


@dataclass
class _Batch:
    """Registry updates gathered over a batch and written once per kiosk, not once per message."""

    seen: dict[tuple[str, str], _KioskSeen] = field(default_factory=dict)

    def touch(self, branch: str, kiosk: str, at: str, seq: int | None = None) -> None:
        entry = self.seen.setdefault((branch, kiosk), _KioskSeen(last_seen=at))
        entry.last_seen = max(entry.last_seen, at)
        if seq is not None:
            entry.seq_max = max(entry.seq_max, seq)
            entry.new_events += 1


def handle_message(db: Database, topic: str, payload: bytes, received_at: datetime | None = None) -> Outcome:
    """Handle one message in its own transaction."""
    return handle_batch(db, [(topic, payload, received_at or datetime.now(UTC))])[0]


def handle_batch(db: Database, messages: Iterable[tuple[str, bytes, datetime]]) -> list[Outcome]:
    """Handle many messages in one transaction: one commit (and one fsync) per batch.

    The batch runs first without a savepoint per message (they cost about a
    tenth of the ingest time). Only if storing some message fails in a way
    validation did not foresee is the batch rolled back and run again with a
    savepoint around each message, so that message goes to the dead letters and
    the others are stored. Database errors (disk full, I/O) are not a message's
    fault: they propagate, nothing is acknowledged, and the caller retries.
    """
    messages = list(messages)
    try:
        return _run_batch(db, messages, guarded=False)
    except sqlite3.OperationalError:
        raise
    except Exception:
        log.warning("a message in a batch of %d could not be stored; storing them one by one", len(messages))
    return _run_batch(db, messages, guarded=True)


def _run_batch(db: Database, messages: list[tuple[str, bytes, datetime]], *, guarded: bool) -> list[Outcome]:
    batch = _Batch()
    with db.atomic():
        outcomes = [_handle_one(db, batch, t, p, r, guarded) for t, p, r in messages]
        _write_registry(db, batch)
    return outcomes


def _handle_one(
    db: Database, batch: _Batch, topic: str, payload: bytes, received_at: datetime, guarded: bool
) -> Outcome:
    received = protocol.format_ts(received_at)
    try:
        message = protocol.decode(topic, payload)
    except ProtocolError as err:
        return dead_letter(db, topic, payload, str(err), received)
    if not guarded:
        return _store(db, batch, message, topic, payload, received_at, received)
    try:
        with db.atomic():  # a savepoint
            return _store(db, batch, message, topic, payload, received_at, received)
    except sqlite3.OperationalError:
        raise
    except Exception as err:  # one bad message must not stop ingest
        log.exception("could not store message on %s", topic)
        return dead_letter(db, topic, payload, f"hub could not store it: {type(err).__name__}: {err}", received)


def _store(
    db: Database, batch: _Batch, message: object, topic: str, payload: bytes, received_at: datetime, received: str
) -> Outcome:
    if isinstance(message, Rating):
        return _rating(db, batch, message, topic, payload, received_at)
    if isinstance(message, Heartbeat):
        return _heartbeat(db, batch, message, received)
    if isinstance(message, Status):
        return _status(db, batch, message, received)
    if isinstance(message, Reaction):
        return _reaction(db, batch, message, received)
    # The hub publishes config itself; it is not ingested.
    return Outcome(IGNORED)


def resolve_time(rating: Rating, received_at: datetime) -> tuple[datetime, str, bool]:
    """The event time to store, where it came from, and whether it is doubtful.

    A kiosk that pressed before its clock was synchronised says so
    (``clock: unsynced``) and, when it still knows, how long ago the press was
    (``age_ms``, from its monotonic clock): then the hub's receive time minus
    that age is the best estimate. Without an age, or with a time that cannot
    be right, the receive time is stored and the event flagged ``clock``: kept
    and shown, but left out of time-based scores, because nobody knows when it
    really happened.
    """
    if rating.clock == protocol.CLOCK_UNSYNCED:
        if rating.age_ms is not None:
            return received_at - timedelta(milliseconds=rating.age_ms), "hub", False
        return received_at, "hub", True
    if rating.ts < EARLIEST_PLAUSIBLE or rating.ts > received_at + FUTURE_TOLERANCE:
        return received_at, "hub", True
    return rating.ts, "kiosk", False


def _rating(db: Database, batch: _Batch, rating: Rating, topic: str, payload: bytes, received_at: datetime) -> Outcome:
    ts, source, doubtful = resolve_time(rating, received_at)
    flags = set(rating.flags)
    if doubtful:
        flags.add("clock")
    row: dict[str, Any] = {
        "id": rating.id,
        "branch": rating.branch,
        "kiosk": rating.kiosk,
        "seq": rating.seq,
        "ts": protocol.format_ts(ts),
        "kiosk_ts": protocol.format_ts(rating.ts),
        "ts_source": source,
        "score": rating.score,
        "employee": rating.employee,
        "flags": ",".join(sorted(flags)),
        "received_at": protocol.format_ts(received_at),
        "extra": json.dumps(rating.extra, sort_keys=True) if rating.extra else None,
    }
    if store_event(db, row):
        batch.touch(rating.branch, rating.kiosk, row["received_at"], seq=rating.seq)
        return Outcome(STORED, id=rating.id)
    batch.touch(rating.branch, rating.kiosk, row["received_at"])
    stored = db.execute(
        "SELECT branch, kiosk, seq, kiosk_ts, score, employee FROM events WHERE id = ?", [rating.id]
    ).fetchone()
    if stored != (rating.branch, rating.kiosk, rating.seq, row["kiosk_ts"], rating.score, rating.employee):
        # Same id, other content: a kiosk bug or someone replaying ids. The
        # first event stands; the second is kept where a person can see it.
        return dead_letter(
            db,
            topic,
            payload,
            f"duplicate id {rating.id} with content different from the stored event",
            row["received_at"],
        )
    return Outcome(DUPLICATE, id=rating.id)


def store_event(db: Database, row: dict[str, Any]) -> bool:
    """Insert one validated event; False if its id is already stored.

    ON CONFLICT on the id only (not INSERT OR IGNORE), so a row breaking any
    other constraint raises instead of vanishing.
    """
    cursor = db.execute(
        """
        INSERT INTO events (id, branch, kiosk, seq, ts, kiosk_ts, ts_source, score, employee, flags, received_at, extra)
        VALUES (:id, :branch, :kiosk, :seq, :ts, :kiosk_ts, :ts_source, :score, :employee, :flags, :received_at, :extra)
        ON CONFLICT (id) DO NOTHING
        """,
        row,
    )
    if cursor.rowcount != 1:
        return False
    # Misuse flags, attribution and aggregates, in this same transaction.
    aggregates.on_event(db, row)
    return True


def _heartbeat(db: Database, batch: _Batch, hb: Heartbeat, received: str) -> Outcome:
    batch.touch(hb.branch, hb.kiosk, received)
    _ensure_kiosk(db, hb.branch, hb.kiosk, received)
    db.execute(
        """
        UPDATE kiosks SET version = ?, uptime_s = ?, outbox_depth = ?, last_seq_sent = ?, heartbeat_at = ?,
            heartbeat_extra = ?,
            -- a heartbeat is proof of life even if the retained status was lost
            state = 'online', state_at = CASE WHEN state = 'online' THEN state_at ELSE ? END
        WHERE branch = ? AND kiosk = ?
        """,
        [
            hb.version,
            hb.uptime_s,
            hb.outbox_depth,
            hb.last_seq_sent,
            received,
            json.dumps(hb.extra, sort_keys=True) if hb.extra else None,
            received,
            hb.branch,
            hb.kiosk,
        ],
    )
    return Outcome(UPDATED)


def _status(db: Database, batch: _Batch, status: Status, received: str) -> Outcome:
    batch.touch(status.branch, status.kiosk, received)
    _ensure_kiosk(db, status.branch, status.kiosk, received)
    at = protocol.format_ts(status.ts) if status.ts else received
    db.execute(
        "UPDATE kiosks SET state = ?, state_at = ? WHERE branch = ? AND kiosk = ?",
        [status.state, at, status.branch, status.kiosk],
    )
    return Outcome(UPDATED)


def _reaction(db: Database, batch: _Batch, reaction: Reaction, received: str) -> Outcome:
    batch.touch(reaction.branch, reaction.kiosk, received)
    cursor = db.execute(
        """
        INSERT INTO reactions (id, branch, kiosk, window_start, window_s, visitors, smiling, frames, fps, detector,
            received_at, extra)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO NOTHING
        """,
        [
            reaction.id,
            reaction.branch,
            reaction.kiosk,
            protocol.format_ts(reaction.window_start),
            reaction.window_s,
            reaction.visitors,
            reaction.smiling,
            reaction.frames,
            reaction.fps,
            reaction.detector,
            received,
            json.dumps(reaction.extra, sort_keys=True) if reaction.extra else None,
        ],
    )
    if cursor.rowcount != 1:
        return Outcome(DUPLICATE, id=reaction.id)
    aggregates.on_reaction(db, {**reaction.__dict__, "window_start": protocol.format_ts(reaction.window_start)})
    return Outcome(STORED, id=reaction.id)


def _ensure_kiosk(db: Database, branch: str, kiosk: str, at: str) -> None:
    db.execute(
        "INSERT INTO kiosks (branch, kiosk, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [branch, kiosk, at, at],
    )


def _write_registry(db: Database, batch: _Batch) -> None:
    for (branch, kiosk), seen in batch.seen.items():
        _ensure_kiosk(db, branch, kiosk, seen.last_seen)
        db.execute(
            """
            UPDATE kiosks SET last_seen = MAX(last_seen, ?), seq_max = MAX(seq_max, ?), seq_count = seq_count + ?
            WHERE branch = ? AND kiosk = ?
            """,
            [seen.last_seen, seen.seq_max, seen.new_events, branch, kiosk],
        )


def dead_letter(db: Database, topic: str, payload: bytes, reason: str, received: str) -> Outcome:
    log.warning("rejected message on %s: %s", topic, reason)
    db.execute(
        "INSERT INTO dead_letters (topic, payload, payload_size, reason, received_at) VALUES (?, ?, ?, ?, ?)",
        [topic[:1024], bytes(payload[:DEAD_LETTER_KEEP_BYTES]), len(payload), reason, received],
    )
    return Outcome(REJECTED, reason)
