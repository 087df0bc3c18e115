"""Camera reaction counting on the kiosk: how many people passed, how many smiled.

Only counts leave this package (a ``reaction`` message per interval through the
kiosk's outbox); frames live in memory only. See the README, section "Privacy".

The kiosk app calls::

    handle = kiosk.camera.start(config.get("camera"), outbox, branch, kiosk_id)
    heartbeat["camera"] = handle.status()    # "ok", "off", "unavailable: <why>"
    handle.stop()
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("otklik.camera")


class CameraHandle(Protocol):
    def status(self) -> str: ...

    def stop(self, timeout: float = ...) -> None: ...


class DisabledCamera:
    """What ``start`` returns when there is no counter running: a status and a no-op stop."""

    def __init__(self, status: str) -> None:
        self._status = status

    def status(self) -> str:
        return self._status

    def stop(self, timeout: float = 0.0) -> None:
        pass


def start(camera_config: dict[str, Any] | None, outbox: Any, branch: str, kiosk: str) -> CameraHandle:
    """Start counting in a background thread; never raises: problems become ``status()`` text.

    ``camera_config`` is the ``[camera]`` table of the kiosk config (None or
    ``enabled = false``: the camera is off).
    """
    if camera_config is None:
        return DisabledCamera("off")
    try:
        # cv2 and numpy come with the `camera` extra; a kiosk without it still runs.
        from kiosk.camera.config import CameraConfig
        from kiosk.camera.service import CameraService
    except ImportError as err:
        log.warning("camera: %s", err)
        return DisabledCamera(f"unavailable: {err.name or err} is not installed (pip install 'otklik[camera]')")
    try:
        config = CameraConfig.from_dict(camera_config)
    except ValueError as err:
        log.error("camera: %s", err)
        return DisabledCamera(f"unavailable: {err}")
    if not config.enabled:
        return DisabledCamera("off")
    return CameraService(config, outbox, branch, kiosk).start()
