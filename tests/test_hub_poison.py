"""Poison messages through a real Mosquitto into the real hub service: each is dead-lettered, ingest goes on.

Before decode raised only ProtocolError, the first of these (3000 '[') killed
the hub's writer thread: nothing more was stored or acknowledged, and the
unacknowledged message came back after every restart.
"""

from __future__ import annotations

import json
import uuid

import paho.mqtt.client as mqtt
import pytest

from hub.db import open_db
from otklik import protocol, times
from tests.broker import wait_until

pytestmark = pytest.mark.broker

TS = "2026-11-22T11:24:46.123Z"


def rating(seq: int, **changes: object) -> tuple[str, bytes]:
    body = protocol.rating_payload(branch="b1", kiosk="k1", id=uuid.uuid4().hex, seq=seq, ts=times.now_ts(), score=3)
    body.update(changes)
    return protocol.topic("b1", "k1", "rating"), json.dumps(body).encode()


def heartbeat(**changes: object) -> tuple[str, bytes]:
    body = protocol.heartbeat_payload(branch="b1", kiosk="k1", uptime_s=1, version="1", outbox_depth=0, last_seq_sent=0)
    body.update(changes)
    return protocol.topic("b1", "k1", "heartbeat"), json.dumps(body).encode()


def reaction(**changes: object) -> tuple[str, bytes]:
    body = {"v": 1, "branch": "b1", "kiosk": "k1", "id": uuid.uuid4().hex, "window_start": TS, "window_s": 60,
            "visitors": 2, "smiling": 1, "frames": 600, "fps": 10.0, "detector": "haar"}  # fmt: skip
    body.update(changes)
    return protocol.topic("b1", "k1", "reaction"), json.dumps(body).encode()


STATUS_TOPIC = protocol.topic("b1", "k1", "status")
POISON = [
    (protocol.topic("b1", "k1", "rating"), b"[" * 3000),
    (STATUS_TOPIC, b'{"v":1,"branch":"b1","kiosk":"k1","state":' + b"[" * 2000),
    rating(900, ts="0001-01-01T00:00:00+01:00"),
    rating(901, ts="9999-12-31T23:59:59-01:00"),
    heartbeat(uptime_s=1e300),
    (heartbeat()[0], heartbeat()[1].replace(b'"uptime_s": 1,', b'"uptime_s": 1e400,')),
    reaction(window_s=1e300),
    (reaction()[0], reaction()[1].replace(b'"fps": 10.0', b'"fps": NaN')),
    rating(902, note="\ud800"),
    rating(True),
    rating(903, v=True),
    rating(904, id="abcdefgh12\n"),
    rating(2**63),
    rating(905, clock="unsynced", age_ms=10**12),
    heartbeat(refused="abc"),
    heartbeat(config_version="x"),
    heartbeat(outbox_depth=10**30),
]


def publisher(mosquitto):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def counts(db_path) -> tuple[int, int]:
    db = open_db(db_path)
    try:
        return db["events"].count, db["dead_letters"].count
    finally:
        db.close()


def test_each_poison_is_dead_lettered_and_the_presses_around_it_are_stored(mosquitto, tmp_path, start_hub) -> None:
    hub = start_hub()
    client = publisher(mosquitto)
    publish_all(client, [rating(1), *POISON, rating(2)])
    wait_until(lambda: counts(tmp_path / "hub.db") == (2, len(POISON)), timeout=20, message="2 presses, all poison")
    publish_all(client, [rating(3)])
    wait_until(lambda: counts(tmp_path / "hub.db")[0] == 3, message="a press after the poison")
    assert hub.counts["rejected"] == len(POISON)
    db = open_db(tmp_path / "hub.db")
    reasons = [r["reason"] for r in db["dead_letters"].rows_where(order_by="id")]
    db.close()
    assert "nests" in reasons[0] and "ts" in reasons[2] and "uptime_s" in reasons[4] and "refused" in reasons[14]
    client.loop_stop()


def test_retained_poison_is_dead_lettered_once_not_on_every_reconnect(mosquitto, tmp_path, start_hub) -> None:
    client = publisher(mosquitto)
    # A kiosk that retains what it must not, before any hub ever subscribed: a
    # poison status and a rating. Each hub start subscribes, and the broker
    # re-sends both (retain flag set) every time.
    bad_status = (STATUS_TOPIC, b'{"v":1,"branch":"b1","kiosk":"k1","state":' + b"[" * 2000)
    retained_rating = rating(1)
    publish_all(client, [bad_status, retained_rating], retain=True)
    for restart in range(3):
        hub = start_hub()
        publish_all(client, [rating(10 + restart)])
        wait_until(lambda r=restart: counts(tmp_path / "hub.db")[0] == 1 + r, message="the press after the reconnect")
        hub.stop()
    events, letters = counts(tmp_path / "hub.db")
    assert events == 3, "the three live presses; a retained rating is a replay, never a press"
    assert letters == 2, "one letter for each retained message, however often the hub reconnects"
    db = open_db(tmp_path / "hub.db")
    row = db.execute("SELECT retained_repeats FROM dead_letter_sources WHERE source = 'otklik/v1/b1/k1'").fetchone()
    db.close()
    assert row == (4,)
    client.loop_stop()
