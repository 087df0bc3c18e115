"""The pad's own code (CPython stand-ins for machine/network/ntptime/ticks) with the real umqtt.simple,
a real Mosquitto and the real hub: presses reach the hub's SQLite with the right employee."""

import json
import time

import paho.mqtt.client as mqtt
import pytest

from hub.db import open_db
from otklik import protocol
from tests import firmware_stubs
from tests.broker import Collector, wait_until

firmware_stubs.install()

import machine  # noqa: E402
import network  # noqa: E402
import ntptime  # noqa: E402
from otpad.app import Pad  # noqa: E402

pytestmark = pytest.mark.broker

BUTTONS = [2, 3, 4, 5]


@pytest.fixture
def make_pad(tmp_path, mosquitto):
    machine.reset_board()
    network.reset()
    network.air["shop"] = "wifi-secret"
    ntptime.reachable = True

    def make(**overrides):
        cfg = firmware_stubs.pad_config(mosquitto.host, mosquitto.port, **overrides)
        path = firmware_stubs.write_config(tmp_path / "config.json", cfg)
        return Pad(str(path), str(tmp_path / "flash"))

    (tmp_path / "flash").mkdir()
    yield make
    ntptime.reachable = True


@pytest.fixture
def hub(start_hub, tmp_path):
    start_hub()
    return tmp_path / "hub.db"


def press(score):
    pin = machine.Pin.board(BUTTONS[score - 1])
    pin.drive(0)
    pin.drive(1)


def run_until(pad, predicate, timeout=10, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pad.step()
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


def events(db_path):
    db = open_db(db_path)
    try:
        return list(db.query("SELECT * FROM events ORDER BY seq"))
    finally:
        db.close()


def kiosk_row(db_path):
    db = open_db(db_path)
    try:
        rows = list(db.query("SELECT * FROM kiosks WHERE branch = 'b1' AND kiosk = 'p1'"))
        return rows[0] if rows else None
    finally:
        db.close()


def test_presses_reach_the_hub_with_the_bound_employee(make_pad, hub, mosquitto):
    collector = Collector(mosquitto, "otklik/v1/b1/p1/#")
    pad = make_pad()
    run_until(pad, lambda: pad.session is not None and pad.clock.synced, message="pad online")
    press(4)
    press(1)  # within the 5 s cooldown: still sent, flagged
    run_until(pad, lambda: len(events(hub)) == 2, message="2 events at the hub")
    rows = events(hub)
    assert [(r["seq"], r["score"], r["employee"], r["flags"]) for r in rows] == [
        (1, 4, "e17", ""),
        (2, 1, "e17", "cooldown"),
    ]
    assert all(r["ts_source"] == "kiosk" for r in rows)
    assert pad.thanks.value() == 1 and pad.status.value() == 1
    # Everything the pad put on the wire is valid protocol v1; status is retained "online".
    msgs = collector.wait_for(4)
    decoded = {m.topic.split("/")[-1]: protocol.decode(m.topic, m.payload) for m in msgs}
    assert decoded["status"].state == "online" and decoded["heartbeat"].extra["dropped"] == 0
    assert "unconfirmed" in decoded["heartbeat"].extra
    wait_until(lambda: (kiosk_row(hub) or {}).get("state") == "online", message="hub sees the pad online")
    collector.close()


def test_broker_away_and_back_delivers_buffered_presses_once_in_order(make_pad, hub, mosquitto):
    pad = make_pad(cooldown_s=0)
    run_until(pad, lambda: pad.session is not None, message="pad online")
    press(3)
    run_until(pad, lambda: len(events(hub)) == 1 and len(pad.buffer) == 0, message="first event stored, confirmed")
    mosquitto.stop()
    for score in (1, 2, 3, 4, 4):
        press(score)
        pad.step()
    run_until(pad, lambda: pad.session is None, message="pad noticing the broker is gone")
    assert len(pad.buffer) == 5
    mosquitto.start()
    run_until(pad, lambda: len(events(hub)) == 6, timeout=20, message="6 events after the broker is back")
    run_until(pad, lambda: len(pad.buffer) == 0, message="buffer drained")
    rows = events(hub)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["score"] for r in rows] == [3, 1, 2, 3, 4, 4]
    assert len({r["id"] for r in rows}) == 6


def test_presses_survive_a_reboot_and_seq_continues(make_pad, hub, mosquitto, tmp_path):
    mosquitto.stop()
    pad = make_pad()
    ntptime.reachable = False  # and no clock: the presses go out unsynced
    press(2)
    press(3)
    pad.step()
    assert len(pad.buffer) == 2
    # Power cycle: a new Pad on the same flash, RTC back at its power-up date.
    machine.reset_board()
    mosquitto.start()
    pad = make_pad()
    assert pad.seq == 2 and len(pad.buffer) == 2 and pad.boot == 2
    press(4)
    run_until(pad, lambda: len(events(hub)) == 3, timeout=20, message="3 events")
    rows = events(hub)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    # Pressed in an earlier boot without a clock: the hub uses its receive time and flags it.
    assert [r["flags"] for r in rows] == ["clock", "clock,cooldown", ""]
    assert [r["ts_source"] for r in rows] == ["hub", "hub", "hub"]


