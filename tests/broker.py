"""A real Mosquitto for the tests: started on a free port, stopped, killed and restarted at will."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from otklik.mqtt import Broker

BASE_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}/
autosave_interval 1
# The default of 1000 silently drops QoS 1 messages queued for a slow subscriber.
max_queued_messages 1000000
max_inflight_messages 1000
user root
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not found:
        # Never a skip: a missing broker must turn CI red, not quietly shrink the suite.
        raise RuntimeError("Mosquitto is not installed; `./dev test` installs it (apt-get install mosquitto)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, workdir: Path, *, port: int | None = None, extra_conf: str = "") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(BASE_CONF.format(port=self.port, dir=self.dir) + extra_conf)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def broker(self, **kwargs: object) -> Broker:
        return Broker(host=self.host, port=self.port, **kwargs)  # type: ignore[arg-type]

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = (self.dir / "mosquitto.log").read_text() if (self.dir / "mosquitto.log").exists() else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within 10 s")

    def stop(self) -> None:
        """A clean stop (SIGTERM): Mosquitto saves its persistent sessions first."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def _end(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files without dropping clients."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)


class Collector:
    """A plain subscriber that keeps everything it receives, for assertions."""

    def __init__(self, broker: Mosquitto, topic_filter: str, *, client_id: str | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "")
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

    def wait_for(self, count: int, timeout: float = 10) -> list[mqtt.MQTTMessage]:
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
