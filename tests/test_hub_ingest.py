"""The hub's ingest rules, straight against both real stores (a SQLite file, PostgreSQL; no broker needed)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub import ingest, scores
from hub.db import open_db
from hub.store import is_sqlite
from otklik import protocol, times

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def db(hub_target):
    database = open_db(hub_target)
    yield database
    database.close()


def rating(seq=1, score=3, id=None, branch="b1", kiosk="k1", ts=NOW - timedelta(seconds=2), **extra):
    body = protocol.rating_payload(
        branch=branch,
        kiosk=kiosk,
        id=id or f"evt-{branch}-{kiosk}-{seq:06d}",
        seq=seq,
        ts=times.format_ts(ts),
        score=score,
        **extra,
    )
    return protocol.topic(branch, kiosk, "rating"), protocol.encode(body)


def test_rating_is_stored_once_whatever_is_redelivered(db):
    topic, payload = rating()
    assert ingest.handle_message(db, topic, payload, NOW).result == "stored"
    assert ingest.handle_message(db, topic, payload, NOW).result == "duplicate"
    outcomes = ingest.handle_batch(db, [(topic, payload, NOW)] * 3)
    assert [o.result for o in outcomes] == ["duplicate"] * 3
    assert db["events"].count == 1
    row = next(db["events"].rows)
    assert (row["score"], row["seq"], row["ts_source"], row["flags"]) == (3, 1, "kiosk", "")
    kiosk = db["kiosks"].get(("b1", "k1"))
    assert (kiosk["seq_max"], kiosk["seq_count"]) == (1, 1)


def test_same_id_with_other_content_keeps_first_and_dead_letters_second(db):
    topic, first = rating(score=4, id="same-id-0001")
    _, second = rating(score=1, id="same-id-0001")
    ingest.handle_message(db, topic, first, NOW)
    outcome = ingest.handle_message(db, topic, second, NOW)
    assert outcome.result == "rejected" and "different from the stored event" in outcome.reason
    assert next(db["events"].rows)["score"] == 4
    assert db["dead_letters"].count == 1


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("otklik/v1/b1/k1/rating", b"{oops", "not valid JSON"),
        ("otklik/v1/b1/k1/rating", json.dumps({"v": 1, "branch": "b1"}).encode(), "missing field 'kiosk'"),
        ("otklik/v1/b1/k2/rating", rating()[1], "does not match the topic's kiosk"),
        ("otklik/v1/b1/k1/rating", b"x" * 100_000, "limit is 4096"),
        ("otklik/v1/b1/k1/rating", rating(score=9)[1], "score 9 is out of range"),
    ],
)
def test_bad_messages_go_to_dead_letters_with_reason(db, topic, payload, reason):
    outcome = ingest.handle_message(db, topic, payload, NOW)
    assert outcome.result == "rejected"
    letter = next(db["dead_letters"].rows)
    assert reason in letter["reason"]
    assert letter["topic"] == topic
    assert letter["payload_size"] == len(payload)
    assert letter["payload"] == payload[: ingest.DEAD_LETTER_KEEP_BYTES]
    assert db["events"].count == 0


def test_a_bad_message_in_a_batch_does_not_lose_the_good_ones(db):
    good1, good2 = rating(seq=1), rating(seq=2)
    outcomes = ingest.handle_batch(db, [(*good1, NOW), ("otklik/v1/b1/k1/rating", b"garbage", NOW), (*good2, NOW)])
    assert [o.result for o in outcomes] == ["stored", "rejected", "stored"]
    assert db["events"].count == 2 and db["dead_letters"].count == 1


def test_unsynced_clock_with_age_is_corrected_from_receive_time(db):
    # The kiosk booted without network: its clock says 1970.
    topic, payload = rating(ts=datetime(1970, 1, 1, 0, 5, tzinfo=UTC), clock="unsynced", age_ms=90_000)
    ingest.handle_message(db, topic, payload, NOW)
    row = next(db["events"].rows)
    assert row["ts"] == times.format_ts(NOW - timedelta(seconds=90))
    assert row["kiosk_ts"] == "1970-01-01T00:05:00.000Z"
    assert (row["ts_source"], row["flags"]) == ("hub", "")


def test_unsynced_clock_without_age_is_flagged_not_counted(db):
    topic, payload = rating(ts=datetime(1970, 1, 1, tzinfo=UTC), clock="unsynced")
    ingest.handle_message(db, topic, payload, NOW)
    row = next(db["events"].rows)
    assert (row["ts"], row["ts_source"], row["flags"]) == (times.format_ts(NOW), "hub", "clock")
    # What `otklik report --by kiosk` prints.
    assert scores.report(db, "kiosk")[0]["responses"] == 0
    assert scores.report(db, "kiosk")[0]["flagged"]["total"] == 1


@pytest.mark.parametrize("ts", [datetime(2001, 1, 1, tzinfo=UTC), NOW + timedelta(hours=2)])
def test_implausible_synced_time_is_replaced_and_flagged(db, ts):
    topic, payload = rating(ts=ts)
    ingest.handle_message(db, topic, payload, NOW)
    row = next(db["events"].rows)
    assert (row["ts"], row["flags"]) == (times.format_ts(NOW), "clock")


def test_a_late_but_synced_event_keeps_its_own_time(db):
    # Sent three days late from the outbox after an outage: the time is real.
    topic, payload = rating(ts=NOW - timedelta(days=3))
    ingest.handle_message(db, topic, payload, NOW)
    assert next(db["events"].rows)["ts"] == times.format_ts(NOW - timedelta(days=3))


def test_cooldown_flag_from_kiosk_is_kept_and_left_out_of_report(db):
    ingest.handle_message(db, *rating(seq=1, score=4), NOW)
    ingest.handle_message(db, *rating(seq=2, score=4, flags=["cooldown"]), NOW)
    [row] = scores.report(db, "kiosk")
    assert row["counts"] == {"1": 0, "2": 0, "3": 0, "4": 1}
    assert (row["responses"], row["index"], row["flagged"]["total"]) == (1, 100.0, 1)


def test_registry_tracks_heartbeat_status_and_gaps(db):
    for seq in (1, 2, 5):
        ingest.handle_message(db, *rating(seq=seq), NOW)
    hb = protocol.heartbeat_payload(
        branch="b1", kiosk="k1", uptime_s=61, version="0.1.0", outbox_depth=4, last_seq_sent=5, refused=2
    )
    ingest.handle_message(db, "otklik/v1/b1/k1/heartbeat", protocol.encode(hb), NOW)
    kiosk = db["kiosks"].get(("b1", "k1"))
    assert (kiosk["state"], kiosk["version"], kiosk["outbox_depth"], kiosk["last_seq_sent"]) == (
        "online",
        "0.1.0",
        4,
        5,
    )
    assert kiosk["seq_max"] - kiosk["seq_count"] == 2  # seqs 3 and 4 never arrived
    assert json.loads(kiosk["heartbeat_extra"]) == {"refused": 2}
    offline = protocol.status_payload("b1", "k1", "offline", with_ts=False)
    ingest.handle_message(db, "otklik/v1/b1/k1/status", protocol.encode(offline), NOW + timedelta(minutes=1))
    kiosk = db["kiosks"].get(("b1", "k1"))
    assert kiosk["state"] == "offline"
    assert kiosk["state_at"] == times.format_ts(NOW + timedelta(minutes=1))


def test_report_counts_and_index_per_kiosk(db):
    pressed = {"k1": [1, 2, 3, 4, 4], "k2": [1, 1]}
    for kiosk, presses in pressed.items():
        for seq, score in enumerate(presses, start=1):
            ingest.handle_message(db, *rating(kiosk=kiosk, seq=seq, score=score), NOW)
    rows = {r["kiosk"]: r for r in scores.report(db, "kiosk")}
    assert rows["k1"]["counts"] == {"1": 1, "2": 1, "3": 1, "4": 2}
    assert rows["k1"]["index"] == pytest.approx(round((0 + 100 / 3 + 200 / 3 + 200) / 5, 1))
    assert (rows["k2"]["responses"], rows["k2"]["index"]) == (2, 0.0)


def test_migrations_are_idempotent(tmp_path):
    open_db(tmp_path / "a.db").close()
    db = open_db(tmp_path / "a.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"events", "dead_letters", "kiosks", "reactions"} <= set(db.table_names())


def test_a_message_that_fails_in_storage_is_dead_lettered_and_the_batch_still_stored(db):
    # A real refusal by the store that the validator cannot foresee, for one kiosk only.
    if is_sqlite(db):
        db.execute(
            "CREATE TRIGGER refuse_k666 BEFORE INSERT ON events WHEN NEW.kiosk = 'k666' "
            "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
        )
    else:
        db.executescript(
            "CREATE FUNCTION refuse_k666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.kiosk = 'k666' THEN RAISE check_violation USING MESSAGE = 'refused by trigger'; END IF; "
            "RETURN NEW; END $$; "
            "CREATE TRIGGER refuse_k666 BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_k666()"
        )
    messages = [(*rating(seq=1), NOW), (*rating(kiosk="k666"), NOW), (*rating(seq=2), NOW)]
    outcomes = ingest.handle_batch(db, messages)
    assert [o.result for o in outcomes] == ["stored", "rejected", "stored"]
    assert "refused by trigger" in outcomes[1].reason
    assert db["events"].count == 2
    assert db["kiosks"].get(("b1", "k1"))["seq_count"] == 2  # counted once, not again on the retry
