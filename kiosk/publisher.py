"""The thread that drains the outbox to the broker, and keeps the kiosk's status and heartbeat.

All outbox bookkeeping happens on this one thread. paho calls ``on_publish``
on its network thread while holding its own message lock, so that callback
only queues the acknowledgement; taking our lock there could deadlock with a
``publish()`` call holding ours.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from kiosk.outbox import Outbox
from otklik import __version__, protocol
from otklik.mqtt import Broker, connect_async, make_client

log = logging.getLogger(__name__)

ConfigHandler = Callable[[str, bytes], object]


class Publisher:
    def __init__(
        self,
        broker: Broker,
        outbox: Outbox,
        *,
        branch: str,
        kiosk: str,
        heartbeat_s: float = 30.0,
        window: int = 100,
        refused_retry_s: float = 300.0,
        on_config: ConfigHandler | None = None,
        on_connection_change: Callable[[bool], object] | None = None,
        camera_status: Callable[[], str] | None = None,
        config_version: Callable[[], int | None] | None = None,
        version: str = __version__,
    ) -> None:
        self.broker = broker
        self.outbox = outbox
        self.branch = branch
        self.kiosk = kiosk
        self.heartbeat_s = heartbeat_s
        self.window = window
        self.refused_retry_s = refused_retry_s
        self.on_config = on_config
        self.on_connection_change = on_connection_change
        self.camera_status = camera_status
        self.config_version = config_version
        self.version = version
        self.client_id = f"otklik-kiosk-{branch}-{kiosk}"
        self.status_topic = protocol.topic(branch, kiosk, protocol.STATUS)
        self.config_topic = protocol.topic(branch, kiosk, protocol.CONFIG)
        self.heartbeat_topic = protocol.topic(branch, kiosk, protocol.HEARTBEAT)

        # Set by paho's thread, read by ours.
        self._connected = threading.Event()
        self._reconnected = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Only touched by the publisher thread: rows handed to paho in this
        # process. paho re-sends its own in-flight messages after a reconnect,
        # so a row in here is never published again by us.
        self._mids: dict[int, int] = {}
        self._sent: set[int] = set()
        self.started_at = time.monotonic()
        self.published = 0
        self.acked = 0
        self.refused = 0

        will = (
            self.status_topic,
            self._status(protocol.status_payload(branch, kiosk, "offline", with_ts=False)),
            1,
            True,
        )
        self.client = make_client(broker, self.client_id, logger=log, will=will, max_inflight=window)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._thread = threading.Thread(target=self._run, name=f"publisher-{branch}-{kiosk}", daemon=True)

    @staticmethod
    def _status(body: dict[str, Any]) -> bytes:
        return protocol.encode(body)

    # --- lifecycle --------------------------------------------------------

    def start(self) -> Publisher:
        self.started_at = time.monotonic()
        connect_async(self.client, self.broker, persistent=False)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending; say offline (a clean disconnect does not fire the will); disconnect."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._connected.is_set():
            info = self.client.publish(
                self.status_topic, self._status(protocol.status_payload(self.branch, self.kiosk, "offline")), 1, True
            )
            # If the connection went away meanwhile, the will says offline instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
            # Let in-flight rows finish so a clean stop leaves no needless re-sends.
            deadline = time.monotonic() + 2
            while self._mids and self._connected.is_set() and time.monotonic() < deadline:
                self._handle_acks(block=0.05)
        self.client.disconnect()
        self.client.loop_stop()
        self._handle_acks()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def wake(self) -> None:
        """A new row is in the outbox: send it now rather than at the next tick."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._mids)

    # --- paho callbacks (paho's network thread) ------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: Any, reason_code: Any, _props: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.broker, reason_code)
            return
        log.info("connected to %s as %s", self.broker, self.client_id)
        client.publish(
            self.status_topic, self._status(protocol.status_payload(self.branch, self.kiosk, "online")), 1, True
        )
        client.subscribe(self.config_topic, qos=1)
        self._connected.set()
        self._reconnected.set()
        self._wake.set()
        self._notify(True)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: Any, reason_code: Any, _p: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping.is_set():
            log.warning("disconnected from %s (%s); presses are kept in the outbox", self.broker, reason_code)
            self._notify(False)
        self._wake.set()

    def _on_publish(self, _client: mqtt.Client, _userdata: object, mid: int, reason_code: Any, _props: Any) -> None:
        self._acks.put((mid, reason_code))
        self._wake.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if self.on_config is None:
            log.info("config message on %s ignored (no handler yet)", message.topic)
            return
        try:
            self.on_config(message.topic, bytes(message.payload))
        except Exception:
            log.exception("config handler failed on a message from %s", message.topic)

    def _notify(self, connected: bool) -> None:
        if self.on_connection_change is not None:
            try:
                self.on_connection_change(connected)
            except Exception:
                log.exception("connection-change hook failed")

    # --- the publisher thread --------------------------------------------

    def _run(self) -> None:
        next_heartbeat = 0.0
        next_refused_retry = time.monotonic() + self.refused_retry_s
        while not self._stopping.is_set():
            now = time.monotonic()
            self._wake.wait(max(0.0, min(next_heartbeat - now, 1.0)) if self._connected.is_set() else 1.0)
            self._wake.clear()
            try:
                self._handle_acks()
                now = time.monotonic()
                if self._reconnected.is_set() or now >= next_refused_retry:
                    self._reconnected.clear()
                    next_refused_retry = now + self.refused_retry_s
                    retried = self.outbox.retry_refused()
                    if retried:
                        log.info("retrying %d refused rows", retried)
                if self._connected.is_set():
                    self._fill_window()
                    if now >= next_heartbeat:
                        self._heartbeat()
                        next_heartbeat = now + self.heartbeat_s
            except Exception:
                # A full disk or a broken row must not kill the thread that
                # drains the outbox; try again at the next tick.
                log.exception("publisher tick failed")
                self._stopping.wait(1.0)

    def _handle_acks(self, block: float | None = None) -> None:
        done: list[int] = []
        try:
            if block:
                self._acks_one(self._acks.get(timeout=block), done)
            while True:
                self._acks_one(self._acks.get_nowait(), done)
        except queue.Empty:
            pass
        if done:
            self.outbox.delete(done)

    def _acks_one(self, ack: tuple[int, Any], done: list[int]) -> None:
        mid, reason_code = ack
        n = self._mids.pop(mid, None)
        if n is None:
            return  # status, heartbeat or a row from before a refusal reset
        self._sent.discard(n)
        if _is_failure(reason_code):
            self.refused += 1
            reason = f"{int(reason_code.value)} {reason_code}"
            log.warning("broker refused outbox row %d: %s; kept, retried later", n, reason)
            self.outbox.mark_refused(n, reason)
        else:
            self.acked += 1
            done.append(n)

    def _fill_window(self) -> None:
        room = self.window - len(self._mids)
        if room <= 0:
            return
        for row in self.outbox.pending(limit=room, exclude=self._sent):
            info = self.client.publish(row.topic, row.payload, qos=protocol.QOS[row.kind])
            # paho keeps a QoS 1 message and sends it on reconnect even when
            # this returns MQTT_ERR_NO_CONN, so the mid is tracked either way.
            self._mids[info.mid] = row.n
            self._sent.add(row.n)
            self.published += 1

    def _heartbeat(self) -> None:
        # heartbeat_s lets the fleet tell a silent kiosk's last figures from current ones.
        extra: dict[str, Any] = {"refused": self.outbox.refused_count(), "heartbeat_s": self.heartbeat_s}
        extra["camera"] = self._hook(self.camera_status, "off")
        version = self._hook(self.config_version, None)
        if version is not None:
            extra["config_version"] = version
        body = protocol.heartbeat_payload(
            branch=self.branch,
            kiosk=self.kiosk,
            uptime_s=time.monotonic() - self.started_at,
            version=self.version,
            outbox_depth=self.outbox.depth(),
            last_seq_sent=self.outbox.last_seq_sent(),
            **extra,
        )
        self.client.publish(self.heartbeat_topic, protocol.encode(body), qos=protocol.QOS[protocol.HEARTBEAT])

    @staticmethod
    def _hook(hook: Callable[[], Any] | None, default: Any) -> Any:
        if hook is None:
            return default
        try:
            return hook()
        except Exception as err:
            log.exception("heartbeat hook failed")
            return f"unavailable: {err}" if default == "off" else default


def _is_failure(reason_code: Any) -> bool:
    if hasattr(reason_code, "is_failure"):
        return bool(reason_code.is_failure)
    return int(reason_code) >= 0x80
