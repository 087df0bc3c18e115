"""The firmware's pure modules under CPython: ring buffer, payloads, cooldown/debounce, seq, config."""

import hashlib
import json
from datetime import UTC, datetime

import pytest

from otklik import protocol, times
from tests import firmware_stubs

firmware_stubs.install()

import time  # noqa: E402

from otpad import config as padconfig  # noqa: E402
from otpad import payload, timefmt  # noqa: E402
from otpad.presses import Cooldown, Debouncer  # noqa: E402
from otpad.receipts import Unconfirmed  # noqa: E402
from otpad.ringbuf import RingBuffer  # noqa: E402


def test_vendored_umqtt_is_the_pypi_module():
    data = (firmware_stubs.STUBS / "umqtt" / "simple.py").read_bytes()
    assert hashlib.sha256(data).hexdigest() == firmware_stubs.UMQTT_SIMPLE_SHA256


# --- ring buffer -------------------------------------------------------------


def records(n, start=1):
    return [json.dumps({"s": i}).encode() for i in range(start, start + n)]


def drain(buf):
    out = []
    while (item := buf.peek()) is not None:
        out.append(json.loads(item[0])["s"])
        buf.commit(item[1])
    return out


def test_ring_buffer_is_fifo_and_survives_reopen(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=10)
    for r in records(5):
        assert buf.append(r)
    _, end = buf.peek()
    buf.commit(end)
    reopened = RingBuffer(str(tmp_path / "p"), capacity=10)
    assert len(reopened) == 4
    assert drain(reopened) == [2, 3, 4, 5]
    # Drained: nothing left on flash.
    assert list(tmp_path.iterdir()) == []


def test_full_buffer_drops_the_newest_without_writing(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=3)
    assert [buf.append(r) for r in records(5)] == [True, True, True, False, False]
    size = (tmp_path / "p.log").stat().st_size
    assert not buf.append(b'{"s":99}')
    assert (tmp_path / "p.log").stat().st_size == size
    assert drain(buf) == [1, 2, 3]


def test_torn_record_loses_only_itself(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=10)
    for r in records(3):
        buf.append(r)
    log = tmp_path / "p.log"
    # Power cut in the middle of appending record 4 (FAT: the partial bytes stay).
    log.write_bytes(log.read_bytes() + b'\n1234abcd {"s":')
    reopened = RingBuffer(str(tmp_path / "p"), capacity=10)
    assert len(reopened) == 3 and reopened.skipped == 1
    reopened.append(b'{"s":5}')
    assert drain(reopened) == [1, 2, 3, 5]


def test_corrupt_record_in_the_middle_is_skipped(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=10)
    for r in records(3):
        buf.append(r)
    log = tmp_path / "p.log"
    log.write_bytes(log.read_bytes().replace(b'{"s": 2}', b'{"s": 7}'))
    assert drain(RingBuffer(str(tmp_path / "p"), capacity=10)) == [1, 3]


def test_torn_header_discards_an_empty_log(tmp_path):
    (tmp_path / "p.log").write_bytes(b"OTPA")
    buf = RingBuffer(str(tmp_path / "p"), capacity=10)
    assert len(buf) == 0
    buf.append(b'{"s":1}')
    assert drain(RingBuffer(str(tmp_path / "p"), capacity=10)) == [1]


def test_compaction_keeps_order_and_a_stale_ack_cannot_skip(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=100, compact_bytes=200)
    for r in records(30):
        buf.append(r)
    sent = []
    for _ in range(20):
        body, end = buf.peek()
        sent.append(json.loads(body)["s"])
        buf.commit(end)
    assert (tmp_path / "p.log").stat().st_size < 30 * 20  # compacted at least once
    # A power cut that left an ack of an older generation behind must not skip records:
    # at worst it resends some (the hub drops duplicates by id).
    (tmp_path / "p.ack").write_bytes(b"deadbeef 400")
    rest = drain(RingBuffer(str(tmp_path / "p"), capacity=100))
    assert rest == sorted(rest) and rest[-10:] == list(range(21, 31))
    assert set(sent) | set(rest) == set(range(1, 31))


# --- time, payloads ------------------------------------------------------------


