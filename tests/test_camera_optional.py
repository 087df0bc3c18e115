"""A kiosk without the camera extra still runs: the camera reports itself off or unavailable."""

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["cv2"] = None  # as on a kiosk installed without the `camera` extra
import kiosk.camera as camera
print(camera.start(None, None, "b1", "k1").status())
print(camera.start({"source": "video", "video": "x.avi"}, None, "b1", "k1").status())
"""


def test_camera_without_opencv_degrades_to_a_status():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    off, unavailable = out.splitlines()
    assert off == "off"
    assert unavailable.startswith("unavailable: cv2 is not installed")
