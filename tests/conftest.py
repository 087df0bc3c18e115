from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hub.service import HubService
from tests.broker import Mosquitto


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
