"""Receipts without a broker: the wire format, the hub's batch -> receipts step, the outbox's states."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils.migrations import Migrations

from hub import ingest
from hub.db import open_db
from hub.receipts import receipts_for_batch
from kiosk import outbox as outbox_module
from kiosk.clock import Switchable
from kiosk.config import ConfigError, config_from_dict
from kiosk.outbox import PENDING, REFUSED, SENT
from otklik import protocol, times
from tests.test_kiosk_outbox import REAL, FakeClocks, S, make

TOPIC = protocol.topic("central", "exit-1", protocol.RECEIPT)


def ids(n: int, width: int = 32) -> list[str]:
    return [uuid.uuid4().hex.ljust(width, "x")[:width] for _ in range(n)]


# --- the wire format ---------------------------------------------------------


@pytest.mark.parametrize(("confirmed", "rejected"), [(1000, 0), (1, 0), (0, 3), (300, 250)])
@pytest.mark.parametrize("width", [8, 32, 64])
def test_receipts_split_within_the_payload_limit_and_name_each_id_once(
    confirmed: int, rejected: int, width: int
) -> None:
    good, bad = ids(confirmed, width), ids(rejected, width)
    # Repeats in the input (a re-send stored twice in one batch) are named once.
    bodies = protocol.receipt_payloads("central", "exit-1", good + good[:5], bad)
    assert all(len(body) <= protocol.MAX_PAYLOAD_BYTES for body in bodies)
    decoded = [protocol.decode(TOPIC, body) for body in bodies]
    assert all(isinstance(r, protocol.Receipt) for r in decoded)
    got_ids = [i for r in decoded for i in r.ids]  # type: ignore[union-attr]
    got_rejected = [i for r in decoded for i in r.rejected]  # type: ignore[union-attr]
    assert got_ids == good and got_rejected == bad
    # Split only where needed: every receipt but the last is nearly full.
    assert all(len(body) > protocol.MAX_PAYLOAD_BYTES - 70 - width for body in bodies[:-1])


def test_a_full_receipt_carries_over_a_hundred_kiosk_ids() -> None:
    bodies = protocol.receipt_payloads("central", "exit-1", ids(1130))
    assert len(bodies) == 10


def test_nothing_to_confirm_is_no_receipt() -> None:
    assert protocol.receipt_payloads("central", "exit-1", [], []) == []


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("central", "exit-1", ["short"]), "ids 'short' must be 8-64"),
        (("central", "exit-1", ["abcdefgh12\n"]), "ids 'abcdefgh12\\n' must be 8-64"),
        (("central", "exit-1", ["x" * 65]), "must be 8-64"),
        (("central", "exit-1", [], ["bad id!!"]), "rejected 'bad id!!'"),
        (("Central", "exit-1", ["abcdefgh12"]), "branch 'Central' is not a valid id"),
    ],
)
def test_the_builder_refuses_what_no_kiosk_could_match(args: tuple, reason: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=reason.replace("\\", "\\\\").replace("(", r"\(")):
        protocol.receipt_payloads(*args)


def body(**fields: object) -> bytes:
    return json.dumps({"v": 1, "branch": "central", "kiosk": "exit-1", **fields}).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (body(), "missing field 'ids'"),
        (body(ids="abcdefgh12"), "ids must be a list of event ids, got string"),
        (body(ids=["abcdefgh12", 7]), "ids\\[1\\] 7 must be 8-64"),
        (body(ids=["abcdefgh12"], rejected={"a": 1}), "rejected must be a list of event ids, got object"),
        (body(ids=[], rejected=[]), "at least one id"),
        (body(ids=["abcdefgh12"], kiosk="exit-2"), "payload kiosk 'exit-2' does not match"),
        (json.dumps({"v": 2, "branch": "central", "kiosk": "exit-1", "ids": ["abcdefgh12"]}).encode(), "v 2"),
    ],
)
def test_a_bad_receipt_is_refused_naming_the_field(payload: bytes, reason: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.decode(TOPIC, payload)


def test_a_receipt_round_trips_with_rejected_optional_and_extras_kept() -> None:
    got = protocol.decode(TOPIC, body(ids=["abcdefgh12"], note="x"))
    assert got == protocol.Receipt("central", "exit-1", ["abcdefgh12"], [], {"note": "x"})


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("unconfirmed", -1, "unconfirmed -1 is out of range"),
        ("unconfirmed", 1.5, "unconfirmed must be an integer"),
        ("unconfirmed_age_s", "old", "unconfirmed_age_s must be a finite number"),
        ("unconfirmed_age_s", -2, "unconfirmed_age_s -2 is out of range 0"),
    ],
)
def test_heartbeat_receipt_fields_are_checked(field: str, value: object, reason: str) -> None:
    beat = protocol.heartbeat_payload(
        branch="central", kiosk="exit-1", uptime_s=1, version="1", outbox_depth=0, last_seq_sent=0, **{field: value}
    )
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.decode(protocol.topic("central", "exit-1", protocol.HEARTBEAT), protocol.encode(beat))
    beat[field] = 3
    decoded = protocol.decode(protocol.topic("central", "exit-1", protocol.HEARTBEAT), protocol.encode(beat))
    assert decoded.extra[field] == 3  # type: ignore[union-attr]


# --- the hub: a committed batch -> receipts ------------------------------------


PRESSED_AT = times.now_ts()


def rating(branch: str, kiosk: str, event_id: str, seq: int, score: int = 4) -> tuple[str, bytes]:
    payload = protocol.rating_payload(branch=branch, kiosk=kiosk, id=event_id, seq=seq, ts=PRESSED_AT, score=score)
    return protocol.topic(branch, kiosk, protocol.RATING), protocol.encode(payload)


def test_one_committed_batch_gives_each_kiosk_its_receipts(tmp_path: Path) -> None:
    db = open_db(tmp_path / "hub.db")
    now = datetime.now(UTC)
    a_ids, b_ids = ids(250), ids(3)
    first = [rating("b1", "a", i, n + 1) for n, i in enumerate(a_ids[:10])]
    ingest.handle_batch(db, [(t, p, now) for t, p in first])
    reaction = protocol.encode({
        "v": 1, "branch": "b1", "kiosk": "b", "id": b_ids[2], "window_start": times.now_ts(), "window_s": 60,
        "visitors": 3, "smiling": 1, "frames": 600, "fps": 10.0, "detector": "haar",
    })  # fmt: skip
    poison = protocol.encode({"v": 1, "branch": "b1", "kiosk": "b", "id": b_ids[1], "seq": 2, "score": 9,
                              "ts": times.now_ts()})  # fmt: skip
    heartbeat = protocol.encode(protocol.heartbeat_payload(
        branch="b1", kiosk="a", uptime_s=1, version="1", outbox_depth=0, last_seq_sent=0))  # fmt: skip
    messages = (
        [rating("b1", "a", i, n + 1) for n, i in enumerate(a_ids)]  # the first 10 are re-sends
        + [rating("b1", "b", b_ids[0], 1), (protocol.topic("b1", "b", protocol.RATING), poison)]
        + [(protocol.topic("b1", "b", protocol.REACTION), reaction)]
        + [(protocol.topic("b1", "a", protocol.HEARTBEAT), heartbeat)]
        + [(protocol.topic("b1", "b", protocol.RATING), b"{not json")]
    )
    outcomes = ingest.handle_batch(db, [(t, p, now) for t, p in messages])
    assert [o.result for o in outcomes[:10]] == [ingest.DUPLICATE] * 10

    receipts = receipts_for_batch(messages, outcomes)
    by_kiosk: dict[str, list[protocol.Receipt]] = {}
    for to, payload in receipts:
        got = protocol.decode(to, payload)
        assert isinstance(got, protocol.Receipt) and len(payload) <= protocol.MAX_PAYLOAD_BYTES
        by_kiosk.setdefault(got.kiosk, []).append(got)
    # Batched: 250 presses of kiosk a cost 3 receipts (about 113 ids each), kiosk b's three one.
    assert len(by_kiosk["a"]) == 3 and len(by_kiosk["b"]) == 1
    assert [i for r in by_kiosk["a"] for i in r.ids] == a_ids  # re-sends confirmed too
    assert by_kiosk["b"][0].ids == [b_ids[0], b_ids[2]]
    assert by_kiosk["b"][0].rejected == [b_ids[1]]  # the hub holds it in dead letters: never re-send it
    db.close()


def test_a_batch_with_nothing_receiptable_sends_nothing() -> None:
    outcomes = [ingest.Outcome(ingest.UPDATED), ingest.Outcome(ingest.REJECTED, "bad topic")]
    assert receipts_for_batch([("otklik/v1/b1/a/status", b"{}"), ("nope", b"{}")], outcomes) == []


# --- the kiosk outbox's states ---------------------------------------------------


def test_pending_then_sent_then_confirmed_and_deleted(tmp_path: Path) -> None:
    clocks = FakeClocks(REAL)
    with make(tmp_path / "o.sqlite", clocks, Switchable(True)) as box:
        a, b, c = (box.add_rating(branch="b1", kiosk="k1", score=s) for s in (1, 2, 3))
        assert [r["state"] for r in box.rows()] == [PENDING] * 3
        assert box.unconfirmed() == (0, None)

        box.mark_sent([a.n, b.n], now_ns=100 * S, resend_ns=30 * S, resend_max_ns=600 * S)
        assert [(r["state"], r["attempts"], r["due_ns"]) for r in box.rows()] == [
            (SENT, 1, 130 * S), (SENT, 1, 130 * S), (PENDING, 0, None),
        ]  # fmt: skip
        assert box.last_seq_sent() == b.seq and box.depth() == 3
        assert [r.n for r in box.pending()] == [c.n]  # sent rows are not offered as new
        assert box.due(129 * S) == [] and [r.n for r in box.due(130 * S)] == [a.n, b.n]
        clocks.advance(12)
        assert box.unconfirmed() == (2, 12.0)

        # A receipt deletes what it names, sent or not yet acknowledged; unknown ids are harmless.
        assert box.confirm([a.id, c.id, "0123456789abcdef"]) == 2
        assert [r["n"] for r in box.rows()] == [b.n]
        # A PUBACK processed after the receipt does not bring a row back.
        box.mark_sent([c.n], now_ns=200 * S, resend_ns=30 * S, resend_max_ns=600 * S)
        assert [r["n"] for r in box.rows()] == [b.n]
        assert box.last_seq_sent() == c.seq


def test_resends_back_off_doubling_to_the_cap_and_a_reconnect_makes_all_due(tmp_path: Path) -> None:
    with make(tmp_path / "o.sqlite", FakeClocks(REAL), Switchable(True)) as box:
        press = box.add_rating(branch="b1", kiosk="k1", score=4)
        waits = []
        for _ in range(8):
            box.mark_sent([press.n], now_ns=0, resend_ns=30 * S, resend_max_ns=600 * S)
            waits.append(box.rows()[0]["due_ns"] // S)
        assert waits == [30, 60, 120, 240, 480, 600, 600, 600]
        for _ in range(100):  # no overflow into a negative wait, however often
            box.mark_sent([press.n], now_ns=0, resend_ns=30 * S, resend_max_ns=600 * S)
        assert box.rows()[0]["due_ns"] == 600 * S
        assert box.due(599 * S) == []
        assert box.resend_unconfirmed() == 1
        assert [r.n for r in box.due(0)] == [press.n]


def test_a_refused_row_stays_refused_and_a_reaction_is_receipted_too(tmp_path: Path) -> None:
    with make(tmp_path / "o.sqlite", FakeClocks(REAL), Switchable(True)) as box:
        press = box.add_rating(branch="b1", kiosk="k1", score=4)
        box.mark_refused(press.n, "135 Not authorized")
        box.mark_sent([press.n], now_ns=0, resend_ns=S, resend_max_ns=S)
        assert box.rows()[0]["state"] == REFUSED
        reaction_id = uuid.uuid4().hex
        n = box.add(protocol.REACTION, {
            "v": 1, "branch": "b1", "kiosk": "k1", "id": reaction_id, "window_start": times.now_ts(),
            "window_s": 60, "visitors": 1, "smiling": 0, "frames": 10, "fps": 1.0, "detector": "haar",
        })  # fmt: skip
        box.mark_sent([n], now_ns=0, resend_ns=S, resend_max_ns=S)
        assert box.confirm([reaction_id]) == 1 and box.depth() == 1


def test_an_outbox_from_before_receipts_upgrades_in_place(tmp_path: Path) -> None:
    """An outbox written by the previous release (migration m001 only) keeps its rows and gains the states."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    old = Migrations("otklik-kiosk-outbox")  # the set as the previous release registered it
    old()(outbox_module.m001_outbox)
    old.apply(sqlite_utils.Database(conn))
    for n, (state, reason) in enumerate([("pending", None), ("refused", "135 Not authorized")], start=1):
        conn.execute(
            "INSERT INTO outbox (kind, id, branch, kiosk, seq, score, flags, wall_ns, mono_ns, boot_id,"
            " clock_synced, state, reason) VALUES ('rating', ?, 'b1', 'k1', ?, 4, '', ?, ?, 'boot-a', 1, ?, ?)",
            (f"old-press-{n:04d}", n, REAL, 45 * S, state, reason),
        )
    conn.execute("UPDATE counters SET value = 2 WHERE name = 'seq'")
    conn.close()

    with make(path, FakeClocks(REAL + 5 * S), Switchable(True)) as box:
        rows = box.rows()
        assert [(r["id"], r["state"], r["attempts"], r["due_ns"]) for r in rows] == [
            ("old-press-0001", PENDING, 0, None), ("old-press-0002", REFUSED, 0, None),
        ]  # fmt: skip
        assert [r.seq for r in box.pending()] == [1]
        box.mark_sent([rows[0]["n"]], now_ns=0, resend_ns=S, resend_max_ns=S)
        assert box.unconfirmed() == (1, 5.0)  # the oldest waiting press was made 5 s ago
        assert box.add_rating(branch="b1", kiosk="k1", score=1).seq == 3
        assert box.confirm(["old-press-0001"]) == 1
    # Opening again applies nothing twice.
    with make(path, FakeClocks(REAL), Switchable(True)) as box:
        assert box.depth() == 2


