"""The kiosk's durable outbox: every press is on disk before anything acknowledges it.

SQLite in WAL mode with ``synchronous=FULL``: once ``add_rating`` returns, the
press survives a pulled plug. A row goes through three states:

- ``pending`` (waiting): committed, not yet acknowledged by the broker;
- ``sent``: the broker's PUBACK said it took the message (any non-failure
  reason code, including 16 "No matching subscribers"). The broker may still
  lose it, so the row stays, with a time (``due_ns``) at which it is sent
  again, backing off per attempt;
- confirmed: a receipt from the hub names its id, and the row is deleted in
  that same transaction (the hub holds it now).

A row the broker refuses (an MQTT 5 failure reason code, e.g. 135 Not
authorized) is kept and marked ``refused`` so it is neither lost nor retried
in a hot loop. With receipts off (a kiosk talking to a hub too old to send
them) a row is deleted at the PUBACK instead.

A rating's payload is rendered when it is published, not when it is pressed,
because the right timestamp depends on what the kiosk knows by then: a press
made while the clock was unsynchronised gets its time corrected from the
monotonic clock once NTP has synced, or carries ``age_ms`` so the hub can
correct it from its own receive time (see ``_render_rating``).
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kiosk.clock import ClockCheck, system_clock_synced
from otklik import protocol, times
from otklik.errors import OtklikError
from otklik.private_files import create_private

PENDING = "pending"
SENT = "sent"
REFUSED = "refused"

migrations = Migrations("otklik-kiosk-outbox")


@migrations()
def m001_outbox(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE outbox (
            n INTEGER PRIMARY KEY AUTOINCREMENT,  -- publish order, never reused
            kind TEXT NOT NULL,
            id TEXT NOT NULL UNIQUE,
            branch TEXT NOT NULL,
            kiosk TEXT NOT NULL,
            seq INTEGER,
            score INTEGER,
            employee TEXT,
            flags TEXT NOT NULL DEFAULT '',
            wall_ns INTEGER NOT NULL,      -- wall clock at the press, maybe unsynced
            mono_ns INTEGER NOT NULL,      -- monotonic clock at the press (same boot only)
            boot_id TEXT,
            clock_synced INTEGER NOT NULL,
            payload TEXT,                  -- other kinds: the JSON body as given
            state TEXT NOT NULL DEFAULT 'pending',
            reason TEXT,
            refused_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX outbox_state ON outbox(state, n)")
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("INSERT INTO counters VALUES ('seq', 0), ('last_seq_sent', 0)")


@migrations()
def m002_receipts(db: sqlite_utils.Database) -> None:
    # attempts: how often the broker took it (the re-send backoff doubles with
    # it); due_ns: when a sent row is sent again, on the publisher's monotonic
    # clock (reset to 0 at every connect, so a value from another boot is harmless).
    db.execute("ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outbox ADD COLUMN due_ns INTEGER")
    db.execute("CREATE INDEX outbox_due ON outbox(state, due_ns)")


@migrations()
def m003_channel(db: sqlite_utils.Database) -> None:
    # Where a rating was pressed (protocol.CHANNELS); NULL for rows from before, which were buttons.
    db.execute("ALTER TABLE outbox ADD COLUMN channel TEXT")


class OutboxError(OtklikError, RuntimeError):
    pass


@dataclass(frozen=True)
class Press:
    """What ``add_rating`` committed."""

    n: int
    id: str
    seq: int
    score: int
    flags: tuple[str, ...]
    clock_synced: bool


@dataclass(frozen=True)
class Outgoing:
    """One row rendered for the wire."""

    n: int
    kind: str
    topic: str
    payload: bytes
    seq: int | None


def read_boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def boottime_ns() -> int:
    # CLOCK_BOOTTIME keeps counting through a suspend, unlike CLOCK_MONOTONIC.
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime_ns(clock) if clock is not None else time.monotonic_ns()


class Outbox:
    def __init__(
        self,
        path: str | Path,
        *,
        clock_synced: ClockCheck = system_clock_synced,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = boottime_ns,
        boot_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock_synced = clock_synced
        self._wall_ns = wall_ns
        self._monotonic_ns = monotonic_ns
        # Without a boot id the monotonic clock is only trusted within this process.
        self.boot_id = boot_id or read_boot_id() or f"process-{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._lockfile = self._take_lock()
        create_private(self.path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise OutboxError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
        # FULL: a commit is fsynced before it returns, so an acknowledged press survives power loss.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        migrations.apply(sqlite_utils.Database(self._conn))

    def _take_lock(self) -> Any:
        # Two kiosk processes on one outbox would hand out the same seq twice.
        handle = open(self.path.with_name(self.path.name + ".lock"), "a+")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise OutboxError(f"{self.path} is in use by another kiosk process") from None
        return handle

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
            if self._lockfile is not None:
                self._lockfile.close()
                self._lockfile = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise OutboxError("the outbox is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._conn is None:
                raise OutboxError("the outbox is closed")
            return self._conn.execute(sql, tuple(params)).fetchall()

    # --- writing ----------------------------------------------------------

    def add_rating(
        self,
        *,
        branch: str,
        kiosk: str,
        score: int,
        employee: str | None = None,
        flags: Iterable[str] = (),
        channel: str = protocol.CHANNEL_BUTTONS,
    ) -> Press:
        """Commit one press (fsynced) and return it; the seq comes from the same transaction."""
        if score not in protocol.SCORES:
            raise ValueError(f"score {score!r} must be 1..4")
        if channel not in protocol.CHANNELS:
            raise ValueError(f"channel {channel!r} must be one of {', '.join(protocol.CHANNELS)}")
        protocol.check_id("branch", branch)
        protocol.check_id("kiosk", kiosk)
        flag_list = tuple(sorted(set(flags)))
        event_id = uuid.uuid4().hex
        synced = bool(self.clock_synced())
        wall, mono = self._wall_ns(), self._monotonic_ns()
        with self._tx() as conn:
            conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq'")
            seq = conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]
            cur = conn.execute(
                "INSERT INTO outbox (kind, id, branch, kiosk, seq, score, employee, flags, wall_ns, mono_ns,"
                " boot_id, clock_synced, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (protocol.RATING, event_id, branch, kiosk, seq, score, employee, ",".join(flag_list),
                 wall, mono, self.boot_id, int(synced), channel),
            )  # fmt: skip
            n = cur.lastrowid
        assert n is not None
        return Press(n, event_id, seq, score, flag_list, synced)

    def add(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue another kind of message (e.g. a camera reaction); its payload is sent as given."""
        if kind == protocol.RATING:
            raise ValueError("ratings go through add_rating(), which assigns seq and handles the clock")
        topic = protocol.topic(payload.get("branch", ""), payload.get("kiosk", ""), kind)
        protocol.encode(payload)  # refuse an oversized payload now, not at every publish attempt
        event_id = payload.get("id") or uuid.uuid4().hex
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO outbox (kind, id, branch, kiosk, wall_ns, mono_ns, boot_id, clock_synced, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, str(event_id), *topic.split("/")[2:4], self._wall_ns(), self._monotonic_ns(),
                 self.boot_id, int(bool(self.clock_synced())), json.dumps(payload)),
            )  # fmt: skip
        assert cur.lastrowid is not None
        return cur.lastrowid

    def delete(self, ns: Collection[int]) -> None:
        """Rows the broker acknowledged: gone, and last_seq_sent moves on."""
        if not ns:
            return
        marks = ",".join("?" * len(ns))
        with self._tx() as conn:
            top = conn.execute(f"SELECT max(seq) FROM outbox WHERE n IN ({marks})", tuple(ns)).fetchone()[0]
            conn.execute(f"DELETE FROM outbox WHERE n IN ({marks})", tuple(ns))
            self._sent_up_to(conn, top)

    @staticmethod
    def _sent_up_to(conn: sqlite3.Connection, seq: int | None) -> None:
        if seq is not None:
            conn.execute("UPDATE counters SET value = max(value, ?) WHERE name = 'last_seq_sent'", (seq,))

    def mark_sent(self, ns: Collection[int], *, now_ns: int, resend_ns: int, resend_max_ns: int) -> None:
        """The broker took these rows: keep them until a receipt, to be re-sent at now + backoff.

        The backoff is ``resend_ns`` doubled per earlier attempt, at most
        ``resend_max_ns``. A row already confirmed (the receipt overtook the
        PUBACK) is gone and not touched.
        """
        if not ns:
            return
        marks = ",".join("?" * len(ns))
        with self._tx() as conn:
            top = conn.execute(f"SELECT max(seq) FROM outbox WHERE n IN ({marks})", tuple(ns)).fetchone()[0]
            # The shift stops at 20 doublings: far past any cap, and 64-bit safe for any base.
            conn.execute(
                f"UPDATE outbox SET state = ?, due_ns = ? + min(? << min(attempts, 20), ?), attempts = attempts + 1"
                f" WHERE n IN ({marks}) AND state != ?",
                (SENT, now_ns, resend_ns, resend_max_ns, *ns, REFUSED),
            )
            self._sent_up_to(conn, top)

    def confirm(self, ids: Collection[str]) -> int:
        """Rows the hub's receipt names: it holds them now, so they are deleted (any state). Returns how many."""
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._tx() as conn:
            # Confirmed is certainly sent, even if the receipt overtook the PUBACK.
            top = conn.execute(f"SELECT max(seq) FROM outbox WHERE id IN ({marks})", tuple(ids)).fetchone()[0]
            self._sent_up_to(conn, top)
            return conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", tuple(ids)).rowcount

    def resend_unconfirmed(self) -> int:
        """Make every sent, unconfirmed row due now (after a reconnect: receipts sent meanwhile are gone)."""
        with self._tx() as conn:
            return conn.execute("UPDATE outbox SET due_ns = 0 WHERE state = ?", (SENT,)).rowcount

    def mark_refused(self, n: int, reason: str) -> None:
        now = times.now_ts()
        with self._tx() as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, reason = ?, refused_at = ? WHERE n = ?", (REFUSED, reason, now, n)
            )

    def retry_refused(self) -> int:
        """Put refused rows back in the queue (on reconnect, or every few minutes)."""
        with self._tx() as conn:
            return conn.execute("UPDATE outbox SET state = ? WHERE state = ?", (PENDING, REFUSED)).rowcount

    # --- reading ----------------------------------------------------------

    def pending(self, limit: int = 100, exclude: Collection[int] = ()) -> list[Outgoing]:
        """The oldest pending rows not in ``exclude``, rendered for the wire.

        A row that cannot be rendered (a corrupt or hand-edited row) is marked
        refused with the reason rather than blocking the queue.
        """
        return self._select("state = ?", (PENDING,), limit, exclude)

    def due(self, now_ns: int, limit: int = 100, exclude: Collection[int] = ()) -> list[Outgoing]:
        """Sent rows still unconfirmed at their re-send time, oldest first, rendered for the wire."""
        return self._select("state = ? AND due_ns <= ?", (SENT, now_ns), limit, exclude)

    def _select(self, where: str, params: tuple[Any, ...], limit: int, exclude: Collection[int]) -> list[Outgoing]:
        out: list[Outgoing] = []
        after = 0
        while len(out) < limit:
            rows = self._read(
                f"SELECT * FROM outbox WHERE {where} AND n > ? ORDER BY n LIMIT ?",
                (*params, after, limit + len(exclude)),
            )
            if not rows:
                break
            for row in rows:
                after = row[0]
                if row[0] in exclude:
                    continue
                record = dict(zip(_COLUMNS, row, strict=False))
                try:
                    out.append(self._render(record))
                except (protocol.ProtocolError, ValueError, TypeError) as err:
                    self.mark_refused(record["n"], f"cannot render: {err}")
                if len(out) >= limit:
                    break
        return out

    def depth(self) -> int:
        """Rows the hub has not confirmed (pending, sent and refused)."""
        return self._read("SELECT count(*) FROM outbox")[0][0]

    def pending_count(self) -> int:
        return self._read("SELECT count(*) FROM outbox WHERE state = ?", (PENDING,))[0][0]

    def unconfirmed(self) -> tuple[int, float | None]:
        """How many rows wait for a receipt, and how long ago (s) the oldest of them was made."""
        count = self._read("SELECT count(*) FROM outbox WHERE state = ?", (SENT,))[0][0]
        oldest = self._read("SELECT wall_ns, mono_ns, boot_id FROM outbox WHERE state = ? ORDER BY n LIMIT 1", (SENT,))
        if not oldest:
            return count, None
        wall, mono, boot = oldest[0]
        # Same boot: the monotonic clock is right even if NTP moved the wall clock since.
        age_ns = self._monotonic_ns() - mono if boot == self.boot_id else self._wall_ns() - wall
        return count, round(max(0, age_ns) / 1e9, 1)

    def refused_count(self) -> int:
        return self._read("SELECT count(*) FROM outbox WHERE state = ?", (REFUSED,))[0][0]

    def last_seq_sent(self) -> int:
        return self._read("SELECT value FROM counters WHERE name = 'last_seq_sent'")[0][0]

    def last_seq(self) -> int:
        return self._read("SELECT value FROM counters WHERE name = 'seq'")[0][0]

    def durability(self) -> dict[str, Any]:
        """The SQLite settings the power-loss promise rests on (journal_mode, synchronous)."""
        mode = self._read("PRAGMA journal_mode")[0][0]
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[self._read("PRAGMA synchronous")[0][0]]
        return {"journal_mode": mode, "synchronous": sync}

    def rows(self) -> list[dict[str, Any]]:
        """Every row as a dict, oldest first (for tests and diagnostics)."""
        return [dict(zip(_COLUMNS, r, strict=False)) for r in self._read("SELECT * FROM outbox ORDER BY n")]

    # --- rendering --------------------------------------------------------

    def _render(self, row: dict[str, Any]) -> Outgoing:
        topic = protocol.topic(row["branch"], row["kiosk"], row["kind"])
        body = self._render_rating(row) if row["kind"] == protocol.RATING else json.loads(row["payload"])
        payload = protocol.encode(body)
        # Check with the receivers' own rules: a row the hub would dead-letter is set aside here instead.
        protocol.decode(topic, payload)
        return Outgoing(row["n"], row["kind"], topic, payload, row["seq"])

    def _render_rating(self, row: dict[str, Any]) -> dict[str, Any]:
        clock = protocol.CLOCK_SYNCED
        age_ms: int | None = None
        press_wall_ns = row["wall_ns"]
        if not row["clock_synced"]:
            if row["boot_id"] == self.boot_id:
                # Same boot: the monotonic clock measures how long ago the press was.
                age_ns = max(0, self._monotonic_ns() - row["mono_ns"])
                if self.clock_synced():
                    press_wall_ns = self._wall_ns() - age_ns
                else:
                    clock, age_ms = protocol.CLOCK_UNSYNCED, age_ns // 1_000_000
            else:
                # Rebooted since: nothing on this kiosk knows when the press was.
                clock = protocol.CLOCK_UNSYNCED
        return protocol.rating_payload(
            branch=row["branch"],
            kiosk=row["kiosk"],
            id=row["id"],
            seq=row["seq"],
            ts=_format_ns(press_wall_ns),
            score=row["score"],
            employee=row["employee"],
            clock=clock,
            age_ms=age_ms,
            flags=[f for f in (row["flags"] or "").split(",") if f],
            channel=row["channel"] or protocol.CHANNEL_BUTTONS,
        )


_COLUMNS = (
    "n", "kind", "id", "branch", "kiosk", "seq", "score", "employee", "flags", "wall_ns", "mono_ns",
    "boot_id", "clock_synced", "payload", "state", "reason", "refused_at", "attempts", "due_ns", "channel",
)  # fmt: skip


def _format_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return times.format_ts(moment)
