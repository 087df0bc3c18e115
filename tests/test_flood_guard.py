"""The cut-off rule on a real SQLite file: what counts as a flood, what never does, and restore."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub import flood_guard, ingest
from hub.db import open_db

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
REJECTED = ingest.Outcome(ingest.REJECTED, "payload is not valid JSON")
STORED = ingest.Outcome(ingest.STORED)


class Broker:
    """Where the guard's commands go: the broker's control topic, as JSON."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def __call__(self, topic: str, body: bytes) -> None:
        assert topic == flood_guard.CONTROL_TOPIC
        self.commands += [(c["command"], c["username"]) for c in json.loads(body)["commands"]]


@pytest.fixture
def db(hub_target):
    d = open_db(hub_target)
    yield d
    d.close()


def batch(topic: str, n: int, spread_s: float, outcome: ingest.Outcome = REJECTED):
    kept = [(topic, T0 + timedelta(seconds=spread_s * i / n)) for i in range(n)]
    return kept, [outcome] * n


def test_200_bad_messages_within_a_second_cut_the_kiosk_off_at_the_broker(db) -> None:
    broker = Broker()
    guard = flood_guard.FloodGuard(broker)
    guard.after_commit(db, *batch("otklik/v1/b1/k1/rating", 199, 0.9), [])
    assert broker.commands == [] and not guard.blocks("otklik/v1/b1/k1/rating")
    guard.after_commit(db, *batch("otklik/v1/b1/k1/rating", 1, 0.0), [])
    assert broker.commands == [("createClient", "k-b1-k1"), ("disableClient", "k-b1-k1")]
    assert guard.blocks("otklik/v1/b1/k1/heartbeat") and not guard.blocks("otklik/v1/b1/k2/rating")
    guard.after_commit(db, [], [], ["otklik/v1/b1/k1/rating"] * 5)
    [row] = flood_guard.cut_offs(db)
    assert (row["source"], row["junk_per_s"], row["dropped"], row["restored_at"]) == ("otklik/v1/b1/k1", 200, 5, None)
    # A restarted hub knows at once, and tells the broker again on connect.
    again = flood_guard.FloodGuard(broker)
    again.load(db)
    assert again.blocks("otklik/v1/b1/k1/rating")


@pytest.mark.parametrize(
    ("topic", "n", "spread_s", "outcome"),
    [
        ("otklik/v1/b1/k1/rating", 400, 4.0, REJECTED),  # 100 a second: a broken kiosk, not a flood
        ("otklik/v1/b1/k1/rating", 5000, 1.0, STORED),  # a backlog of good presses
        ("junk/topic", 5000, 1.0, REJECTED),  # no kiosk's credentials to cut off
    ],
)
def test_what_is_never_a_flood(db, topic: str, n: int, spread_s: float, outcome: ingest.Outcome) -> None:
    broker = Broker()
    guard = flood_guard.FloodGuard(broker)
    guard.after_commit(db, *batch(topic, n, spread_s, outcome), [])
    assert broker.commands == [] and flood_guard.cut_offs(db) == []


def test_switched_off_it_never_cuts(db) -> None:
    broker = Broker()
    flood_guard.FloodGuard(broker, per_s=None).after_commit(db, *batch("otklik/v1/b1/k1/rating", 5000, 0.5), [])
    assert broker.commands == []


def test_an_admins_restore_reaches_the_broker(db) -> None:
    broker = Broker()
    guard = flood_guard.FloodGuard(broker)
    guard.after_commit(db, *batch("otklik/v1/b1/k1/rating", 300, 0.5), [])
    with pytest.raises(flood_guard.NotCutOff):
        flood_guard.request_restore(db, "b1", "k2")
    assert flood_guard.request_restore(db, "b1", "k1") == "otklik/v1/b1/k1"
    guard.poll(db)
    assert broker.commands[-1] == ("deleteClient", "k-b1-k1")
    assert not guard.blocks("otklik/v1/b1/k1/rating")
    assert flood_guard.cut_offs(db)[0]["restored_at"] is not None
