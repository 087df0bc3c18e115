"""Bad input that hurts no one: dead letters bounded, one message's failure contained, re-sent presses merged.

Straight against a real SQLite file through the hub's ingest (the broker side is
in tests/test_hub_poison.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub import dead_letters, ingest
from hub.db import open_db
from hub.store import Database
from otklik import protocol, times

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def db(hub_target: str | Path) -> Iterator[Database]:
    database = open_db(hub_target)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """For the faults only SQLite can be made to raise here (its triggers' RAISE, locks, size cap)."""
    database = open_db(tmp_path / "hub.db")
    yield database
    database.close()


def rating(seq: int = 1, kiosk: str = "k1", **changes: object) -> tuple[str, bytes]:
    body = protocol.rating_payload(
        branch="b1", kiosk=kiosk, id=f"evt-{kiosk}-{seq:06d}", seq=seq,
        ts=times.format_ts(NOW - timedelta(seconds=2)), score=3,
    )  # fmt: skip
    body.update(changes)
    return protocol.topic("b1", kiosk, "rating"), json.dumps(body).encode()


def sources(db: Database) -> dict[str, dict]:
    return {row["source"]: row for row in dead_letters.sources(db)}


# --- one message, one outcome ------------------------------------------------


def test_a_press_resent_with_a_corrected_clock_is_the_same_press(db: Database) -> None:
    # Pressed before NTP synced (1970 clock, age known), sent, not confirmed;
    # re-sent after the sync with the real time and no age.
    unsynced = rating(ts="1970-01-01T00:05:00.000Z", clock="unsynced", age_ms=90_000)
    synced = rating(ts=times.format_ts(NOW - timedelta(seconds=90)))
    assert ingest.handle_message(db, *unsynced, NOW).result == "stored"
    assert ingest.handle_message(db, *synced, NOW + timedelta(seconds=5)).result == "duplicate"
    assert db["dead_letters"].count == 0
    # What the kiosk cannot change still makes a conflict.
    for changed in (rating(score=4), rating(employee="e9")):
        outcome = ingest.handle_message(db, *changed, NOW)
        assert outcome.result == "rejected" and "different from the stored event" in outcome.reason
    assert db["events"].count == 1 and db["dead_letters"].count == 2


def test_a_bug_in_decode_for_one_message_dead_letters_only_that_one(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The one fault injection here: a decode bug cannot be made any other way.
    real = protocol.decode

    def buggy(topic: str, payload: bytes) -> protocol.Message:
        if b"evt-k1-000002" in payload:
            raise KeyError("a bug")
        return real(topic, payload)

    monkeypatch.setattr(protocol, "decode", buggy)
    with caplog.at_level(logging.ERROR, logger="hub.ingest"):
        outcomes = ingest.handle_batch(db, [(*rating(seq), NOW) for seq in (1, 2, 3)])
    assert [o.result for o in outcomes] == ["stored", "rejected", "stored"]
    assert "KeyError" in outcomes[1].reason
    assert any(r.exc_info for r in caplog.records), "the traceback must be in the log"
    assert db["events"].count == 2


def test_a_failure_in_storage_costs_one_savepoint_and_counts_nothing_twice(sqlite_db: Database) -> None:
    db = sqlite_db
    # A real SQLite refusal in the aggregates, a statement after the event row
    # was written: only the message's savepoint undoes the half-stored press.
    db.execute(
        "CREATE TRIGGER refuse_k666 BEFORE INSERT ON agg_hour WHEN NEW.kiosk = 'k666' "
        "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
    )
    messages = [(*rating(1), NOW), (*rating(1, kiosk="k666"), NOW), (*rating(2), NOW)]
    outcomes = ingest.handle_batch(db, messages)
    assert [o.result for o in outcomes] == ["stored", "rejected", "stored"]
    assert db.execute("SELECT count(*) FROM events WHERE kiosk = 'k666'").fetchone()[0] == 0
    assert db["kiosks"].get(("b1", "k1"))["seq_count"] == 2


def test_a_message_that_rolls_back_the_whole_transaction_is_dead_lettered_and_the_rest_stored(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    db.execute(
        "CREATE TRIGGER rollback_k666 BEFORE INSERT ON events WHEN NEW.kiosk = 'k666' "
        "BEGIN SELECT RAISE(ROLLBACK, 'rolled back by trigger'); END"
    )
    messages = [(*rating(1), NOW), (*rating(1, kiosk="k666"), NOW), (*rating(2), NOW)]
    outcomes = ingest.handle_batch(db, messages)
    assert [o.result for o in outcomes] == ["stored", "rejected", "stored"]
    assert db["events"].count == 2 and db["kiosks"].get(("b1", "k1"))["seq_count"] == 2


def test_a_database_fault_is_no_messages_fault_and_propagates(sqlite_db: Database, tmp_path: Path) -> None:
    db = sqlite_db
    # Another writer holds the lock: SQLITE_BUSY. Nothing may be dead-lettered
    # or committed; the service retries the batch and acknowledges nothing.
    db.conn.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            ingest.handle_batch(db, [(*rating(1), NOW), ("otklik/v1/b1/k1/rating", b"junk", NOW)])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert db["events"].count == 0 and db["dead_letters"].count == 0


def test_a_full_database_is_no_messages_fault_either(sqlite_db: Database) -> None:
    db = sqlite_db
    # SQLite's own size cap gives a real SQLITE_FULL mid-batch.
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    batch = [(*rating(seq, note="x" * 3000), NOW) for seq in range(1, 40)]
    with pytest.raises(sqlite3.OperationalError, match="full"):
        ingest.handle_batch(db, batch)
    db.execute("PRAGMA max_page_count = 1000000")
    assert db["events"].count == 0 and db["dead_letters"].count == 0
    assert [o.result for o in ingest.handle_batch(db, batch)] == ["stored"] * 39


# --- bounded dead letters ------------------------------------------------------


def test_a_dead_letter_keeps_the_start_of_its_payload_with_length_and_hash(db: Database) -> None:
    payload = b"\xff" + bytes(range(256)) * 15
    ingest.handle_message(db, "otklik/v1/b1/k1/rating", payload, NOW)
    letter = next(db["dead_letters"].rows)
    assert letter["payload"] == payload[: dead_letters.KEEP_BYTES] and len(letter["payload"]) == 1024
    assert letter["payload_size"] == len(payload)
    assert letter["payload_sha256"] == hashlib.sha256(payload).hexdigest()


def test_a_flooding_kiosk_is_counted_not_stored_and_others_flow(db: Database) -> None:
    flood = [("otklik/v1/b1/bad/rating", b"x" * 4000, NOW) for _ in range(500)]
    others = [(*rating(seq), NOW) for seq in range(1, 4)]
    stranger = [("otklik/v1/b1/k2/rating", b"{oops", NOW)]
    outcomes = ingest.handle_batch(db, flood[:250] + others + stranger + flood[250:])
    assert [o.result for o in outcomes].count("rejected") == 501
    assert db["events"].count == 3
    assert db.execute("SELECT count(*) FROM dead_letters WHERE topic LIKE '%/bad/%'").fetchone()[0] == 60
    assert db.execute("SELECT count(*) FROM dead_letters WHERE topic LIKE '%/k2/%'").fetchone()[0] == 1
    counts = sources(db)["otklik/v1/b1/bad"]
    assert (counts["written"], counts["dropped"]) == (60, 440)
    # The bucket refills at one a second, across batches (and hub restarts: it is a table).
    later = NOW + timedelta(seconds=30)
    ingest.handle_batch(db, [("otklik/v1/b1/bad/rating", b"x", later) for _ in range(100)])
    counts = sources(db)["otklik/v1/b1/bad"]
    assert (counts["written"], counts["dropped"]) == (90, 510)


def test_a_topic_outside_the_tree_counts_against_one_shared_source(db: Database) -> None:
    ingest.handle_batch(db, [(f"junk/{i}\ud800", b"x", NOW) for i in range(100)])
    assert sources(db)[dead_letters.OTHER_SOURCE]["dropped"] == 40
    assert db["dead_letters"].count == 60
    assert "\\ud800" in next(db["dead_letters"].rows)["topic"]  # stored escaped, not refused by SQLite


def test_old_dead_letters_are_pruned_on_the_hubs_cadence(db: Database) -> None:
    old = NOW - timedelta(days=dead_letters.RETENTION_DAYS + 1)
    hub = ingest.Ingest(db)  # as the hub's writer keeps one per connection
    hub._prune.next_at = float("inf")  # not due: keep both for the direct prune below
    hub.handle_batch([("otklik/v1/b1/k1/rating", b"old", old)])
    hub.handle_batch([("otklik/v1/b1/k2/rating", b"new", NOW)])
    assert db["dead_letters"].count == 2
    assert dead_letters.prune(db, NOW) == 1
    assert [r["payload"] for r in db["dead_letters"].rows] == [b"new"]
    assert set(sources(db)) == {"otklik/v1/b1/k2"}
    # From ingest itself: pruned at most once a PRUNE_EVERY_S per connection.
    hub._prune.next_at = 0.0
    hub.handle_batch([("otklik/v1/b1/k1/rating", b"old again", old), ("otklik/v1/b1/k2/rating", b"x", NOW)])
    assert db["dead_letters"].count == 2, "the batch's own prune pass removed the expired letter"
    hub.handle_batch([("otklik/v1/b1/k1/rating", b"old once more", old), ("otklik/v1/b1/k2/rating", b"y", NOW)])
    assert db["dead_letters"].count == 4, "not due again within the minute"


# --- retained messages ------------------------------------------------------------


def test_a_retained_bad_message_is_dead_lettered_once_and_its_repeats_counted(db: Database) -> None:
    bad_status = ("otklik/v1/b1/k1/status", json.dumps({"v": 1, "branch": "b1", "kiosk": "k1", "state": 7}).encode())
    retained_rating = rating(5)
    for reconnect in range(3):
        at = NOW + timedelta(minutes=reconnect)
        outcomes = ingest.handle_batch(db, [(*bad_status, at, True), (*retained_rating, at, True)])
        assert [o.result for o in outcomes] == ["rejected", "rejected"]
    reasons = sorted(r["reason"] for r in db["dead_letters"].rows)
    assert len(reasons) == 2
    assert "retained rating" in reasons[0] and "state 7" in reasons[1]
    assert db["events"].count == 0, "a retained rating is a replay, never a new press"
    assert sources(db)["otklik/v1/b1/k1"]["retained_repeats"] == 4
    # The same bad status published live (not retained) is a new dead letter each time.
    ingest.handle_batch(db, [(*bad_status, NOW, False)])
    assert db["dead_letters"].count == 3


def test_a_valid_retained_status_is_still_applied(db: Database) -> None:
    status = protocol.encode(protocol.status_payload("b1", "k1", "online"))
    assert ingest.handle_batch(db, [("otklik/v1/b1/k1/status", status, NOW, True)])[0].result == "updated"
    assert db["kiosks"].get(("b1", "k1"))["state"] == "online"


def test_the_cli_shows_what_was_dropped(db: Database, hub_target: str | Path) -> None:
    from click.testing import CliRunner

    from otklik.cli import cli

    ingest.handle_batch(db, [("otklik/v1/b1/bad/rating", b"x", NOW) for _ in range(70)])
    result = CliRunner().invoke(cli, ["dead-letters", "--db", str(hub_target), "--json", "--last", "2"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["sources"][0] | {"last_at": None} == {
        "source": "otklik/v1/b1/bad", "written": 60, "dropped": 10, "retained_repeats": 0,
        "last_dropped_at": times.format_ts(NOW), "last_at": None,
    }  # fmt: skip
    assert len(shown["newest"]) == 2 and "not valid JSON" in shown["newest"][0]["reason"]
    table = CliRunner().invoke(cli, ["dead-letters", "--db", str(hub_target)]).output
    assert "otklik/v1/b1/bad" in table and " 60 " in table and " 10 " in table
