"""Raw events older than a cutoff: archived to a file, then pruned from the hub; the aggregates stay.

A press costs about 280 bytes as a raw row (three indexes on ``events``): a chain's
year of 10 M presses is 2.5-2.8 GB, and it only grows. What the product reads after
the first weeks is the aggregates (``hub.aggregates``): scores, rankings, series,
heat maps, alert baselines, ``otklik report``, the aggregate and monthly exports
and every dashboard page keep working for archived months, because none of them
reads raw rows. What needs raw rows works only on kept events: the raw-event
export (asked for an archived period it refuses, naming the archive), the
flagged-presses list (its default period is a month, inside what is kept),
re-attribution when a past shift is edited, and rebuilding aggregates (refused
after a prune: it would drop the archived months' figures).

Two steps, as two commands, so nothing is deleted that is not on disk first:

- :func:`archive` writes every event (with its attribution) older than the
  cutoff to a new file, JSON Lines (gzip when the name ends in ``.gz``, mode
  0600: it names employees), written beside and renamed into place once complete,
  and records the cutoff and the moment it started;
- :func:`prune` deletes events older than a cutoff that an archive covers:
  only rows *received* before that archive started (a kiosk back from a long
  outage may still deliver old presses; they stay until the next archive). It
  deletes in batches of ``BATCH`` rows per transaction, so the hub's ingest
  waits for at most one batch, never for the whole prune.

A cutoff inside the last month is refused unless forced (``force``): the
dashboard's default periods, burst checks and live alerts read the recent raw
rows. Cutoffs are midnight UTC of a day, so an ``archive`` and a ``prune`` with
the same ``--older-than`` on the same day agree. SQLite keeps the freed pages for
new rows rather than shrinking the file (``VACUUM`` while the hub is stopped
gives them back). The SQL is plain enough for PostgreSQL too.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from hub.store import Database
from otklik import times
from otklik.errors import OtklikError
from otklik.private_files import create_private

BATCH = 5000
MIN_AGE_MONTHS = 1
# Where the hub remembers what was archived and pruned (hub_settings, key -> value).
ARCHIVED_BEFORE = "retention.archived_before"
ARCHIVED_AT = "retention.archived_at"
ARCHIVE_FILE = "retention.archive"
PRUNED_BEFORE = "retention.pruned_before"
COLUMNS = ("id", "branch", "kiosk", "seq", "ts", "kiosk_ts", "ts_source", "score", "employee", "flags", "channel",
           "received_at", "extra")  # fmt: skip
_AGE = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$")


class RetentionError(OtklikError):
    """An archive or prune the hub refuses."""


class CutoffTooRecent(RetentionError):
    """A cutoff inside the last month, without ``force``."""


class ArchiveExists(RetentionError):
    """The archive file is there already: an archive is never overwritten."""


class NotArchived(RetentionError):
    """A prune of events no archive holds."""


class EventsArchived(RetentionError):
    """Raw events asked for a period that was archived and pruned."""


@dataclass(frozen=True)
class Outcome:
    """What one archive or prune did."""

    action: str
    cutoff: str
    events: int
    file: str | None = None
    oldest: str | None = None
    newest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the cutoff -----------------------------------------------------------------------------


def _months_before(day: date, months: int) -> date:
    month = day.year * 12 + day.month - 1 - months
    year, month = divmod(month, 12)
    month += 1
    # The 31st of a shorter month is its last day.
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def cutoff(older_than: str, now: datetime | None = None, *, force: bool = False) -> datetime:
    """The UTC moment before which events are archived or pruned.

    ``older_than``: an age ('6m', '90d', '2w', '1y': months and years by the calendar) or a
    date ('2026-05-01'); either way midnight UTC of a day. Inside the last month is
    refused unless ``force``.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    today = moment.date()
    found = _AGE.match(older_than or "")
    if found:
        n, unit = int(found[1]), found[2]
        day = {
            "d": lambda: today - timedelta(days=n),
            "w": lambda: today - timedelta(weeks=n),
            "m": lambda: _months_before(today, n),
            "y": lambda: _months_before(today, 12 * n),
        }[unit]()
    else:
        try:
            day = date.fromisoformat(older_than.strip())
        except (AttributeError, ValueError):
            raise RetentionError(
                f"older-than: {older_than!r} is neither an age nor a date",
                field="--older-than",
                hint="an age like 6m (months), 90d, 2w or 1y, or a date like 2026-05-01",
            ) from None
    at = datetime.combine(day, time(), UTC)
    recent = datetime.combine(_months_before(today, MIN_AGE_MONTHS), time(), UTC)
    if at > recent and not force:
        raise CutoffTooRecent(
            f"older-than: {times.format_ts(at)} is inside the last month; the dashboard, burst checks and live "
            "alerts read those raw events",
            field="--older-than",
            hint=f"choose {times.format_ts(recent)[:10]} or earlier, or add --force",
        )
    return at


# --- what was done before ---------------------------------------------------------------------