def test_the_hub_keeps_the_receipt_fields_of_a_heartbeat_in_its_registry(tmp_path: Path) -> None:
    db = open_db(tmp_path / "hub.db")
    beat = protocol.heartbeat_payload(branch="b1", kiosk="k1", uptime_s=5, version="1", outbox_depth=7,
                                      last_seq_sent=9, unconfirmed=4, unconfirmed_age_s=31.5)  # fmt: skip
    outcome = ingest.handle_message(db, protocol.topic("b1", "k1", protocol.HEARTBEAT), protocol.encode(beat))
    assert outcome.result == ingest.UPDATED
    row = next(db["kiosks"].rows_where("branch = 'b1' AND kiosk = 'k1'"))
    assert json.loads(row["heartbeat_extra"]) == {"unconfirmed": 4, "unconfirmed_age_s": 31.5}
    db.close()


@pytest.mark.parametrize(
    ("kiosk", "reason"),
    [
        ({"receipts": "yes"}, "kiosk.receipts: must be"),
        ({"resend_s": 0}, "kiosk.resend_s: 0 is out of range"),
        ({"resend_s": 60, "resend_max_s": 30}, "kiosk.resend_max_s: 30 is out of range 60"),
    ],
)
def test_a_bad_receipt_setting_names_the_field(kiosk: dict, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        config_from_dict({"broker": {"url": "mqtt://h"}, "kiosk": {"branch": "b1", "id": "k1", **kiosk}})


def test_receipts_are_on_by_default_and_can_be_switched_off_for_an_old_hub() -> None:
    base = {"broker": {"url": "mqtt://h"}, "kiosk": {"branch": "b1", "id": "k1"}}
    on = config_from_dict(base).kiosk
    assert (on.receipts, on.resend_s, on.resend_max_s) == (True, 30.0, 600.0)
    off = config_from_dict({**base, "kiosk": {**base["kiosk"], "receipts": False}}).kiosk
    assert off.receipts is False


FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=150)
kiosk_ids = st.sampled_from(["a", "b", "k-1"])
event_ids = st.one_of(st.text(max_size=70), st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True))


