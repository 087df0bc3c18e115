"""A real Mosquitto for the tests: started on a free port, stopped, killed and restarted at will."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from otklik.mosquitto import MosquittoProcess, free_port, mosquitto_binary
from otklik.mqtt import Broker

__all__ = ["Collector", "Mosquitto", "free_port", "mosquitto_binary", "wait_until"]


class Mosquitto(MosquittoProcess):
    """The tests' broker. Missing Mosquitto is an error, never a skip: CI must turn red."""

    def broker(self, **kwargs: object) -> Broker:
        return Broker(host=self.host, port=self.port, **kwargs)  # type: ignore[arg-type]


class Collector:
    """A plain subscriber that keeps everything it receives, for assertions.

    ``persistent=True`` (with a fixed client_id) keeps its session in the broker,
    so messages published while it reconnects after a broker restart wait for it.
    """

    def __init__(
        self, broker: Mosquitto, topic_filter: str, *, client_id: str | None = None, persistent: bool = False
    ) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=not persistent
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("collector did not subscribe within 10 s")

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 15) -> list[mqtt.MQTTMessage]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_until(
    predicate: Callable[[], object], timeout: float = 10, interval: float = 0.02, message: str = "condition"
) -> None:
    """Poll a cheap predicate until it holds; fail with a message naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
