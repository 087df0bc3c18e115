"""Counts visitors and smiling visitors over time windows; builds the ``reaction`` message.

A visitor is counted in the window in which their track ends (they left the
view), so a person standing in front of the kiosk across a window boundary is
still one visitor, counted once. Only these counts leave the counter.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from kiosk.camera.detect import Detector
from kiosk.camera.tracker import Tracker, Visitor
from otklik import protocol, times


@dataclass
class WindowCounts:
    started_at: datetime
    start_t: float
    frames: int = 0
    visitors: int = 0
    smiling: int = 0
    busy_s: float = 0.0
    window_s: float = 0.0
    visitor_list: list[Visitor] = field(default_factory=list, repr=False)

    def add(self, visitors: list[Visitor]) -> None:
        self.visitors += len(visitors)
        self.smiling += sum(v.smiling for v in visitors)
        self.visitor_list.extend(visitors)


class ReactionCounter:
    """Detector + tracker + window counts. Not thread-safe: one thread feeds it frames."""

    def __init__(self, detector: Detector, *, width: int = 320, tracker: Tracker | None = None,
                 wall: Any = None) -> None:  # fmt: skip
        self.detector = detector
        self.width = width
        self.tracker = tracker or Tracker(detector.smile_threshold)
        self._wall = wall or (lambda: datetime.now(UTC))
        self.window: WindowCounts | None = None

    def process(self, frame: np.ndarray, t: float) -> list[Visitor]:
        """Count one frame taken at ``t`` seconds; returns visitors who just left."""
        if self.window is None:
            self.window = WindowCounts(self._wall(), t)
        started = time.perf_counter()
        if frame.shape[1] > self.width:
            height = round(frame.shape[0] * self.width / frame.shape[1])
            frame = cv2.resize(frame, (self.width, height), interpolation=cv2.INTER_AREA)
        faces = self.detector.detect(frame)
        ended = self.tracker.update(faces, t)
        self.window.frames += 1
        self.window.add(ended)
        self.window.busy_s += time.perf_counter() - started
        return ended

    def close_window(self, t: float, *, final: bool = False) -> WindowCounts | None:
        """End the current window at ``t`` and start the next; ``final`` also ends open tracks."""
        window = self.window
        if window is None:
            return None
        if final:
            window.add(self.tracker.flush())
        window.window_s = max(t - window.start_t, 1e-3)
        self.window = None if final else WindowCounts(self._wall(), t)
        return window


def reaction_payload(branch: str, kiosk: str, window: WindowCounts, detector: str) -> dict[str, Any]:
    """A protocol v1 ``reaction``: aggregates only, checked against protocol.py before it is queued."""
    window_s = window.window_s or 1e-3
    body: dict[str, Any] = {
        "v": protocol.VERSION, "branch": branch, "kiosk": kiosk, "id": f"rx{uuid.uuid4().hex}",
        "window_start": times.format_ts(window.started_at), "window_s": round(window_s, 3),
        "visitors": window.visitors, "smiling": window.smiling, "frames": window.frames,
        "fps": round(window.frames / window_s, 2), "detector": detector,
    }  # fmt: skip
    protocol.decode(protocol.topic(branch, kiosk, protocol.REACTION), protocol.encode(body))
    return body


@dataclass
class RunSummary:
    """What ``otklik camera`` prints: one counting run over a video or a live camera."""

    visitors: int
    smiling: int
    frames: int
    fps: float  # frames processed per second of wall time (for a live camera: the rate it keeps up)
    detector: str
    source: str
    seconds: float  # source time covered (video position or camera time)
    visitor_list: list[Visitor] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "visitors": self.visitors, "smiling": self.smiling, "frames": self.frames,
            "fps": round(self.fps, 1), "detector": self.detector, "source": self.source,
            "seconds": round(self.seconds, 1),
        }  # fmt: skip


def count_source(source: Any, detector: Detector, *, width: int = 320, seconds: float | None = None) -> RunSummary:
    """Count a whole video (or ``seconds`` of a source) in one window; nothing is sent anywhere."""
    counter = ReactionCounter(detector, width=width)
    first_t = last_t = None
    started = time.perf_counter()
    while True:
        item = source.read()
        if item is None:
            break
        frame, t = item
        first_t = t if first_t is None else first_t
        if seconds is not None and t - first_t >= seconds:
            break
        counter.process(frame, t)
        last_t = t
    wall = time.perf_counter() - started
    window = counter.close_window(last_t if last_t is not None else 0.0, final=True)
    if window is None:
        return RunSummary(0, 0, 0, 0.0, detector.name, source.description, 0.0)
    span = (last_t - first_t) if last_t is not None and first_t is not None else 0.0
    return RunSummary(
        window.visitors, window.smiling, window.frames, window.frames / wall if wall > 0 else 0.0,
        detector.name, source.description, span, window.visitor_list,
    )  # fmt: skip
