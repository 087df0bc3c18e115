"""A provisioned store against a real Mosquitto running deploy's configuration (TLS, passwd, ACL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hub.db import open_db
from hub.provisioning import broker_files
from hub.provisioning.cli import provision
from hub.service import HubService
from kiosk.app import Kiosk
from kiosk.config import config_from_dict
from otklik import protocol, times
from otklik.mqtt import Broker
from tests.broker import wait_until
from tests.test_provision_env import Store, connect, store_fixture

pytestmark = pytest.mark.broker


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


NOT_AUTHORIZED = 135


def hub_service(store: Store) -> HubService:
    broker = Broker("127.0.0.1", store.broker.port, tls=True, username="otklik-hub",
                    password=store.hub_password, ca_file=store.ca)  # fmt: skip
    return HubService(broker, store.db, client_id="otklik-hub-test").start()


def events(store: Store) -> list[dict]:
    return list(open_db(store.db)["events"].rows)


def make_kiosk(store: Store, bundle_dir: Path, pins: MockFactory, **overrides: object) -> Kiosk:
    """The real kiosk app from its unpacked bootstrap config, with fast heartbeats and retries."""
    kiosk = Kiosk(
        config_from_dict(store.kiosk_config(bundle_dir, **overrides)),
        pin_factory=pins,
        clock_synced=lambda: True,
        start=False,
    )
    # The config file's floor is 1 s; a test wants its heartbeats sooner.
    kiosk.publisher.heartbeat_s = 0.2
    kiosk.publisher.refused_retry_s = 0.5
    return kiosk.start()


def heartbeat_extra(store: Store, branch: str, kiosk: str) -> dict:
    rows = list(open_db(store.db)["kiosks"].rows_where("branch = ? AND kiosk = ?", [branch, kiosk]))
    return json.loads(rows[0]["heartbeat_extra"] or "{}") if rows else {}


def press(pins: MockFactory, pin: int) -> None:
    pins.pin(pin).drive_low()
    pins.pin(pin).drive_high()


def test_provisioned_kiosk_reaches_the_hub_over_tls(store: Store, mock_pins: MockFactory) -> None:
    bundle_dir = store.provision_kiosk("b1", "k1")
    data = store.kiosk_config(bundle_dir)
    assert data["broker"]["url"].startswith("mqtts://") and data["broker"]["username"] == "k-b1-k1"
    hub = hub_service(store)
    kiosk = make_kiosk(store, bundle_dir, mock_pins)
    try:
        assert kiosk.wait_connected(10), "provisioned kiosk did not connect over TLS"
        press(mock_pins, 13)  # score 3
        wait_until(lambda: len(events(store)) == 1, message="the rating in the hub DB")
        assert events(store)[0]["score"] == 3 and events(store)[0]["kiosk"] == "k1"
        wait_until(lambda: kiosk.outbox.depth() == 0, message="the outbox to drain")
    finally:
        kiosk.stop()
        hub.stop()


def test_refused_publish_is_kept_and_reported_in_the_heartbeat(store: Store, mock_pins: MockFactory) -> None:
    """MQTT 5: a publish the ACL refuses comes back refused; the kiosk keeps it and says so."""
    bundle_dir = store.provision_kiosk("b1", "k1")
    hub = hub_service(store)
    kiosk = make_kiosk(store, bundle_dir, mock_pins)
    acl = store.broker_dir / broker_files.ACL
    try:
        assert kiosk.wait_connected(10)
        # Take away only the rating grant, as a mis-edited ACL would.
        acl.write_text(acl.read_text().replace("topic write otklik/v1/b1/k1/rating\n", ""))
        store.broker.reload()
        # The reload is asynchronous: probe (with a payload the hub dead-letters) until it bites.
        password = (bundle_dir / "mqtt-password").read_text().strip()
        probe = connect(store, "k-b1-k1", password)
        assert probe.connected()

        def probe_refused() -> bool:
            mid = probe.c.publish("otklik/v1/b1/k1/rating", b"probe", qos=1).mid
            probe.wait(lambda: mid in probe.acks)
            return probe.acks[mid].value == NOT_AUTHORIZED

        wait_until(probe_refused, interval=0.05, message="the narrowed ACL to take effect")
        probe.close()

        def refused_in_heartbeat() -> int:
            return heartbeat_extra(store, "b1", "k1").get("refused", 0)

        def press_until_refused() -> bool:
            press(mock_pins, 19)
            return kiosk.outbox.refused_count() > 0

        wait_until(press_until_refused, timeout=10, interval=0.3, message="a refused rating")
        wait_until(lambda: refused_in_heartbeat() >= 1, message="the heartbeat to report refused rows")
        assert events(store) == [], "a refused rating reached the hub"
        # Fix the ACL the supported way; the kiosk retries its refused rows and they arrive.
        store.run(provision, "sync")
        wait_until(lambda: kiosk.outbox.depth() == 0, message="refused rows delivered after the fix")
        wait_until(lambda: refused_in_heartbeat() == 0, message="the heartbeat to report no refused rows")
        assert {e["score"] for e in events(store)} == {4}
    finally:
        kiosk.stop()
        hub.stop()


def test_a_kiosk_cannot_speak_for_or_listen_to_another(store: Store) -> None:
    k1 = (store.provision_kiosk("b1", "k1") / "mqtt-password").read_text().strip()
    store.provision_kiosk("b1", "k2")
    store.push_config("b1", "k1", "--cooldown", "1")
    store.push_config("b1", "k2", "--cooldown", "2")
    hub_view = connect(store, "otklik-hub", store.hub_password)
    assert hub_view.connected()
    hub_view.c.subscribe("otklik/v1/#", qos=1)
    hub_view.wait(lambda: hub_view.suback)
    a = connect(store, "k-b1-k1", k1)
    try:
        assert a.connected()
        rating = protocol.rating_payload(branch="b1", kiosk="k2", id="forged0001", seq=1,
                                         ts=times.now_ts(), score=1)  # fmt: skip
        forged = a.c.publish("otklik/v1/b1/k2/rating", protocol.encode(rating), qos=1).mid
        own = a.c.publish("otklik/v1/b1/k1/heartbeat", protocol.encode(protocol.heartbeat_payload(
            branch="b1", kiosk="k1", uptime_s=1, version="t", outbox_depth=0, last_seq_sent=0)), qos=1).mid  # fmt: skip
        overwrite = a.c.publish("otklik/v1/b1/k1/config", b'{"v":1,"version":99}', qos=1, retain=True).mid
        # Answers like ratings: for its own presses only.
        answer = {"rating": "rating0001", "ts": times.now_ts(), "reason": "queue"}
        forged_answer = a.c.publish("otklik/v1/b1/k2/answer", protocol.encode(protocol.answer_payload(
            branch="b1", kiosk="k2", id="forged0002", **answer)), qos=1).mid  # fmt: skip
        own_answer = a.c.publish("otklik/v1/b1/k1/answer", protocol.encode(protocol.answer_payload(
            branch="b1", kiosk="k1", id="answer0001", **answer)), qos=1).mid  # fmt: skip
        a.wait(lambda: {forged, own, overwrite, forged_answer, own_answer} <= a.acks.keys())
        assert a.acks[forged].value == NOT_AUTHORIZED
        assert a.acks[forged_answer].value == NOT_AUTHORIZED
        assert a.acks[overwrite].value == NOT_AUTHORIZED, "a kiosk must not rewrite its own pushed config"
        assert not a.acks[own].is_failure
        assert not a.acks[own_answer].is_failure
        # The hub saw the kiosk's own heartbeat, and never the forged rating.
        hub_view.wait(lambda: any(m.topic == "otklik/v1/b1/k1/heartbeat" for m in hub_view.messages))
        hub_view.wait(lambda: any(m.topic == "otklik/v1/b1/k1/answer" for m in hub_view.messages))
        assert not any(m.topic in ("otklik/v1/b1/k2/rating", "otklik/v1/b1/k2/answer") for m in hub_view.messages)
        # Reading: B's retained config is refused; A's own arrives (after B's would have).
        a.c.subscribe("otklik/v1/b1/k2/config", qos=1)
        a.c.subscribe("otklik/v1/b1/k1/config", qos=1)
        a.wait(lambda: any(m.topic.endswith("k1/config") for m in a.messages))
        assert [m.topic for m in a.messages] == ["otklik/v1/b1/k1/config"]
        assert json.loads(a.messages[0].payload)["cooldown_s"] == 1.0
    finally:
        a.close()
        hub_view.close()


def test_receipts_come_only_from_the_hub_and_reach_only_their_own_kiosk(store: Store) -> None:
    """A receipt makes a kiosk delete presses: nobody but the hub may write one, and no kiosk reads another's."""
    k1 = (store.provision_kiosk("b1", "k1") / "mqtt-password").read_text().strip()
    store.provision_kiosk("b1", "k2")
    a = connect(store, "k-b1-k1", k1)
    hub_view = connect(store, "otklik-hub", store.hub_password)
    try:
        assert a.connected() and hub_view.connected()
        a.c.subscribe("otklik/v1/b1/k2/receipt", qos=1)
        a.c.subscribe("otklik/v1/b1/k1/receipt", qos=1)
        a.wait(lambda: len(a.suback) == 2)
        receipt = {k: protocol.receipt_payloads("b1", k, ["pressid001"])[0] for k in ("k1", "k2")}
        forged = a.c.publish("otklik/v1/b1/k2/receipt", receipt["k2"], qos=1).mid
        a.wait(lambda: forged in a.acks)
        assert a.acks[forged].value == NOT_AUTHORIZED, "a kiosk must not confirm presses for another"
        sent = [hub_view.c.publish(f"otklik/v1/b1/{k}/receipt", receipt[k], qos=1).mid for k in ("k2", "k1")]
        hub_view.wait(lambda: set(sent) <= hub_view.acks.keys())
        assert not any(hub_view.acks[mid].is_failure for mid in sent)
        a.wait(lambda: any(m.topic.endswith("k1/receipt") for m in a.messages))
        assert [m.topic for m in a.messages] == ["otklik/v1/b1/k1/receipt"]
    finally:
        a.close()
        hub_view.close()


