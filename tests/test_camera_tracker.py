"""Tracker and window logic on hand-made detections: no model, no video."""

from datetime import UTC, datetime

import pytest

from kiosk.camera.config import CameraConfig, CameraConfigError
from kiosk.camera.counter import ReactionCounter, WindowCounts, reaction_payload
from kiosk.camera.detect import Face
from kiosk.camera.tracker import Tracker, iou
from otklik import protocol


def face(x, y=50, size=60, smile=None):
    return Face(x, y, x + size, y + size, 0.9, smile)


def run(tracker, frames, fps=10.0):
    visitors = []
    t = 0.0
    for i, faces in enumerate(frames):
        t = i / fps
        visitors += tracker.update(faces, t)
    return visitors + tracker.flush()


def test_a_face_staying_in_view_is_one_visitor():
    tracker = Tracker(0.0)
    visitors = run(tracker, [[face(100 + (i % 3), smile=-0.1)] for i in range(300)])
    assert len(visitors) == 1
    assert visitors[0].frames == 300


def test_a_walker_is_one_visitor_even_when_boxes_stop_overlapping():
    # 40 px per frame with 60 px boxes: IoU falls to 0.2, the centre rule keeps the track.
    visitors = run(Tracker(0.0), [[face(x)] for x in range(-30, 330, 40)])
    assert len(visitors) == 1


def test_short_detection_gaps_do_not_split_a_visitor_but_long_ones_do():
    frames = [[face(100)]] * 5 + [[]] * 5 + [[face(100)]] * 5  # 0.5 s unseen: same person
    assert len(run(Tracker(0.0, max_gap_s=1.0), frames)) == 1
    frames = [[face(100)]] * 5 + [[]] * 15 + [[face(100)]] * 5  # 1.5 s: someone else
    assert len(run(Tracker(0.0, max_gap_s=1.0), frames)) == 2


def test_a_single_false_detection_is_not_a_visitor():
    assert run(Tracker(0.0, min_frames=3), [[face(100)], [], [], [], []] + [[]] * 20) == []


def test_two_people_side_by_side_are_two_visitors():
    frames = [[face(20 + i * 5), face(220 - i * 5, y=120)] for i in range(20)]
    assert len(run(Tracker(0.0), frames)) == 2


def test_smiling_rule_needs_most_frames_not_one_grin():
    grin_once = [[face(100, smile=1.0 if i == 5 else -0.2)] for i in range(20)]
    (visitor,) = run(Tracker(0.0), grin_once)
    assert not visitor.smiling
    mostly = [[face(100, smile=0.2 if i % 4 else -0.1)] for i in range(20)]
    (visitor,) = run(Tracker(0.0), mostly)
    assert visitor.smiling


def test_unmeasured_faces_are_visitors_but_not_smiling():
    (visitor,) = run(Tracker(0.0), [[face(100, smile=None)] for _ in range(10)])
    assert not visitor.smiling


def test_iou():
    assert iou(face(0), face(0)) == pytest.approx(1.0)
    assert iou(face(0), face(60)) == 0.0
    assert iou(face(0), face(30)) == pytest.approx(1 / 3)


class ScriptedDetector:
    """Stands in for the face model only; the counter, tracker and payload code under test are real."""

    name = "scripted"
    smile_threshold = 0.0

    def __init__(self, script):
        self.script = iter(script)

    def detect(self, frame):
        return next(self.script)


def test_counter_counts_a_visitor_in_the_window_they_leave_in():
    import numpy as np

    frame = np.zeros((240, 320, 3), np.uint8)
    script = [[face(100, smile=0.3)]] * 5 + [[]] * 30
    counter = ReactionCounter(ScriptedDetector(script), wall=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    for i in range(5):
        counter.process(frame, i * 0.1)
    first = counter.close_window(0.45)
    assert (first.visitors, first.frames) == (0, 5)  # still in view at the boundary
    for i in range(5, 35):
        counter.process(frame, i * 0.1)
    second = counter.close_window(3.5, final=True)
    assert (second.visitors, second.smiling, second.frames) == (1, 1, 30)


def test_reaction_payload_is_valid_protocol():
    window = WindowCounts(datetime(2026, 1, 1, tzinfo=UTC), 0.0, frames=600, visitors=7, smiling=3, window_s=60.0)
    body = reaction_payload("b1", "k1", window, "blazeface")
    decoded = protocol.decode(protocol.topic("b1", "k1", "reaction"), protocol.encode(body))
    assert (decoded.visitors, decoded.smiling, decoded.frames, decoded.fps) == (7, 3, 600, 10.0)
    assert decoded.extra == {}  # aggregates only: nothing else rides along
    assert set(body) == {"v", "branch", "kiosk", "id", "window_start", "window_s", "visitors", "smiling",
                         "frames", "fps", "detector"}  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"source": "usb"}, "camera.source"),
        ({"interval_s": 0}, "camera.interval_s"),
        ({"interval_s": float("inf")}, "camera.interval_s"),
        ({"max_fps": float("nan")}, "camera.max_fps"),
        ({"device": "zero"}, "camera.device"),
        ({"detector": "dlib"}, "camera.detector"),
        ({"source": "file"}, "camera.video"),
        ({"colour": True}, "colour"),
        ({"enabled": "yes"}, "camera.enabled"),
    ],
)
def test_config_errors_name_the_field(raw, field):
    with pytest.raises(CameraConfigError, match=field.replace(".", r"\.")):
        CameraConfig.from_dict(raw)


def test_config_defaults():
    config = CameraConfig.from_dict({"interval_s": 30})
    assert (config.interval_s, config.width, config.height, config.detector) == (30.0, 320, 240, "auto")
