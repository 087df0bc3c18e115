"""A backlog queued while the hub was down: memory stays bounded, every press is stored once, kills or not."""

from __future__ import annotations

import json
import time

import pytest

from hub.db import open_db
from hub.service import QUEUE_MAX, HubService
from tests.backlog import chain, publish, publish_backlog
from tests.broker import wait_until
from tests.hub_process import HubProcess

pytestmark = pytest.mark.broker

# The bound is proved with a queue limit a fortieth of the backlog, so the broker overruns it many
# times over: the same code path as the deployed QUEUE_MAX, in seconds instead of the minute and
# more a 200k backlog took (77 s alone, up to 160 s under the suite's load). Memory and drain rate
# at 100k and 1M presses against the deployed limit: tests/bench/bench_backlog.py.
BACKLOG = 10_000
QUEUE_LIMIT = BACKLOG // 40
# Enough for six kills, each after a committed batch of at most 500, before 80 % is stored.
KILLED_BACKLOG = 8_000


def test_a_backlog_many_times_the_queue_limit_keeps_the_queue_bounded_and_stores_each_press_once(mosquitto, tmp_path):
    hub = HubService(mosquitto.broker(), tmp_path / "hub.db", client_id="hub-test", queue_max=QUEUE_LIMIT).start()
    assert hub.connected.wait(10)
    hub.stop()  # the hub's persistent session now exists: the broker queues for it
    assert QUEUE_LIMIT < QUEUE_MAX  # the deployed limit is larger still: the bench measures it
    publish_backlog(mosquitto.host, mosquitto.port, BACKLOG)
    db = open_db(tmp_path / "hub.db")
    hub = HubService(mosquitto.broker(), tmp_path / "hub.db", client_id="hub-test", queue_max=QUEUE_LIMIT).start()
    try:
        wait_until(lambda: db["events"].count >= BACKLOG, timeout=120, interval=0.2, message="the whole backlog stored")
        # Mosquitto ignores the hub's Receive Maximum (1000, twice the limit): only the bounded
        # queue held it back, and it was reached, so the bound was really tested.
        assert hub.queue_peak == QUEUE_LIMIT, hub.queue_peak
        assert db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (BACKLOG, BACKLOG)
    finally:
        hub.stop()
        db.close()


def test_a_hub_sigkilled_again_and_again_while_it_drains_a_backlog_stores_each_press_once(mosquitto, tmp_path):
    """Kills land wherever the hub is: a chunk read but not parsed, a queue full, a batch committed, its acks queued.

    The hub acknowledges a batch (in one write) only after its commit, so what
    a kill leaves unacknowledged the broker delivers again: nothing lost, and
    the id de-duplication stores a redelivered, already committed press once.
    """
    hub = HubProcess(mosquitto, tmp_path / "hub.db")
    hub.start().wait_subscribed()
    hub.stop()  # the persistent session exists: the broker queues the backlog for it
    kiosks = chain(KILLED_BACKLOG, kiosks=4, duplicates=0.01)
    publish(mosquitto.host, mosquitto.port, kiosks)
    db = open_db(tmp_path / "hub.db")
    stored = lambda: db.execute("SELECT count(*) FROM events").fetchone()[0]  # noqa: E731
    kills = 0
    try:
        while kills < 6 and stored() < KILLED_BACKLOG * 0.8:
            before = stored()
            hub.start()
            # Killed just after a commit: the batch after it is in memory, its acks may not be out.
            wait_until(lambda b=before: stored() > b, timeout=60, interval=0.01, message="a batch committed")
            hub.kill()
            kills += 1
        print(f"\n{kills} kills while draining {KILLED_BACKLOG}")
        assert kills >= 3, f"the backlog drained after {kills} kills: too few to prove anything"
        hub.start()
        wait_until(lambda: stored() >= KILLED_BACKLOG, timeout=240, interval=0.5, message="the whole backlog stored")
        time.sleep(1)  # a redelivered press stored twice would show now
        sent = {json.loads(line)["id"] for k in kiosks for line in k.lines}
        rows, ids = db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        assert (rows, ids) == (KILLED_BACKLOG, KILLED_BACKLOG)
        assert {r[0] for r in db.execute("SELECT id FROM events")} == sent
        # Each press counted once in the aggregates too: a commit is all or nothing.
        assert db.execute("SELECT sum(n1 + n2 + n3 + n4 + flagged) FROM agg_hour").fetchone()[0] == KILLED_BACKLOG
    finally:
        hub.kill()
        db.close()
