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

from hub import aggregates, answers, dead_letters
from otklik import protocol, times
from otklik.protocol import Answer, Heartbeat, ProtocolError, Rating, Reaction, Status

log = logging.getLogger(__name__)

# How much of a rejected payload is kept, and the other bounds: hub/dead_letters.py.
DEAD_LETTER_KEEP_BYTES = dead_letters.KEEP_BYTES
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


# A message as the service hands it over: topic, payload, when it arrived and,
# optionally, the MQTT retain flag (True when the broker re-sent a retained copy).
Received = tuple[str, bytes, datetime] | tuple[str, bytes, datetime, bool]

# SQLite result codes (primary, the low byte) that mean the database or the
# disk failed, not the message: these propagate, nothing is acknowledged, and
# the caller retries. Anything else raised while storing one message is that
# message's problem (or a bug in our code for it) and makes it a dead letter.
_ENVIRONMENT_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)


def is_environmental(err: BaseException) -> bool:
    """True when ``err`` says the database or the machine failed, so no message is to blame."""
    if isinstance(err, MemoryError):
        return True
    if not isinstance(err, sqlite3.Error):
        return False
    code = getattr(err, "sqlite_errorcode", None)
    # No code: the connection itself is unusable (closed, wrong thread), for every message alike.
    return code is None or (code & 0xFF) in _ENVIRONMENT_CODES


