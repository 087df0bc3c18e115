"""otklik.mqtt.AckedPublisher on a real Mosquitto: it keeps the reason codes of its own publishes only."""

from __future__ import annotations

import logging
import threading

from otklik.mqtt import AckedPublisher, connect_async, make_client
from tests.broker import Mosquitto, wait_until


def test_other_publishes_on_the_shared_client_leave_nothing_behind(mosquitto: Mosquitto) -> None:
    # The hub's one connection: receipts at QoS 0 (thousands a minute) and the alert watcher's QoS 1 sends.
    client = make_client(mosquitto.broker(), "acked-test", logger=logging.getLogger("test"))
    written = threading.Semaphore(0)
    client.on_publish = lambda *_: written.release()  # the client's own callback, chained
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    publisher = AckedPublisher(client)
    connect_async(client, mosquitto.broker(), persistent=False)
    try:
        assert connected.wait(10)
        for _ in range(3000):
            client.publish("otklik/v1/b1/k1/receipt", b"{}", qos=0)
        for _ in range(3000):
            assert written.acquire(timeout=10), "paho reported fewer writes than publishes"
        publisher.publish("otklik/v1/b1/alerts", b"alert")
        # Kept, they were one ~1 kB ReasonCode per packet id: the hub's RSS grew by ~80 MB.
        wait_until(lambda: len(publisher._codes) == 0, timeout=5, message="no codes kept")
        assert len(publisher._codes) == 0
    finally:
        client.disconnect()
        client.loop_stop()