def test_deployed_broker_killed_with_its_queue_lost_costs_no_press(store: Store, mock_pins: MockFactory) -> None:
    """deploy's broker config (TLS, ACL, persistence): SIGKILLed while the hub is away, its snapshot lost."""
    bundle_dir = store.provision_kiosk("b1", "k1")
    hub = hub_service(store)
    kiosk = make_kiosk(store, bundle_dir, mock_pins, cooldown_s=0, resend_s=1, resend_max_s=2)
    hubs = [hub]

    def add(score: int, times: int = 1) -> None:  # straight into the outbox: the pins' debounce is real time
        for _ in range(times):
            kiosk.outbox.add_rating(branch="b1", kiosk="k1", score=score)
        kiosk.publisher.wake()

    try:
        assert kiosk.wait_connected(10) and hub.connected.wait(10)
        add(3, times=3)
        wait_until(lambda: len(events(store)) == 3 and kiosk.outbox.depth() == 0, message="3 stored, confirmed")
        hubs.pop().stop()
        add(4, times=4)
        wait_until(lambda: kiosk.outbox.last_seq_sent() == 7, message="the broker PUBACKed all 4")
        assert kiosk.outbox.depth() == 4
        store.broker.kill()
        (store.broker.dir / "mosquitto.db").unlink(missing_ok=True)  # a kill before the next autosave, at worst
        store.broker.start()
        wait_until(kiosk.wait_connected, timeout=20, message="kiosk back on the restarted broker")
        add(1)  # no hub subscribed: code 16
        wait_until(lambda: kiosk.outbox.last_seq_sent() == 8, message="the eighth PUBACKed")
        hubs.append(hub_service(store))
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=30, message="every press confirmed")
        assert sorted(e["seq"] for e in events(store)) == list(range(1, 9))
        assert [e["score"] for e in sorted(events(store), key=lambda e: e["seq"])] == [3] * 3 + [4] * 4 + [1]
    finally:
        kiosk.stop()
        for h in hubs:
            h.stop()


