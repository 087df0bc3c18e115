"""The hub's write path: a batch of received MQTT messages in, one transaction, one outcome per message out.

Nothing here talks to a broker, so every rule can be tested with a topic, a
payload and a database. ``hub.service`` feeds it from MQTT in batches, through
one ``Ingest`` per database connection. A batch goes through these stages, each
once for the whole batch:

1. validate  ``Ingest._validate``: ``protocol.decode`` each message; malformed
   or retained ones become dead letters (``hub.dead_letters``), with the reason;
2. time      ``resolve_time``: the press time to store (clock flag when doubtful);
3. de-duplicate ``_new_presses``: one query for the ids already stored; a re-sent
   press is a duplicate, the same id with other content a dead letter;
4. flag      ``hub.misuse.check_batch``: burst and opening hours, as if each new
   press were checked after the ones before it;
5. attribute ``hub.aggregates.attribute_batch``: one shift query per kiosk;
6. insert once ``_insert``: the events with their final flags (``executemany``),
   the shift attributions;
7. aggregate ``hub.aggregates.Tally``: one upsert per (branch, kiosk, hour,
   employee) key and per roll-up key;
8. registry  ``_write_registry``: once per kiosk; dead letters flushed and pruned.

Heartbeats, status and camera windows (a few a minute per kiosk) are stored one
by one in their own savepoints. The ratings' stages 3-7 run inside one
savepoint: if anything there fails in a way validation did not foresee, the
savepoint is rolled back and the ratings run again one at a time, each in its
own savepoint, so the one poison message is dead-lettered and the rest commit.
"""

from __future__ import annotations

import json
import logging
import operator
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hub import aggregates, answers, branches, changes, dead_letters, misuse
from hub.branches import BranchSettings
from hub.store import Database, PgConnection, is_environmental_pg
from hub.store import errors as store_errors
from otklik import protocol, times
from otklik.protocol import Answer, Heartbeat, ProtocolError, Rating, Reaction, Status

log = logging.getLogger(__name__)
T = TypeVar("T")

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
class _Registry:
    """Registry updates gathered over a batch and written once per kiosk, not once per message."""

    seen: dict[tuple[str, str], _KioskSeen] = field(default_factory=dict)

    def touch(self, branch: str, kiosk: str, at: str, seq: int | None = None) -> None:
        # Called for every press: no default entry made (setdefault's) unless the kiosk is new to the batch.
        entry = self.seen.get((branch, kiosk))
        if entry is None:
            entry = self.seen[(branch, kiosk)] = _KioskSeen(last_seen=at)
        elif at > entry.last_seen:
            entry.last_seen = at
        if seq is not None:
            if seq > entry.seq_max:
                entry.seq_max = seq
            entry.new_events += 1

    def merge(self, other: _Registry) -> None:
        for (branch, kiosk), seen in other.seen.items():
            entry = self.seen.setdefault((branch, kiosk), _KioskSeen(last_seen=seen.last_seen))
            entry.last_seen = max(entry.last_seen, seen.last_seen)
            entry.seq_max = max(entry.seq_max, seen.seq_max)
            entry.new_events += seen.new_events


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
        return isinstance(err, store_errors()) and is_environmental_pg(err)
    code = getattr(err, "sqlite_errorcode", None)
    # No code: the connection itself is unusable (closed, wrong thread), for every message alike.
    return code is None or (code & 0xFF) in _ENVIRONMENT_CODES


class _TransactionLost(Exception):
    """SQLite rolled back the whole transaction while storing message ``index`` (None: somewhere in the ratings)."""

    def __init__(self, index: int | None) -> None:
        super().__init__(index)
        self.index = index


class _NotInserted(Exception):
    """Fewer events were inserted than the batch found new: the batch path's assumption broke."""


@dataclass
class _Item:
    index: int
    topic: str
    payload: bytes
    received_at: datetime
    retained: bool


@dataclass
class _Press:
    """A valid rating on its way in: its event row, as stored unless it turns out to be a duplicate."""

    item: _Item
    rating: Rating
    row: dict[str, Any]


def handle_message(db: Database, topic: str, payload: bytes, received_at: datetime | None = None) -> Outcome:
    """Handle one message in its own transaction."""
    return handle_batch(db, [(topic, payload, received_at or datetime.now(UTC))])[0]


def handle_batch(db: Database, messages: Iterable[Received]) -> list[Outcome]:
    """Handle many messages in one transaction (see ``Ingest.handle_batch``), for callers without an ``Ingest``."""
    return Ingest(db).handle_batch(messages)