@pytest.mark.parametrize("moment", ["1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "2100-03-01T12:00:00.5Z"])
def test_timestamps_match_the_protocol(moment):
    dt = datetime.fromisoformat(moment)
    ms = int(dt.timestamp() * 1000)
    assert timefmt.format_ts(ms) == times.format_ts(dt)
    rtc = (dt.year, dt.month, dt.day, dt.weekday(), dt.hour, dt.minute, dt.second, 0)
    assert timefmt.rtc_to_ms(rtc) == ms - dt.microsecond // 1000


class FakeClock:
    def __init__(self, synced_at=None):
        self.synced_at = synced_at  # (uptime, wall)

    def wall_at(self, up):
        return None if self.synced_at is None else self.synced_at[1] + up - self.synced_at[0]

    def rtc_ms(self):
        return timefmt.rtc_to_ms((2021, 1, 1, 4, 0, 10, 0, 0))


def decode_rating(body):
    return protocol.decode("otklik/v1/b1/p1/rating", payload.encode(body))


def test_rating_synced_at_press():
    wall = int(datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)
    rec = payload.press_record(7, "p1-abcd1234-7", 4, "e17", ["cooldown"], 1, 500, wall, 0)
    r = decode_rating(payload.rating("b1", "p1", rec, boot=1, uptime_ms=9000, clock=FakeClock()))
    assert (r.seq, r.score, r.employee, r.flags, r.clock, r.age_ms) == (7, 4, "e17", ["cooldown"], "synced", None)
    assert r.ts == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_rating_pressed_unsynced_then_synced_in_same_boot_gets_the_real_time():
    wall = int(datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)
    rec = payload.press_record(1, "p1-abcd1234-1", 2, None, [], 3, 1000, None, 5)
    r = decode_rating(payload.rating("b1", "p1", rec, boot=3, uptime_ms=61000, clock=FakeClock((61000, wall))))
    assert r.clock == "synced" and r.ts == datetime(2026, 3, 1, 9, 59, tzinfo=UTC) and r.employee is None


def test_rating_unsynced_same_boot_carries_its_age_and_other_boot_none():
    rec = payload.press_record(1, "p1-abcd1234-1", 3, "e1", [], 3, 1000, None, 5)
    r = decode_rating(payload.rating("b1", "p1", rec, boot=3, uptime_ms=4500, clock=FakeClock()))
    assert (r.clock, r.age_ms) == ("unsynced", 3500)
    r = decode_rating(payload.rating("b1", "p1", rec, boot=4, uptime_ms=4500, clock=FakeClock()))
    assert (r.clock, r.age_ms) == ("unsynced", None)


def test_heartbeat_and_status_validate():
    hb = payload.heartbeat("b1", "p1", 1_700_000_000_000, 12345, "otpad-0.1.0", 3, 9, 2, 4, False)
    msg = protocol.decode("otklik/v1/b1/p1/heartbeat", payload.encode(hb))
    assert (msg.outbox_depth, msg.last_seq_sent, msg.uptime_s) == (3, 9, 12.3)
    assert msg.extra == {"dropped": 2, "config_version": 4, "clock": "unsynced"}
    will = protocol.decode("otklik/v1/b1/p1/status", payload.encode(payload.status("b1", "p1", "offline")))
    assert (will.state, will.ts) == ("offline", None)


# --- debounce and cooldown -------------------------------------------------------


def test_debounce_counts_one_press_per_bouncy_edge_train():
    d = Debouncer(50)
    t0 = time.ticks_ms()
    edges = [(True, 0), (False, 3), (True, 5), (False, 9), (True, 12)]  # press bounce
    edges += [(False, 400), (True, 402), (False, 407)]  # release bounce
    edges += [(True, 700)]  # next real press
    presses = [at for pressed, at in edges if d.edge(pressed, time.ticks_add(t0, at))]
    assert presses == [0, 700]


def test_debounce_across_the_ticks_wrap():
    d = Debouncer(50)
    near_wrap = (1 << 30) - 10
    assert d.edge(True, near_wrap)
    assert not d.edge(False, time.ticks_add(near_wrap, 20))  # 20 ms later, past the wrap: bounce
    assert d.edge(True, time.ticks_add(near_wrap, 200))


def test_cooldown_flags_but_never_drops():
    c = Cooldown(5000)
    assert [c.flags(t) for t in (0, 1000, 5999, 12000)] == [[], ["cooldown"], ["cooldown"], []]


# --- config ------------------------------------------------------------------------


def test_config_names_the_bad_field_and_hides_secrets():
    good = firmware_stubs.pad_config()
    cfg = padconfig.PadConfig(good)
    assert "secret" not in repr(cfg)
    bad = firmware_stubs.pad_config(pins={"buttons": [1, 2, 3], "thanks": 4})
    with pytest.raises(padconfig.ConfigError, match=r"pins\.buttons"):
        padconfig.PadConfig(bad)
    with pytest.raises(padconfig.ConfigError, match="device"):
        padconfig.PadConfig(firmware_stubs.pad_config(device="Till/1"))


def test_config_push_applies_newer_versions_whole_or_not_at_all():
    cfg = padconfig.PadConfig(firmware_stubs.pad_config())
    assert cfg.apply_push({"v": 1, "version": 2, "employee": "e42", "cooldown_s": 10})
    assert (cfg.employee, cfg.cooldown_s, cfg.config_version) == ("e42", 10.0, 2)
    with pytest.raises(padconfig.ConfigError, match="labels"):
        cfg.apply_push({"v": 1, "version": 3, "employee": "e1", "labels": "nope"})
    assert cfg.employee == "e42"
    assert not cfg.apply_push({"v": 1, "version": 2, "employee": "e1"})  # the retained copy again
    assert cfg.apply_push({"v": 1, "version": 4, "employee": None})
    assert cfg.employee is None and cfg.cooldown_s == 5.0  # unbound; cooldown back to config.json


# --- receipts: a press leaves flash only when the hub confirms it -----------------


def press_records(n):
    return [json.dumps({"s": i, "i": f"pad-ab-{i}"}).encode() for i in range(1, n + 1)]


def send_all(unconfirmed, buf, up=0):
    """What the pad's loop does: publish from ``next_from`` while the window has room."""
    sent = []
    while unconfirmed.room() and (item := buf.first_after(unconfirmed.next_from)) is not None:
        rec = json.loads(item[0])
        unconfirmed.note_sent(rec["i"], item[1], up, up, buf.generation)
        sent.append(rec["s"])
    return sent


def receipt(*ids, device="p1", rejected=()):
    return protocol.receipt_payloads("b1", device, list(ids), list(rejected))[0]


def test_a_sent_press_stays_until_a_receipt_confirms_it_front_first(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=10)
    for r in press_records(4):
        buf.append(r)
    pending = Unconfirmed(resend_ms=1000)
    assert send_all(pending, buf) == [1, 2, 3, 4]
    assert send_all(pending, buf) == []  # sent once, not again until due
    assert pending.take_receipt(receipt("pad-ab-2", "pad-ab-3"), "b1", "p1") == 2
    assert pending.commit(buf, 10) == 0 and len(buf) == 4  # 1 is not confirmed: nothing can go yet
    assert pending.take_receipt(receipt("pad-ab-1", "pad-ab-4", device="p2"), "b1", "p1") == 0  # not ours
    assert pending.take_receipt(b"not json", "b1", "p1") == 0
    # A rejected id leaves too: the hub keeps it in its dead letters.
    assert pending.take_receipt(receipt(rejected=["pad-ab-1"]), "b1", "p1") == 1
    assert pending.commit(buf, 10) == 3 and len(buf) == 1 and len(pending) == 1
    assert drain(RingBuffer(str(tmp_path / "p"), capacity=10)) == [4]  # what flash still holds


def test_no_receipt_in_time_probes_from_the_front_backing_off(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=10)
    for r in press_records(3):
        buf.append(r)
    pending = Unconfirmed(resend_ms=1000, resend_max_ms=3000)
    assert send_all(pending, buf, up=0) == [1, 2, 3]
    assert not pending.due(999) and pending.due(1000)
    # Nobody answered: one probe, not the whole window again.
    assert send_all(pending, buf, up=1000) == [1]
    assert not pending.due(2999) and pending.due(3000)  # waited twice as long
    assert send_all(pending, buf, up=3000) == [1]
    assert not pending.due(5999) and pending.due(6000)  # capped at 3 s
    assert send_all(pending, buf, up=6000) == [1]
    pending.take_receipt(receipt("pad-ab-1"), "b1", "p1")  # the hub is back
    assert pending.commit(buf, 6500) == 1
    assert send_all(pending, buf, up=6500) == [2, 3]  # the rest at once
    assert not pending.due(7499) and pending.due(7500)  # progress: the wait starts over at its minimum
    assert pending.resends == 4


def test_confirming_across_a_compaction_keeps_every_press(tmp_path):
    buf = RingBuffer(str(tmp_path / "p"), capacity=100, compact_bytes=120)
    for r in press_records(12):
        buf.append(r)
    pending = Unconfirmed(window=6)
    sent_order, committed, generations = [], [], {buf.generation}
    while len(buf):
        sent_order += send_all(pending, buf)
        in_flight = [int(entry[0].rsplit("-", 1)[1]) for entry in pending.sent]
        half = in_flight[: max(1, len(in_flight) // 2)]
        pending.take_receipt(receipt(*[f"pad-ab-{s}" for s in half]), "b1", "p1")
        before = [json.loads(b)["s"] for b in buf.records()]
        assert pending.commit(buf, 0) == len(half)
        after = [json.loads(b)["s"] for b in buf.records()]
        assert before[: len(half)] == half and after == before[len(half) :]
        committed += half
        generations.add(buf.generation)
    assert len(generations) > 2  # the log was compacted (and reset) on the way
    assert sent_order == list(range(1, 13))  # each sent once: offsets stayed right across compactions
    assert committed == list(range(1, 13))
    assert list(tmp_path.iterdir()) == []