def _setting(db: Database, key: str) -> str | None:
    if not db["hub_settings"].exists():
        return None
    row = db.execute("SELECT value FROM hub_settings WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def _remember(db: Database, values: dict[str, str]) -> None:
    db.conn.executemany(
        "INSERT INTO hub_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def pruned_before(db: Database) -> str | None:
    """The UTC timestamp before which raw events were pruned (None: nothing ever was)."""
    return _setting(db, PRUNED_BEFORE)


def status(db: Database) -> dict[str, Any]:
    """The kept raw events (count, oldest, newest) and the last archive and prune."""
    n, oldest, newest = db.execute("SELECT count(*), min(ts), max(ts) FROM events").fetchone()
    return {
        "events": n,
        "oldest": oldest,
        "newest": newest,
        "archived_before": _setting(db, ARCHIVED_BEFORE),
        "archive": _setting(db, ARCHIVE_FILE),
        "pruned_before": pruned_before(db),
    }


def check_kept(db: Database, lo: str) -> None:
    """Refuse a read of raw events from ``lo`` (UTC) on: those before the last prune are not here."""
    before = pruned_before(db)
    if before is not None and lo < before:
        where = _setting(db, ARCHIVE_FILE)
        raise EventsArchived(
            f"raw events before {before} were archived and pruned from the hub",
            field="--from",
            hint=(f"they are in {where}; " if where else "")
            + "aggregates (otklik export aggregates, otklik report) still cover that period",
        )


def check_rebuild(db: Database) -> None:
    """Refuse to recount aggregates from raw events (a time-zone change) once some were pruned."""
    before = pruned_before(db)
    if before is not None:
        raise EventsArchived(
            f"raw events before {before} were pruned: recounting the aggregates from the rest would drop "
            "those months' figures",
            hint="restore them from the archive (hub.retention.read_archive) into a copy and rebuild there",
        )


# --- archive ----------------------------------------------------------------------------------


def _rows(db: Database, before: str, received_before: str | None = None) -> Iterator[dict[str, Any]]:
    sql = (
        f"SELECT {', '.join('e.' + c for c in COLUMNS)}, a.employee, a.source FROM events e "
        "LEFT JOIN attribution a ON a.event_id = e.id WHERE e.ts < ?"
    )
    params = [before]
    if received_before is not None:
        sql += " AND e.received_at < ?"
        params.append(received_before)
    for r in db.execute(sql + " ORDER BY e.ts, e.id", params):
        row = dict(zip(COLUMNS, r[: len(COLUMNS)], strict=True))
        row["attribution"] = None if r[len(COLUMNS)] is None else {"employee": r[-2], "source": r[-1]}
        yield row


def _gzipped(path: Path) -> bool:
    return path.name.endswith(".gz")


def _open(path: Path, gzipped: bool) -> IO[str]:
    # gzip.open's own default would leave the file 0644 for a moment: it is created private first.
    return gzip.open(path, "wt", encoding="utf-8") if gzipped else path.open("w", encoding="utf-8")


def archive(db: Database, to: str | Path, before: datetime, now: datetime | None = None) -> Outcome:
    """Write every event older than ``before`` to the new file ``to``; record the archive."""
    path = Path(to)
    if path.exists():
        raise ArchiveExists(f"to: {path} exists; an archive is never overwritten", field="--to",
                            hint="give a new file name")  # fmt: skip
    if not path.parent.is_dir():
        raise RetentionError(f"to: the folder {path.parent} does not exist", field="--to")
    cut = times.format_ts(before)
    started = times.format_ts(now or datetime.now(UTC))
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    create_private(partial)
    n, oldest, newest = 0, None, None
    try:
        with _open(partial, _gzipped(path)) as out:
            for row in _rows(db, cut, started):
                out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
                oldest = oldest or row["ts"]
                newest = row["ts"]
            out.flush()
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    with db.conn:
        _remember(db, {ARCHIVED_BEFORE: cut, ARCHIVED_AT: started, ARCHIVE_FILE: str(path.resolve())})
    return Outcome("archive", cut, n, str(path), oldest, newest)


def read_archive(path: str | Path) -> Iterator[dict[str, Any]]:
    """The events an archive holds, as :func:`archive` wrote them."""
    path = Path(path)
    opener = gzip.open if _gzipped(path) else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


# --- prune ------------------------------------------------------------------------------------


def prune(db: Database, before: datetime, *, batch: int = BATCH) -> Outcome:
    """Delete the events older than ``before`` that the last archive holds, and their attribution."""
    cut = times.format_ts(before)
    archived, archived_at = _setting(db, ARCHIVED_BEFORE), _setting(db, ARCHIVED_AT)
    if archived is None or archived_at is None or archived < cut:
        raise NotArchived(
            f"older-than: events before {cut} are not all archived"
            + (f" (the last archive holds those before {archived})" if archived else ""),
            field="--older-than",
            hint="run `otklik events archive` with the same --older-than first",
        )
    n = 0
    oldest = db.execute("SELECT min(ts) FROM events WHERE ts < ?", [cut]).fetchone()[0]
    newest = None
    while True:
        with db.conn:
            rows = db.execute(
                "SELECT id, ts FROM events WHERE ts < ? AND received_at < ? ORDER BY ts LIMIT ?",
                [cut, archived_at, batch],
            ).fetchall()
            if not rows:
                break
            ids = [(r[0],) for r in rows]
            db.conn.executemany("DELETE FROM attribution WHERE event_id = ?", ids)
            db.conn.executemany("DELETE FROM events WHERE id = ?", ids)
            n += len(rows)
            newest = rows[-1][1]
    with db.conn:
        previous = pruned_before(db)
        _remember(db, {PRUNED_BEFORE: max(cut, previous or cut)})
    return Outcome("prune", cut, n, _setting(db, ARCHIVE_FILE), oldest if n else None, newest)
