"""The camera counter as the kiosk runs it: a thread, the real outbox, the real broker and hub."""

import json
import threading

import pytest

import kiosk.camera
from hub.db import open_db
from hub.service import HubService
from kiosk.camera import testvideo
from kiosk.camera.config import CameraConfig
from kiosk.camera.service import CameraService
from kiosk.outbox import Outbox
from kiosk.publisher import Publisher
from otklik import protocol
from tests.broker import wait_until

VISITORS = 6


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    plan = testvideo.walk_bys(VISITORS, seed=5)
    path = tmp_path_factory.mktemp("camera-service") / "walk.avi"
    testvideo.write_video(path, plan)
    return path, plan


def reactions(outbox):
    return [json.loads(row["payload"]) for row in outbox.rows() if row["kind"] == "reaction"]


def run_video(video_path, outbox, **settings):
    config = CameraConfig.from_dict({"source": "file", "video": str(video_path), "max_fps": 1000, **settings})
    service = CameraService(config, outbox, "b1", "k1").start()
    service.thread.join(60)
    assert not service.thread.is_alive()
    return service


def test_windows_of_aggregates_go_into_the_outbox(video, tmp_path):
    path, plan = video
    with Outbox(tmp_path / "outbox.db") as outbox:
        service = run_video(path, outbox, interval_s=5)
        assert service.status() == "off"  # a video without loop ends the counter cleanly
        sent = reactions(outbox)
    assert len(sent) >= 3  # a ~20 s video in 5 s windows
    for body in sent:
        decoded = protocol.decode(protocol.topic("b1", "k1", "reaction"), protocol.encode(body))
        assert decoded.detector == "blazeface" and decoded.extra == {}
        assert decoded.window_s <= 5.1
    total = sum(body["visitors"] for body in sent)
    assert abs(total - len(plan)) <= 1, f"counted {total} of {len(plan)}"
    assert sum(body["frames"] for body in sent) > 0


def test_start_never_raises_and_reports_why(tmp_path):
    with Outbox(tmp_path / "outbox.db") as outbox:
        assert kiosk.camera.start(None, outbox, "b1", "k1").status() == "off"
        assert kiosk.camera.start({"enabled": False}, outbox, "b1", "k1").status() == "off"
        bad = kiosk.camera.start({"source": "webcam"}, outbox, "b1", "k1")
        assert bad.status().startswith("unavailable: camera.source")
        missing = kiosk.camera.start({"source": "file", "video": str(tmp_path / "gone.avi")}, outbox, "b1", "k1")
        try:
            wait_until(lambda: missing.status().startswith("unavailable:"), 10, message="camera unavailable")
            assert "does not exist" in missing.status()
        finally:
            missing.stop()
        assert missing.status() == "off"
        assert reactions(outbox) == []


def test_a_slow_frame_does_not_block_other_threads(video, tmp_path):
    path, _ = video
    with Outbox(tmp_path / "outbox.db") as outbox:
        config = CameraConfig.from_dict({"source": "file", "video": str(path), "loop": True, "max_fps": 1000})
        service = CameraService(config, outbox, "b1", "k1").start()
        try:
            wait_until(lambda: service.status() == "ok", 10, message="camera running")
            # A button press's work (here: a rating into the same outbox) completes while frames are counted.
            done = threading.Event()
            threading.Thread(target=lambda: (outbox.add_rating(branch="b1", kiosk="k1", score=4), done.set())).start()
            assert done.wait(2)
        finally:
            service.stop()
        assert not service.thread.is_alive()


@pytest.mark.broker
def test_reactions_reach_the_hub_database(video, tmp_path, mosquitto):
    path, plan = video
    hub = HubService(mosquitto.broker(), tmp_path / "hub.db", client_id="hub-camera-test").start()
    try:
        assert hub.connected.wait(10)
        with Outbox(tmp_path / "outbox.db") as outbox:
            publisher = Publisher(mosquitto.broker(), outbox, branch="b1", kiosk="k1", heartbeat_s=60).start()
            try:
                handle = kiosk.camera.start(
                    {"source": "file", "video": str(path), "interval_s": 5, "max_fps": 1000}, outbox, "b1", "k1"
                )
                wait_until(lambda: handle.status() == "off", 60, message="the video counted to its end")
                queued = handle.windows_sent  # the publisher may already have sent and deleted some
                assert queued >= 3

                def stored():
                    db = open_db(tmp_path / "hub.db")
                    try:
                        return list(db["reactions"].rows)
                    finally:
                        db.close()

                wait_until(lambda: len(stored()) == queued, 20, message=f"{queued} reactions stored by the hub")
                wait_until(lambda: reactions(outbox) == [], 10, message="outbox drained after PUBACKs")
            finally:
                publisher.stop()
    finally:
        hub.stop()
    rows = stored()
    assert {(r["branch"], r["kiosk"], r["detector"]) for r in rows} == {("b1", "k1", "blazeface")}
    assert abs(sum(r["visitors"] for r in rows) - len(plan)) <= 1
