"""The ``[camera]`` section of the kiosk config, checked field by field.

Example::

    [camera]
    enabled = true          # default true when the section is present
    source = "auto"         # auto (Pi camera, else /dev/video<device>) | picamera | device | file
    device = 0              # V4L2 device number for source = "device"
    video = ""              # a video file for source = "file" (demos, tests)
    width = 320             # frames are processed at this size
    height = 240
    max_fps = 10            # caps the CPU the counter takes from the kiosk
    interval_s = 60         # one reaction message per interval
    detector = "auto"       # auto (BlazeFace, else Haar) | blazeface | haar
    threads = 1             # OpenCV threads; 1 leaves a core for the buttons
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from kiosk.camera.detect import DETECTORS
from otklik.errors import OtklikError

SOURCES = ("auto", "picamera", "device", "file")


class CameraConfigError(OtklikError, ValueError):
    """A bad ``[camera]`` setting; the text names the field and the reason."""


@dataclass(frozen=True)
class CameraConfig:
    enabled: bool = True
    source: str = "auto"
    device: int = 0
    video: str = ""
    width: int = 320
    height: int = 240
    max_fps: float = 10.0
    interval_s: float = 60.0
    detector: str = "auto"
    threads: int = 1
    loop: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> CameraConfig:
        raw = dict(raw or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise CameraConfigError(f"camera: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            default = known[name].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise CameraConfigError(f"camera.{name} must be true or false, got {value!r}")
            elif isinstance(default, int):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise CameraConfigError(f"camera.{name} must be a whole number >= 0, got {value!r}")
            elif isinstance(default, float):
                # TOML has nan and inf: an interval of inf never reports, a rate of nan never paces.
                if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < math.inf:
                    raise CameraConfigError(f"camera.{name} must be a finite number above 0, got {value!r}")
                value = float(value)
            elif not isinstance(value, str):
                raise CameraConfigError(f"camera.{name} must be a string, got {value!r}")
            values[name] = value
        config = cls(**values)
        if config.source not in SOURCES:
            raise CameraConfigError(f"camera.source {config.source!r} must be one of {', '.join(SOURCES)}")
        if config.detector not in DETECTORS:
            raise CameraConfigError(f"camera.detector {config.detector!r} must be one of {', '.join(DETECTORS)}")
        if config.source == "file" and not config.video:
            raise CameraConfigError("camera.video must name a file when camera.source is 'file'")
        if not (16 <= config.width <= 4096 and 16 <= config.height <= 4096):
            raise CameraConfigError(f"camera.width/height {config.width}x{config.height} must be 16..4096 pixels")
        if config.threads < 1:
            raise CameraConfigError("camera.threads must be at least 1")
        return config
