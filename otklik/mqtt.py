"""Broker addresses and paho-mqtt clients set up the same way for every Otklik process."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MQTT_VERSIONS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


class BrokerURLError(ValueError):
    pass


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
    parts = urlsplit(url)
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


def make_client(
    broker: Broker,
    client_id: str,
    *,
    logger: logging.Logger,
    persistent: bool = False,
    manual_ack: bool = False,
    will: tuple[str, bytes, int, bool] | None = None,
    max_inflight: int = 100,
) -> mqtt.Client:
    client = mqtt.Client(
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
