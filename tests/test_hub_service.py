"""The hub against a real Mosquitto: persistent session, ack after commit, bad input survived."""

import json
import uuid

import paho.mqtt.client as mqtt
import pytest

from hub.db import open_db
from otklik import protocol, times
from tests.broker import wait_until

pytestmark = pytest.mark.broker


def publisher(broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def rating_message(seq, score=3, kiosk="k1", id=None):
    body = protocol.rating_payload(
        branch="b1", kiosk=kiosk, id=id or uuid.uuid4().hex, seq=seq, ts=times.now_ts(), score=score
    )
    return protocol.topic("b1", kiosk, "rating"), protocol.encode(body)


def count(db_path, table="events"):
    db = open_db(db_path)
    try:
        return db[table].count
    finally:
        db.close()


def publish_all(client, messages):
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def test_hub_down_then_back_loses_nothing(mosquitto, tmp_path, start_hub):
    hub = start_hub()
    client = publisher(mosquitto)
    publish_all(client, [rating_message(seq) for seq in range(1, 51)])
    wait_until(lambda: count(tmp_path / "hub.db") == 50, message="first 50 events stored")
    hub.stop()
    # While the hub is away the broker keeps its persistent session's messages.
    publish_all(client, [rating_message(seq) for seq in range(51, 151)])
    start_hub()
    wait_until(lambda: count(tmp_path / "hub.db") == 150, message="all 150 events stored after restart")
    client.loop_stop()


def test_broker_restart_keeps_hub_session(mosquitto, tmp_path, start_hub):
    hub = start_hub()
    hub.stop()
    client = publisher(mosquitto)
    publish_all(client, [rating_message(seq) for seq in range(1, 21)])
    client.loop_stop()
    mosquitto.stop()  # SIGTERM: the broker saves its sessions
    mosquitto.start()
    start_hub()
    wait_until(lambda: count(tmp_path / "hub.db") == 20, message="messages queued across a broker restart")


def test_same_event_published_twice_is_stored_once(mosquitto, tmp_path, start_hub):
    start_hub()
    client = publisher(mosquitto)
    message = rating_message(1)
    publish_all(client, [message, message, message])
    publish_all(client, [rating_message(2)])
    wait_until(lambda: count(tmp_path / "hub.db") == 2, message="two distinct events")
    db = open_db(tmp_path / "hub.db")
    assert db["events"].count == 2
    client.loop_stop()


def test_malformed_messages_are_dead_lettered_and_ingest_goes_on(mosquitto, tmp_path, start_hub):
    hub = start_hub()
    client = publisher(mosquitto)
    bad = [
        ("otklik/v1/b1/k1/rating", b"{not json"),
        ("otklik/v1/b1/k1/rating", json.dumps({"v": 1, "branch": "b1", "kiosk": "k1", "score": "4"}).encode()),
        ("otklik/v1/b1/k2/rating", rating_message(1, kiosk="k1")[1]),
        ("otklik/v1/b1/k1/rating", b"x" * 50_000),
    ]
    publish_all(client, [rating_message(1), *bad, rating_message(2)])
    wait_until(lambda: count(tmp_path / "hub.db", "dead_letters") == 4, message="four dead letters")
    wait_until(lambda: count(tmp_path / "hub.db") == 2, message="good events around the bad ones")
    db = open_db(tmp_path / "hub.db")
    reasons = [r["reason"] for r in db["dead_letters"].rows_where(order_by="id")]
    assert "not valid JSON" in reasons[0]
    assert "missing field 'id'" in reasons[1]
    assert "does not match the topic's kiosk" in reasons[2]
    assert "limit is 4096" in reasons[3]
    assert hub.counts["rejected"] == 4
    client.loop_stop()


def test_a_terminated_postgresql_connection_stops_no_ingest_and_loses_or_doubles_nothing(mosquitto, pg_url, caplog):
    """The server ends the writer's session (restart, failover, an admin): the batch is stored on a new one.

    Nothing is acknowledged before its commit, so what the lost connection held is redelivered or retried,
    and stored once by its id.
    """
    import psycopg

    from hub import ingest
    from hub.service import HubService
    from tests.hub_db import migrate_target

    migrate_target(pg_url)
    hub = HubService(mosquitto.broker(), pg_url, client_id="hub-pg-terminate").start()
    assert hub.connected.wait(10)
    client = publisher(mosquitto)
    try:
        publish_all(client, [rating_message(seq) for seq in range(1, 31)])
        wait_until(lambda: count(pg_url) == 30, message="the first 30 stored")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            # The pids first, then each ended: in one statement the server may call pg_terminate_backend
            # before the WHERE has narrowed the rows (and end sessions of other databases, or its own).
            pids = [r[0] for r in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            ).fetchall()]  # fmt: skip
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert pids  # the writer's session at least
        publish_all(client, [rating_message(seq) for seq in range(31, 61)])
        wait_until(lambda: count(pg_url) == 60, timeout=20, message="the 30 after the loss stored too")
        assert not hub.failed.is_set()
        db = open_db(pg_url)
        try:
            seqs = [r[0] for r in db.execute("SELECT seq FROM events ORDER BY seq").fetchall()]
        finally:
            db.close()
        assert seqs == list(range(1, 61))
        assert hub.counts[ingest.STORED] == 60
    finally:
        client.loop_stop()
        hub.stop()
