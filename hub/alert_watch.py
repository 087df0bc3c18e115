"""Alert evaluation as a running part of the hub: the rules of a branch are checked within about a
second of a commit that stored its presses, and what opens is sent out once.

``otklik hub`` runs an ``AlertWatcher`` beside its ingest (``--no-alerts`` turns it off) and
publishes through the hub's own MQTT connection; ``otklik alerts watch`` runs the same class on
its own connection.  The watcher has its own database connection and waits on the database's
change signal (``hub.changes``: SQLite's ``data_version``, PostgreSQL's NOTIFY from whichever hub
stored the presses), which moves only when another connection commits: a cheap way to learn of
new presses without touching the ingest path.  Only branches with new events (or camera reactions) since
the last look are evaluated; every ``sweep_s`` all branches are, for the rules that time alone
makes true (a kiosk gone quiet, a condition that has cleared long enough to auto-resolve), and
channels that failed get the alert again for an hour (``notify.retry_failed``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hub import alerts, changes, notify
from hub.db import open_db
from hub.store import Database, PgDatabase, is_sqlite, is_url, redacted

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# What new presses (and camera windows) land in: a change elsewhere waits for the sweep.
_WATCHED = ("events", "reactions")
# The advisory lock of the one watcher that evaluates among several hubs (any number but hub.db's).
LEAD_LOCK = 0x6F746B61
# After a lost PostgreSQL connection: the first wait before opening a new one, doubled per failed try up to the last.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0


class AlertWatcher:
    def __init__(
        self,
        db_path: str | Path,
        publish: notify.Publish | None,
        *,
        poll_s: float = 0.5,
        sweep_s: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.db_path: str | Path = db_path if is_url(str(db_path)) else Path(db_path)
        self.publish = publish
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.clock = clock or (lambda: datetime.now(UTC))
        self.evaluations = 0  # for the log and tests: how often rules ran ...
        self.polls = 0  # ... and how often it looked for commits
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)
        self._marks: dict[str, int] = {}
        # Whether this watcher evaluates (several hubs on PostgreSQL: only one does, see _lead).
        self.leading = False
        self.reconnects = 0  # for the log and tests: connections made again after one was lost

    def start(self) -> AlertWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        db = open_db(self.db_path)
        wait = RECONNECT_FIRST_S
        while True:
            try:
                if self._loop(db):
                    return
            finally:
                _close_quietly(db)
            # The connection is gone (server restarted, backend terminated, network cut): open a new one,
            # waiting longer after each failure so a down server is not hammered.
            while True:
                if self._stop.wait(wait):
                    return
                try:
                    db = open_db(self.db_path, migrate=False)
                except Exception as err:
                    # Only the redacted URL: the password in it must never reach a log.
                    log.warning("alert watcher: %s still unreachable (%s); next try in %g s",
                                redacted(self.db_path), type(err).__name__, min(wait * 2, RECONNECT_MAX_S))  # fmt: skip
                    wait = min(wait * 2, RECONNECT_MAX_S)
                    continue
                self.reconnects += 1
                # The lead lock went with the old session: lead again (and resend) only if it is ours anew.
                self.leading = False
                wait = RECONNECT_FIRST_S
                log.info("alert watcher: connected again to %s", redacted(self.db_path))
                break

    def _loop(self, db: Database) -> bool:
        """Evaluate until stopped (True) or until ``db``'s connection is lost (False: the caller opens another)."""
        watcher = changes.watch(db, tables=_WATCHED)
        seen = watcher.version()
        next_sweep = 0.0
        if is_sqlite(db):
            self._marks = {table: self._max_rowid(db, table) for table in _WATCHED}
        while True:
            try:
                was_leading = self.leading
                if not self._lead(db):
                    seen = watcher.version()  # standing by: the leading watcher evaluates these
                else:
                    if not was_leading:
                        # In charge (first, or after another hub's watcher died): what a killed
                        # watcher left undelivered, then every branch.
                        self._resend_undelivered(db)
                        next_sweep = 0.0
                    current = watcher.version()
                    changed: set[str] | None = set()
                    if current != seen:
                        changed, seen = self._changed_branches(db, watcher.since(seen)), current
                    only = None if changed is None else sorted(changed)
                    if time.monotonic() >= next_sweep:
                        only, next_sweep = None, time.monotonic() + self.sweep_s
                    if only is None or only:
                        self._evaluate(db, only)
            except Exception as err:  # a bad evaluation (a locked database, a bad row) must not end the watcher
                if _lost(db):
                    log.warning("alert watcher lost its connection to %s (%s); reconnecting",
                                redacted(self.db_path), type(err).__name__)  # fmt: skip
                    return False
                log.exception("alert evaluation failed; trying again")
            self.polls += 1
            if self._stop.wait(self.poll_s):
                return True

    def _lead(self, db: Database) -> bool:
        """Whether this watcher is the one that evaluates: always on SQLite; on PostgreSQL the holder of LEAD_LOCK.

        Several hubs on one PostgreSQL database each run a watcher; two evaluating would retry
        the same failed deliveries twice. The session lock goes with its connection, so when the
        leader's hub dies another watcher takes over within a poll.
        """
        if is_sqlite(db):
            self.leading = True
            return True
        # Asked every poll, not remembered: a connection lost and made again has lost the lock.
        held = db.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND classid = 0 AND objid = ? AND objsubid = 1)"
            " THEN true ELSE pg_try_advisory_lock(?) END",
            [LEAD_LOCK, LEAD_LOCK],
        ).fetchone()[0]
        if held and not self.leading:
            log.info("this hub's alert watcher now evaluates the rules (the others stand by)")
        self.leading = bool(held)
        return self.leading

    def _evaluate(self, db: Database, only: list[str] | None) -> None:
        now = self.clock()
        changes = alerts.check(db, now, only)
        self.evaluations += 1
        notify.send_changes(db, changes, self.publish)
        if only is None:  # at each sweep: channels that failed get the alert again
            notify.retry_failed(db, self.publish, now)
        for alert in changes.opened:
            log.info("alert #%s opened: %s (sent: %s)", alert["id"], alert["message"], _outcomes(alert["delivered"]))
        for alert in changes.resolved:
            log.info("alert #%s resolved: its condition has cleared", alert["id"])

    @staticmethod
    def _max_rowid(db: Database, table: str) -> int:
        if not db[table].exists():
            return 0
        return db.execute(f"SELECT COALESCE(max(rowid), 0) FROM {table}").fetchone()[0]

    def _changed_branches(self, db: Database, said: list[str] | None) -> set[str] | None:
        """Branches with rows added since the last look; None when that cannot be told (then every branch).

        SQLite: rowids only grow, so a range finds them. PostgreSQL: the hub names them in
        its commit's notifications (``events:<branch>``, see ``hub.changes.notify``).
        """
        if not is_sqlite(db):
            return None if said is None else {p.split(":", 1)[1] for p in said if ":" in p}
        changed: set[str] = set()
        for table, last in self._marks.items():
            if not db[table].exists():
                continue
            row = db.execute(
                f"SELECT max(rowid), group_concat(DISTINCT branch) FROM {table} WHERE rowid > ?", [last]
            ).fetchone()
            if row[0] is not None:
                self._marks[table] = row[0]
                changed.update(row[1].split(","))
        return changed

    def _resend_undelivered(self, db: Database) -> None:
        """An alert opened by a watcher killed before delivery has an empty record: send it now."""
        for (alert_id,) in db.execute(
            "SELECT id FROM alerts WHERE state = 'open' AND delivered = '{}' ORDER BY id"
        ).fetchall():
            try:
                notify.deliver(db, alerts.get(db, alert_id), self.publish)
            except Exception:
                log.exception("alert #%s: delivery after restart failed", alert_id)


def _lost(db: Database) -> bool:
    """Whether ``db``'s PostgreSQL connection is gone for good (a SQLite file is opened, never lost)."""
    if not isinstance(db, PgDatabase):
        return False
    raw = db.conn.raw
    return bool(raw.closed or raw.broken)


def _close_quietly(db: Database) -> None:
    try:
        db.close()
    except Exception as err:  # a broken connection may fail to close: it is being replaced anyway
        log.debug("closing the alert watcher's connection: %s", type(err).__name__)


def _outcomes(delivered: dict[str, str]) -> str:
    # Channel names are already redacted (a webhook shows only its host); outcomes are short.
    return ", ".join(f"{name} {result.split(':')[0]}" for name, result in delivered.items()) or "nowhere"
