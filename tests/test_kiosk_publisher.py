"""A kiosk against a real Mosquitto and hub: QoS 1 delivery, receipt-only deletes, outages, clocks, refusals."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory

from hub.service import HubService
from kiosk.app import Kiosk
from kiosk.clock import Switchable, fixed
from kiosk.config import Config, simple_config
from otklik import protocol
from tests.broker import Collector, Mosquitto, wait_until

PINS = (5, 6, 13, 19)
STATUS_LED = 21


class Ticker:
    """A button clock where every edge is a second after the last: no bounce, whatever the test's pace."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def ratings(messages: list[mqtt.MQTTMessage]) -> list[protocol.Rating]:
    found = []
    for msg in messages:
        if msg.topic.endswith("/rating"):
            rating = protocol.decode(msg.topic, msg.payload)  # raises on anything not protocol v1
            assert isinstance(rating, protocol.Rating)
            found.append(rating)
    return found


def press(factory: MockFactory, score: int) -> None:
    pin = factory.pin(PINS[score - 1])
    pin.drive_low()
    pin.drive_high()


def make_config(broker: Mosquitto, tmp_path: Path, **kw: object) -> Config:
    options: dict[str, object] = {"cooldown_s": 0, "heartbeat_s": 30}
    options.update(kw)
    return simple_config(broker_url=broker.url, branch="b1", kiosk="k1", data_dir=tmp_path / "data", **options)  # type: ignore[arg-type]


@pytest.fixture
def running(
    mosquitto: Mosquitto, mock_pins: MockFactory, tmp_path: Path, start_hub: Callable[[], HubService]
) -> Iterator[Kiosk]:
    start_hub()  # the receipts that let the kiosk delete come from the real hub
    kiosk = Kiosk(make_config(mosquitto, tmp_path, heartbeat_s=1), pin_factory=mock_pins, clock_synced=fixed(True),
                  clock=Ticker())  # fmt: skip
    yield kiosk
    kiosk.stop()


def test_presses_arrive_as_protocol_v1_with_status_and_heartbeat(
    mosquitto: Mosquitto, mock_pins: MockFactory, running: Kiosk
) -> None:
    collector = Collector(mosquitto, "otklik/v1/#")
    assert running.wait_connected(10)
    wait_until(lambda: not mock_pins.pin(STATUS_LED).state, message="status LED off once online")
    for score in (1, 2, 3, 4, 4):
        press(mock_pins, score)
    wait_until(lambda: len(ratings(collector.messages)) == 5, message="five ratings")
    got = ratings(collector.messages)
    assert [r.score for r in got] == [1, 2, 3, 4, 4]
    assert [r.seq for r in got] == [1, 2, 3, 4, 5]
    assert len({r.id for r in got}) == 5
    assert all(r.clock == "synced" and r.age_ms is None and r.flags == [] for r in got)
    wait_until(lambda: running.outbox.depth() == 0, message="outbox drained")

    def heartbeat_after_drain() -> protocol.Heartbeat | None:
        for msg in collector.messages:
            if msg.topic.endswith("/heartbeat"):
                beat = protocol.decode(msg.topic, msg.payload)
                assert isinstance(beat, protocol.Heartbeat)
                if beat.last_seq_sent == 5 and beat.outbox_depth == 0:
                    return beat
        return None

    wait_until(heartbeat_after_drain, timeout=5, message="a heartbeat showing seq 5 sent and confirmed")
    beat = heartbeat_after_drain()
    assert beat is not None and beat.version
    assert beat.extra["refused"] == 0 and beat.extra["camera"] == "off"
    assert beat.extra["unconfirmed"] == 0 and "unconfirmed_age_s" not in beat.extra
    assert beat.extra["heartbeat_s"] == 1  # the fleet's measure of a stale heartbeat

    running.stop()
    statuses = [json.loads(m.payload)["state"] for m in collector.wait_for(1) if m.topic.endswith("/status")]
    wait_until(lambda: [json.loads(m.payload)["state"] for m in collector.messages if m.topic.endswith("/status")]
               [-1:] == ["offline"], message="status offline on a clean stop")  # fmt: skip
    assert statuses[0] == "online"
    collector.close()
    # The retained status a new subscriber sees is the last word: offline.
    late = Collector(mosquitto, "otklik/v1/b1/k1/status")
    late.wait_for(1)
    assert json.loads(late.messages[0].payload)["state"] == "offline" and late.messages[0].retain
    late.close()


def test_a_row_is_kept_until_the_puback_and_the_receipt(
    mosquitto: Mosquitto, mock_pins: MockFactory, running: Kiosk
) -> None:
    collector = Collector(mosquitto, "otklik/v1/+/+/rating")
    assert running.wait_connected(10)
    assert mosquitto.proc is not None
    mosquitto.proc.send_signal(signal.SIGSTOP)  # the broker takes the PUBLISH but cannot answer
    try:
        press(mock_pins, 3)
        press(mock_pins, 4)
        wait_until(lambda: running.publisher.published == 2, message="both rows handed to paho")
        time.sleep(0.3)  # give a wrong implementation the time to delete early
        assert running.outbox.depth() == 2 and running.publisher.in_flight == 2
    finally:
        mosquitto.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: running.outbox.depth() == 0, message="rows deleted once the hub's receipts arrive")
    assert [r.score for r in ratings(collector.wait_for(2))] == [3, 4]
    collector.close()


