from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hub.service import HubService
from tests.broker import Mosquitto, free_port
from tests.hub_db import hub_target, pg_database, pg_url  # noqa: F401  (fixtures: the two stores)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free port for one test."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    """gpiozero's mock pins, PWM-capable, reset after the test."""
    factory = MockFactory(pin_class=MockPWMPin)
    previous = Device.pin_factory
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


@pytest.fixture
def start_hub(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Callable[[], HubService]]:
    """Start the real hub service on the test broker, storing in tmp_path/hub.db; call again to restart it.

    It returns once the hub is subscribed, so nothing published afterwards is missed;
    every hub it started is stopped after the test.
    """
    services: list[HubService] = []

    def start() -> HubService:
        service = HubService(mosquitto.broker(), tmp_path / "hub.db", client_id="hub-test").start()
        assert service.connected.wait(10), "hub did not connect and subscribe within 10 s"
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop()


# --- alert delivery: a real SMTP server and a real webhook receiver ---------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    # port=0 breaks aiosmtpd's own readiness probe; take a known free port
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def webhook_server():
    received: list[dict] = []
    arrived = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()