class _TransactionLost(Exception):
    """SQLite rolled back the whole transaction while storing message ``index``."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def handle_message(db: Database, topic: str, payload: bytes, received_at: datetime | None = None) -> Outcome:
    """Handle one message in its own transaction."""
    return handle_batch(db, [(topic, payload, received_at or datetime.now(UTC))])[0]


def handle_batch(db: Database, messages: Iterable[Received]) -> list[Outcome]:
    """Handle many messages in one transaction: one commit (and one fsync) per batch, one outcome per message.

    Every message is stored inside its own savepoint (a few microseconds), so a
    message that fails in a way validation did not foresee costs that savepoint
    only: it is rolled back and dead-lettered, with the traceback in the log,
    and the batch's other messages are stored and committed. Whatever a message
    holds, this never raises for it; only database errors that are no
    message's fault (disk full, I/O, read-only) propagate, with nothing
    committed, for the caller to retry.
    """
    items = [(m[0], m[1], m[2], bool(m[3]) if len(m) > 3 else False) for m in messages]  # type: ignore[misc]
    poisoned: set[int] = set()
    while True:
        try:
            return _run_batch(db, items, poisoned)
        except _TransactionLost as lost:
            # Rare (a RAISE(ROLLBACK) trigger, say): the transaction is gone, so the
            # batch runs again, this time with that message dead-lettered unstored.
            log.error("storing a message rolled back its whole batch; running the batch again without it")
            poisoned.add(lost.index)


def _run_batch(db: Database, items: list[tuple[str, bytes, datetime, bool]], poisoned: set[int]) -> list[Outcome]:
    batch = _Batch()
    letters = dead_letters.Letters(db)
    with db.atomic():
        outcomes = [
            _handle_one(db, batch, letters, i in poisoned, i, topic, payload, received_at, retained)
            for i, (topic, payload, received_at, retained) in enumerate(items)
        ]
        _write_registry(db, batch)
        letters.flush()
        # Now is when the batch arrived (the hub's clock, as every received_at).
        dead_letters.prune_if_due(db, max(m[2] for m in items) if items else None)
    return outcomes


def _handle_one(
    db: Database,
    batch: _Batch,
    letters: dead_letters.Letters,
    poisoned: bool,
    index: int,
    topic: str,
    payload: bytes,
    received_at: datetime,
    retained: bool,
) -> Outcome:
    def reject(reason: str) -> Outcome:
        letters.reject(topic, payload, reason, received_at, retained)
        return Outcome(REJECTED, reason)

    try:
        message = protocol.decode(topic, payload)
    except ProtocolError as err:
        return reject(str(err))
    except Exception as err:  # a bug in decode: only this message's problem
        log.exception("protocol.decode failed on a message on %s", dead_letters.text(str(topic))[:200])
        return reject(f"hub could not check it: {type(err).__name__}: {err}")
    kind = topic.rsplit("/", 1)[-1]
    if retained and kind not in protocol.RETAINED:
        # The live copy was handled when it was published; the broker re-sends
        # the retained one on every subscribe, so it is refused (once: see dead_letters).
        return reject(f"retained {kind} message: a kiosk must not retain {kind} messages; it is not stored")
    if poisoned:
        return reject("hub could not store it: storing it rolled back the whole batch (see the hub's log)")
    conn = db.conn
    received = times.format_ts(received_at)
    conn.execute("SAVEPOINT message")
    try:
        outcome = _store(db, batch, message, topic, payload, received_at, received)
    except BaseException as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO message")
            conn.execute("RELEASE message")
        # A full disk can roll the whole transaction back too: that is still no message's fault.
        if is_environmental(err) or not isinstance(err, Exception):
            raise
        if not conn.in_transaction:
            raise _TransactionLost(index) from err
        log.exception("could not store message on %s", topic)
        return reject(f"hub could not store it: {type(err).__name__}: {err}")
    conn.execute("RELEASE message")
    if outcome.result == REJECTED:
        reject(outcome.reason or "rejected")
    return outcome


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
    if isinstance(message, Answer):
        batch.touch(message.branch, message.kiosk, received)
        stored, conflict = answers.store(db, message, received)
        return Outcome(REJECTED, conflict) if conflict else Outcome(STORED if stored else DUPLICATE, id=message.id)
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
        "ts": times.format_ts(ts),
        "kiosk_ts": times.format_ts(rating.ts),
        "ts_source": source,
        "score": rating.score,
        "employee": rating.employee,
        "flags": ",".join(sorted(flags)),
        "channel": rating.channel,
        "received_at": times.format_ts(received_at),
        "extra": json.dumps(rating.extra, sort_keys=True) if rating.extra else None,
    }
    if store_event(db, row):
        batch.touch(rating.branch, rating.kiosk, row["received_at"], seq=rating.seq)
        return Outcome(STORED, id=rating.id)
    batch.touch(rating.branch, rating.kiosk, row["received_at"])
    # Compared on what the press itself fixed, not on ts, clock or age_ms: a
    # kiosk whose clock synced while the press waited re-sends it with a
    # corrected time, and that is the same press, not a conflict.
    stored = db.execute("SELECT branch, kiosk, seq, score, employee FROM events WHERE id = ?", [rating.id]).fetchone()
    if stored != (rating.branch, rating.kiosk, rating.seq, rating.score, rating.employee):
        # Same id, other content: a kiosk bug or someone replaying ids. The
        # first event stands; the second is kept where a person can see it.
        return Outcome(REJECTED, f"duplicate id {rating.id} with content different from the stored event")
    return Outcome(DUPLICATE, id=rating.id)


def store_event(db: Database, row: dict[str, Any]) -> bool:
    """Insert one validated event; False if its id is already stored.

    ON CONFLICT on the id only (not INSERT OR IGNORE), so a row breaking any
    other constraint raises instead of vanishing.
    """
    cursor = db.execute(
        """
        INSERT INTO events (id, branch, kiosk, seq, ts, kiosk_ts, ts_source, score, employee, flags, channel,
            received_at, extra)
        VALUES (:id, :branch, :kiosk, :seq, :ts, :kiosk_ts, :ts_source, :score, :employee, :flags, :channel,
            :received_at, :extra)
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
    at = times.format_ts(status.ts) if status.ts else received
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
            times.format_ts(reaction.window_start),
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
    aggregates.on_reaction(db, {**reaction.__dict__, "window_start": times.format_ts(reaction.window_start)})
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
