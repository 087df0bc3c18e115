"""The receipt on real parts: a press survives a broker that loses its queue, and code 16."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from hub.service import HubService
from otklik import protocol, times
from tests.broker import Mosquitto, wait_until
from tests.receipt_faults import Fleet, broker_loses_queue, stored_counts


def test_broker_killed_with_its_queue_lost_while_the_hub_is_down_loses_no_press(tmp_path: Path) -> None:
    result = broker_loses_queue(tmp_path, kiosks=3, before=10, during=40, after=10)
    print(result.row("with receipts"))
    assert (result.sent, result.stored, result.lost, result.doubled) == (180, 180, 0, 0)
    assert result.left_in_outboxes == 0


def test_without_receipts_the_same_fault_loses_presses(tmp_path: Path) -> None:
    """The control: deleting at the broker's PUBACK (the old behaviour) loses what the broker lost.

    If this stopped failing to lose, the scenario above would no longer prove anything.
    """
    result = broker_loses_queue(tmp_path, kiosks=3, before=10, during=40, after=10, receipts=False)
    print(result.row("without receipts"))
    assert result.stored == 30 and result.lost == 150 and result.doubled == 0


def puback_reason(broker: Mosquitto, topic: str) -> int:
    """What the broker answers a QoS 1 publish on ``topic`` right now."""
    codes: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="probe", protocol=mqtt.MQTTv5)
    client.on_publish = lambda _c, _u, _mid, reason, _p: codes.append(reason.value)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, b"{}", qos=1)
        wait_until(lambda: codes, message="the probe's PUBACK")
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def test_presses_acknowledged_with_no_matching_subscribers_are_resent_and_stored_once(
    mosquitto: Mosquitto, tmp_path: Path, start_hub: Callable[[], HubService]
) -> None:
    fleet = Fleet(mosquitto, tmp_path, 2, receipts=True, resend_s=0.5)
    try:
        assert all(p.wait_connected(10) for p in fleet.publishers)
        assert puback_reason(mosquitto, protocol.topic("b1", "k0", protocol.RATING)) == 16  # nobody listens
        fleet.press(15)
        wait_until(fleet.all_taken_by_the_broker, message="every press PUBACKed (code 16)")
        assert fleet.depth() == 30 and all(r["state"] == "sent" for b in fleet.boxes for r in b.rows())
        # Nobody answers: each kiosk re-sends one probe per backoff interval, not all its presses each time.
        wait_until(lambda: all(p.probes >= 3 for p in fleet.publishers), message="three probes each")

        def only_probes_resent() -> bool:  # read while the publisher threads run: wait for a settled moment
            return all(p.resent == p.probes and p.published == 15 + p.probes for p in fleet.publishers)

        wait_until(only_probes_resent, timeout=3, message="every re-send so far to be a probe")
        start_hub()
        wait_until(lambda: fleet.depth() == 0, timeout=20, message="re-sent, stored, confirmed")
        assert stored_counts(tmp_path / "hub.db") == (30, 30)
    finally:
        fleet.stop()


def test_a_camera_reaction_in_the_outbox_is_receipted_too(
    mosquitto: Mosquitto, tmp_path: Path, start_hub: Callable[[], HubService]
) -> None:
    start_hub()
    fleet = Fleet(mosquitto, tmp_path, 1, receipts=True, resend_s=5)
    try:
        box = fleet.boxes[0]
        box.add(protocol.REACTION, {
            "v": 1, "branch": "b1", "kiosk": "k0", "id": "reaction-0001", "window_start": times.now_ts(),
            "window_s": 60, "visitors": 4, "smiling": 1, "frames": 600, "fps": 10.0, "detector": "haar",
        })  # fmt: skip
        fleet.publishers[0].wake()
        wait_until(lambda: box.depth() == 0, message="the reaction stored and confirmed")
        with sqlite3.connect(tmp_path / "hub.db") as conn:
            assert conn.execute("SELECT id, visitors FROM reactions").fetchall() == [("reaction-0001", 4)]
    finally:
        fleet.stop()
