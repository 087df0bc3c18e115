"""The demo's Mosquitto: every client has its own user, the client id is the username, packets are bounded.

Built exactly as `otklik demo` builds it (``otklik.demo.provision_broker``: the
provisioning module's registry, passwd and ACL), then attacked with a real
kiosk credential.
"""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.db import open_db
from hub.service import HubService
from otklik import demo_seed, protocol, times
from otklik.demo import DemoCredentials, Login, provision_broker
from otklik.mosquitto import MosquittoProcess
from otklik.mqtt import Broker
from tests.broker import wait_until

KIOSK = demo_seed.KioskPlan("central", "exit-1", "exit", 100)
OTHER = demo_seed.KioskPlan("central", "till-1", "till", 60)


@pytest.fixture
def demo_broker(tmp_path: Path):
    data = tmp_path / "demo"
    data.mkdir(mode=0o700)
    db_path = data / "hub.db"
    creds = provision_broker(data, db_path, [KIOSK, OTHER])
    broker = MosquittoProcess(data / "mosquitto", auth=creds.auth, max_packet_size=protocol.MAX_PACKET_BYTES).start()
    try:
        yield broker, creds, db_path
    finally:
        broker.stop()


def password(login: Login) -> str:
    return login.password_file.read_text().strip()


def paho_client(broker: MosquittoProcess, login: Login, client_id: str, version: int = mqtt.MQTTv5) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
    client.username_pw_set(login.username, password(login))
    return client


def stored(db_path: Path, sql: str = "SELECT count(*) FROM events") -> int:
    db = open_db(db_path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def start_hub(broker: MosquittoProcess, creds: DemoCredentials, db_path: Path) -> HubService:
    hub_broker = Broker(broker.host, broker.port, username=creds.hub.username, password=password(creds.hub))
    hub = HubService(hub_broker, db_path, client_id="otklik-hub").start()
    assert hub.connected.wait(10), "the hub did not connect with its own credentials"
    return hub


def test_a_kiosk_using_the_hubs_client_id_does_not_kick_the_hub_off(demo_broker) -> None:
    broker, creds, db_path = demo_broker
    hub = start_hub(broker, creds, db_path)
    stop = threading.Event()
    attempts = {"clean": 0, "persistent": 0}

    def impostor() -> None:
        # The other kiosk's valid credentials, the hub's client id, clean and persistent
        # sessions by turns: each connect used to close the hub's connection.
        while not stop.is_set():
            for clean in (True, False):
                client = paho_client(broker, creds.kiosks[("central", "till-1")], "otklik-hub")
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 3600
                try:
                    client.connect(broker.host, broker.port, clean_start=clean, properties=props)
                    client.loop_start()
                    time.sleep(0.15)
                    client.loop_stop()
                    client.disconnect()
                except OSError:
                    pass
                attempts["clean" if clean else "persistent"] += 1

    reason_codes: list[int] = []
    kiosk = paho_client(broker, creds.kiosks[("central", "exit-1")], "otklik-kiosk-central-exit-1")
    kiosk.on_publish = lambda _c, _u, _mid, rc, _p: reason_codes.append(rc.value)
    kiosk.connect(broker.host, broker.port)
    kiosk.loop_start()
    thread = threading.Thread(target=impostor, daemon=True)
    thread.start()
    try:
        total = 150
        for seq in range(1, total + 1):
            body = protocol.rating_payload(
                branch="central", kiosk="exit-1", id=f"identity-{seq:06d}", seq=seq, ts=times.now_ts(), score=3
            )
            kiosk.publish(protocol.topic("central", "exit-1", protocol.RATING), protocol.encode(body), qos=1)
            time.sleep(0.04)
        wait_until(lambda: len(reason_codes) == total, 20, message="every PUBACK")
        wait_until(lambda: stored(db_path) == total, 20, message=f"all {total} presses stored")
    finally:
        stop.set()
        thread.join(5)
        kiosk.loop_stop()
        kiosk.disconnect()
        hub.stop()
    assert attempts["clean"] >= 3 and attempts["persistent"] >= 3, attempts
    # 16 = "No matching subscribers": the hub was off the broker when the press came.
    assert 16 not in reason_codes, reason_codes
    log = broker.log_file.read_text()
    assert "as k-central-till-1" in log  # the impostor's id was replaced by its username


def test_packets_above_the_protocol_limit_are_refused_by_the_broker(demo_broker) -> None:
    broker, creds, db_path = demo_broker
    hub = start_hub(broker, creds, db_path)
    topic = protocol.topic("central", "exit-1", protocol.RATING)
    try:
        # The largest message the protocol allows still goes through...
        body = protocol.rating_payload(
            branch="central", kiosk="exit-1", id="largest-00001", seq=1, ts=times.now_ts(), score=4
        )
        body["note"] = "x" * (protocol.MAX_PAYLOAD_BYTES - len(protocol.encode(body)) - len(',"note":""'))
        largest = protocol.encode(body)
        assert len(largest) == protocol.MAX_PAYLOAD_BYTES
        # ... and one 2 KB above it is refused by the broker itself: MQTT 3.1.1 clients
        # cannot know the limit, so this is the broker's check, not paho's.
        disconnected = threading.Event()
        client = paho_client(broker, creds.kiosks[("central", "exit-1")], "big", version=mqtt.MQTTv311)
        client.on_disconnect = lambda *_: disconnected.set()
        client.connect(broker.host, broker.port)
        client.loop_start()
        client.publish(topic, largest, qos=1).wait_for_publish(10)
        client.publish(topic, b"{" + b" " * (protocol.MAX_PAYLOAD_BYTES + 2048) + b"}", qos=1)
        assert disconnected.wait(10), "the broker kept a client that sent an oversized packet"
        client.loop_stop()
        wait_until(lambda: stored(db_path) == 1, 10, message="the largest valid press stored")
        time.sleep(0.5)  # nothing else may arrive
        assert stored(db_path, "SELECT count(*) FROM dead_letters") == 0
    finally:
        hub.stop()


def test_secrets_are_private_and_clients_need_their_own_credentials(demo_broker) -> None:
    broker, creds, _ = demo_broker
    for path in [creds.auth.passwd, creds.auth.acl, creds.hub.password_file, creds.dashboard.password_file,
                 *(login.password_file for login in creds.kiosks.values())]:  # fmt: skip
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    conf = broker.conf.read_text()
    # Per-listener options: written before the listener line they would open a second one on 1883.
    listener = conf.index("listener ")
    assert conf.index("use_username_as_clientid true") > listener
    assert conf.index(f"max_packet_size {protocol.MAX_PACKET_BYTES}") > listener
    assert "allow_anonymous false" in conf
    acl = creds.auth.acl.read_text()
    assert "user k-central-exit-1\ntopic write otklik/v1/central/exit-1/rating" in acl
    results: dict[str, int] = {}
    for name, user, secret in (("anonymous", None, None), ("wrong", "k-central-exit-1", "not-it")):
        done = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        if user:
            client.username_pw_set(user, secret)

        def on_connect(_c, _u, _f, rc, _p, name: str = name, done: threading.Event = done) -> None:
            results[name] = rc.value
            done.set()

        client.on_connect = on_connect
        client.connect(broker.host, broker.port)
        client.loop_start()
        assert done.wait(10)
        client.loop_stop()
    assert all(code >= 0x80 for code in results.values()), results  # both refused
