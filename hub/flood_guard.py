"""Cutting a flooding kiosk off at the broker, so its junk cannot queue ahead of everybody's presses.

The hub has one session, and the broker queues every kiosk's messages for it in
one FIFO line. Measured (tests/bench/bench_flood.py): the hub drains a backlog of
4 KB junk at 6-9k msg/s at best (most of it in the per-batch commits a
synchronous=FULL ack-after-commit hub must make), while two ``mosquitto_pub``
clients on one kiosk's credentials publish over 5k msg/s, and more clients
publish more. No hub is fast enough to win that race: other kiosks' presses
waited 7 s behind a 6 s flood and 22 s behind a 10 s one. So the junk must stop
arriving:

- A kiosk whose rejected messages reach ``per_s`` within one second is cut off:
  an honest kiosk sends a few messages a minute and a broken one a few a
  second, so this is only ever a flood. The hub asks Mosquitto's
  dynamic-security plugin to disable the kiosk's username: the broker
  disconnects it and refuses it until it is restored (it checks every other
  user against the password file and ACL, as before).
- Whatever that kiosk had queued for the hub before is acknowledged and counted
  here (the counts written once a second), never decoded or stored:
  ``hub.service``'s network thread marks it and the writer only acknowledges
  it, so the backlog drains at the network thread's pace.
- The cut-off is kept in the hub's database, sent to the broker again on every
  connect, listed by ``otklik cut-offs list`` and lifted by ``otklik cut-offs
  restore``, which the hub passes on to the broker within ``POLL_S``. Several
  hubs sharing the stream read the cut-offs in force every ``POLL_S``, so what
  one of them cut off (or restored) holds in all. Each counts only the junk it
  receives: with N hubs a flood is cut off once its rate reaches N x ``per_s``
  at most (each hub's share reaching ``per_s``).

Nothing is lost by it: a kiosk keeps each press until the hub's receipt names it
(hub/receipts.py); its presses that arrive while it is cut off get none and are
sent again after it is restored. The broker's answers to these commands are
logged, so a broker without the plugin (``otklik demo`` without auth, an old
deploy config) shows up in the hub's log; there only the cheap drop holds.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlite_utils.migrations import Migrations

from hub import dead_letters, ingest
from hub.provisioning.registry import device_username
from hub.store import Database
from otklik import protocol, times
from otklik.errors import OtklikError

log = logging.getLogger(__name__)

migrations = Migrations("otklik-flood-guard")

# Rejected messages from one kiosk within one second that mean a flood: a
# hundred times a broken kiosk's rate, and a few percent of what the hub drains.
CUT_OFF_PER_S = 200
WINDOW_S = 1.0
# How often the writer looks for restores an admin asked for.
POLL_S = 2.0
# How often the counts of dropped messages are written: a commit per batch of
# them would cost the hub what the flood costs it (a hub killed loses this much).
COUNT_EVERY_S = 1.0
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
# "Already exists"/"not found" answers are the normal replay of a command on reconnect.
_HARMLESS = ("already exists", "not found")

Publish = Callable[[str, bytes], object]


@migrations()
def m001_cut_offs(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE flood_cut_offs (
            source TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            cut_at TEXT NOT NULL,
            junk_per_s INTEGER NOT NULL,
            dropped INTEGER NOT NULL DEFAULT 0,
            restore_requested_at TEXT,
            restored_at TEXT
        )
        """
    )


def username_of(source: str) -> str | None:
    """The broker user a kiosk source (``otklik/v1/<branch>/<kiosk>``) publishes as; None for other topics."""
    prefix, _, rest = source.rpartition("/")
    branch_prefix, _, branch = prefix.rpartition("/")
    if branch_prefix != protocol.PREFIX or not branch or not rest:
        return None
    return device_username(branch, rest)


