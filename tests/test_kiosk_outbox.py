"""The durable outbox: committed presses survive a reopen, seq never repeats, times are honest."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk.clock import Switchable
from kiosk.outbox import Outbox, OutboxError, Outgoing
from otklik import protocol

# 2026-11-22T10:00:00Z, and a Pi that booted believing it was 2024-03-01 (stale saved time).
REAL = int(datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp() * 1e9)
STALE = int(datetime(2024, 3, 1, 8, 0, tzinfo=UTC).timestamp() * 1e9)
S = 1_000_000_000


class FakeClocks:
    def __init__(self, wall_ns: int, mono_ns: int = 50 * S) -> None:
        self.wall_ns = wall_ns
        self.mono_ns = mono_ns

    def advance(self, seconds: float) -> None:
        self.wall_ns += int(seconds * S)
        self.mono_ns += int(seconds * S)


def make(path: Path, clocks: FakeClocks, synced: Switchable, boot_id: str = "boot-a") -> Outbox:
    return Outbox(
        path,
        clock_synced=synced,
        wall_ns=lambda: clocks.wall_ns,
        monotonic_ns=lambda: clocks.mono_ns,
        boot_id=boot_id,
    )


def decoded(outgoing: Outgoing) -> protocol.Rating:
    message = protocol.decode(outgoing.topic, outgoing.payload)
    assert isinstance(message, protocol.Rating)
    return message


def test_a_press_is_committed_when_add_returns(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", clock_synced=lambda: True) as box:
        assert box.durability() == {"journal_mode": "wal", "synchronous": "FULL"}
        press = box.add_rating(branch="b1", kiosk="k1", score=4, flags=["cooldown"])
        # Another connection (as after a crash) sees it: committed, not buffered.
        other = sqlite3.connect(tmp_path / "o.sqlite")
        row = other.execute("SELECT id, seq, score, flags, state FROM outbox").fetchone()
        assert row == (press.id, 1, 4, "cooldown", "pending")
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other.close()


def test_reopening_keeps_rows_seq_and_last_sent(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, clock_synced=lambda: True) as box:
        presses = [box.add_rating(branch="b1", kiosk="k1", score=s) for s in (1, 2, 3)]
        assert [p.seq for p in presses] == [1, 2, 3]
        first = box.pending(limit=1)[0]
        box.delete([first.n])
    with Outbox(path, clock_synced=lambda: True) as box:
        assert box.depth() == 2 and box.last_seq_sent() == 1
        assert [decoded(o).seq for o in box.pending()] == [2, 3]
        assert box.add_rating(branch="b1", kiosk="k1", score=4).seq == 4
        # Even after the queue empties, seq keeps counting up: the hub finds gaps by it.
        box.delete([o.n for o in box.pending()])
        assert box.depth() == 0 and box.last_seq_sent() == 4
    with Outbox(path, clock_synced=lambda: True) as box:
        assert box.add_rating(branch="b1", kiosk="k1", score=1).seq == 5


def test_a_second_process_cannot_open_the_same_outbox(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite"), pytest.raises(OutboxError, match="in use"):
        Outbox(tmp_path / "o.sqlite")


def test_pending_is_oldest_first_and_skips_rows_already_handed_out(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", clock_synced=lambda: True) as box:
        for score in (1, 2, 3, 4, 1):
            box.add_rating(branch="b1", kiosk="k1", score=score)
        first = box.pending(limit=2)
        rest = box.pending(limit=10, exclude={o.n for o in first})
        seqs = [decoded(o).seq for o in first + rest]
        assert seqs == [1, 2, 3, 4, 5]


def test_a_synced_press_is_sent_with_its_own_time(tmp_path: Path) -> None:
    clocks = FakeClocks(REAL)
    with make(tmp_path / "o.sqlite", clocks, Switchable(True)) as box:
        box.add_rating(branch="b1", kiosk="k1", score=3, employee="e17")
        clocks.advance(90)
        rating = decoded(box.pending()[0])
    assert rating.ts == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert (rating.clock, rating.age_ms, rating.employee, rating.score) == ("synced", None, "e17", 3)


def test_an_unsynced_press_carries_its_age_while_the_clock_stays_unsynced(tmp_path: Path) -> None:
    clocks = FakeClocks(STALE)
    with make(tmp_path / "o.sqlite", clocks, Switchable(False)) as box:
        box.add_rating(branch="b1", kiosk="k1", score=2)
        clocks.advance(12.345)
        rating = decoded(box.pending()[0])
    assert rating.clock == "unsynced"
    assert rating.age_ms == 12345  # press-to-publish on the monotonic clock; the hub subtracts it
    assert rating.ts.year == 2024  # the stale time is sent as-is, and marked


def test_an_unsynced_press_gets_a_corrected_time_once_the_clock_syncs(tmp_path: Path) -> None:
    clocks = FakeClocks(STALE)
    synced = Switchable(False)
    with make(tmp_path / "o.sqlite", clocks, synced) as box:
        box.add_rating(branch="b1", kiosk="k1", score=4)
        clocks.advance(30)
        # NTP steps the wall clock to the real time; the monotonic clock just runs on.
        clocks.wall_ns = REAL
        synced.synced = True
        rating = decoded(box.pending()[0])
    assert rating.clock == "synced" and rating.age_ms is None
    assert rating.ts == datetime(2026, 11, 22, 9, 59, 30, tzinfo=UTC)  # now - 30 s


def test_after_a_reboot_an_unsynced_press_is_marked_without_an_age(tmp_path: Path) -> None:
    clocks = FakeClocks(STALE)
    path = tmp_path / "o.sqlite"
    with make(path, clocks, Switchable(False), boot_id="boot-a") as box:
        box.add_rating(branch="b1", kiosk="k1", score=1)
    # New boot: the monotonic clock restarted, so nobody knows how old the press is.
    clocks.mono_ns = 3 * S
    clocks.wall_ns = REAL
    with make(path, clocks, Switchable(True), boot_id="boot-b") as box:
        rating = decoded(box.pending()[0])
    assert (rating.clock, rating.age_ms) == ("unsynced", None)
    assert rating.ts.year == 2024


def test_refused_rows_are_kept_counted_and_not_offered_until_retried(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", clock_synced=lambda: True) as box:
        box.add_rating(branch="b1", kiosk="k1", score=1)
        box.add_rating(branch="b1", kiosk="k1", score=2)
        first = box.pending(limit=1)[0]
        box.mark_refused(first.n, "135 Not authorized")
        assert (box.depth(), box.refused_count(), box.pending_count()) == (2, 1, 1)
        assert [o.n for o in box.pending()] != [first.n]
        assert box.rows()[0]["reason"] == "135 Not authorized"
        assert box.retry_refused() == 1
        assert next(o.n for o in box.pending()) == first.n


def test_other_kinds_are_queued_and_sent_as_given(tmp_path: Path) -> None:
    reaction = {
        "v": 1, "branch": "b1", "kiosk": "k1", "id": "r-0000000001", "window_start": "2026-11-22T10:00:00.000Z",
        "window_s": 60, "visitors": 5, "smiling": 2, "frames": 600, "fps": 10.0, "detector": "blazeface",
    }  # fmt: skip
    with Outbox(tmp_path / "o.sqlite", clock_synced=lambda: True) as box:
        box.add("reaction", reaction)
        out = box.pending()[0]
        assert out.topic == "otklik/v1/b1/k1/reaction"
        message = protocol.decode(out.topic, out.payload)
        assert isinstance(message, protocol.Reaction) and message.visitors == 5
        with pytest.raises(protocol.ProtocolError, match="limit"):
            box.add("reaction", {**reaction, "junk": "x" * 5000})
        with pytest.raises(protocol.ProtocolError):
            box.add("reaction", {**reaction, "branch": "Bad Branch"})
        assert box.depth() == 1


def test_a_row_that_cannot_be_rendered_is_set_aside_not_blocking(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, clock_synced=lambda: True) as box:
        box.add_rating(branch="b1", kiosk="k1", score=1)
        box.add_rating(branch="b1", kiosk="k1", score=2)
        other = sqlite3.connect(path)
        other.execute("UPDATE outbox SET score = 9 WHERE seq = 1")  # e.g. a hand-edited row
        other.commit()
        other.close()
        assert [decoded(o).seq for o in box.pending()] == [2]
        assert box.refused_count() == 1 and "cannot render" in box.rows()[0]["reason"]
