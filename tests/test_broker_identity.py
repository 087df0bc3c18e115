"""The deployed broker ties identity to credentials: a kiosk cannot pose as the hub, nor send oversized packets.

Real parts: Mosquitto started (as root, dropping to its own user, as systemd
runs it) from the files `otklik provision` writes, TLS included; the real hub
service with its provisioned credentials; attackers using a provisioned kiosk's
own valid credentials.
"""

from __future__ import annotations

import os
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.db import open_db
from hub.provisioning.cli import provision
from hub.service import HubService
from otklik import protocol, times
from otklik.mqtt import Broker
from tests.broker import wait_until
from tests.test_provision_env import BROKER_USER, Store, connect, store_fixture

pytestmark = pytest.mark.broker

HUB_CLIENT_ID = "otklik-hub"  # what `otklik hub` connects with (hub/cli.py's default)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


def start_hub(store: Store) -> HubService:
    broker = Broker("127.0.0.1", store.broker.port, tls=True, username="otklik-hub",
                    password=store.hub_password, ca_file=store.ca, mqtt_version="5")  # fmt: skip
    hub = HubService(broker, store.db, client_id=HUB_CLIENT_ID).start()
    assert hub.connected.wait(10), "hub did not connect and subscribe"
    return hub


def stored_ids(store: Store) -> set[str]:
    return {row[0] for row in open_db(store.db).execute("SELECT id FROM events").fetchall()}


def password(bundle_dir: Path) -> str:
    return (bundle_dir / "mqtt-password").read_text().strip()


class Publisher:
    """Kiosk b1/k1 publishing QoS 1 ratings with its own credentials, as the kiosk app does."""

    def __init__(self, store: Store, pw: str) -> None:
        self.client = connect(store, "k-b1-k1", pw)
        assert self.client.connected()
        self.seq = 0
        self.mids: list[int] = []

    def rating(self, tag: str) -> str:
        self.seq += 1
        event_id = f"{tag}{self.seq:06d}"
        body = protocol.rating_payload(branch="b1", kiosk="k1", id=event_id, seq=self.seq,
                                       ts=times.now_ts(), score=1 + self.seq % 4)  # fmt: skip
        mid = self.client.c.publish(protocol.topic("b1", "k1", protocol.RATING), protocol.encode(body), qos=1).mid
        self.mids.append(mid)
        return event_id

    def wait_acked(self) -> None:
        self.client.wait(lambda: all(m in self.client.acks for m in self.mids), timeout=30)

    def close(self) -> None:
        self.client.close()


def takeover(store: Store, pw: str, *, clean_start: bool) -> mqtt.Client:
    """A kiosk's valid credentials with the hub's client id; returns once the broker answered."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=HUB_CLIENT_ID, protocol=mqtt.MQTTv5)
    client.username_pw_set("k-b1-k2", pw)
    client.tls_set(ca_certs=store.ca, cert_reqs=ssl.CERT_REQUIRED)
    answered = threading.Event()
    client.on_connect = lambda *_a: answered.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect("127.0.0.1", store.broker.port, clean_start=clean_start, properties=props)
    client.loop_start()
    assert answered.wait(10), "the broker did not answer the attacker's CONNECT"
    return client


def drop(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def settle(store: Store, publisher: Publisher) -> set[str]:
    """Everything the hub will ever store from ``publisher``: its ratings arrive in order, so once
    a last one published after the attack is stored, every earlier one that survived is too."""
    last = publisher.rating("last")
    wait_until(lambda: last in stored_ids(store), timeout=20, message="the hub to store the last rating")
    return stored_ids(store) - {last}


def test_a_kiosk_reusing_the_hub_client_id_cannot_kick_it_off(store: Store) -> None:
    """(a) Clean start as ``otklik-hub`` every 1.5 s while another kiosk publishes 150 ratings."""
    k1 = password(store.provision_kiosk("b1", "k1"))
    k2 = password(store.provision_kiosk("b1", "k2"))
    hub = start_hub(store)
    publisher = Publisher(store, k1)
    stop = threading.Event()
    kicks: list[int] = []

    def attack() -> None:
        while not stop.is_set():
            attacker = takeover(store, k2, clean_start=True)
            kicks.append(1)
            stop.wait(1.5)
            drop(attacker)

    attacker_thread = threading.Thread(target=attack, daemon=True)
    try:
        attacker_thread.start()
        sent = []
        for _ in range(150):
            sent.append(publisher.rating("press"))
            time.sleep(0.05)  # 150 presses over ~7.5 s: five takeover attempts
        publisher.wait_acked()
        stop.set()
        attacker_thread.join(10)
        stored = settle(store, publisher)
        print(f"takeover (clean start, {len(kicks)} attempts): {len(stored & set(sent))} of {len(sent)} stored")
        assert len(kicks) >= 4
        assert stored >= set(sent), f"only {len(stored & set(sent))} of {len(sent)} presses stored"
    finally:
        stop.set()
        publisher.close()
        hub.stop()


def test_a_kiosk_cannot_take_over_the_stopped_hubs_session(store: Store) -> None:
    """(b) While the hub is stopped its session queues presses; a kiosk resuming it as ``otklik-hub`` gets nothing."""
    k1 = password(store.provision_kiosk("b1", "k1"))
    k2 = password(store.provision_kiosk("b1", "k2"))
    hub = start_hub(store)
    hub.stop()
    publisher = Publisher(store, k1)
    try:
        sent = [publisher.rating("queued") for _ in range(50)]
        publisher.wait_acked()
        # Resume "the hub's" session, take what is queued in it, and leave with it ended.
        attacker = takeover(store, k2, clean_start=False)
        time.sleep(1)  # what a real attacker would wait for the queue to flow
        drop(attacker)
        hub = start_hub(store)
        stored = settle(store, publisher)
        print(f"takeover (persistent session, hub stopped): {len(stored & set(sent))} of {len(sent)} stored")
        assert stored >= set(sent), f"only {len(stored & set(sent))} of {len(sent)} queued presses stored"
    finally:
        publisher.close()
        hub.stop()


def test_the_broker_runs_as_its_own_user_with_the_provisioned_key(store: Store) -> None:
    """The key provisioning made is 0640 with the broker's group; the broker, as its user, loaded it."""
    if os.geteuid() != 0:
        pytest.fail("run as root: the deployed broker drops from root to its own user, and this is its test")
    key = store.broker_dir / "certs" / "server.key"
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == 0
    import grp
    import pwd

    assert grp.getgrgid(st.st_gid).gr_name == BROKER_USER
    assert store.broker.proc is not None
    status = Path(f"/proc/{store.broker.proc.pid}/status").read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert int(uid) == pwd.getpwnam(BROKER_USER).pw_uid, "the broker did not drop to its own user"
    for name in ("ca.key",):
        assert stat.S_IMODE((store.broker_dir / "certs" / name).stat().st_mode) == 0o600
    for name in ("passwd", "acl"):
        f = (store.broker_dir / name).stat()
        assert stat.S_IMODE(f.st_mode) == 0o640 and grp.getgrgid(f.st_gid).gr_name == BROKER_USER
    # And it serves TLS with it.
    k1 = password(store.provision_kiosk("b1", "k1"))
    client = connect(store, "k-b1-k1", k1)
    try:
        assert client.connected()
    finally:
        client.close()


