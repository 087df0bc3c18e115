"""Dead letters: every rejected message kept with its reason, within bounds no sender can break.

A dead letter is how a person finds out that a kiosk sends something wrong, so
each one keeps its topic, its reason and the start of its payload. But a broken
or hostile kiosk can publish thousands of bad messages a second (measured before
these bounds: one kiosk flooding for 20 s wrote 100,368 dead letters, +1.64 GB),
so what is stored is bounded four ways:

- the payload is cut to KEEP_BYTES, with its full length and SHA-256 kept;
- each source (a kiosk's topic prefix) may write RATE_PER_MINUTE letters a
  minute (a token bucket holding BURST); what is over is only counted;
- a retained message (re-sent by the broker on every subscribe) is written
  once per (topic, payload) and its repeats only counted;
- letters older than RETENTION_DAYS are pruned, PRUNE_CHUNK at a time.

The counters live in ``dead_letter_sources``, so the CLI shows what was dropped
and the limit holds across hub restarts. All state changes happen in the
caller's transaction: a rolled-back batch leaves no counts behind.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.store import Database
from otklik import times

log = logging.getLogger(__name__)

# A whole honest message (a rating is ~250 bytes) fits, so a rejected press can
# still be read back and recovered; a 4 KB flood costs 1 KB a letter at most.
KEEP_BYTES = 1024
# One a second is far more than an honest kiosk's mistakes (one bad press per
# press, a few a minute) and small enough that a flood costs ~5 MB an hour a kiosk.
RATE_PER_MINUTE = 60
BURST = 60
# Long enough to notice and debug a kiosk's bad messages after a holiday; the
# counters of a source go with its last letter.
RETENTION_DAYS = 30
PRUNE_EVERY_S = 60.0
# Deleted per pass, so a pass is one short step of a batch, not a long lock.
PRUNE_CHUNK = 5000
# Where letters from topics outside otklik/v1/<branch>/<kiosk>/ are counted.
OTHER_SOURCE = "(other topics)"
_TEXT_CHARS = 1024
_last_drop_log: dict[str, float] = {}
DROP_LOG_EVERY_S = 60.0


def source_of(topic: str) -> str:
    """Who a letter counts against: ``otklik/v1/<branch>/<kiosk>``, or one shared source for anything else.

    MQTT does not tell a subscriber who published, but the broker's ACL lets a
    kiosk publish only under its own ``otklik/v1/<branch>/<kiosk>/``, so the
    prefix names the sender even when the rest of the topic is nonsense.
    """
    parts = topic.split("/", 4)
    if len(parts) >= 4 and parts[0] == "otklik" and parts[1] == "v1":
        return text("/".join(parts[:4]))[:200]
    return OTHER_SOURCE


def text(value: str) -> str:
    """Storable text: lone surrogates escaped (SQLite would refuse them), cut to a bounded length."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")[:_TEXT_CHARS]


_BUCKET_COLUMNS = ("tokens", "refilled_at", "written", "dropped", "retained_repeats", "last_dropped_at", "last_at")


@dataclass
class _Bucket:
    tokens: float
    refilled_at: float
    written: int = 0
    dropped: int = 0
    retained_repeats: int = 0
    last_dropped_at: str | None = None
    last_at: str | None = None
    # Kept as datetimes within a batch, formatted once in flush.
    dropped_now: int = 0
    last_dropped: datetime | None = None
    last_seen: datetime | None = None


