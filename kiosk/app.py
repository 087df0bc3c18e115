"""A whole kiosk: config, outbox, buttons and LEDs, publisher, and (optionally) the camera."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from gpiozero.pins import Factory

from kiosk.buttons import ButtonPanel
from kiosk.camera import CameraHandle
from kiosk.clock import ClockCheck, system_clock_synced
from kiosk.config import Config
from kiosk.outbox import Outbox, Press
from kiosk.publisher import ConfigHandler, Publisher
from kiosk.remote_config import STATE_FILE, RemoteConfig
from kiosk.screen.app import ScreenServer, create_app, serve
from kiosk.sleep import SleepSchedule
from otklik import protocol, times
from otklik.settings import FollowUp, KioskSettings, SettingsError, zone

log = logging.getLogger(__name__)

# The screen's smileys in the press filter: keys no GPIO button uses (buttons are 0..n-1).
TOUCH_KEY = 1000


def start_camera(settings: dict[str, Any], *, branch: str, kiosk: str, outbox: Outbox) -> CameraHandle:
    """Start the visitor and smile counter (``kiosk.camera.start``) on the raw ``[camera]`` table.

    It publishes its reaction aggregates through ``outbox.add("reaction", payload)``; the
    handle's ``status()`` goes into the heartbeat ("ok", "off", "unavailable: <why>").
    """
    from kiosk import camera  # imported only when a camera is configured: its service pulls in OpenCV

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
        now: Callable[[], datetime] | None = None,
        start: bool = True,
    ) -> None:
        """``on_config`` replaces the hub's config push (tests); ``now`` is the wall clock the
        opening hours are read on."""
        self.config = config
        # What the config file says; a pushed setting overrides it, an unpushed one falls back to it.
        self.file_config = config
        self.remote_settings: KioskSettings | None = None
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
        self.sleep = SleepSchedule(self.panel.set_asleep, clock_synced=self.outbox.clock_synced, now=now)
        self.remote_config: RemoteConfig | None = None
        if on_config is None:  # config push from the hub
            state = Path(config.kiosk.data_dir) / STATE_FILE.format(branch=config.kiosk.branch, kiosk=config.kiosk.id)
            self.remote_config = RemoteConfig(
                config.kiosk.branch, config.kiosk.id, self.apply_settings, state_path=state
            )
            self.remote_config.restore()
            on_config = self.remote_config.handle
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
            config_version=self._config_version,
        )
        self.screen: ScreenServer | None = None
        self._started = False
        self._stopped = False
        if start:
            self.start()

    def start(self) -> Kiosk:
        if self._started:
            return self
        self._started = True
        self.sleep.start()
        self.publisher.start()
        if self.config.screen is not None:
            self.screen = serve(create_app(self, self.config.screen), self.config.screen.port)
            log.info("touch page on %s", self.screen.url)
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

    def apply_settings(self, settings: KioskSettings) -> None:
        """Change the running kiosk to a config push; raises SettingsError if it cannot take it.

        Cooldown at once, employee and labels for the next press, opening hours at once (the
        kiosk falls asleep or wakes). The config is a frozen dataclass read on every press, so
        swapping in a new one is atomic for the button thread. Settings the push leaves out go
        back to the config file's values.
        """
        base = self.file_config
        labels = settings.labels if settings.labels is not None else base.buttons.labels
        if len(labels) != len(base.buttons.pins):
            raise SettingsError("labels", f"{len(labels)} labels for this kiosk's {len(base.buttons.pins)} buttons")
        employee = settings.employee if "employee" in settings.present else base.kiosk.employee
        cooldown = settings.cooldown_s if settings.cooldown_s is not None else base.kiosk.cooldown_s
        # Hours from a hub that sends no zone are read in the Pi's own zone.
        hours_zone = zone(settings.timezone) if settings.timezone else datetime.now().astimezone().tzinfo
        self.config = replace(
            base,
            kiosk=replace(base.kiosk, employee=employee, cooldown_s=cooldown),
            buttons=replace(base.buttons, labels=tuple(labels)),
        )
        self.panel.filter.cooldown_s = cooldown
        assert hours_zone is not None
        self.sleep.set_hours(settings.opening_hours, hours_zone)
        self.remote_settings = settings

    @property
    def followup(self) -> FollowUp | None:
        """The pushed follow-up questions, read afresh for every press (a push applies without a restart)."""
        settings = self.remote_settings
        return settings.followup if settings is not None else None

    def _config_version(self) -> int | None:
        return self.remote_config.version if self.remote_config else None

    def _on_press(self, score: int, flags: tuple[str, ...], channel: str = protocol.CHANNEL_BUTTONS) -> Press:
        config = self.config
        press = self.outbox.add_rating(
            branch=config.kiosk.branch,
            kiosk=config.kiosk.id,
            score=score,
            employee=config.kiosk.employee,
            flags=flags,
            channel=channel,
        )
        self.last_press = press
        self.publisher.wake()
        label = config.buttons.labels[config.buttons.scores.index(score)]
        log.info(
            "press %d stored: %s (score %d, %s)%s",
            press.seq, label, score, channel, " while asleep" if self.sleep.asleep else "",
        )  # fmt: skip
        return press

    def touch_press(self, score: int) -> Press:
        """A smiley tapped on the screen: committed to the outbox (fsynced) before this returns.

        It goes through the buttons' own filter, so one cooldown covers buttons and screen.
        A second tap of the same smiley within the debounce is the same tap.
        """
        if score not in protocol.SCORES:
            raise ValueError(f"score {score!r} must be 1..4")
        flags = self.panel.filter.pressed(TOUCH_KEY + score)
        if flags is None and self.last_press is not None:
            return self.last_press
        return self._on_press(score, flags or (), channel=protocol.CHANNEL_TOUCH)

    def answer(self, rating_id: str, reason: str | None, comment: str | None) -> str:
        """Commit the shopper's answer to press ``rating_id`` to the outbox; returns the answer's id.

        Raises ProtocolError (naming the field) for what the hub would refuse.
        """
        config = self.config
        body = protocol.answer_payload(
            branch=config.kiosk.branch, kiosk=config.kiosk.id, id=uuid.uuid4().hex, rating=rating_id,
            ts=times.now_ts(), reason=reason, comment=comment,
        )  # fmt: skip
        topic = protocol.topic(config.kiosk.branch, config.kiosk.id, protocol.ANSWER)
        protocol.decode(topic, protocol.encode(body))
        self.outbox.add(protocol.ANSWER, body)
        self.publisher.wake()
        log.info("answer to %s stored: reason %s%s", rating_id, reason, " with a comment" if comment else "")
        return str(body["id"])

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
        if self.screen is not None:
            self.screen.stop()  # no taps after this, so none can reach a closed outbox
        self.sleep.stop()
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
