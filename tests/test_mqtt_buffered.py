"""otklik.mqtt.BufferedClient on a real Mosquitto: every message arrives whole and in order, read in large chunks."""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as mqtt

from otklik import protocol
from otklik.mqtt import BufferedClient, connect_async, make_client
from tests.backlog import chain, publish
from tests.broker import Mosquitto, wait_until


def test_a_burst_of_messages_arrives_whole_in_order_and_in_few_reads(mosquitto: Mosquitto) -> None:
    kiosks = chain(6000, kiosks=3)
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    subscribed = threading.Event()
    acks: list[int] = []
    client = make_client(mosquitto.broker(), "buffered-test", logger=logging.getLogger("test"), persistent=True,
                         manual_ack=True, client_class=BufferedClient)  # fmt: skip

    def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append((msg.topic, bytes(msg.payload)))
        acks.append(msg.mid)

    client.on_connect = lambda c, *_: c.subscribe(protocol.subscription(protocol.RATING), 1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    connect_async(client, mosquitto.broker(), persistent=True)
    try:
        assert subscribed.wait(10)
        publish(mosquitto.host, mosquitto.port, kiosks)
        # Acknowledged a few hundred at a time, as the hub does after each commit: the broker sends more.
        while len(received) < 6000:
            wait_until(lambda: len(acks) > 0, timeout=30, message="more messages")
            with lock:
                mids, acks[:] = list(acks), []
            client.ack_many(mids)
        for k in kiosks:
            assert [p for t, p in received if t == k.topic] == k.lines
        # Unbuffered, paho makes at least three recv() calls per message.
        chunks = client.socket().chunks  # type: ignore[union-attr]
        assert chunks < 6000 / 5, f"{chunks} reads for 6000 messages"
    finally:
        client.disconnect()
        client.loop_stop()
