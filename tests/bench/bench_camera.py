"""Camera counter benchmark: speed on one core, smile ROC AUC, visitor-count error.

Run: ``python -m tests.bench.bench_camera`` (from the repo root). Goals: >= 15
frames/s at 320x240 on one core, smile AUC >= 0.9 on the hand-labelled
lfw_subset faces (tests/camera_data/lfw_smile_labels.csv), visitor count error
<= 10% on composed walk-by videos. Everything is made from package data.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from kiosk.camera import testvideo
from kiosk.camera.counter import count_source
from kiosk.camera.detect import BlazeFaceDetector, Detector, HaarDetector
from kiosk.camera.sources import VideoFileSource


def roc_auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a random smiling face scores above a random neutral one (ties count half)."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def frames_of(size: tuple[int, int], count: int) -> list[np.ndarray]:
    width, height = size
    plan = testvideo.walk_bys(12, seed=3, width=width, height=height)
    base = testvideo.background(width, height)
    rng = np.random.default_rng(0)
    return [testvideo.render(plan, i, base, rng) for i in range(count)]


def bench_speed(detectors: dict[str, Detector]) -> None:
    print("== speed, one core (cv2.setNumThreads(1)), frames with people walking past ==")
    for size in ((320, 240), (640, 480)):
        frames = frames_of(size, 150)
        for name, detector in detectors.items():
            detector.detect(frames[0])  # warm-up
            faces = 0
            started = time.perf_counter()
            for frame in frames:
                faces += len(detector.detect(frame))
            elapsed = time.perf_counter() - started
            print(
                f"{name:<22} {size[0]}x{size[1]}: {len(frames) / elapsed:6.1f} frames/s "
                f"({1000 * elapsed / len(frames):5.1f} ms/frame, {faces / len(frames):.2f} faces/frame)"
            )


def bench_smile(blazeface: BlazeFaceDetector, haar: HaarDetector) -> None:
    print("== smile measure on hand-labelled lfw_subset faces (25x25, enlarged 4x) ==")
    labels = testvideo.lfw_labels()
    scores: dict[str, dict[str, list[float]]] = {"blazeface": {}, "haar": {}}
    missed = {"blazeface": 0, "haar": 0}
    for index, label in sorted(labels.items()):
        if label == "unsure":
            continue
        image = testvideo.lfw_still(index, label).image
        for name, detector in (("blazeface", blazeface), ("haar", haar)):
            faces = [f for f in detector.detect(image) if f.smile is not None]
            if not faces:
                missed[name] += 1
                continue
            scores[name].setdefault(label, []).append(max(faces, key=lambda f: f.width).smile)  # type: ignore[arg-type]
    unsure = sum(label == "unsure" for label in labels.values())
    print(f"labelled: {len(labels) - unsure} ({unsure} 'unsure' left out)")
    for name, detector in (("blazeface", blazeface), ("haar", haar)):
        pos, neg = scores[name].get("smiling", []), scores[name].get("neutral", [])
        if not pos or not neg:
            print(f"{name}: too few faces found ({missed[name]} missed)")
            continue
        tpr = np.mean(np.asarray(pos) > detector.smile_threshold)
        fpr = np.mean(np.asarray(neg) > detector.smile_threshold)
        print(
            f"{name:<10} ROC AUC {roc_auc(pos, neg):.3f}  smiling {len(pos)}, neutral {len(neg)}, "
            f"no face/measure {missed[name]}; at its threshold: TPR {tpr:.2f}, FPR {fpr:.2f}"
        )
    for still in (testvideo.astronaut(), testvideo.grace_hopper()):
        image = cv2.resize(still.image, (160, round(still.image.shape[0] * 160 / still.image.shape[1])))
        measured = [(f.smile, h.smile) for f in blazeface.detect(image)[:1] for h in haar.detect(image)[:1] or [f]]
        truth = "smiling" if still.smiling else "not smiling"
        print(f"{still.name} ({truth}): blazeface smile {measured[0][0]:+.3f}, haar smile {measured[0][1]}")


def bench_count(detectors: dict[str, Detector], folder: Path) -> None:
    print("== visitor count on composed walk-by videos (320x240, 10 fps, two lanes, some overlapping) ==")
    for visitors, seed in ((20, 3), (40, 11)):
        plan = testvideo.walk_bys(visitors, seed=seed)
        path = folder / f"walk{visitors}.avi"
        testvideo.write_video(path, plan)
        smiling = sum(w.still.smiling for w in plan)
        for name, detector in detectors.items():
            summary = count_source(VideoFileSource(path), detector)
            error = abs(summary.visitors - len(plan)) / len(plan)
            print(
                f"{name:<22} {visitors} visitors ({smiling} smiling), seed {seed}: counted {summary.visitors} "
                f"({summary.smiling} smiling) -> count error {100 * error:.0f}%, {summary.fps:.0f} frames/s"
            )


def main() -> None:
    cv2.setNumThreads(1)
    print(f"OpenCV {cv2.__version__}, numpy {np.__version__}")
    blazeface = BlazeFaceDetector()
    haar = HaarDetector()
    detectors: dict[str, Detector] = {
        "blazeface+landmarks": blazeface,
        "blazeface (no smile)": BlazeFaceDetector(landmarks=False),
        "haar face+smile": haar,
    }
    bench_speed(detectors)
    bench_smile(blazeface, haar)
    with tempfile.TemporaryDirectory() as folder:
        bench_count({"blazeface+landmarks": blazeface, "haar face+smile": haar}, Path(folder))


if __name__ == "__main__":
    main()