def test_an_explicit_broker_group_must_exist(store: Store) -> None:
    result = store.runner.invoke(provision, ["ca", "--server-only", "--host", "127.0.0.1",
                                             "--broker-group", "no-such-group-otk"], env=store.env())  # fmt: skip
    assert result.exit_code != 0 and "no-such-group-otk" in result.output


def test_a_packet_over_max_packet_size_is_refused(store: Store) -> None:
    """The largest honest message passes; one byte of payload more than the limit allows, and the broker hangs up."""
    k1 = password(store.provision_kiosk("b1", "k1"))
    hub_view = connect(store, "otklik-hub", store.hub_password)
    client = connect(store, "k-b1-k1", k1)
    try:
        assert hub_view.connected() and client.connected()
        hub_view.c.subscribe(protocol.subscription(protocol.RATING), qos=1)
        hub_view.wait(lambda: hub_view.suback)
        topic = protocol.topic("b1", "k1", protocol.RATING)
        ok = client.c.publish(topic, b"x" * protocol.MAX_PAYLOAD_BYTES, qos=1).mid
        client.wait(lambda: ok in client.acks)
        assert not client.acks[ok].is_failure
        hub_view.wait(lambda: len(hub_view.messages) == 1)
        big = client.c.publish(topic, b"y" * protocol.MAX_PACKET_BYTES, qos=1).mid
        client.wait(lambda: client.disconnects, timeout=10)
        assert big not in client.acks or client.acks[big].is_failure
        time.sleep(0.5)  # a message that got through would have arrived by now
        assert [len(m.payload) for m in hub_view.messages] == [protocol.MAX_PAYLOAD_BYTES]
        log = store.broker.log_file.read_text()
        assert "k-b1-k1 disconnected due to oversize packet" in log, log[-2000:]
    finally:
        client.close()
        hub_view.close()


def test_two_hub_processes_with_their_own_hub_credentials_do_not_kick_each_other(store: Store) -> None:
    """With client ids tied to usernames, a second hub needs its own user: ``provision service hub --name 2``."""
    out = store.run(provision, "service", "hub", "--name", "2", "--out", str(store.root / "etc"))
    assert "user otklik-hub-2" in out
    acl = (store.broker_dir / "acl").read_text()

    def grants(user: str) -> list[str]:
        return acl.split(f"user {user}\n")[1].split("\n\n")[0].splitlines()

    assert grants("otklik-hub-2") == grants("otklik-hub")
    k1 = password(store.provision_kiosk("b1", "k1"))
    first = start_hub(store)
    broker2 = Broker("127.0.0.1", store.broker.port, tls=True, username="otklik-hub-2", ca_file=store.ca,
                     password=(store.root / "etc" / "otklik-hub-2.password").read_text().strip())  # fmt: skip
    second = HubService(broker2, store.root / "hub2.db", client_id=HUB_CLIENT_ID).start()
    publisher = Publisher(store, k1)
    try:
        assert second.connected.wait(10), "the second hub did not connect"
        sent = {publisher.rating("both") for _ in range(20)}
        publisher.wait_acked()
        wait_until(lambda: sent <= stored_ids(store), message="the first hub to store every press")
        db2 = store.root / "hub2.db"
        wait_until(lambda: sent <= {r[0] for r in open_db(db2).execute("SELECT id FROM events")},
                   message="the second hub to store every press")  # fmt: skip
        # One connect each (the generation counts connects and disconnects): nobody was kicked.
        assert (first._generation, second._generation) == (1, 1)
    finally:
        publisher.close()
        second.stop()
        first.stop()
