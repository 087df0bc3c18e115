"""otklik.mqtt.BufferedClient on a real Mosquitto: every message arrives whole and in order, read in large chunks."""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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


def test_publishes_with_and_without_properties_arrive_as_paho_would_hand_them(mosquitto: Mosquitto) -> None:
    """The hub's own PUBLISH parser (no properties, QoS 1) and paho's (the rest) hand on the same message."""
    got: dict[bytes, mqtt.MQTTMessage] = {}
    subscribed = threading.Event()
    client = make_client(mosquitto.broker(), "buffered-fast", logger=logging.getLogger("test"), persistent=True,
                         manual_ack=True, client_class=BufferedClient)  # fmt: skip
    client.on_connect = lambda c, *_: c.subscribe("t/#", 1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda c, _u, msg: got.__setitem__(bytes(msg.payload), msg)
    sender = make_client(mosquitto.broker(), "buffered-sender", logger=logging.getLogger("test"))
    # paho refuses a publish before CONNACK ("not currently connected"): wait for both clients.
    sender_up = threading.Event()
    sender.on_connect = lambda *_: sender_up.set()
    connect_async(client, mosquitto.broker(), persistent=True)
    connect_async(sender, mosquitto.broker(), persistent=False)
    try:
        assert subscribed.wait(10) and sender_up.wait(10)
        with_props = Properties(PacketTypes.PUBLISH)
        with_props.UserProperty = ("k", "v")
        sender.publish("t/plain", b"plain", qos=1).wait_for_publish(10)
        sender.publish("t/props", b"props", qos=1, properties=with_props).wait_for_publish(10)
        sender.publish("t/qos0", b"qos0", qos=0).wait_for_publish(10)
        sender.publish("t/kept", b"kept", qos=1, retain=True).wait_for_publish(10)
        sender.publish("t/empty", b"", qos=1).wait_for_publish(10)
        wait_until(lambda: len(got) == 5, timeout=10, message="all five messages")
        plain, props, qos0, empty = got[b"plain"], got[b"props"], got[b"qos0"], got[b""]
        # Parsed here: no Properties built (the point of the fast path), the rest as paho's.
        assert (plain.topic, plain.qos, plain.retain, plain.properties) == ("t/plain", 1, False, None)
        assert plain.mid > 0 and empty.topic == "t/empty" and empty.properties is None
        # With properties, or at QoS 0: paho's parser, properties kept.
        assert props.topic == "t/props" and props.properties is not None
        assert props.properties.UserProperty == [("k", "v")]
        assert qos0.qos == 0 and qos0.properties is not None
        client.ack_many([m.mid for m in (plain, props, empty)])
        # A retained copy comes on a new subscription with the retain flag set.
        seen_kept = got.pop(b"kept")
        assert seen_kept.qos == 1 and seen_kept.topic == "t/kept"
        client.subscribe("t/kept", 1)
        wait_until(lambda: b"kept" in got, timeout=10, message="the retained copy")
        assert got[b"kept"].retain and got[b"kept"].properties is None
        # The fast path hands messages straight to on_message; once a per-topic callback is
        # added, paho's dispatch routes again: the matching topic to it, the rest to on_message.
        routed: list[bytes] = []
        client.message_callback_add("t/cb", lambda c, _u, msg: routed.append(bytes(msg.payload)))
        sender.publish("t/cb", b"cb", qos=1).wait_for_publish(10)
        sender.publish("t/after", b"after", qos=1).wait_for_publish(10)
        wait_until(lambda: b"after" in got and routed, timeout=10, message="the routed messages")
        assert routed == [b"cb"] and b"cb" not in got
    finally:
        for c in (client, sender):
            c.disconnect()
            c.loop_stop()