class _SettingsCache:
    """Branch settings read once each, and again only after another connection changed them.

    ``hub.changes`` moves only when *another* connection commits (the CLI changing
    a branch, say; on PostgreSQL only a change to the settings table counts, so the
    other hubs' batches do not), so one look per batch is the whole cost. The look is
    ``fresh``: on PostgreSQL a change committed just before the batch may not have been
    heard yet (its notification comes after that commit returns), and "from the next
    batch" would then be from some later one. That costs one round trip per batch.
    """

    def __init__(self, db: Database) -> None:
        self._changes = changes.watch(db, tables=("branch_settings",))
        self._version: int | None = None
        self._settings: dict[str, BranchSettings] = {}

    def refresh(self, db: Database) -> None:
        """At the start of each batch: forget what another connection may have changed."""
        version = self._changes.version(fresh=True)
        if version != self._version:
            self._version, self._settings = version, {}

    def get(self, db: Database, branch: str) -> BranchSettings:
        found = self._settings.get(branch)
        if found is None:
            # Read inside the caller's savepoint: a branch whose stored settings cannot be
            # read costs its own messages (dead letters), not the batch.
            found = self._settings[branch] = branches.get(db, branch)
        return found


class Ingest:
    """The write path over one database connection, with what it keeps between batches.

    What it keeps (branch settings, the dead letters' prune cadence) lives as
    long as the connection it was made for: ``hub.service`` makes a new one
    whenever it reopens the database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._settings = _SettingsCache(db)
        self._prune = dead_letters.PruneCadence()

    def handle_batch(self, messages: Iterable[Received]) -> list[Outcome]:
        """Handle many messages in one transaction: one commit (and one fsync) per batch, one outcome per message.

        A message that fails in a way validation did not foresee costs only its
        own savepoint: it is rolled back and dead-lettered, with the traceback in
        the log, and the batch's other messages are stored and committed.
        Whatever a message holds, this never raises for it; only database
        errors that are no message's fault (disk full, I/O, read-only)
        propagate, with nothing committed, for the caller to retry.
        """
        items = [
            _Item(i, m[0], m[1], m[2], bool(m[3]) if len(m) > 3 else False)  # type: ignore[misc]
            for i, m in enumerate(messages)
        ]
        poisoned: set[int] = set()
        one_by_one = False
        while True:
            try:
                return self._run(items, poisoned, one_by_one)
            except _TransactionLost as lost:
                # Rare (a RAISE(ROLLBACK) trigger, say): the transaction is gone, so the
                # batch runs again, one message at a time until the culprit is known,
                # then with that message dead-lettered unstored.
                log.error(
                    "storing a message rolled back its whole batch; running the batch again, without it once known"
                )
                one_by_one = True
                if lost.index is not None:
                    poisoned.add(lost.index)

    def _run(self, items: list[_Item], poisoned: set[int], one_by_one: bool) -> list[Outcome]:
        db = self.db
        outcomes: list[Outcome | None] = [None] * len(items)
        registry = _Registry()
        # (index, reason): written in message order once the batch is through, so
        # the dead letters' per-source limits count messages in the order they came.
        rejects: list[tuple[int, str]] = []
        with db.atomic():
            presses, others = self._validate(items, poisoned, rejects)
            settings = self._settings
            settings.refresh(db)
            if presses and not one_by_one:
                self._store_ratings_together(presses, settings, registry, outcomes, rejects)
            else:
                for press in presses:
                    self._in_savepoint(
                        press.item, outcomes, rejects,
                        lambda p=press: _store_ratings(db, [p], settings, registry)[0],  # type: ignore[misc]
                    )  # fmt: skip
            for item, message in others:
                store = lambda i=item, m=message: _store_other(db, registry, i, m)  # type: ignore[misc]  # noqa: E731
                self._in_savepoint(item, outcomes, rejects, store)
            _write_registry(db, registry)
            # With the commit, which branches got new presses or camera windows (the alert watcher's cue).
            stored = {n for n, o in enumerate(outcomes) if o is not None and o.result == STORED}
            changes.notify(db, "events", {b for (b, _), seen in registry.seen.items() if seen.new_events})
            changes.notify(
                db, "reactions", {m.branch for i, m in others if isinstance(m, Reaction) and i.index in stored}
            )
            letters = dead_letters.Letters(db)
            for index, reason in sorted(rejects):
                item = items[index]
                letters.reject(item.topic, item.payload, reason, item.received_at, item.retained)
                if outcomes[index] is None or outcomes[index].result != REJECTED:  # type: ignore[union-attr]
                    outcomes[index] = Outcome(REJECTED, reason)
            letters.flush()
            # Now is when the batch arrived (the hub's clock, as every received_at).
            self._prune.prune_if_due(db, max(i.received_at for i in items) if items else None)
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _validate(
        self, items: list[_Item], poisoned: set[int], rejects: list[tuple[int, str]]
    ) -> tuple[list[_Press], list[tuple[_Item, object]]]:
        """Stage 1 (and 2 for ratings): decode every message; ratings to presses, the rest in arrival order."""
        presses: list[_Press] = []
        others: list[tuple[_Item, object]] = []
        # The service stamps arrival to the millisecond, so a busy batch shares a few hundred stamps.
        received: dict[datetime, str] = {}
        for item in items:
            try:
                message = protocol.decode(item.topic, item.payload)
            except ProtocolError as err:
                rejects.append((item.index, str(err)))
                continue
            except Exception as err:  # a bug in decode: only this message's problem
                log.exception("protocol.decode failed on a message on %s", dead_letters.text(str(item.topic))[:200])
                rejects.append((item.index, f"hub could not check it: {type(err).__name__}: {err}"))
                continue
            kind = item.topic.rsplit("/", 1)[-1]
            if item.retained and kind not in protocol.RETAINED:
                # The live copy was handled when it was published; the broker re-sends
                # the retained one on every subscribe, so it is refused (once: see dead_letters).
                rejects.append(
                    (item.index, f"retained {kind} message: a kiosk must not retain {kind} messages; it is not stored")
                )
            elif item.index in poisoned:
                rejects.append(
                    (item.index, "hub could not store it: storing it rolled back the whole batch (see the hub's log)")
                )
            elif isinstance(message, Rating):
                at = received.get(item.received_at)
                if at is None:
                    at = received[item.received_at] = times.format_ts(item.received_at)
                presses.append(_press(item, message, at))
            else:
                others.append((item, message))
        return presses, others

    def _store_ratings_together(
        self,
        presses: list[_Press],
        settings: _SettingsCache,
        registry: _Registry,
        outcomes: list[Outcome | None],
        rejects: list[tuple[int, str]],
    ) -> None:
        """Stages 3-7 for all ratings at once; on an unforeseen failure, once more one rating at a time."""
        trial = _Registry()
        results = _contained(self.db.conn, lambda: _store_ratings(self.db, presses, settings, trial), None)
        if isinstance(results, _NotInserted):
            # Another hub of the share group committed some of these ids while our insert waited
            # for it (PostgreSQL): looked up again, they are duplicates now, and the batch stays one.
            trial = _Registry()
            results = _contained(self.db.conn, lambda: _store_ratings(self.db, presses, settings, trial), None)
        if isinstance(results, Exception):
            log.warning("storing %d ratings together failed (%s: %s); storing them one by one",
                        len(presses), type(results).__name__, results)  # fmt: skip
            for press in presses:
                self._in_savepoint(
                    press.item, outcomes, rejects,
                    lambda p=press: _store_ratings(self.db, [p], settings, registry)[0],  # type: ignore[misc]
                )  # fmt: skip
            return
        registry.merge(trial)
        for press, outcome in zip(presses, results, strict=True):
            outcomes[press.item.index] = outcome
            if outcome.result == REJECTED:
                rejects.append((press.item.index, outcome.reason or "rejected"))

    def _in_savepoint(
        self, item: _Item, outcomes: list[Outcome | None], rejects: list[tuple[int, str]], store: Callable[[], Outcome]
    ) -> None:
        """Store one message in its own savepoint: its failure costs only itself (a dead letter)."""
        outcome = _contained(self.db.conn, store, item.index)
        if isinstance(outcome, Exception):
            log.error("could not store message on %s", item.topic, exc_info=outcome)
            rejects.append((item.index, f"hub could not store it: {type(outcome).__name__}: {outcome}"))
            return
        outcomes[item.index] = outcome
        if outcome.result == REJECTED:
            rejects.append((item.index, outcome.reason or "rejected"))


def _contained(conn: sqlite3.Connection | PgConnection, store: Callable[[], T], index: int | None) -> T | Exception:
    """``store()`` in a savepoint: its result, or the exception that rolled it back when no storage fault is to blame.

    Storage errors (and KeyboardInterrupt, SystemExit) propagate; a failure that
    took the whole transaction with it raises _TransactionLost for message ``index``.
    """
    conn.execute("SAVEPOINT ingest")
    try:
        result = store()
    except BaseException as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO ingest")
            conn.execute("RELEASE ingest")
        # A full disk can roll the whole transaction back too: that is still no message's fault.
        if is_environmental(err) or not isinstance(err, Exception):
            raise
        if not conn.in_transaction:
            raise _TransactionLost(index) from err
        return err
    conn.execute("RELEASE ingest")
    return result


def _store_other(db: Database, registry: _Registry, item: _Item, message: object) -> Outcome:
    received = times.format_ts(item.received_at)
    if isinstance(message, Heartbeat):
        return _heartbeat(db, registry, message, received)
    if isinstance(message, Status):
        return _status(db, registry, message, received)
    if isinstance(message, Reaction):
        return _reaction(db, registry, message, received)
    if isinstance(message, Answer):
        if message.channel in protocol.DEVICE_CHANNELS:  # as its rating: a phone's is no sign of the kiosk's life
            registry.touch(message.branch, message.kiosk, received)
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


def _press(item: _Item, rating: Rating, received_at: str) -> _Press:
    ts, source, doubtful = resolve_time(rating, item.received_at)
    flags = set(rating.flags)
    if doubtful:
        flags.add("clock")
    kiosk_ts = times.format_ts(rating.ts)
    row: dict[str, Any] = {
        "id": rating.id,
        "branch": rating.branch,
        "kiosk": rating.kiosk,
        "seq": rating.seq,
        "ts": kiosk_ts if ts is rating.ts else times.format_ts(ts),
        "kiosk_ts": kiosk_ts,
        "ts_source": source,
        "score": rating.score,
        "employee": rating.employee,
        "flags": ",".join(sorted(flags)),
        "channel": rating.channel,
        "received_at": received_at,
        "extra": json.dumps(rating.extra, sort_keys=True) if rating.extra else None,
    }
    return _Press(item, rating, row)


# Compared on what the press itself fixed, not on ts, clock or age_ms: a kiosk
# whose clock synced while the press waited re-sends it with a corrected time,
# and that is the same press, not a conflict.
_IDENTITY = ("branch", "kiosk", "seq", "score", "employee")
_ID_CHUNK = 500


def _store_ratings(
    db: Database, presses: Sequence[_Press], settings: _SettingsCache, registry: _Registry
) -> list[Outcome]:
    """Stages 3-7 for some ratings (the whole batch's, or one): one outcome each, in order."""
    outcomes, new = _new_presses(db, presses, registry)
    if new:
        tally = aggregates.Tally()
        rules = {p.rating.branch: settings.get(db, p.rating.branch) for p in new}
        local = [aggregates.local_hour(p.row["ts"], rules[p.rating.branch].zone) for p in new]
        found = misuse.check_batch(
            db,
            [(p.rating.branch, p.rating.kiosk, p.row["ts"], at) for p, (_, at) in zip(new, local, strict=True)],
            rules,
        )
        for p, added in zip(new, found, strict=True):
            if added:
                p.row["flags"] = ",".join(sorted(aggregates.split_flags(p.row["flags"]) | added))
        attributed = aggregates.attribute_batch(
            db, [(p.rating.branch, p.rating.kiosk, p.row["ts"], p.rating.employee) for p in new]
        )
        _insert(db, new, attributed)
        for p, (hour, _), (employee, _source) in zip(new, local, attributed, strict=True):
            if not rules[p.rating.branch].in_scores(p.rating.channel):
                continue  # a phone rating the branch shows apart: stored, not in the kiosk's counts
            tally.add(p.rating.branch, p.rating.kiosk, employee, hour,
                      aggregates.delta(p.rating.score, aggregates.split_flags(p.row["flags"])))  # fmt: skip
        tally.write(db)
    return outcomes


def _new_presses(db: Database, presses: Sequence[_Press], registry: _Registry) -> tuple[list[Outcome], list[_Press]]:
    """Stage 3: the outcome of each press, and the presses to store (each id once)."""
    ids = list({p.rating.id for p in presses})
    stored: dict[str, tuple] = {}
    for i in range(0, len(ids), _ID_CHUNK):
        chunk = ids[i : i + _ID_CHUNK]
        rows = db.execute(
            f"SELECT id, {', '.join(_IDENTITY)} FROM events WHERE id IN ({', '.join('?' * len(chunk))})", chunk
        ).fetchall()
        stored.update((r[0], tuple(r[1:])) for r in rows)
    outcomes: list[Outcome] = []
    new: list[_Press] = []
    for p in presses:
        r = p.rating
        identity = (r.branch, r.kiosk, r.seq, r.score, r.employee)
        first = stored.get(r.id)
        # Only what the kiosk itself made tells the registry (fleet, gaps) of it: protocol.DEVICE_CHANNELS.
        device = r.channel in protocol.DEVICE_CHANNELS
        if first is None:
            stored[r.id] = identity
            new.append(p)
            if device:
                registry.touch(r.branch, r.kiosk, p.row["received_at"], seq=r.seq)
            outcomes.append(Outcome(STORED, id=r.id))
            continue
        if device:
            registry.touch(r.branch, r.kiosk, p.row["received_at"])
        if first != identity:
            # Same id, other content: a kiosk bug or someone replaying ids. The
            # first event stands; the second is kept where a person can see it.
            outcomes.append(Outcome(REJECTED, f"duplicate id {r.id} with content different from the stored event"))
        else:
            outcomes.append(Outcome(DUPLICATE, id=r.id))
    return outcomes, new


_EVENT_COLUMNS = ("id", "branch", "kiosk", "seq", "ts", "kiosk_ts", "ts_source", "score", "employee", "flags",
                  "channel", "received_at", "extra")  # fmt: skip
_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING"
)
# Positional values, not the row dict with named parameters: binding by name cost SQLite's
# module a lookup per column per event (about a seventh of the insert).
_event_values = operator.itemgetter(*_EVENT_COLUMNS)


