"""One kiosk flooding junk with its own credentials cannot hold up other kiosks' presses.

Real parts: Mosquitto started from the files `otklik provision` writes (deploy's
mosquitto.conf with its dynamic-security plugin, passwords, ACL), the real hub
service with its provisioned credentials on the loopback listener it uses when
deployed, and a C flooder (`mosquitto_pub -l`, ~thousands of 4 KB messages a
second) on a provisioned kiosk's credentials.

Without the cut-off the junk queues in the hub's one session ahead of every
other kiosk's presses, so they wait about as long as the flood has lasted
(this test: 8.1 s; tests/bench/bench_flood.py: 9-17 s behind a 10 s flood).
With it, the flooder is disabled at the broker within its first second of
junk, and only what the broker had queued for the hub by then (a few thousand
messages) is still ahead of the presses, acknowledged without being read. That
took 0.3-0.6 s here and up to 2.8 s on a 2-core machine at load 15-21. The bound
is half the flood's length: any press in the flood's second half waiting that
long means the junk is still reaching the hub.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from hub import dead_letters, flood_guard
from hub.cli import cut_offs_list, cut_offs_restore
from hub.db import open_db
from hub.service import HubService
from otklik import protocol, times
from otklik.mqtt import Broker
from tests.broker import wait_until
from tests.test_provision_env import Store, connect, store_fixture

pytestmark = pytest.mark.broker

FLOOD_S = 8.0
# Other kiosks' presses are stored within this of being published, flood or not (see above).
DELAY_BOUND_S = FLOOD_S / 2


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


def password(bundle_dir: Path) -> str:
    return (bundle_dir / "mqtt-password").read_text().strip()


class Presser:
    """A kiosk publishing a QoS 1 press every 50 ms; a poller notes when each is stored."""

    def __init__(self, store: Store, branch: str, kiosk: str, pw: str) -> None:
        self.store, self.branch, self.kiosk = store, branch, kiosk
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(f"k-{branch}-{kiosk}", pw)
        self.client.connect("127.0.0.1", store.broker.local_port)
        self.client.loop_start()
        self.sent: dict[str, float] = {}
        self.stored: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._press), threading.Thread(target=self._poll)]
        for t in self._threads:
            t.start()

    def _press(self) -> None:
        seq = 0
        while not self._stop.wait(0.05):
            seq += 1
            event_id = uuid.uuid4().hex
            body = protocol.rating_payload(branch=self.branch, kiosk=self.kiosk, id=event_id, seq=seq,
                                           ts=times.now_ts(), score=3)  # fmt: skip
            self.sent[event_id] = time.monotonic()
            self.client.publish(protocol.topic(self.branch, self.kiosk, protocol.RATING), protocol.encode(body), qos=1)

    def _poll(self) -> None:
        db = open_db(self.store.db, migrate=False)
        try:
            while not self._stop.is_set() or set(self.sent) - set(self.stored):
                now = time.monotonic()
                rows = db.execute("SELECT id FROM events WHERE branch = ? AND kiosk = ?", [self.branch, self.kiosk])
                for (event_id,) in rows:
                    self.stored.setdefault(event_id, now)
                if self._stop.is_set() and now - self.stopped_at > 30:
                    return
                time.sleep(0.02)
        finally:
            db.close()

    def stop(self) -> None:
        self.stopped_at = time.monotonic()
        self._stop.set()
        for t in self._threads:
            t.join()
        self.client.disconnect()
        self.client.loop_stop()

    def delays(self) -> list[float]:
        return sorted(self.stored[i] - t for i, t in self.sent.items() if i in self.stored)


def flooder(store: Store, username: str, pw: str, work: Path) -> subprocess.Popen[bytes]:
    # Credentials from $XDG_CONFIG_HOME/mosquitto_pub, not on a command line that ps shows.
    config = work / "flooder"
    config.mkdir(mode=0o700)
    (config / "mosquitto_pub").write_text(f"-u {username}\n-P {pw}\n")
    topic = protocol.topic("b1", "flood", protocol.RATING)
    cmd = f"yes {'x' * 4000} | mosquitto_pub -h 127.0.0.1 -p {store.broker.local_port} -V 5 -q 1 -l -t {topic}"
    return subprocess.Popen(["bash", "-c", cmd], env=dict(os.environ, XDG_CONFIG_HOME=str(config)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def start_hub(store: Store) -> HubService:
    broker = Broker("127.0.0.1", store.broker.local_port, username="otklik-hub", password=store.hub_password)
    hub = HubService(broker, store.db).start()
    assert hub.connected.wait(10), "hub did not connect and subscribe"
    return hub


def test_a_flooding_kiosk_is_cut_off_and_other_kiosks_presses_keep_flowing(store: Store, tmp_path: Path) -> None:
    same_branch = password(store.provision_kiosk("b1", "k1"))
    other_branch = password(store.provision_kiosk("b2", "k1"))
    flood_pw = password(store.provision_kiosk("b1", "flood"))
    hub = start_hub(store)
    pressers = [Presser(store, "b1", "k1", same_branch), Presser(store, "b2", "k1", other_branch)]
    flood = flooder(store, "k-b1-flood", flood_pw, tmp_path)
    started = time.monotonic()
    try:
        time.sleep(FLOOD_S)
    finally:
        os.killpg(flood.pid, signal.SIGTERM)
        flood.wait()
        for p in pressers:
            p.stop()
    hub.stop()
    elapsed = time.monotonic() - started
    db = open_db(store.db)
    sources = {s["source"]: s for s in dead_letters.sources(db)}
    cut = {c["source"]: c for c in flood_guard.cut_offs(db)}
    db.close()
    flood_source = "otklik/v1/b1/flood"
    junk = sources.get(flood_source, {"written": 0, "dropped": 0})
    junk_dropped = cut[flood_source]["dropped"] if flood_source in cut else 0
    for p in pressers:
        d = p.delays()
        print(f"{p.branch}/{p.kiosk}: {len(d)} of {len(p.sent)} stored; delay median {d[len(d) // 2]:.2f} s, "
              f"max {d[-1]:.2f} s; junk: {junk['written']} letters, {junk['dropped']} over the rate limit, "
              f"{junk_dropped} dropped as cut off")  # fmt: skip
    for p in pressers:
        # Every press once: ids are the table's key, so here "once" means none missing.
        assert set(p.stored) == set(p.sent), f"{len(set(p.sent) - set(p.stored))} presses never stored"
        assert p.delays()[-1] < DELAY_BOUND_S, (
            f"{p.branch}/{p.kiosk}'s presses waited up to {p.delays()[-1]:.1f} s behind the flood"
        )
    assert flood_source in cut and cut[flood_source]["restored_at"] is None
    # Bounded: the rate limit's burst and its refill, whatever the flood's size.
    assert junk["written"] <= dead_letters.BURST + elapsed * dead_letters.RATE_PER_MINUTE / 60 + 1
    # The broker refuses the flooder now, across a hub restart too, until an admin restores it.
    refused = connect(store, "k-b1-flood", flood_pw)
    assert not refused.connected(), "the broker still lets the flooding kiosk in"
    refused.close()

    hub = start_hub(store)
    try:
        listing = CliRunner().invoke(cut_offs_list, ["--db", str(store.db)], catch_exceptions=False)
        assert flood_source in listing.output and "k-b1-flood" in listing.output
        result = CliRunner().invoke(
            cut_offs_restore, ["--db", str(store.db), "--branch", "b1", "--kiosk", "flood"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output

        def back() -> bool:
            c = connect(store, "k-b1-flood", flood_pw)
            try:
                return c.connected()
            finally:
                c.close()

        wait_until(back, timeout=flood_guard.POLL_S + 10, interval=0.5, message="the restored kiosk to be let in again")
    finally:
        hub.stop()
