"""A 200k backlog queued while the hub was down: memory stays bounded, every press is stored once."""

from __future__ import annotations

import pytest

from hub.db import open_db
from hub.service import QUEUE_MAX
from tests.backlog import publish_backlog
from tests.broker import wait_until

pytestmark = pytest.mark.broker

BACKLOG = 200_000


def test_a_200k_backlog_keeps_the_queue_bounded_and_stores_each_press_once(mosquitto, tmp_path, start_hub):
    start_hub().stop()  # the hub's persistent session now exists: the broker queues for it
    publish_backlog(mosquitto.host, mosquitto.port, BACKLOG)
    db = open_db(tmp_path / "hub.db")
    hub = start_hub()
    wait_until(lambda: db["events"].count >= BACKLOG, timeout=240, interval=0.5, message="the whole backlog stored")
    # Mosquitto ignores the hub's Receive Maximum; only the bounded queue held it back.
    assert 0 < hub.queue_peak <= QUEUE_MAX, hub.queue_peak
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (BACKLOG, BACKLOG)