def test_broker_outage_keeps_presses_and_drains_them_after(
    mosquitto: Mosquitto, mock_pins: MockFactory, running: Kiosk
) -> None:
    subscriber = Collector(mosquitto, "otklik/v1/+/+/rating", client_id="test-outage", persistent=True)
    assert running.wait_connected(10)
    press(mock_pins, 4)
    press(mock_pins, 3)
    wait_until(lambda: running.outbox.depth() == 0 and len(subscriber.messages) == 2, message="first two sent")

    mosquitto.stop()
    wait_until(lambda: not running.connected, message="kiosk notices the broker is gone")
    wait_until(lambda: mock_pins.pin(STATUS_LED).state, message="status LED on while offline")
    for score in (1, 2, 3, 4, 1):
        press(mock_pins, score)
    assert running.outbox.depth() == 5  # kept, every one

    mosquitto.start()
    wait_until(lambda: running.outbox.depth() == 0, timeout=20, message="outbox drained after the broker returned")
    wait_until(lambda: not mock_pins.pin(STATUS_LED).state, message="status LED off again")
    got = ratings(subscriber.wait_for(7))
    assert sorted(r.seq for r in got) == [1, 2, 3, 4, 5, 6, 7]  # nothing lost, nothing doubled
    assert [r.score for r in sorted(got, key=lambda r: r.seq)] == [4, 3, 1, 2, 3, 4, 1]
    assert running.outbox.last_seq_sent() == 7
    subscriber.close()


def test_unsynced_clock_sends_age_or_a_corrected_time(
    mosquitto: Mosquitto, mock_pins: MockFactory, tmp_path: Path
) -> None:
    clock = Switchable(False)
    kiosk = Kiosk(make_config(mosquitto, tmp_path), pin_factory=mock_pins, clock_synced=clock, clock=Ticker())
    subscriber = Collector(mosquitto, "otklik/v1/+/+/rating", client_id="test-clock", persistent=True)
    try:
        assert kiosk.wait_connected(10)
        # Offline and unsynced: the press waits, and its age is measured on the monotonic clock.
        mosquitto.stop()
        wait_until(lambda: not kiosk.connected, message="offline")
        pressed_at = time.monotonic()
        press(mock_pins, 2)
        time.sleep(0.2)
        # Taken before the start: the kiosk may reconnect and render the press before start() returns.
        restarting_at = time.monotonic()
        mosquitto.start()
        first = ratings(subscriber.wait_for(1))[0]
        received_at = time.monotonic()
        assert first.clock == "unsynced" and first.age_ms is not None
        assert (restarting_at - pressed_at) * 1000 <= first.age_ms <= (received_at - pressed_at) * 1000 + 1

        # Offline, pressed unsynced, then NTP syncs before the broker returns: sent as synced with press time.
        mosquitto.stop()
        wait_until(lambda: not kiosk.connected, message="offline again")
        wall_at_press = time.time()
        press(mock_pins, 3)
        clock.synced = True
        mosquitto.start()
        # Picked by seq, not as the second message: delivery is at least once, and the first press
        # comes again when the broker stopped before its PUBACK reached the kiosk (seen under load).
        wait_until(lambda: any(r.seq == 2 for r in ratings(subscriber.messages)), timeout=15, message="press 2")
        second = next(r for r in ratings(subscriber.messages) if r.seq == 2)
        assert second.clock == "synced" and second.age_ms is None
        assert abs(second.ts.timestamp() - wall_at_press) < 0.25  # the press time, not the (later) publish time
    finally:
        subscriber.close()
        kiosk.stop()


def test_a_press_in_flight_when_the_connection_drops_goes_again_as_the_kiosk_knows_it_then(
    mosquitto: Mosquitto, mock_pins: MockFactory, tmp_path: Path
) -> None:
    """paho would send its own copy again after the reconnect: rendered before NTP synced, stale by the outage."""
    clock = Switchable(False)
    kiosk = Kiosk(make_config(mosquitto, tmp_path), pin_factory=mock_pins, clock_synced=clock, clock=Ticker())
    subscriber = Collector(mosquitto, "otklik/v1/+/+/rating", client_id="test-in-flight", persistent=True)
    try:
        assert kiosk.wait_connected(10)
        # A clean stop saves the subscriber's session (persistence), so the kill below cannot lose it.
        mosquitto.stop()
        wait_until(lambda: not kiosk.connected, message="offline")
        mosquitto.start()
        wait_until(lambda: kiosk.connected and subscriber.client.is_connected(), message="both back")
        assert mosquitto.proc is not None
        # Stopped, the broker's socket takes the PUBLISH but nobody reads it; killed, it is gone
        # unread: the press was in flight, rendered unsynced, when the connection dropped.
        mosquitto.proc.send_signal(signal.SIGSTOP)
        wall_at_press = time.time()
        press(mock_pins, 2)
        wait_until(lambda: kiosk.publisher.published == 1, message="the row handed to paho")
        mosquitto.kill()
        wait_until(lambda: not kiosk.connected, message="the kiosk sees the connection drop")
        clock.synced = True
        mosquitto.start()
        got = ratings(subscriber.wait_for(1))
        assert [(r.seq, r.clock, r.age_ms) for r in got] == [(1, "synced", None)], "paho's stale copy went out"
        assert abs(got[0].ts.timestamp() - wall_at_press) < 0.25
        assert kiosk.publisher.taken_back == 1
        wait_until(lambda: kiosk.publisher.acked == 1, message="the fresh copy acknowledged")
    finally:
        subscriber.close()
        kiosk.stop()