@st.composite
def batch_items(draw: st.DrawFn) -> tuple[tuple[str, bytes], ingest.Outcome]:
    topic = draw(st.one_of(
        st.builds(lambda k, kind: f"otklik/v1/b1/{k}/{kind}", kiosk_ids, st.sampled_from(protocol.KINDS)),
        st.text(max_size=40),
    ))  # fmt: skip
    body = draw(st.one_of(
        st.builds(lambda i: json.dumps({"id": i}).encode(), event_ids),
        st.binary(max_size=60),
        st.just(b"[" * 3000),
    ))  # fmt: skip
    result = draw(st.sampled_from([ingest.STORED, ingest.DUPLICATE, ingest.REJECTED, ingest.UPDATED, "ignored"]))
    stored_id = draw(st.none() | st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True))
    return (topic, body), ingest.Outcome(result, "why", stored_id)


@FUZZ
@given(st.lists(batch_items(), max_size=12))
def test_receipts_for_any_batch_are_valid_protocol_and_never_raise(items: list) -> None:
    messages = [m for m, _ in items]
    outcomes = [o for _, o in items]
    for to, payload in receipts_for_batch(messages, outcomes):
        receipt = protocol.decode(to, payload)  # every receipt built is one the kiosk accepts
        assert isinstance(receipt, protocol.Receipt) and len(payload) <= protocol.MAX_PAYLOAD_BYTES
