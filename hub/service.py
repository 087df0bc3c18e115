"""The hub's MQTT side: a persistent QoS 1 subscription feeding batched, acknowledged-after-commit ingest.

paho's network thread only queues what arrives; a writer thread owns the
SQLite connection, stores messages in batches (one transaction each) and only
then acknowledges them to the broker (paho's manual_ack). A hub killed between
receive and commit has acknowledged nothing, so the broker delivers again and
the id de-duplication stores each event once.

The in-memory queue between them is bounded: when it is full the network
thread waits, stops reading the socket, and the broker keeps the rest (Mosquitto
does not hold us to our Receive Maximum, so only this keeps memory flat under
a backlog). A storage error is retried on a freshly opened connection without
acknowledging anything; anything else that stops the writer is fatal:
``failed`` is set and ``otklik hub`` exits non-zero so systemd restarts it.

Several hubs share the stream through an MQTT 5 shared subscription
(``share_group``: ``$share/<group>/otklik/v1/+/+/<kind>``): the broker hands each
message to one of them, each hub has its own user and persistent session, and
each acknowledges (and sends receipts for) only what it committed itself. A
message the broker re-sends goes to whichever hub gets it; the id
de-duplication in the database stores it once either way.

A kiosk flooding junk would queue ahead of every other kiosk in our one
session; hub/flood_guard.py cuts it off at the broker, and what it had already
queued is only acknowledged here, in order with the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from hub import flood_guard, ingest, receipts, store
from hub.db import open_db
from hub.store import Database, is_url, redacted
from otklik import protocol
from otklik.mqtt import Broker, BufferedClient, connect_async, make_client, shared

log = logging.getLogger(__name__)

SUBSCRIBED_KINDS = protocol.DEVICE_KINDS
# Ten batches: enough to keep the writer busy while the network thread reads
# on, a few MB at most whatever the broker's backlog.
QUEUE_MAX = 5000
# Between attempts to store a batch the database refused.
RETRY_S = 2.0


@dataclass
class _Received:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int
    generation: int
    # Set when the broker re-sends a retained copy on subscribe (ingest refuses those once).
    retain: bool = False
    # From a kiosk cut off for flooding: only acknowledged and counted (hub/flood_guard.py).
    dropped: bool = False


class HubService:
    def __init__(
        self,
        broker: Broker,
        db_path: str | Path,
        *,
        client_id: str = "otklik-hub",
        batch_max: int = 500,
        receive_maximum: int = 1000,
        queue_max: int = QUEUE_MAX,
        cut_off_per_s: int | None = flood_guard.CUT_OFF_PER_S,
        share_group: str | None = None,
    ) -> None:
        self.broker = broker
        # What this hub subscribes to: each kind's filter, as a share group's member if it is one.
        self.subscriptions = [shared(share_group, protocol.subscription(kind)) for kind in SUBSCRIBED_KINDS]
        # A postgresql:// URL stays a str (hub.store); a path is SQLite's.
        self.db_path: str | Path = db_path if is_url(str(db_path)) else Path(db_path)
        self.shown_db = redacted(db_path)  # for logs: a URL's password is not written there
        self.client_id = client_id
        self.batch_max = batch_max
        self.receive_maximum = receive_maximum
        self.counts = {ingest.STORED: 0, ingest.DUPLICATE: 0, ingest.REJECTED: 0, ingest.UPDATED: 0, "ignored": 0,
                       "cut off": 0}  # fmt: skip
        # Set once connected and subscribed: from then on nothing published is missed.
        self.connected = threading.Event()
        # A deque, not a queue.Queue: appended and popped without a lock per message (the
        # GIL makes each atomic); the bound is kept by the one thread that appends.
        self._queue: deque[_Received] = deque()
        self.queue_max = queue_max
        self._arrived = threading.Event()  # set when the writer may find messages
        self._room = threading.Condition()  # notified when the writer made room
        # The most messages ever waiting for the writer at once.
        self.queue_peak = 0
        # Set when the writer stopped while the service was meant to run; the
        # cause (an exception, or None if the thread simply ended) is in ``failure``.
        self.failed = threading.Event()
        self.failure: BaseException | None = None
        self._db: Database | None = None
        self._ingest: ingest.Ingest | None = None
        self._closing = threading.Event()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        # Bumped on every connect and disconnect: a message received on an
        # earlier connection is stored but not acknowledged, because after a
        # reconnect its packet id may already name a different message.
        self._generation = 0
        self._writer = threading.Thread(target=self._write_loop, name="hub-writer", daemon=True)
        client = make_client(
            broker, client_id, logger=log, persistent=True, manual_ack=True, client_class=BufferedClient
        )
        assert isinstance(client, BufferedClient)
        self.client = client
        # None: no cut-offs (then a flood's junk still queues ahead of every other kiosk's presses).
        self.guard = flood_guard.FloodGuard(lambda topic, body: self.client.publish(topic, body, qos=1),
                                            per_s=cut_off_per_s)  # fmt: skip
        self._control_mid: int | None = None
        # The arrival stamp of the current millisecond (see _on_message).
        self._stamp_ms = 0
        self._stamp = datetime.now(UTC)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # --- lifecycle ---------------------------------------------------------

    def start(self) -> HubService:
        self._writer.start()
        self._ready.wait()
        if self._startup_error:
            raise self._startup_error
        connect_async(self.client, self.broker, persistent=True, receive_maximum=self.receive_maximum)
        log.info("hub connecting to %s as %s, storing in %s", self.broker, self.client_id, self.shown_db)
        return self

    def stop(self) -> None:
        """Disconnect, then store what was already received (unacknowledged: the broker keeps it too)."""
        # First, so a network thread waiting for room in a full queue gives up.
        self._closing.set()
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        self._writer.join(timeout=30)
        log.info("hub stopped: %s", self._summary())

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    # --- paho callbacks (network thread) ------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: object, _flags: object, reason: object, _p: object) -> None:
        self._generation += 1
        if getattr(reason, "is_failure", False):
            log.error("broker refused the hub's connection: %s", reason)
            return
        # Subscribing here means a reconnect subscribes again.
        client.subscribe([(topic_filter, 1) for topic_filter in self.subscriptions])
        # Apart, so a broker (or an old ACL) that refuses it costs the answers' log lines only.
        self._control_mid = client.subscribe(flood_guard.RESPONSE_TOPIC, 0)[1]
        self.guard.reapply()
        log.info("hub connected to %s", self.broker)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, reasons: list, _p: object) -> None:
        failed = [r for r in reasons if getattr(r, "is_failure", False)]
        if mid == self._control_mid:
            if failed:
                log.warning("broker refused %s: flood cut-offs go unconfirmed in this log (ACL?)",
                            flood_guard.RESPONSE_TOPIC)  # fmt: skip
            return
        if failed:
            # Usually the broker's ACL: the hub would run and store nothing.
            log.error("broker refused the hub's subscriptions: %s", ", ".join(str(r) for r in failed))
            return
        log.info("hub subscribed to %s", ", ".join(self.subscriptions))
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _flags: object, reason: object, _p: object) -> None:
        self._generation += 1
        self.connected.clear()
        if not self._closing.is_set():
            log.warning("hub lost the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == flood_guard.RESPONSE_TOPIC:
            self.guard.answer(bytes(msg.payload))
            return
        # A cut-off kiosk's backlog: no copy of the payload, no decoding, no storing.
        topic = msg.topic  # paho decodes the topic anew on every read
        dropped = self.guard.blocks(topic)
        # To the millisecond, as stored: messages of the same millisecond share one stamp (ingest formats it
        # once), made once here too: a datetime per message was a few percent of the hub's CPU.
        ms = time.time_ns() // 1_000_000
        if ms != self._stamp_ms:
            self._stamp_ms, self._stamp = ms, datetime.fromtimestamp(ms / 1000, UTC)
        received = _Received(
            topic, b"" if dropped else bytes(msg.payload), self._stamp, msg.mid, msg.qos,
            self._generation, msg.retain, dropped,
        )  # fmt: skip
        # A full queue blocks this thread: paho stops reading, TCP pushes back
        # and the broker keeps the backlog. The writer frees a batch's room in
        # well under a second, but Mosquitto 2.0.11 queues its PINGRESP behind
        # the whole backlog it has already sent us, so a long drain (or storage
        # failing for long) can end in a keepalive disconnect: the reconnect
        # redelivers what was not acknowledged, stored once by its id.
        pending = self._queue
        if len(pending) >= self.queue_max:
            with self._room:
                while len(pending) >= self.queue_max:
                    if self._closing.is_set() or self.failed.is_set():
                        return  # not acknowledged: the broker delivers it again
                    self._room.wait(0.5)
        pending.append(received)
        if not self._arrived.is_set():
            self._arrived.set()
        self.queue_peak = max(self.queue_peak, len(pending))

    # --- writer thread -----------------------------------------------------

    def _write_loop(self) -> None:
        try:
            self._db = open_db(self.db_path)
            # Before the first connect, which sends the broker the cut-offs again (flood_guard.reapply).
            self.guard.load(self._db)
        except BaseException as err:
            self._startup_error = err
            self._ready.set()
            self._close_db()
            return
        self._ready.set()
        try:
            self._drain()
        except BaseException as err:
            self.failure = err
            log.critical("hub writer died: %s: %s", type(err).__name__, err, exc_info=err)
        finally:
            if not self._stop.is_set():
                if self.failure is None:
                    log.critical("hub writer ended while the hub was running")
                self.failed.set()
            self._close_db()

    def _drain(self) -> None:
        last_report = time.monotonic()
        while True:
            batch = self._next_batch()
            if batch:
                kept = [m for m in batch if not m.dropped]
                outcomes = self._store(kept) if kept else []
                if outcomes is None:
                    return  # stopping with the batch unstored and unacknowledged
                self._count(outcomes)
                dropped = [m.topic for m in batch if m.dropped]
                self.counts["cut off"] += len(dropped)
                if self._db is not None:
                    self.guard.after_commit(self._db, [(m.topic, m.received_at) for m in kept], outcomes, dropped)
                self._acknowledge(batch)
                self._send_receipts(kept, outcomes)
            elif self._stop.is_set():
                return
            if self._db is not None:
                self.guard.poll(self._db)
            if time.monotonic() - last_report > 60:
                log.info("hub ingest: %s", self._summary())
                last_report = time.monotonic()

    def _next_batch(self) -> list[_Received]:
        pending = self._queue
        if not pending:
            self._arrived.clear()
            # Looked at again after clearing: a message appended in between set no event.
            if not pending and not self._arrived.wait(0.2):
                return []
        batch = [pending.popleft() for _ in range(min(len(pending), self.batch_max))]
        with self._room:
            self._room.notify()
        return batch

    def _store(self, batch: list[_Received]) -> list[ingest.Outcome] | None:
        """Store the batch in one transaction, retrying until it is stored; None if stopped meanwhile."""
        messages = [(m.topic, m.payload, m.received_at, m.retain) for m in batch]
        while True:
            try:
                if self._db is None:
                    self._db = open_db(self.db_path, migrate=False)
                if self._ingest is None or self._ingest.db is not self._db:
                    self._ingest = ingest.Ingest(self._db)
                return self._ingest.handle_batch(messages)
            except Exception as err:
                # Disk full, read-only, I/O error, corruption, a lock held too
                # long: no message's fault (ingest decides which errors those
                # are). Nothing is acknowledged; if we are stopping, the broker
                # delivers them again after the restart. Anything else is fatal.
                if not ingest.is_environmental(err):
                    raise
                log.error("could not write a batch of %d to %s (%s); retrying in %g s",
                          len(batch), self.shown_db, err, RETRY_S)  # fmt: skip
                # A connection opened while the file was read-only stays
                # read-only, and one that hit an I/O error may stay broken:
                # the next attempt opens the database afresh.
                self._close_db()
                if self._stop.wait(RETRY_S):
                    return None

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except store.errors() as err:
                log.warning("closing %s: %s", self.shown_db, err)
            self._db = None

    def _count(self, outcomes: list[ingest.Outcome]) -> None:
        for outcome in outcomes:
            self.counts[outcome.result] = self.counts.get(outcome.result, 0) + 1

    def _acknowledge(self, batch: list[_Received]) -> None:
        """Acknowledge in arrival order, as MQTT requires, and only once the batch is committed."""
        generation = self._generation
        self.client.ack_many([m.mid for m in batch if m.qos == 1 and m.generation == generation])

    def _send_receipts(self, batch: list[_Received], outcomes: list[ingest.Outcome]) -> None:
        """Committed: now each kiosk may forget these presses (see hub/receipts.py)."""
        try:
            out = receipts.receipts_for_batch([(m.topic, m.payload) for m in batch], outcomes)
        except Exception:
            # A bug here must not stop ingest: without a receipt the kiosks re-send, and the hub confirms then.
            log.exception("could not build the receipts for a batch of %d", len(batch))
            return
        for to, body in out:
            self.client.publish(to, body, qos=protocol.QOS[protocol.RECEIPT])

    def _summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())