def disable_commands(username: str) -> bytes:
    # A dynamic-security client shadows the password file's entry of the same
    # name; its password is random and never kept, and it is disabled at once
    # (which also disconnects the kiosk).
    commands = [
        {"command": "createClient", "username": username, "password": secrets.token_urlsafe(24)},
        {"command": "disableClient", "username": username},
    ]
    return json.dumps({"commands": commands}).encode()


def restore_commands(username: str) -> bytes:
    # Deleting the shadow makes the password file's entry count again.
    return json.dumps({"commands": [{"command": "deleteClient", "username": username}]}).encode()


class FloodGuard:
    """Per-kiosk junk rate, the cut-off set, and the broker commands; the hub's writer thread drives it.

    ``blocked`` is read by the network thread without a lock: it is only ever
    replaced whole, never changed in place.
    """

    def __init__(self, publish: Publish, *, per_s: int | None = CUT_OFF_PER_S) -> None:
        self._publish = publish
        self.per_s = per_s
        self.blocked: frozenset[str] = frozenset()
        self._windows: dict[str, tuple[float, int]] = {}
        self._dropped: Counter[str] = Counter()
        self._next_poll = 0.0
        self._next_count = 0.0

    # --- network thread ------------------------------------------------------

    def blocks(self, topic: str) -> bool:
        blocked = self.blocked
        return bool(blocked) and dead_letters.source_of(topic) in blocked

    def reapply(self) -> None:
        """Tell the broker again (on each connect): its plugin's own file may have been lost or replaced."""
        for source in self.blocked:
            username = username_of(source)
            if username:
                self._publish(CONTROL_TOPIC, disable_commands(username))

    def answer(self, payload: bytes) -> None:
        """Log the broker's answer to our commands."""
        try:
            responses = json.loads(payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable answer from the broker's dynamic-security plugin: %r", payload[:200])
            return
        for r in responses if isinstance(responses, list) else []:
            if not isinstance(r, dict):
                continue
            error = r.get("error")
            if error and not any(h in str(error).lower() for h in _HARMLESS):
                log.error("the broker refused %s: %s", r.get("command"), dead_letters.text(str(error))[:200])
            elif not error:
                log.info("the broker did %s", r.get("command"))

    # --- writer thread -------------------------------------------------------

    def load(self, db: Database) -> None:
        """Cut-offs from before a restart hold again at once."""
        rows = db.execute("SELECT source FROM flood_cut_offs WHERE restored_at IS NULL").fetchall()
        self.blocked = frozenset(r[0] for r in rows)
        if self.blocked:
            log.warning("kiosks cut off for flooding (restore with `otklik cut-offs restore`): %s",
                        ", ".join(sorted(self.blocked)))  # fmt: skip

    def after_commit(
        self,
        db: Database,
        kept: Sequence[tuple[str, datetime]],
        outcomes: Sequence[ingest.Outcome],
        dropped: Sequence[str],
    ) -> None:
        """After a batch committed and before it is acknowledged: count the drops, cut off new floods.

        ``kept`` are the stored messages' topics and receive times, ``dropped``
        the topics of those only acknowledged because their kiosk is cut off.
        Written in a transaction of its own: a failure here costs counts, not ingest.
        """
        self._dropped.update(dead_letters.source_of(t) for t in dropped)
        floods = self._floods(kept, outcomes)
        count_now = bool(self._dropped) and time.monotonic() >= self._next_count
        if not floods and not count_now:
            return
        try:
            with db.atomic():
                for source, n in floods.items():
                    self._cut(db, source, n)
                if count_now:
                    self._write_counts(db)
        except Exception:
            log.exception("could not record a flood cut-off (it holds until the hub restarts)")

    def poll(self, db: Database) -> None:
        """Write the last drop counts once the flood is over; pass restores on to the broker, every POLL_S."""
        if self._dropped and time.monotonic() >= self._next_count:
            self.after_commit(db, [], [], [])
        if time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + POLL_S
        try:
            rows = db.execute(
                "SELECT source, username FROM flood_cut_offs "
                "WHERE restore_requested_at IS NOT NULL AND restored_at IS NULL"
            ).fetchall()
            for source, username in rows:
                self._publish(CONTROL_TOPIC, restore_commands(username))
                with db.atomic():
                    db.execute("UPDATE flood_cut_offs SET restored_at = ? WHERE source = ?", [_now(), source])
                self._windows.pop(source, None)
                self.blocked = self.blocked - {source}
                log.warning("restored %s (%s) at an admin's request", source, username)
            # Several hubs share one stream (--share-group): a cut-off one of them made, or a
            # restore another passed on, holds here too, or this hub would drop a restored
            # kiosk's presses (or store a cut-off one's junk) for good.
            in_force = frozenset(r[0] for r in db.execute(
                "SELECT source FROM flood_cut_offs WHERE restored_at IS NULL").fetchall())  # fmt: skip
            for source in self.blocked - in_force:
                self._windows.pop(source, None)
            self.blocked = in_force
        except Exception:
            log.exception("could not pass on restores of cut-off kiosks")

    def _write_counts(self, db: Database) -> None:
        for source, n in self._dropped.items():
            db.execute("UPDATE flood_cut_offs SET dropped = dropped + ? WHERE source = ?", [n, source])
        self._dropped.clear()
        self._next_count = time.monotonic() + COUNT_EVERY_S

    def _floods(self, kept: Sequence[tuple[str, datetime]], outcomes: Sequence[ingest.Outcome]) -> dict[str, int]:
        floods: dict[str, int] = {}
        if self.per_s is None:
            return floods
        for (topic, received_at), outcome in zip(kept, outcomes, strict=True):
            if outcome.result != ingest.REJECTED:
                continue
            source = dead_letters.source_of(topic)
            at = received_at.timestamp()
            start, n = self._windows.get(source, (at, 0))
            if at - start > WINDOW_S:
                start, n = at, 0
            n += 1
            self._windows[source] = (start, n)
            if n >= self.per_s and source not in self.blocked and username_of(source):
                floods[source] = n
        return floods

    def _cut(self, db: Database, source: str, junk: int) -> None:
        username = username_of(source)
        assert username
        db.execute(
            """
            INSERT INTO flood_cut_offs (source, username, cut_at, junk_per_s) VALUES (?, ?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET cut_at = excluded.cut_at, junk_per_s = excluded.junk_per_s,
                restore_requested_at = NULL, restored_at = NULL
            """,
            [source, username, _now(), junk],
        )
        self.blocked = self.blocked | {source}
        self._publish(CONTROL_TOPIC, disable_commands(username))
        log.critical("%s sent %d bad messages within %g s: cut off at the broker as %s "
                     "(see `otklik cut-offs list`; `otklik cut-offs restore` lifts it)",
                     source, junk, WINDOW_S, username)  # fmt: skip


def cut_offs(db: Database) -> list[dict[str, Any]]:
    """Every cut-off, newest first: still in force (``restored_at`` empty) or lifted."""
    names = ("source", "username", "cut_at", "junk_per_s", "dropped", "restore_requested_at", "restored_at")
    rows = db.execute(f"SELECT {', '.join(names)} FROM flood_cut_offs ORDER BY cut_at DESC, source").fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


class NotCutOff(OtklikError, LookupError):
    """A restore for a kiosk that is not cut off."""

    hint = "see `otklik cut-offs list`"


def request_restore(db: Database, branch: str, kiosk: str) -> str:
    """Ask the running hub to restore a cut-off kiosk (it tells the broker within POLL_S); its source."""
    source = f"{protocol.PREFIX}/{branch}/{kiosk}"
    with db.atomic():
        cursor = db.execute(
            "UPDATE flood_cut_offs SET restore_requested_at = ? WHERE source = ? AND restored_at IS NULL",
            [_now(), source],
        )
    if cursor.rowcount == 0:
        raise NotCutOff(f"branch {branch!r} kiosk {kiosk!r} is not cut off")
    return source


def _now() -> str:
    return times.format_ts(datetime.now(UTC))
