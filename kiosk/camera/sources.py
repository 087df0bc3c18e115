"""Where frames come from: the Pi camera, a V4L2 device, or a video file.

Every source yields ``(frame_bgr, t)`` with ``t`` in seconds: the monotonic
clock for live cameras, the position in the file for videos (so a video is
counted the same however fast this machine reads it). Frames stay in memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from otklik.errors import OtklikError


class CameraUnavailable(OtklikError, RuntimeError):
    """No frames can be had; the text is the reason shown in the heartbeat."""


class FrameSource(Protocol):
    description: str

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its time, or None when a video has ended."""
        ...

    def close(self) -> None: ...


class VideoFileSource:
    def __init__(self, path: str | Path, *, loop: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CameraUnavailable(f"video file {self.path} does not exist")
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise CameraUnavailable(f"video file {self.path} could not be opened by OpenCV")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else 10.0
        self.loop = loop
        self.index = 0
        self.description = f"file {self.path.name} ({self.fps:g} fps)"

    def read(self) -> tuple[np.ndarray, float] | None:
        ok, frame = self.capture.read()
        if not ok and self.loop and self.index:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if not ok:
            return None
        t = self.index / self.fps
        self.index += 1
        return frame, t

    def close(self) -> None:
        self.capture.release()


class DeviceSource:
    """Any V4L2 camera (USB webcam, or the Pi camera through libcamera's V4L2 layer)."""

    def __init__(self, device: int, width: int, height: int) -> None:
        self.capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self.capture.isOpened():
            self.capture.release()
            raise CameraUnavailable(f"/dev/video{device} could not be opened")
        self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        # Keep only the newest frame: a stale queued frame is a person already gone.
        self.capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self.description = f"/dev/video{device}"

    def read(self) -> tuple[np.ndarray, float] | None:
        ok, frame = self.capture.read()
        if not ok:
            raise CameraUnavailable(f"{self.description} stopped delivering frames")
        return frame, time.monotonic()

    def close(self) -> None:
        self.capture.release()


class PicameraSource:
    def __init__(self, width: int, height: int) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError as err:
            raise CameraUnavailable(f"picamera2 is not installed ({err})") from None
        try:
            self.camera = Picamera2()
            # "RGB888" in libcamera's naming is B,G,R in memory: OpenCV's order.
            self.camera.configure(
                self.camera.create_video_configuration(main={"size": (width, height), "format": "RGB888"})
            )
            self.camera.start()
        except Exception as err:  # the library raises many kinds; all mean "no camera"
            raise CameraUnavailable(f"Pi camera could not be started: {err}") from None
        self.description = "Pi camera"

    def read(self) -> tuple[np.ndarray, float] | None:
        try:
            frame = self.camera.capture_array("main")
        except Exception as err:
            raise CameraUnavailable(f"Pi camera stopped delivering frames: {err}") from None
        return frame, time.monotonic()

    def close(self) -> None:
        try:
            self.camera.stop()
            self.camera.close()
        except Exception:  # closing a broken camera must not hide why it broke
            pass


def open_source(source: str, *, device: int = 0, video: str = "", width: int = 320, height: int = 240,
                loop: bool = False) -> FrameSource:  # fmt: skip
    """Open the configured source; "auto" tries the Pi camera, then the V4L2 device."""
    if source == "file":
        return VideoFileSource(video, loop=loop)
    if source == "device":
        return DeviceSource(device, width, height)
    if source == "picamera":
        return PicameraSource(width, height)
    try:
        return PicameraSource(width, height)
    except CameraUnavailable as first:
        try:
            return DeviceSource(device, width, height)
        except CameraUnavailable as second:
            raise CameraUnavailable(f"{first}; {second}") from None