@dataclass
class Letters:
    """The dead letters of one batch: buckets read once per source, written back once in ``flush``."""

    db: Database
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def reject(self, topic: str, payload: bytes, reason: str, received_at: datetime, retained: bool = False) -> bool:
        """Record one rejected message; True if a letter was written, False if only counted."""
        # The dropping path is the flood's path: no hashing, no formatting, no SQL.
        bucket = self._bucket(source_of(topic), received_at)
        bucket.last_seen = received_at
        digest = hashlib.sha256(payload).hexdigest() if retained or bucket.tokens >= 1 else ""
        if retained and not self._first_retained(topic, digest, times.format_ts(received_at)):
            bucket.retained_repeats += 1
            return False
        if bucket.tokens < 1:
            bucket.dropped += 1
            bucket.dropped_now += 1
            bucket.last_dropped = received_at
            return False
        at = times.format_ts(received_at)
        bucket.tokens -= 1
        bucket.written += 1
        log.warning("rejected message on %s: %s", text(topic)[:200], text(reason))
        self.db.execute(
            """
            INSERT INTO dead_letters (topic, payload, payload_size, payload_sha256, reason, received_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            [text(topic), bytes(payload[:KEEP_BYTES]), len(payload), digest, text(reason), at],
        )
        return True

    def flush(self) -> None:
        for source, b in self.buckets.items():
            if b.last_dropped:
                b.last_dropped_at = times.format_ts(b.last_dropped)
            if b.last_seen:
                b.last_at = times.format_ts(b.last_seen)
            self.db.execute(
                """
                INSERT INTO dead_letter_sources
                    (source, tokens, refilled_at, written, dropped, retained_repeats, last_dropped_at, last_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (source) DO UPDATE SET tokens = excluded.tokens, refilled_at = excluded.refilled_at,
                    written = excluded.written, dropped = excluded.dropped,
                    retained_repeats = excluded.retained_repeats,
                    last_dropped_at = excluded.last_dropped_at, last_at = excluded.last_at
                """,
                [source, b.tokens, b.refilled_at, b.written, b.dropped, b.retained_repeats, b.last_dropped_at,
                 b.last_at],
            )  # fmt: skip
            if b.dropped_now and time.monotonic() - _last_drop_log.get(source, -1e9) > DROP_LOG_EVERY_S:
                _last_drop_log[source] = time.monotonic()
                log.warning(
                    "dead letters from %s over %d a minute: %d counted, not stored (%d so far)",
                    source, RATE_PER_MINUTE, b.dropped_now, b.dropped,
                )  # fmt: skip
            b.dropped_now = 0

    def _bucket(self, source: str, received_at: datetime) -> _Bucket:
        now = received_at.timestamp()
        bucket = self.buckets.get(source)
        if bucket is None:
            # Read by a write that changes nothing: it locks the source's row until the batch
            # commits, so another hub sharing the stream (PostgreSQL) waits and then reads what
            # this one wrote, instead of both spending the same tokens and one count being lost.
            row = self.db.execute(
                f"""
                INSERT INTO dead_letter_sources (source, tokens, refilled_at) VALUES (?, ?, ?)
                ON CONFLICT (source) DO UPDATE SET source = excluded.source
                RETURNING {", ".join(_BUCKET_COLUMNS)}
                """,
                [source, float(BURST), now],
            ).fetchone()
            bucket = self.buckets[source] = _Bucket(**dict(zip(_BUCKET_COLUMNS, row, strict=True)))
        # Refill by the time since the last letter; a clock that went back refills nothing.
        elapsed = max(0.0, now - bucket.refilled_at)
        bucket.tokens = min(BURST, bucket.tokens + elapsed * RATE_PER_MINUTE / 60)
        bucket.refilled_at = max(bucket.refilled_at, now)
        return bucket

    def _first_retained(self, topic: str, digest: str, at: str) -> bool:
        cursor = self.db.execute(
            """
            INSERT INTO retained_rejects (topic, payload_sha256, first_at, last_at, repeats) VALUES (?, ?, ?, ?, 0)
            ON CONFLICT (topic, payload_sha256)
                DO UPDATE SET last_at = excluded.last_at, repeats = retained_rejects.repeats + 1
            RETURNING repeats
            """,
            [text(topic), digest, at, at],
        )
        return cursor.fetchone()[0] == 0


def prune(db: Database, now: datetime, retention_days: int = RETENTION_DAYS) -> int:
    """Delete up to PRUNE_CHUNK letters older than the retention period (and stale counters); how many went."""
    cutoff = times.format_ts(now - timedelta(days=retention_days))
    deleted = db.execute(
        "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE received_at < ? ORDER BY id LIMIT ?)",
        [cutoff, PRUNE_CHUNK],
    ).rowcount
    # A retained message still on the broker keeps its row fresh (last_at), so it is not written again.
    db.execute("DELETE FROM retained_rejects WHERE last_at < ?", [cutoff])
    db.execute("DELETE FROM dead_letter_sources WHERE last_at < ?", [cutoff])
    return deleted


@dataclass
class PruneCadence:
    """When to prune next, kept by the writer of one connection (``hub.ingest.Ingest``).

    The cadence lives in the hub process that writes: a second process only prunes a little early.
    """

    next_at: float = 0.0  # time.monotonic()

    def prune_if_due(self, db: Database, now: datetime | None = None) -> int:
        """Prune once a PRUNE_EVERY_S, or at once again while a pass found a full chunk."""
        if time.monotonic() < self.next_at:
            return 0
        deleted = prune(db, now or datetime.now(UTC))
        self.next_at = time.monotonic() + (0 if deleted >= PRUNE_CHUNK else PRUNE_EVERY_S)
        if deleted:
            log.info("pruned %d dead letters older than %d days", deleted, RETENTION_DAYS)
        return deleted


def sources(db: Database) -> list[dict[str, Any]]:
    """Per source: letters written, dropped over the rate limit, retained repeats ignored; busiest first."""
    rows = db.execute(
        """
        SELECT source, written, dropped, retained_repeats, last_dropped_at, last_at FROM dead_letter_sources
        ORDER BY dropped + written DESC, source
        """
    ).fetchall()
    names = ("source", "written", "dropped", "retained_repeats", "last_dropped_at", "last_at")
    return [dict(zip(names, row, strict=True)) for row in rows]


def newest(db: Database, last: int) -> list[dict[str, Any]]:
    """The ``last`` newest letters (without their payloads), newest first."""
    names = ("id", "received_at", "topic", "payload_size", "reason")
    rows = db.execute(f"SELECT {', '.join(names)} FROM dead_letters ORDER BY id DESC LIMIT ?", [last]).fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]
