"""The camera counter as a background thread of the kiosk.

Why a thread is enough: OpenCV releases the GIL inside every detection call,
so the button and MQTT threads keep running while a frame is processed, and
``max_fps`` plus ``threads = 1`` leave the Pi's other cores to the kiosk.
A failure never leaves this thread: it becomes ``status()`` text for the
heartbeat ("unavailable: <why>") and the thread retries after ``retry_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2

from kiosk.camera.config import CameraConfig
from kiosk.camera.counter import ReactionCounter, WindowCounts, reaction_payload
from kiosk.camera.detect import Detector, make_detector
from kiosk.camera.sources import CameraUnavailable, FrameSource, open_source
from otklik import protocol

log = logging.getLogger("otklik.camera")

OK = "ok"
OFF = "off"
STARTING = "starting"


class CameraService:
    def __init__(
        self,
        config: CameraConfig,
        outbox: Any,
        branch: str,
        kiosk: str,
        *,
        retry_s: float = 30.0,
        source_factory: Callable[[CameraConfig], FrameSource] | None = None,
        detector_factory: Callable[[CameraConfig], Detector] | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.branch = branch
        self.kiosk = kiosk
        self.retry_s = retry_s
        self._source_factory = source_factory or _open_configured
        self._detector_factory = detector_factory or (lambda c: make_detector(c.detector))
        self._stop = threading.Event()
        self._status = STARTING
        self._lock = threading.Lock()
        self.windows_sent = 0
        self.thread = threading.Thread(target=self._run, name="otklik-camera", daemon=True)

    def start(self) -> CameraService:
        self.thread.start()
        return self

    def status(self) -> str:
        with self._lock:
            return self._status

    def _set_status(self, text: str) -> None:
        with self._lock:
            if text != self._status:
                log.info("camera: %s", text)
            self._status = text

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)
        self._set_status(OFF)

    def _run(self) -> None:
        cv2.setNumThreads(self.config.threads)
        detector: Detector | None = None
        while not self._stop.is_set():
            try:
                detector = detector or self._detector_factory(self.config)
                source = self._source_factory(self.config)
            except Exception as err:  # a missing model or camera must not end the kiosk
                self._set_status(f"unavailable: {err}")
                self._stop.wait(self.retry_s)
                continue
            try:
                ended = self._count(source, detector)
            except Exception as err:
                log.exception("camera: counting failed")
                self._set_status(f"unavailable: {err}")
                self._stop.wait(self.retry_s)
                continue
            finally:
                source.close()
            if ended:  # a video without loop: nothing more to count
                self._set_status(OFF)
                return

    def _count(self, source: FrameSource, detector: Detector) -> bool:
        """Count frames until stopped (False) or the video ended (True); queues a reaction per interval."""
        counter = ReactionCounter(detector, width=self.config.width)
        min_gap = 1.0 / self.config.max_fps
        last_t: float | None = None
        self._set_status(OK)
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                item = source.read()
                if item is None:
                    if last_t is not None:
                        self._queue(counter.close_window(last_t, final=True), detector.name)
                    return True
                frame, t = item
                counter.process(frame, t)
                del frame  # frames live in memory only, and not a moment longer than needed
                last_t = t
                window = counter.window
                if window is not None and t - window.start_t >= self.config.interval_s:
                    self._queue(counter.close_window(t), detector.name)
                self._stop.wait(max(0.0, min_gap - (time.monotonic() - began)))
        except CameraUnavailable:
            if last_t is not None:  # what was counted before the camera failed still counts
                self._queue(counter.close_window(last_t, final=True), detector.name)
            raise
        if last_t is not None:
            self._queue(counter.close_window(last_t, final=True), detector.name)
        return False

    def _queue(self, window: WindowCounts | None, detector: str) -> None:
        if window is None or not window.frames:
            return
        try:
            payload = reaction_payload(self.branch, self.kiosk, window, detector)
            self.outbox.add(protocol.REACTION, payload)
            self.windows_sent += 1
        except Exception:  # a full disk loses this aggregate, not the kiosk
            log.exception("camera: could not queue the reaction for the window at %s", window.started_at)


def _open_configured(config: CameraConfig) -> FrameSource:
    return open_source(
        config.source, device=config.device, video=config.video,
        width=config.width, height=config.height, loop=config.loop,
    )  # fmt: skip
