"""Turns per-frame face detections into visitors.

A track follows one face from frame to frame (box overlap first, then the
nearest centre within a face's width, for fast walkers whose boxes no longer
overlap). A track ends when its face has not been seen for ``max_gap_s``; it
then counts as one visitor if it was seen for at least ``min_frames`` frames
(a single false detection is not a person).

The smiling rule: each frame's smile measure is smoothed per track with an
exponential moving average (``smooth`` = the weight of the newest frame), and
a visitor counts as smiling when the smoothed measure was above the
detector's threshold in at least half (``smile_share``) of the frames in
which the expression could be measured. One broad grin in one frame is not a
smiling visitor; a smile held while passing the kiosk is.

Only counts and box coordinates live here; no pixels.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from kiosk.camera.detect import Face


@dataclass
class Track:
    id: int
    face: Face
    first_t: float
    last_t: float
    frames: int = 1
    measured: int = 0
    smiling_frames: int = 0
    smooth_smile: float | None = None

    def is_smiling(self, share: float) -> bool:
        return self.measured > 0 and self.smiling_frames >= share * self.measured


@dataclass(frozen=True)
class Visitor:
    """A finished track: one person who passed the kiosk."""

    track_id: int
    first_t: float
    last_t: float
    frames: int
    smiling: bool


def iou(a: Face, b: Face) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    def __init__(
        self,
        smile_threshold: float,
        *,
        max_gap_s: float = 1.0,
        min_frames: int = 3,
        min_iou: float = 0.2,
        max_jump: float = 1.0,
        smooth: float = 0.5,
        smile_share: float = 0.5,
    ) -> None:
        self.smile_threshold = smile_threshold
        self.max_gap_s = max_gap_s
        self.min_frames = min_frames
        self.min_iou = min_iou
        self.max_jump = max_jump
        self.smooth = smooth
        self.smile_share = smile_share
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def update(self, faces: list[Face], t: float) -> list[Visitor]:
        """Feed one frame's faces at time ``t`` (seconds); returns the visitors whose tracks ended."""
        unmatched = set(range(len(faces)))
        free = set(range(len(self.tracks)))
        pairs = []
        for ti, track in enumerate(self.tracks):
            for fi, face in enumerate(faces):
                overlap = iou(track.face, face)
                if overlap >= self.min_iou:
                    pairs.append((2.0 + overlap, ti, fi))
                    continue
                (tx, ty), (fx, fy) = track.face.centre, face.centre
                distance = math.hypot(tx - fx, ty - fy) / max(track.face.width, face.width, 1.0)
                if distance <= self.max_jump:
                    pairs.append((1.0 - distance / (self.max_jump + 1), ti, fi))
        # Greedy best-first matching: the strongest overlaps claim their faces first.
        for _, ti, fi in sorted(pairs, reverse=True):
            if ti in free and fi in unmatched:
                free.discard(ti)
                unmatched.discard(fi)
                self._extend(self.tracks[ti], faces[fi], t)
        for fi in sorted(unmatched):
            track = Track(next(self._ids), faces[fi], t, t)
            self._measure(track, faces[fi])
            self.tracks.append(track)
        return self._expire(t)

    def _extend(self, track: Track, face: Face, t: float) -> None:
        track.face = face
        track.last_t = t
        track.frames += 1
        self._measure(track, face)

    def _measure(self, track: Track, face: Face) -> None:
        if face.smile is None:
            return
        if track.smooth_smile is None:
            track.smooth_smile = face.smile
        else:
            track.smooth_smile = self.smooth * face.smile + (1 - self.smooth) * track.smooth_smile
        track.measured += 1
        if track.smooth_smile > self.smile_threshold:
            track.smiling_frames += 1

    def _expire(self, now: float) -> list[Visitor]:
        ended = [tr for tr in self.tracks if now - tr.last_t > self.max_gap_s]
        self.tracks = [tr for tr in self.tracks if now - tr.last_t <= self.max_gap_s]
        return [v for v in map(self._visitor, ended) if v is not None]

    def flush(self) -> list[Visitor]:
        """End every open track (at the end of a video, or when the camera stops)."""
        ended, self.tracks = self.tracks, []
        return [v for v in map(self._visitor, ended) if v is not None]

    def _visitor(self, track: Track) -> Visitor | None:
        if track.frames < self.min_frames:
            return None
        return Visitor(track.id, track.first_t, track.last_t, track.frames, track.is_smiling(self.smile_share))
