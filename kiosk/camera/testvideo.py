"""Videos of people walking past, composed from face photos that ship inside packages.

For tests, benchmarks and demos: nothing is downloaded and nothing committed.
Faces come from scikit-image (``astronaut``: smiling; ``lfw_subset``: faces
0-99, labelled by eye in tests/camera_data/lfw_smile_labels.csv) and
matplotlib (``grace_hopper.jpg``: not smiling). Each visitor walks across a
static, noisy "shop" background in one of two lanes, so the ground truth
(how many visitors, which of them smile) is known exactly.

Needs the ``test`` extras (scikit-image, matplotlib) besides OpenCV.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

LABELS = Path(__file__).resolve().parents[2] / "tests" / "camera_data" / "lfw_smile_labels.csv"


@dataclass(frozen=True)
class Still:
    name: str
    image: np.ndarray  # BGR, the face roughly centred, about 60% of the width
    smiling: bool


@dataclass(frozen=True)
class WalkBy:
    still: Still
    start_frame: int
    frames: int  # frames it takes to cross the view
    lane_y: int  # top of the face patch
    size: int  # face patch width in pixels
    left_to_right: bool = True


@cache
def astronaut() -> Still:
    from skimage import data

    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return Still("astronaut", image[30:230, 125:325].copy(), True)


@cache
def grace_hopper() -> Still:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"{path} is missing from matplotlib's sample data")
    return Still("grace_hopper", image[80:420, 100:440].copy(), False)


def lfw_labels(path: Path = LABELS) -> dict[int, str]:
    """Index -> "smiling" | "neutral" | "unsure" for skimage's lfw_subset faces 0-99."""
    with path.open() as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {int(row["index"]): row["label"] for row in rows}


@cache
def lfw_faces() -> np.ndarray:
    from skimage import data

    return (data.lfw_subset()[:100] * 255).astype(np.uint8)


def lfw_still(index: int, label: str) -> Still:
    """One 25x25 lfw face, enlarged and framed by its own edge pixels so a detector sees a head."""
    face = cv2.resize(lfw_faces()[index], (100, 100), interpolation=cv2.INTER_CUBIC)
    framed = cv2.copyMakeBorder(face, 30, 30, 30, 30, cv2.BORDER_REPLICATE)
    return Still(f"lfw{index}", cv2.cvtColor(framed, cv2.COLOR_GRAY2BGR), label == "smiling")


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A plain shop wall with shelves: static structure, no faces."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(150, 200, height, dtype=np.float32)[:, None, None]
    wall = np.broadcast_to(ramp * np.array([0.9, 1.0, 1.05], np.float32), (height, width, 3)).copy()
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = [float(c) for c in rng.integers(40, 220, 3)]
        cv2.rectangle(wall, (x0, y0), (x0 + int(rng.integers(30, 120)), y0 + 8), colour, -1)
    return np.clip(wall, 0, 255).astype(np.uint8)


def _mask(size: tuple[int, int]) -> np.ndarray:
    h, w = size
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.46), int(h * 0.49)), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 25))[..., None]


def paste(frame: np.ndarray, still: np.ndarray, x: int, y: int, size: int) -> None:
    """Blend the still (scaled to ``size`` wide) into the frame at (x, y), clipped at the edges."""
    h = round(still.shape[0] * size / still.shape[1])
    patch = cv2.resize(still, (size, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = _mask((h, size))
    fx0, fy0 = max(x, 0), max(y, 0)
    fx1, fy1 = min(x + size, frame.shape[1]), min(y + h, frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return
    px0, py0 = fx0 - x, fy0 - y
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    a = alpha[py0 : py0 + fy1 - fy0, px0 : px0 + fx1 - fx0]
    p = patch[py0 : py0 + fy1 - fy0, px0 : px0 + fx1 - fx0]
    frame[fy0:fy1, fx0:fx1] = (a * p + (1 - a) * region).astype(np.uint8)


def walk_bys(count: int, *, seed: int = 1, width: int = 320, height: int = 240, fps: float = 10.0) -> list[WalkBy]:
    """``count`` visitors: astronaut and Grace Hopper plus clearly labelled lfw faces, in two lanes.

    About one in three visitors overlaps in time with another one in the other lane.
    """
    rng = random.Random(seed)
    labels = lfw_labels()
    clear = [i for i, label in sorted(labels.items()) if label != "unsure"]
    rng.shuffle(clear)
    stills = [astronaut(), grace_hopper()] + [lfw_still(i, labels[i]) for i in clear]
    lanes = (max(0, height // 2 - 100), height // 2 + 5)
    plan: list[WalkBy] = []
    frame = 2
    for n in range(count):
        still = stills[n % len(stills)]
        crossing = int(fps * rng.uniform(2.0, 3.0))
        size = rng.randint(int(height * 0.42), int(height * 0.5))
        lane = lanes[n % 2] + rng.randint(-5, 5)
        plan.append(WalkBy(still, frame, crossing, lane, size, left_to_right=rng.random() < 0.5))
        # Next visitor: either overlapping (other lane) or after a short gap.
        frame += crossing // 2 if rng.random() < 0.35 else crossing + int(fps * rng.uniform(0.8, 1.5))
    return plan


def render(plan: list[WalkBy], frame_index: int, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    frame = base.copy()
    width = frame.shape[1]
    for walk in plan:
        step = frame_index - walk.start_frame
        if not 0 <= step < walk.frames:
            continue
        # Enter fully off-screen on one side, leave fully off-screen on the other.
        progress = step / max(walk.frames - 1, 1)
        x = int(-walk.size + progress * (width + walk.size))
        if not walk.left_to_right:
            x = width - walk.size - x
        bob = int(3 * np.sin(step * 0.9))
        paste(frame, walk.still.image, x, walk.lane_y + bob, walk.size)
    noise = rng.normal(0, 3, frame.shape).astype(np.int16)  # sensor noise: no two frames alike
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def write_video(path: Path, plan: list[WalkBy], *, width: int = 320, height: int = 240, fps: float = 10.0,
                tail_frames: int = 12, stay: Still | None = None, stay_frames: int = 0) -> int:  # fmt: skip
    """Write an MJPG .avi of the plan (or of one face ``stay``-ing in place); returns the frame count."""
    last = max((w.start_frame + w.frames for w in plan), default=0)
    total = max(last + tail_frames, stay_frames)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {path}")
    base = background(width, height)
    rng = np.random.default_rng(7)
    try:
        for i in range(total):
            frame = render(plan, i, base, rng)
            if stay is not None and i < stay_frames:
                # A person standing at the kiosk: small sway, never leaves.
                paste(frame, stay.image, width // 2 - 50 + int(6 * np.sin(i / 5)), height // 2 - 70, 100)
            writer.write(frame)
    finally:
        writer.release()
    return total
