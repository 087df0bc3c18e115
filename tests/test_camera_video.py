"""The counter on composed videos of people walking past (made at test time from package photos)."""

import json

import cv2
import pytest
from click.testing import CliRunner

from kiosk.camera import testvideo
from kiosk.camera.cli import camera
from kiosk.camera.counter import count_source
from kiosk.camera.detect import BlazeFaceDetector
from kiosk.camera.sources import CameraUnavailable, VideoFileSource

VISITORS = 20


@pytest.fixture(scope="module")
def walk_video(tmp_path_factory):
    plan = testvideo.walk_bys(VISITORS, seed=3)
    path = tmp_path_factory.mktemp("camera") / "walk.avi"
    frames = testvideo.write_video(path, plan)
    return path, plan, frames


@pytest.fixture(scope="module")
def detector():
    cv2.setNumThreads(1)
    return BlazeFaceDetector()


def test_visitor_count_within_ten_percent(walk_video, detector):
    path, plan, frames = walk_video
    summary = count_source(VideoFileSource(path), detector)
    assert summary.frames == frames
    assert abs(summary.visitors - len(plan)) <= 0.1 * len(plan), f"counted {summary.visitors} of {len(plan)}"
    truth_smiling = sum(w.still.smiling for w in plan)
    # Conservative by design (few false smiles): never more smiles than there were.
    assert 0 < summary.smiling <= truth_smiling


def test_astronaut_walking_by_counts_as_smiling_and_grace_hopper_not(tmp_path, detector):
    plan = [
        testvideo.WalkBy(testvideo.astronaut(), 2, 25, 20, 110),
        testvideo.WalkBy(testvideo.grace_hopper(), 40, 25, 120, 110, left_to_right=False),
    ]
    testvideo.write_video(tmp_path / "two.avi", plan)
    summary = count_source(VideoFileSource(tmp_path / "two.avi"), detector)
    assert [v.smiling for v in summary.visitor_list] == [True, False]


def test_a_face_staying_in_view_is_one_visitor(tmp_path, detector):
    path = tmp_path / "stay.avi"
    testvideo.write_video(path, [], stay=testvideo.astronaut(), stay_frames=120, tail_frames=0)
    summary = count_source(VideoFileSource(path), detector)
    assert (summary.visitors, summary.smiling, summary.frames) == (1, 1, 120)


def test_cli_prints_the_counts_as_json(walk_video):
    path, plan, _ = walk_video
    result = CliRunner().invoke(camera, ["--video", str(path), "--seconds", "12", "--json"])
    assert result.exit_code == 0, result.output
    counted = json.loads(result.output)
    assert counted["detector"] == "blazeface"
    assert counted["frames"] == 120  # 12 s of a 10 fps video
    started = [w for w in plan if w.start_frame + w.frames <= 120]
    assert abs(counted["visitors"] - len(started)) <= 1
    assert counted["fps"] > 0


def test_cli_explains_a_missing_video(tmp_path):
    result = CliRunner().invoke(camera, ["--video", str(tmp_path / "nope.avi")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_cli_needs_exactly_one_source():
    result = CliRunner().invoke(camera, [])
    assert result.exit_code == 2
    assert "exactly one of" in result.output


def test_a_broken_video_is_unavailable_not_a_crash(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(CameraUnavailable):
        VideoFileSource(bad)
