"""A whole kiosk: config, outbox, buttons and LEDs, publisher, and (optionally) the camera."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from gpiozero.pins import Factory

from kiosk.buttons import ButtonPanel
from kiosk.clock import ClockCheck, system_clock_synced
from kiosk.config import Config
from kiosk.outbox import Outbox, Press
from kiosk.publisher import ConfigHandler, Publisher

log = logging.getLogger(__name__)


class CameraHandle(Protocol):
    """What ``kiosk.camera.start`` returns."""

    def status(self) -> str: ...

    def stop(self) -> None: ...


def start_camera(settings: dict[str, Any], *, branch: str, kiosk: str, outbox: Outbox) -> CameraHandle:
    """Integration point for the camera counter (``kiosk/camera``, built separately).

    ``kiosk.camera.start(settings, outbox, branch, kiosk)`` gets the raw
    ``[camera]`` table, publishes its reaction aggregates through
    ``outbox.add("reaction", payload)``, and returns a handle with
    ``status() -> str`` (for the heartbeat: "ok", "off", "unavailable: <why>")
    and ``stop()``.
    """
    from kiosk import camera  # imported only when a camera is configured: it pulls in OpenCV

    return camera.start(settings, outbox, branch, kiosk)


class Kiosk:
    """One running kiosk. Construction starts it; ``stop()`` ends it cleanly.

    Presses come only from the buttons (on tests and ``--simulate``: by driving
    gpiozero mock pins), so the whole path from the pin is always exercised.
    """

    def __init__(
        self,
        config: Config,
        pin_factory: Factory | None = None,
        clock_synced: ClockCheck | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_config: ConfigHandler | None = None,
        start: bool = True,
    ) -> None:
        self.config = config
        self.camera: CameraHandle | None = None
        self._camera_error: str | None = None
        self.last_press: Press | None = None
        self.outbox = Outbox(config.outbox_path, clock_synced=clock_synced or system_clock_synced)
        try:
            self.panel = ButtonPanel(
                config.buttons.pins,
                config.buttons.scores,
                self._on_press,
                debounce_ms=config.buttons.debounce_ms,
                cooldown_s=config.kiosk.cooldown_s,
                thanks_pin=config.leds.thanks,
                status_pin=config.leds.status,
                pin_factory=pin_factory,
                clock=clock,
            )
        except BaseException:
            self.outbox.close()
            raise
        self.panel.set_status(True)  # offline until the broker says otherwise
        self.publisher = Publisher(
            config.broker.broker(),
            self.outbox,
            branch=config.kiosk.branch,
            kiosk=config.kiosk.id,
            heartbeat_s=config.kiosk.heartbeat_s,
            receipts=config.kiosk.receipts,
            resend_s=config.kiosk.resend_s,
            resend_max_s=config.kiosk.resend_max_s,
            on_config=on_config,
            on_connection_change=self._connection_changed,
            camera_status=self._camera_status,
        )
        if on_config is None:  # config push from the hub (kiosk/remote_config.py)
            from kiosk.remote_config import attach

            self.remote_config = attach(self)
        self._started = False
        self._stopped = False
        if start:
            self.start()

    def start(self) -> Kiosk:
        if self._started:
            return self
        self._started = True
        self.publisher.start()
        if self.config.camera is not None:
            try:
                self.camera = start_camera(
                    self.config.camera, branch=self.config.kiosk.branch, kiosk=self.config.kiosk.id, outbox=self.outbox
                )
            except Exception as err:
                # Buttons matter more than the camera: keep the kiosk running and say why in the heartbeat.
                self._camera_error = f"unavailable: {err}"
                log.exception("camera did not start; the kiosk runs without it")
        return self

    def _on_press(self, score: int, flags: tuple[str, ...]) -> Press:
        press = self.outbox.add_rating(
            branch=self.config.kiosk.branch,
            kiosk=self.config.kiosk.id,
            score=score,
            employee=self.config.kiosk.employee,
            flags=flags,
        )
        self.last_press = press
        self.publisher.wake()
        return press

    def _connection_changed(self, connected: bool) -> None:
        self.panel.set_status(not connected)

    def _camera_status(self) -> str:
        if self.camera is not None:
            return self.camera.status()
        return self._camera_error or "off"

    @property
    def connected(self) -> bool:
        return self.publisher.connected

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.publisher.wait_connected(timeout)

    def stop(self) -> None:
        """No more presses; camera off; status offline published; outbox closed."""
        if self._stopped:
            return
        self._stopped = True
        self.panel.close()
        if self.camera is not None:
            try:
                self.camera.stop()
            except Exception:
                log.exception("camera did not stop cleanly")
        if self._started:
            self.publisher.stop()
        self.outbox.close()

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