def test_anonymous_and_wrong_password_are_refused(store: Store) -> None:
    k1 = (store.provision_kiosk("b1", "k1") / "mqtt-password").read_text().strip()
    for tls in (True, False):
        anon = connect(store, None, None, tls=tls)
        wrong = connect(store, "k-b1-k1", k1[:-1] + ("x" if k1[-1] != "x" else "y"), tls=tls)
        right = connect(store, "k-b1-k1", k1, tls=tls)
        try:
            assert not anon.connected(), f"anonymous client accepted (tls={tls})"
            assert not wrong.connected(), f"wrong password accepted (tls={tls})"
            assert right.connected(), f"right password refused (tls={tls})"
        finally:
            for c in (anon, wrong, right):
                c.close()


def test_revoked_kiosk_can_no_longer_connect(store: Store) -> None:
    k1 = (store.provision_kiosk("b1", "k1") / "mqtt-password").read_text().strip()
    before = connect(store, "k-b1-k1", k1)
    assert before.connected()
    out = store.run(provision, "revoke", "--branch", "b1", "--kiosk", "k1")
    assert "SIGHUP" in out

    # Mosquitto rereads its files on SIGHUP, asynchronously: poll with fresh connects.
    def refused() -> bool:
        c = connect(store, "k-b1-k1", k1)
        try:
            return not c.connected()
        finally:
            c.close()

    wait_until(refused, timeout=10, interval=0.1, message="the revoked kiosk to be refused")
    # The connection it already had is dropped at the reload too.
    before.wait(lambda: before.disconnects)
    before.close()
    assert "k-b1-k1" not in (store.broker_dir / "passwd").read_text()
    assert "k-b1-k1" not in (store.broker_dir / "acl").read_text()


def test_rotate_replaces_the_password(store: Store) -> None:
    bundle_dir = store.provision_kiosk("b1", "k1")
    old = (bundle_dir / "mqtt-password").read_text().strip()
    out = store.root / "rotated"
    store.run(provision, "rotate", "--branch", "b1", "--kiosk", "k1", "--out", str(out))
    new = (out / "mqtt-password").read_text().strip()
    assert new != old

    def settled() -> bool:
        a, b = connect(store, "k-b1-k1", old), connect(store, "k-b1-k1", new)
        try:
            return not a.connected() and b.connected()
        finally:
            a.close()
            b.close()

    wait_until(settled, timeout=10, interval=0.1, message="old password refused and new accepted")


def test_pidfile_reload_names_a_missing_broker(tmp_path: Path) -> None:
    from hub.provisioning import ProvisionError

    (tmp_path / "pid").write_text("999999999\n")
    with pytest.raises(ProvisionError, match="no process"):
        broker_files.reload_broker(f"pidfile:{tmp_path / 'pid'}")
