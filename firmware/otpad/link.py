"""Wi-Fi and the MQTT session (MicroPython's umqtt.simple), with the status/last-will handshake.

umqtt.simple is blocking and has no reconnect of its own: every call may
raise (OSError for the socket, MQTTException for a refused CONNECT, and it
asserts on packets it does not expect). The pad treats any exception from
here as "session lost": close it, retry later with back-off. The buffered
presses are untouched by that, they live in flash.
"""

import network
from umqtt.simple import MQTTClient

from otpad import payload


class Wifi:
    RETRY_MS = 15000

    def __init__(self, ssid: str, password: str) -> None:
        self.ssid = ssid
        self.password = password
        self.wlan = network.WLAN(network.STA_IF)
        self._tried_at: int | None = None

    def up(self, uptime_ms: int) -> bool:
        """True when joined; otherwise (re)start joining, at most every RETRY_MS."""
        if self.wlan.isconnected():
            return True
        if self._tried_at is None or uptime_ms - self._tried_at >= self.RETRY_MS:
            self._tried_at = uptime_ms
            try:
                self.wlan.active(True)
                self.wlan.connect(self.ssid, self.password)
            except OSError as err:
                print("otpad: Wi-Fi join failed:", err)
        return False


class Session:
    """One connected MQTT session; construct to connect, any exception means it is gone."""

    def __init__(self, cfg: object, on_config: object, on_receipt: object = None) -> None:
        c = cfg
        self.branch = c.branch  # type: ignore[attr-defined]
        self.device = c.device  # type: ignore[attr-defined]
        self.status_topic = payload.topic(self.branch, self.device, "status").encode()
        self.config_topic = payload.topic(self.branch, self.device, "config").encode()
        self.receipt_topic = payload.topic(self.branch, self.device, "receipt").encode()
        kwargs = {"port": c.broker_port, "keepalive": c.keepalive_s}  # type: ignore[attr-defined]
        if c.broker_user:  # type: ignore[attr-defined]
            kwargs["user"] = c.broker_user  # type: ignore[attr-defined]
            kwargs["password"] = c.broker_password or ""  # type: ignore[attr-defined]
        if c.broker_ssl:  # type: ignore[attr-defined]
            kwargs["ssl"] = _tls_context()
        client_id = "otklik-%s-%s" % (self.branch, self.device)
        self.client = MQTTClient(client_id, c.broker_host, **kwargs)  # type: ignore[attr-defined]
        # The will has no ts: it is fixed at connect time (as protocol.status_payload does).
        offline = payload.encode(payload.status(self.branch, self.device, "offline"))
        self.client.set_last_will(self.status_topic, offline, retain=True, qos=1)
        self.client.set_callback(self._on_message)
        self._on_config = on_config
        self._on_receipt = on_receipt
        self.client.connect()
        self.connected = True

    def announce(self, ts_ms: int, receipts: bool = True) -> None:
        online = payload.encode(payload.status(self.branch, self.device, "online", ts_ms))
        self.client.publish(self.status_topic, online, retain=True, qos=1)
        # Retained: the current config arrives right after subscribing.
        self.client.subscribe(self.config_topic, qos=1)
        if receipts:
            # Before any press is sent on this session, so no receipt for one is missed.
            self.client.subscribe(self.receipt_topic, qos=1)

    def _on_message(self, topic: bytes, msg: bytes) -> None:
        if topic == self.config_topic:
            self._on_config(msg)  # type: ignore[operator]
        elif topic == self.receipt_topic and self._on_receipt is not None:
            self._on_receipt(msg)  # type: ignore[operator]

    def publish(self, kind: str, body: bytes, qos: int = 1) -> None:
        """Returns once the broker has the message (QoS 1: after its PUBACK)."""
        self.client.publish(payload.topic(self.branch, self.device, kind).encode(), body, qos=qos)

    def poll(self) -> None:
        self.client.check_msg()

    def ping(self) -> None:
        self.client.ping()

    def close(self, clean: bool = False) -> None:
        """clean=True sends DISCONNECT (no last will); a lost session just drops the socket."""
        self.connected = False
        try:
            if clean:
                self.client.disconnect()
            elif self.client.sock:
                self.client.sock.close()
        except Exception:  # already broken: nothing left to do
            pass


def _tls_context() -> object:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        with open("ca.der", "rb") as f:
            ctx.load_verify_locations(cadata=f.read())
        # MicroPython's SSLContext has verify_mode (docs); the rp2 stubs leave it out.
        ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]
    except OSError:
        # No CA copied to the pad: encrypted but unauthenticated; the README says to copy ca.der.
        ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]
    return ctx
