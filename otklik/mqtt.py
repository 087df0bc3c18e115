"""Broker addresses and paho-mqtt clients set up the same way for every Otklik process."""

from __future__ import annotations

import logging
import re
import ssl
import struct
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from otklik.errors import OtklikError

MQTT_VERSIONS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


class BrokerURLError(OtklikError, ValueError):
    """A broker URL that cannot be used; the text says why."""


@dataclass(frozen=True)
class Broker:
    """Where and how to connect. The password never appears in repr() or logs."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    mqtt_version: str = "5"

    @property
    def url(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_broker_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    mqtt_version: str = "5",
) -> Broker:
    """``mqtt://[user@]host[:port]`` or ``mqtts://...`` (TLS, default port 8883).

    A password in the URL is refused: it would end up in shell history, ``ps``
    and logs. Pass it separately (a file or the environment).
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        # urlsplit drops tabs and newlines silently, and a NUL would reach the resolver.
        raise BrokerURLError(f"broker URL {url!r} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as err:  # e.g. an unclosed IPv6 bracket: "mqtt://[::1"
        raise BrokerURLError(f"broker URL {url!r} is not a valid URL: {err}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerURLError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise BrokerURLError(f"broker URL {url!r} has no host")
    if parts.password:
        raise BrokerURLError("broker URL must not contain a password; use a password file or OTKLIK_MQTT_PASSWORD")
    if mqtt_version not in MQTT_VERSIONS:
        raise BrokerURLError(f"MQTT version {mqtt_version!r} must be one of {', '.join(MQTT_VERSIONS)}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerURLError(f"broker URL {url!r} has an invalid port") from None
    return Broker(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=username or parts.username,
        password=password,
        ca_file=ca_file,
        mqtt_version=mqtt_version,
    )


_PUBACK = struct.Struct("!BBH")  # command, remaining length 2, packet id: MQTT 3.1.1 and 5 (success, no properties)
# One recv() fills the read buffer with this much: a few hundred ratings.
READ_CHUNK = 1 << 16
# Packets one network-loop turn reads from the buffer before it lets writes (acks) and keepalive have theirs.
PACKETS_PER_TURN = 1000


class _ReadBuffer:
    """A connected socket whose small reads come out of one large ``recv``.

    paho reads each packet with at least three ``recv`` calls (the command
    byte, the length bytes one at a time, the body) and one ``select`` per
    packet: for a subscriber taking tens of thousands of small messages a
    second those system calls were a quarter of the hub's CPU. Data already
    read but not yet parsed is reported by ``pending()``, the hook paho's loop
    already honours for TLS sockets (whose own buffered bytes count too), so
    nothing waits in ``select`` while whole packets sit in the buffer.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        # recv() calls made on the socket itself (the log's and the tests' measure of the batching).
        self.chunks = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            # May raise BlockingIOError (or TLS's want-read), which paho handles as "nothing yet".
            self._buf, self._pos = self._sock.recv(max(bufsize, READ_CHUNK)), 0
            self.chunks += 1
        start = self._pos
        self._pos = min(start + bufsize, len(self._buf))
        return self._buf[start : self._pos]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + inner

    def __getattr__(self, name: str) -> Any:
        # send, fileno, setblocking, close ...: the socket's own.
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """A paho client that reads the network in large chunks and parses every whole packet they hold in one turn.

    Only ``_create_socket`` and ``loop_read`` are overridden; keepalive, acks,
    reconnects and TLS stay paho's. For a subscriber under load (the hub).
    """

    # Set once message_callback_add is called: from then on paho's own dispatch finds them.
    _topic_callbacks = False

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages (manual_ack) in one write: the PUBACKs ``ack`` would send one by one.

        ``ack`` queues one packet per message and wakes the network thread for
        each; a committed batch of 500 is one buffer of 4-byte PUBACKs here.
        """
        if mids:
            packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, packet, 0, 0)

    def _create_socket(self) -> Any:
        return _ReadBuffer(super()._create_socket())

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """A QoS 1 MQTT 5 PUBLISH without properties (every kiosk's) parsed here; anything else by paho.

        paho builds a ``Properties`` (a dozen dicts) and unpacks it for every
        message, with no properties to find: profiled at 1 M ratings that was
        about a tenth of the hub's CPU. The message handed on is the one paho
        would make, but without ``properties`` (None); with manual_ack paho sends no
        PUBACK here either (the hub acknowledges after its commit).
        """
        packet = self._in_packet["packet"]
        header = self._in_packet["command"]
        size = len(packet)
        if self._protocol != mqtt.MQTTv5 or (header & 0x06) != 0x02 or not self._manual_ack or size < 5:
            return super()._handle_publish()
        end = 2 + ((packet[0] << 8) | packet[1])  # the topic's two length bytes, then the topic
        # The packet id, then the property length: 0 means none, so the payload follows at once.
        if end == 2 or end + 3 > size or packet[end + 2] != 0:
            return super()._handle_publish()
        message = mqtt.MQTTMessage(mid=(packet[end] << 8) | packet[end + 1], topic=bytes(packet[2:end]))
        message.dup = bool(header & 0x08)
        message.qos = 1
        message.retain = bool(header & 0x01)
        # None, as paho gives an MQTT 3.1.1 message: nothing in Otklik reads a rating's properties.
        message.properties = None
        message.payload = bytes(packet[end + 3 :])
        message.timestamp = mqtt.time_func()
        if self._topic_callbacks:
            self._handle_on_message(message)
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        # No per-topic callbacks (the hub adds none): paho would walk its topic trie for every
        # message to find that out, decoding the topic twice (about 4% of the hub's CPU).
        on_message = self._on_message
        if on_message is not None:
            with self._in_callback_mutex:
                try:
                    on_message(self, self._userdata, message)
                except Exception as err:
                    self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                    if not self.suppress_exceptions:
                        raise
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def message_callback_add(self, sub: str, callback: mqtt.CallbackOnMessage) -> None:
        self._topic_callbacks = True
        super().message_callback_add(sub, callback)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        turns = 1
        while rc == mqtt.MQTT_ERR_SUCCESS and turns < PACKETS_PER_TURN:
            sock = self._sock
            # Acks waiting to go out end the turn: a subscriber that holds its acks (or its
            # PINGREQ) while it reads on is disconnected by the broker's keepalive (seen at
            # 45 s when storage was slow and the queue full).
            if not isinstance(sock, _ReadBuffer) or sock.pending() == 0 or self.want_write():
                break
            rc = super().loop_read(max_packets)
            turns += 1
        return rc


# MQTT 5 shared subscriptions: the broker hands each message to one member of the group.
SHARE_PREFIX = "$share"
SHARE_GROUP_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def shared(group: str | None, topic_filter: str) -> str:
    """``topic_filter`` as a member of share group ``group`` subscribes to it (unchanged for None).

    Several hubs subscribed as ``$share/GROUP/otklik/v1/+/+/rating`` split the rating stream
    between them, each message to one of them; each still has its own persistent session.
    """
    if group is None:
        return topic_filter
    if not SHARE_GROUP_RE.match(group):
        # '/', '+' and '#' would change what the filter means; the rest keeps names boring.
        raise OtklikError(f"share group {group!r} must be 1-64 letters, digits, '.', '-' or '_'", field="--share-group")
    return f"{SHARE_PREFIX}/{group}/{topic_filter}"


def make_client(
    broker: Broker,
    client_id: str,
    *,
    logger: logging.Logger,
    persistent: bool = False,
    manual_ack: bool = False,
    will: tuple[str, bytes, int, bool] | None = None,
    max_inflight: int = 100,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A paho client set up the Otklik way (``client_class=BufferedClient`` for a busy subscriber)."""
    client = client_class(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTT_VERSIONS[broker.mqtt_version],
        manual_ack=manual_ack,
        # MQTT 3.1.1 carries the persistent-session wish in the constructor;
        # MQTT 5 carries it in connect() (see connect_async) and refuses one here.
        clean_session=not persistent if broker.mqtt_version == "3.1.1" else None,
    )
    client.enable_logger(logger)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.max_inflight_messages_set(max_inflight)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(ca_certs=broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
    if will:
        client.will_set(*will)
    return client


def connect_async(
    client: mqtt.Client,
    broker: Broker,
    *,
    persistent: bool,
    keepalive: int = 30,
    receive_maximum: int | None = None,
) -> None:
    """Start connecting in paho's network thread; paho reconnects on its own after that."""
    kwargs: dict[str, Any] = {}
    if broker.mqtt_version == "5":
        props = Properties(PacketTypes.CONNECT)
        if persistent:
            # Without a session expiry an MQTT 5 session ends with the connection,
            # and nothing published while we were away would be kept for us.
            props.SessionExpiryInterval = 7 * 24 * 3600
        if receive_maximum:
            props.ReceiveMaximum = receive_maximum
        kwargs = {"clean_start": not persistent, "properties": props}
    client.connect_async(broker.host, broker.port, keepalive=keepalive, **kwargs)
    client.loop_start()


def drop_unsent(client: mqtt.Client, mids: Collection[int]) -> list[int]:
    """Take back the QoS 1 messages among ``mids`` that paho holds but has not sent on this connection.

    paho keeps a QoS 1 message that was published while disconnected (``MQTT_ERR_NO_CONN``)
    or was in flight when the connection dropped, and sends it again after the next CONNACK
    with the payload as it was rendered then. Called from ``on_connect`` (paho resends after
    that callback returns), this leaves those messages to their owner to render and send
    afresh; the ones returned are gone from paho. A message already sent on the new
    connection (waiting for its PUBACK) is kept. paho has no public call for this: it uses
    paho 2.2's own queue and states (tests/test_kiosk_publisher.py fails if they change).
    """
    dropped = []
    with client._out_message_mutex:
        for mid in mids:
            message = client._out_messages.get(mid)
            if message is not None and message.state in (mqtt.mqtt_ms_publish, mqtt.mqtt_ms_queued):
                # Neither state counts in paho's in-flight total (reset at every reconnect).
                del client._out_messages[mid]
                dropped.append(mid)
    return dropped


class PublishError(OtklikError, RuntimeError):
    """A QoS 1 publish the broker refused (MQTT 5 reason code) or did not acknowledge in time."""


class AckedPublisher:
    """QoS 1 publishes on a paho client that wait for their PUBACK and check its MQTT 5 reason code.

    A PUBACK with a failure code (135: not authorised) must not pass as delivered; with
    MQTT 3.1.1 a refusal cannot be told from success (the broker acknowledges anyway).
    It chains onto any ``on_publish`` the client already has, so it can share the hub's
    own connection (a second connection with the hub's username would take over its session).
    """

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self._codes: dict[int, Any] = {}
        # publish() calls under way. paho reports every publish on the client here, the hub's
        # QoS 0 receipts too, and nobody collects theirs: kept always, the codes filled up to
        # one per packet id (65,535 of ~1 kB each: the hub's RSS doubled over 1 M events).
        self._waiting = 0
        self._cond = threading.Condition()
        self._previous: Any = client.on_publish  # paho types it as either callback API version
        client.on_publish = self._on_publish

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, props: Any) -> None:
        if self._previous is not None:
            self._previous(client, userdata, mid, reason_code, props)
        with self._cond:
            if self._waiting:
                self._codes[mid] = reason_code
                self._cond.notify_all()

    def publish(self, topic: str, payload: bytes, *, timeout: float = 10.0, retain: bool = False) -> None:
        """Publish and return once the broker accepted it; raise PublishError otherwise."""
        with self._cond:
            self._waiting += 1  # before the publish: its PUBACK may come before publish() returns
        try:
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            with self._cond:
                if not self._cond.wait_for(lambda: info.mid in self._codes, timeout):
                    raise PublishError(f"no PUBACK for {topic} within {timeout:g} s (broker unreachable?)")
                code = self._codes.pop(info.mid)
        finally:
            with self._cond:
                self._waiting -= 1
                if not self._waiting:
                    self._codes.clear()  # others' codes, kept while someone waited
        if getattr(code, "is_failure", False):
            raise PublishError(f"the broker refused the publish on {topic}: {code}")


def connect_and_wait(broker: Broker, client_id: str, *, logger: logging.Logger, timeout: float = 10.0) -> mqtt.Client:
    """A clean-session client connected to ``broker``, or ConnectionError naming why not.

    A CONNACK with a failure code (bad password, not authorised) is a refusal, not a
    connection: paho would otherwise keep retrying it silently in the background.
    """
    client = make_client(broker, client_id, logger=logger)
    answered = threading.Event()
    refusal: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason_code: Any, _p: object) -> None:
        if getattr(reason_code, "is_failure", False):
            refusal.append(str(reason_code))
        answered.set()

    client.on_connect = on_connect
    connect_async(client, broker, persistent=False)
    if not answered.wait(timeout) or refusal:
        client.loop_stop()  # and so no retrying against a broker that said no
        why = f"refused: {refusal[0]}" if refusal else f"no answer within {timeout:g} s"
        raise ConnectionError(f"cannot connect to the broker at {broker}: {why}")
    return client
