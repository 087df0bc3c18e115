"""Config push, kiosk side: settings the hub publishes retained on ``otklik/v1/<b>/<k>/config``.

What a push may hold and how each setting is checked is ``otklik.settings`` (the hub checks
with the same code before it publishes). A push is checked whole before anything changes: a
bad one is refused with the field and the reason, and the kiosk keeps running on what it
had. The applied version is kept in the data dir, so a kiosk that restarts while the hub is
away still reports (and runs with) what it last applied. What each setting changes on the
running kiosk is ``kiosk.app.Kiosk.apply_settings``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from otklik import protocol
from otklik.settings import KioskSettings, SettingsError, parse_settings

log = logging.getLogger(__name__)

STATE_FILE = "remote-config-{branch}-{kiosk}.json"


class RemoteConfig:
    """Receives config pushes for one kiosk and applies them through ``apply``.

    ``apply(settings)`` changes the running kiosk (labels, cooldown, ...) and
    raises SettingsError if this kiosk cannot take them (e.g. 4 labels for 3
    buttons); the version is recorded only after it returned.
    """

    def __init__(
        self,
        branch: str,
        kiosk: str,
        apply: Callable[[KioskSettings], None],
        *,
        state_path: Path | None = None,
    ) -> None:
        self.topic = protocol.topic(branch, kiosk, protocol.CONFIG)
        self._apply = apply
        self._state_path = state_path
        self._lock = threading.Lock()
        self.applied: KioskSettings | None = None
        self.last_error: str | None = None
        if state_path and state_path.exists():
            self.applied = self._load(state_path)

    @property
    def version(self) -> int:
        """The applied config version for the heartbeat (0: none pushed yet)."""
        return self.applied.version if self.applied else 0

    def restore(self) -> None:
        """Re-apply the saved settings at start-up, before the broker is reachable.

        Saved settings this kiosk can no longer take (e.g. labels for a button it has since
        lost) are dropped: it runs on its config file until the next push.
        """
        if self.applied:
            try:
                self._apply(self.applied)
            except SettingsError as err:
                log.error("saved config not applied: %s", err)
                self.applied = None

    def handle(self, topic: str, payload: bytes) -> bool:
        """One message from the config topic; True when a new version was applied. Never raises."""
        if topic != self.topic:
            log.warning("config on %s ignored: this kiosk listens on %s", topic, self.topic)
            return False
        if not payload:
            return False  # the retained config was cleared; keep what we run with
        try:
            msg = protocol.decode(topic, payload)
            assert isinstance(msg, protocol.Config)
            settings = parse_settings(msg.version, msg.settings)
        except (protocol.ProtocolError, SettingsError) as err:
            self.last_error = str(err)
            log.error("config push refused: %s", err)
            return False
        with self._lock:
            if settings.version <= self.version:
                return False  # the retained copy of what we already run, redelivered on reconnect
            try:
                self._apply(settings)
            except SettingsError as err:
                self.last_error = str(err)
                log.error("config version %d refused: %s", settings.version, err)
                return False
            self.applied = settings
            self.last_error = None
            if self._state_path:
                self._save(self._state_path, settings)
        log.info("config version %d applied", settings.version)
        return True

    @staticmethod
    def _load(path: Path) -> KioskSettings | None:
        try:
            body = json.loads(path.read_text())
            return parse_settings(body.get("version"), body)
        except (OSError, ValueError) as err:
            log.warning("ignoring saved config %s: %s", path, err)
            return None

    @staticmethod
    def _save(path: Path, settings: KioskSettings) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings.to_payload()))
        os.replace(tmp, path)