def test_full_buffer_reports_its_drops_to_the_hub(make_pad, hub, mosquitto):
    mosquitto.stop()
    pad = make_pad(buffer_capacity=3, cooldown_s=0)
    for score in (1, 2, 3, 4, 1):
        press(score)
        pad.step()
    assert (len(pad.buffer), pad.dropped) == (3, 2)
    mosquitto.start()
    run_until(pad, lambda: len(events(hub)) == 3 and len(pad.buffer) == 0, timeout=20, message="3 events")
    pad._heartbeat_at = 0  # the next heartbeat now rather than in 60 s
    run_until(
        pad,
        lambda: (
            json.loads((kiosk_row(hub) or {}).get("heartbeat_extra") or "{}").get("dropped") == 2
            and kiosk_row(hub)["outbox_depth"] == 0
        ),
        message="a heartbeat with dropped=2 and an empty buffer at the hub",
    )
    row = kiosk_row(hub)
    # Newest dropped: seq 1-3 kept; the hub's gap count matches the drops.
    assert [r["seq"] for r in events(hub)] == [1, 2, 3]
    assert (row["last_seq_sent"], row["outbox_depth"]) == (3, 0)


def test_config_push_rebinds_the_employee_without_reboot(make_pad, hub, mosquitto, tmp_path):
    pad = make_pad()
    run_until(pad, lambda: pad.session is not None, message="pad online")
    admin = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    admin.connect(mosquitto.host, mosquitto.port)
    admin.loop_start()
    push = {"v": 1, "version": 3, "employee": "e42", "cooldown_s": 0, "labels": ["a", "b", "c", "d"]}
    admin.publish("otklik/v1/b1/p1/config", json.dumps(push), qos=1, retain=True).wait_for_publish(5)
    run_until(pad, lambda: pad.cfg.employee == "e42", message="push applied")
    press(3)
    press(4)
    run_until(pad, lambda: len(events(hub)) == 2, message="2 events")
    assert [(r["employee"], r["flags"]) for r in events(hub)] == [("e42", ""), ("e42", "")]
    # A bad push is refused whole; the pad keeps what it had.
    admin.publish("otklik/v1/b1/p1/config", json.dumps({"v": 1, "version": 4, "employee": "bad id!"}), qos=1)
    run_until(pad, lambda: not pad._pushes and pad.session is not None, message="bad push handled")
    assert (pad.cfg.employee, pad.cfg.config_version) == ("e42", 3)
    admin.loop_stop()
    admin.disconnect()
    # Kept on flash: after a reboot with the hub away, presses still go to e42.
    assert json.loads((tmp_path / "flash" / "pushed.json").read_text())["settings"]["employee"] == "e42"


def test_last_will_marks_the_pad_offline(make_pad, mosquitto):
    collector = Collector(mosquitto, "otklik/v1/b1/p1/status")
    pad = make_pad()
    run_until(pad, lambda: pad.session is not None, message="pad online")
    collector.wait_for(1)
    network.air.clear()  # the access point is gone; the pad drops its socket without DISCONNECT
    run_until(pad, lambda: pad.session is None, message="pad offline")
    msgs = collector.wait_for(2, timeout=15)
    assert [json.loads(m.payload)["state"] for m in msgs][:2] == ["online", "offline"]
    collector.close()


def test_a_broker_that_loses_its_queue_loses_no_press_of_the_pad(make_pad, start_hub, mosquitto, tmp_path):
    """Hub away, presses PUBACKed into its queue, broker SIGKILLed with the queue lost, code 16 after:
    the pad keeps every press in flash until the hub's receipt, so all arrive once."""
    db = tmp_path / "hub.db"
    hub = start_hub()
    pad = make_pad(cooldown_s=0, resend_s=1)
    run_until(pad, lambda: pad.session is not None, message="pad online")
    press(1)
    run_until(pad, lambda: len(events(db)) == 1 and len(pad.buffer) == 0, message="first press stored, confirmed")
    hub.stop()  # its persistent session stays in the broker and queues for it
    for score in (2, 3, 4, 1, 2):
        press(score)
    run_until(pad, lambda: pad.last_seq_sent == 6, message="the broker PUBACKed all five")
    assert len(pad.buffer) == 5  # kept: no receipt yet
    mosquitto.kill()
    (mosquitto.dir / "mosquitto.db").unlink(missing_ok=True)  # the queue (and the hub's session) are gone
    mosquitto.start()
    press(3)
    # Reconnected, it probes with its oldest press; no hub is subscribed, so the broker drops it (code 16).
    run_until(pad, lambda: pad.session is not None and len(pad.unconfirmed) == 1, timeout=20, message="a probe")
    assert pad.unconfirmed.probing and len(pad.buffer) == 6
    start_hub()
    run_until(pad, lambda: len(pad.buffer) == 0, timeout=30, message="every press confirmed")
    rows = events(db)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["score"] for r in rows] == [1, 2, 3, 4, 1, 2, 3]
    assert pad.unconfirmed.resends >= 1


def test_without_receipts_the_pad_loses_what_the_broker_lost(make_pad, start_hub, mosquitto, tmp_path):
    """The control for the test above: deleting at the PUBACK (``receipts: false``) loses the presses."""
    db = tmp_path / "hub.db"
    hub = start_hub()
    pad = make_pad(cooldown_s=0, receipts=False)
    run_until(pad, lambda: pad.session is not None, message="pad online")
    hub.stop()
    for score in (2, 3, 4):
        press(score)
    run_until(pad, lambda: len(pad.buffer) == 0, message="deleted at the PUBACK")
    mosquitto.kill()
    (mosquitto.dir / "mosquitto.db").unlink(missing_ok=True)
    mosquitto.start()
    start_hub()
    run_until(pad, lambda: pad.session is not None, timeout=20, message="pad back online")
    time.sleep(1)
    assert events(db) == []