def _insert(db: Database, new: Sequence[_Press], attributed: Sequence[tuple[str, str]]) -> None:
    """Stage 6: each new event once, with its final flags, and the attributions that came from a shift.

    ON CONFLICT on the id only (not INSERT OR IGNORE), so a row breaking any
    other constraint raises instead of vanishing. In id order: two hubs storing
    overlapping batches (a re-sent press reaching both) wait for each other's ids
    in one order, never each for the other's (a deadlock).
    """
    cursor = db.conn.executemany(_INSERT_EVENT, [_event_values(p.row) for p in sorted(new, key=lambda p: p.rating.id)])
    if cursor.rowcount != len(new):
        raise _NotInserted(f"{cursor.rowcount} of {len(new)} new events inserted")
    # An employee named in the event is already stored with it (events.employee).
    db.conn.executemany(
        "INSERT INTO attribution (event_id, employee, source) VALUES (?, ?, ?) "
        "ON CONFLICT (event_id) DO UPDATE SET employee = excluded.employee, source = excluded.source",
        sorted((p.rating.id, employee, source) for p, (employee, source) in zip(new, attributed, strict=True)
               if source == "shift"),
    )  # fmt: skip


def _heartbeat(db: Database, registry: _Registry, hb: Heartbeat, received: str) -> Outcome:
    registry.touch(hb.branch, hb.kiosk, received)
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