ACL_DENY_RATINGS = """\
topic readwrite otklik/v1/b1/k1/status
topic write otklik/v1/b1/k1/heartbeat
topic read otklik/v1/#
topic write otklik/v1/+/+/receipt
"""


def test_mqtt5_refusal_keeps_the_row_marked_refused(tmp_path: Path, mock_pins: MockFactory) -> None:
    acl = tmp_path / "acl"
    acl.write_text(ACL_DENY_RATINGS)
    broker = Mosquitto(tmp_path / "broker", extra_conf=f"acl_file {acl}\n").start()
    kiosk = Kiosk(make_config(broker, tmp_path, heartbeat_s=1), pin_factory=mock_pins, clock_synced=fixed(True),
                  clock=Ticker())  # fmt: skip
    collector = Collector(broker, "otklik/v1/#")
    hub = HubService(broker.broker(), tmp_path / "hub.db", client_id="hub-acl").start()
    try:
        assert kiosk.wait_connected(10) and hub.connected.wait(10)
        press(mock_pins, 1)
        wait_until(lambda: kiosk.outbox.refused_count() == 1, message="the row marked refused")
        assert kiosk.outbox.depth() == 1
        row = kiosk.outbox.rows()[0]
        assert row["state"] == "refused" and row["reason"].startswith("135 ")

        def refused_in_heartbeat() -> bool:
            return any(
                m.topic.endswith("/heartbeat") and json.loads(m.payload).get("refused") == 1 for m in collector.messages
            )

        wait_until(refused_in_heartbeat, timeout=5, message="the heartbeat counts the refused row")
        assert kiosk.publisher.published == 1  # no hot retry loop
        assert ratings(collector.messages) == []

        # The operator fixes the ACL; refused rows are retried on the next connection.
        acl.write_text(ACL_DENY_RATINGS + "topic write otklik/v1/b1/k1/rating\n")
        broker.stop()
        broker.start()
        # Retried at once on the new connection; if that first copy's receipt is lost while the hub is
        # still reconnecting, the resend (resend_s, 30 s) delivers it. Still well before the refused
        # rows' own timer (refused_retry_s, 300 s): a kiosk that does not retry on reconnect fails here.
        # (Seen once in CI at 20 s.)
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=60, message="the refused row sent after reconnect")
        assert kiosk.outbox.last_seq_sent() == 1
    finally:
        collector.close()
        kiosk.stop()
        hub.stop()
        broker.stop()


def test_mqtt_3_1_1_works_too(
    mosquitto: Mosquitto, mock_pins: MockFactory, tmp_path: Path, start_hub: Callable[[], HubService]
) -> None:
    start_hub()
    collector = Collector(mosquitto, "otklik/v1/+/+/rating")
    config = make_config(mosquitto, tmp_path, mqtt_version="3.1.1")
    with Kiosk(config, pin_factory=mock_pins, clock_synced=fixed(True), clock=Ticker()) as kiosk:
        assert kiosk.wait_connected(10)
        press(mock_pins, 4)
        wait_until(lambda: kiosk.outbox.depth() == 0, message="drained over MQTT 3.1.1")
    assert [r.score for r in ratings(collector.wait_for(1))] == [4]
    collector.close()


def test_config_messages_reach_the_hook(mosquitto: Mosquitto, mock_pins: MockFactory, tmp_path: Path) -> None:
    received: list[tuple[str, bytes]] = []
    kiosk = Kiosk(make_config(mosquitto, tmp_path), pin_factory=mock_pins, clock_synced=fixed(True),
                  on_config=lambda topic, payload: received.append((topic, payload)))  # fmt: skip
    try:
        assert kiosk.wait_connected(10)
        body = protocol.encode({"v": 1, "version": 3, "cooldown_s": 2})
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect(mosquitto.host, mosquitto.port)
        publisher.loop_start()
        publisher.publish("otklik/v1/b1/k1/config", body, qos=1, retain=True).wait_for_publish(5)
        wait_until(lambda: received, message="the config hook called")
        assert received == [("otklik/v1/b1/k1/config", body)]
        publisher.loop_stop()
        publisher.disconnect()
    finally:
        kiosk.stop()
