"""The thread that drains the outbox to the broker, and keeps the kiosk's status and heartbeat.

A press leaves the outbox only when the hub's receipt names it (see
kiosk/outbox.py for the row states and hub/receipts.py for the sender): the
broker's PUBACK only moves it to ``sent``. A sent row no receipt has named is
due again after ``resend_s``, doubling per attempt up to ``resend_max_s``,
and every unconfirmed row is due again after a reconnect, since receipts
published while the kiosk was away are lost (its session is clean). The hub
de-duplicates on the id, so a re-send costs a message, never a double.

Due rows are re-sent in full only while receipts are coming back (the hub is
there and something was lost on the way); otherwise only the oldest one goes,
as a probe, at most once per backoff interval. A hub away for a day then costs
each kiosk a probe every ``resend_max_s``, not a copy of every waiting press in
the broker's queue every ``resend_max_s``; the probe's receipt, once the hub is
back, releases the rest.

A row's payload is rendered when it is handed to paho, and what goes out must
be what the kiosk knows when it goes out: a press made before NTP synced carries
``age_ms``, its age at rendering. paho keeps a QoS 1 message that was in flight
when the connection dropped (or was handed to it while disconnected) and sends
that same copy after the reconnect, so its age would be short by the whole
outage, and a press rendered unsynced would stay unsynced although the clock
synced meanwhile. The session is clean, so nothing obliges those copies:
``on_connect`` takes them back from paho (``otklik.mqtt.drop_unsent``) and the
outbox sends the rows again, rendered then.

All outbox bookkeeping happens on this one thread. paho calls ``on_publish``
on its network thread while holding its own message lock, so that callback
only queues the acknowledgement; taking our lock there could deadlock with a
``publish()`` call holding ours. ``on_connect`` does take ``_handing``: paho
holds no lock of its own there that ``publish()`` needs.
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

from kiosk.outbox import Outbox, Outgoing
from otklik import __version__, protocol
from otklik.mqtt import Broker, connect_async, drop_unsent, make_client

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
        receipts: bool = True,
        resend_s: float = 30.0,
        resend_max_s: float = 600.0,
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
        # Off only for a hub too old to send receipts: then a row goes at the PUBACK (not durable).
        self.receipts = receipts
        self.resend_ns = int(resend_s * 1e9)
        self.resend_max_ns = int(max(resend_s, resend_max_s) * 1e9)
        self.on_config = on_config
        self.on_connection_change = on_connection_change
        self.camera_status = camera_status
        self.config_version = config_version
        self.version = version
        self.client_id = f"otklik-kiosk-{branch}-{kiosk}"
        self.status_topic = protocol.topic(branch, kiosk, protocol.STATUS)
        self.config_topic = protocol.topic(branch, kiosk, protocol.CONFIG)
        self.heartbeat_topic = protocol.topic(branch, kiosk, protocol.HEARTBEAT)
        self.receipt_topic = protocol.topic(branch, kiosk, protocol.RECEIPT)

        # Set by paho's thread, read by ours.
        self._connected = threading.Event()
        self._reconnected = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._receipts: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # Rows handed to paho on this connection and not acknowledged yet (mid -> row), never
        # published again by us while in here. Changed by the publisher thread and, at a
        # reconnect, by on_connect (the copies it takes back from paho), under _handing; held
        # while rows are rendered and handed over, so no copy rendered before a reconnect
        # reaches paho after on_connect looked.
        self._handing = threading.Lock()
        self._mids: dict[int, int] = {}
        self._sent: set[int] = set()
        self.taken_back = 0
        self.started_at = time.monotonic()
        self.published = 0
        self.acked = 0
        self.refused = 0
        self.confirmed = 0
        self.receipts_received = 0
        self.rejected = 0
        self.resent = 0
        self.probes = 0
        # Publisher thread only (monotonic ns): the last receipt, the last window of re-sends, the next probe.
        self._receipt_at = 0
        self._resent_at = 0
        self._probe_wait_ns = self.resend_ns
        self._next_probe_ns = 0

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
        with self._handing:
            # Before paho resends them (after this returns): the rows go again from the outbox.
            for mid in drop_unsent(client, list(self._mids)):
                self._sent.discard(self._mids.pop(mid))
                self.taken_back += 1
        client.publish(
            self.status_topic, self._status(protocol.status_payload(self.branch, self.kiosk, "online")), 1, True
        )
        client.subscribe(self.config_topic, qos=1)
        if self.receipts:
            # Before anything is published on this connection, so no receipt for it is missed.
            client.subscribe(self.receipt_topic, qos=protocol.QOS[protocol.RECEIPT])
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
        if message.topic == self.receipt_topic:
            # Handled on our thread: the outbox is only touched there.
            self._receipts.put(bytes(message.payload))
            self._wake.set()
            return
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
                self._handle_receipts()
                now = time.monotonic()
                if self._reconnected.is_set() or now >= next_refused_retry:
                    if self._reconnected.is_set() and self.receipts:
                        self.outbox.resend_unconfirmed()
                        # Receipts from before the reconnect say nothing about this connection: probe first.
                        self._resent_at = time.monotonic_ns()
                        self._next_probe_ns = 0
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
        if not done:
            return
        if self.receipts:
            self.outbox.mark_sent(
                done, now_ns=time.monotonic_ns(), resend_ns=self.resend_ns, resend_max_ns=self.resend_max_ns
            )
        else:
            self.outbox.delete(done)

    def _handle_receipts(self) -> None:
        ids: list[str] = []
        while True:
            try:
                payload = self._receipts.get_nowait()
            except queue.Empty:
                break
            try:
                receipt = protocol.decode(self.receipt_topic, payload)
            except protocol.ProtocolError as err:
                log.warning("ignored a receipt that does not follow the protocol: %s", err)
                continue
            assert isinstance(receipt, protocol.Receipt)
            self.receipts_received += 1
            if receipt.rejected:
                # The hub keeps them in its dead letters, with the reason; another send would fail the same way.
                log.warning("hub rejected outbox rows %s; see its dead letters", ", ".join(receipt.rejected))
                self.rejected += len(receipt.rejected)
            ids += receipt.ids + receipt.rejected
        if ids:
            self.confirmed += self.outbox.confirm(ids)
            self._receipt_at = time.monotonic_ns()
            self._probe_wait_ns = self.resend_ns

    def _acks_one(self, ack: tuple[int, Any], done: list[int]) -> None:
        mid, reason_code = ack
        with self._handing:
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
        with self._handing:
            room = self.window - len(self._mids)
            if room <= 0:
                return
            rows = self.outbox.pending(limit=room, exclude=self._sent)
            if self.receipts and len(rows) < room:
                rows += self._due_rows(room - len(rows))
            for row in rows:
                info = self.client.publish(row.topic, row.payload, qos=protocol.QOS[row.kind])
                # paho keeps a QoS 1 message even when this returns MQTT_ERR_NO_CONN: tracked,
                # so that the next on_connect takes it back.
                self._mids[info.mid] = row.n
                self._sent.add(row.n)
                self.published += 1
                if info.rc == mqtt.MQTT_ERR_NO_CONN:
                    break  # the connection went since _run looked: the rest waits for the next one

    def _due_rows(self, room: int) -> list[Outgoing]:
        """Unconfirmed rows to send again now: a window of them if the hub answers, else one probe in a while."""
        now = time.monotonic_ns()
        # A row is due resend_s after its send; a receipt since then and since the last window means the hub
        # is there and this row was lost on the way.
        if self._receipt_at > self._resent_at and now - self._receipt_at < self.resend_ns:
            again = self.outbox.due(now, limit=room, exclude=self._sent)
            if again:
                self._resent_at = now  # the next window waits for these receipts: re-sends pace themselves
        elif now >= self._next_probe_ns:
            again = self.outbox.due(now, limit=1, exclude=self._sent)
            if again:
                self.probes += 1
                self._next_probe_ns = now + self._probe_wait_ns
                self._probe_wait_ns = min(self._probe_wait_ns * 2, self.resend_max_ns)
        else:
            again = []
        self.resent += len(again)
        return again

    def _heartbeat(self) -> None:
        # heartbeat_s lets the fleet tell a silent kiosk's last figures from current ones.
        extra: dict[str, Any] = {"refused": self.outbox.refused_count(), "heartbeat_s": self.heartbeat_s}
        if self.receipts:
            waiting, age = self.outbox.unconfirmed()
            extra[protocol.HEARTBEAT_UNCONFIRMED] = waiting
            if age is not None:
                extra[protocol.HEARTBEAT_UNCONFIRMED_AGE] = age
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