def _status(db: Database, registry: _Registry, status: Status, received: str) -> Outcome:
    registry.touch(status.branch, status.kiosk, received)
    _ensure_kiosk(db, status.branch, status.kiosk, received)
    at = times.format_ts(status.ts) if status.ts else received
    db.execute(
        "UPDATE kiosks SET state = ?, state_at = ? WHERE branch = ? AND kiosk = ?",
        [status.state, at, status.branch, status.kiosk],
    )
    return Outcome(UPDATED)


def _reaction(db: Database, registry: _Registry, reaction: Reaction, received: str) -> Outcome:
    registry.touch(reaction.branch, reaction.kiosk, received)
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
    hour = aggregates.local_hour(times.format_ts(reaction.window_start), branches.get(db, reaction.branch).zone)[0]
    aggregates.add_reactions(
        db, [(reaction.branch, reaction.kiosk, hour, reaction.visitors, reaction.smiling, reaction.window_s)]
    )
    return Outcome(STORED, id=reaction.id)


def _ensure_kiosk(db: Database, branch: str, kiosk: str, at: str) -> None:
    db.execute(
        "INSERT INTO kiosks (branch, kiosk, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [branch, kiosk, at, at],
    )


def _write_registry(db: Database, registry: _Registry) -> None:
    # In key order, as every row lock a batch takes: several hubs never wait for each other in a circle.
    for (branch, kiosk), seen in sorted(registry.seen.items()):
        _ensure_kiosk(db, branch, kiosk, seen.last_seen)
        db.execute(
            """
            UPDATE kiosks SET last_seen = MAX(last_seen, ?), seq_max = MAX(seq_max, ?), seq_count = seq_count + ?
            WHERE branch = ? AND kiosk = ?
            """,
            [seen.last_seen, seen.seq_max, seen.new_events, branch, kiosk],
        )
