"""The touch page in real Chromium, on a real kiosk, Mosquitto and hub: nothing lost, nothing doubled.

The broker is down while the shopper taps a smiley, picks a reason, reloads the page mid-comment
and sends a comment; once it is back, the hub holds the press once and its answers once each.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hub import answers
from hub.db import open_db
from hub.service import HubService
from kiosk.app import Kiosk
from kiosk.clock import fixed
from kiosk.config import ConfigError, ScreenConfig, config_from_dict, simple_config
from kiosk.remote_config import STATE_FILE
from otklik import protocol
from otklik.mosquitto import free_port
from otklik.settings import LANGUAGES, parse_settings
from tests.broker import Mosquitto, wait_until
from tests.dashboard import test_dashboard_layout
from tests.dashboard.test_dashboard_browser import ARTIFACTS
from tests.test_end_to_end import Ticker
from tests.test_followup_settings import FOLLOWUP

pytestmark = pytest.mark.broker

SIZES = ((800, 480), (1280, 800))  # the official 7" Pi touchscreen, and a 10" one


# The dashboard's headless Chromium (fails, never skips, when it is missing).
chromium = test_dashboard_layout.chromium


def touch_kiosk(broker: Mosquitto, tmp_path: Path, language: str = "en", idle_s: float = 8.0) -> Kiosk:
    config = simple_config(broker_url=broker.url, branch="b1", kiosk="k1", data_dir=tmp_path / "kiosk")
    screen = ScreenConfig(port=free_port(), language=language, idle_s=idle_s, thanks_s=1.0)
    kiosk = Kiosk(
        replace(config, screen=screen),
        pin_factory=MockFactory(pin_class=MockPWMPin),
        clock_synced=fixed(True),
        clock=Ticker(),
    )
    # What a config push applies (test_followup_settings pushes it through the broker).
    kiosk.apply_settings(parse_settings(1, {"followup": FOLLOWUP}))
    return kiosk


def hub_rows(db_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not db_path.exists():
        return [], []
    db = open_db(db_path, migrate=False)
    try:
        events = list(db.query("SELECT id, score, channel FROM events"))
        stored = list(db.query("SELECT id, rating_id, reason, comment FROM answers ORDER BY ts"))
        return events, stored
    finally:
        db.close()


def test_tap_answer_reload_and_comment_with_the_broker_down_arrive_once_each(
    mosquitto: Mosquitto, tmp_path: Path, start_hub: Callable[[], HubService], chromium: Any
) -> None:
    start_hub()
    kiosk = touch_kiosk(mosquitto, tmp_path)
    try:
        assert kiosk.screen is not None
        assert kiosk.wait_connected(10)
        mosquitto.stop()
        wait_until(lambda: not kiosk.connected, message="the kiosk to notice the broker is gone")
        page = chromium.new_page(viewport={"width": 800, "height": 480})
        page.goto(kiosk.screen.url)
        page.click("button.smiley.s2")
        page.wait_for_selector("#question-text:has-text('What went wrong?')")
        page.click("#options button[data-reason='queue']")
        page.wait_for_selector("#comment-text", state="visible")
        page.reload()  # mid-answer: the kiosk, not the page, knows where the shopper is
        page.wait_for_selector("#comment-text", state="visible")
        page.fill("#comment-text", "Only one till. Call me: +7 912 345-67-89")
        for key in " ok":  # the on-screen keyboard types where the cursor is
            page.click(f"#keyboard button[data-key='{key}']")
        page.click("#keyboard button[data-action='backspace']")
        page.click("#keyboard button[data-key='k']")
        page.click("#comment button.send")
        page.wait_for_selector("#thanks", state="visible")
        page.wait_for_selector("#idle", state="visible", timeout=5000)  # thanks_s later: the next shopper
        # Rating, the reason's answer and the commented answer, all durable while the broker is away.
        assert [r["kind"] for r in kiosk.outbox.rows()] == ["rating", "answer", "answer"]
        assert hub_rows(tmp_path / "hub.db") == ([], [])
        mosquitto.start()
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=40, message="the outbox confirmed by the hub")
        events, stored = hub_rows(tmp_path / "hub.db")
        assert len(events) == 1 and (events[0]["score"], events[0]["channel"]) == (2, "touch")
        assert [(a["rating_id"], a["reason"]) for a in stored] == [(events[0]["id"], "queue")] * 2
        assert stored[0]["comment"] is None and stored[1]["comment"] == "Only one till. Call me: [phone] ok"
        db = open_db(tmp_path / "hub.db", migrate=False)
        assert answers.reason_counts(db, "b1", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z") == {"queue": 1}
        db.close()
        page.close()
    finally:
        kiosk.stop()


def test_nobody_answers_and_the_screen_goes_back_to_the_smileys(
    mosquitto: Mosquitto, tmp_path: Path, chromium: Any
) -> None:
    kiosk = touch_kiosk(mosquitto, tmp_path, idle_s=3.0)
    try:
        assert kiosk.screen is not None
        page = chromium.new_page(viewport={"width": 800, "height": 480})
        page.goto(kiosk.screen.url)
        page.click("button.smiley.s1")
        page.wait_for_selector("#question", state="visible")
        page.wait_for_selector("#idle", state="visible", timeout=8000)
        page.reload()
        page.wait_for_selector("#idle", state="visible")  # the kiosk ended the session too
        page.click("button.smiley.s3")  # no question after a 3: straight to the thank-you
        page.wait_for_selector("#thanks", state="visible")
        assert [(r["kind"], r["score"], r["channel"]) for r in kiosk.outbox.rows()] == [
            ("rating", 1, "touch"), ("rating", 3, "touch")
        ]  # fmt: skip
        page.close()
    finally:
        kiosk.stop()


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}") if err.headers.get_content_type() == "application/json" else {}


def test_the_page_server_takes_only_well_formed_taps_from_this_machine(mosquitto: Mosquitto, tmp_path: Path) -> None:
    kiosk = touch_kiosk(mosquitto, tmp_path)
    try:
        assert kiosk.screen is not None
        url = kiosk.screen.url
        assert kiosk.screen.server.server_address[0] == "127.0.0.1"
        assert post(url + "api/rate", {"score": 5}) == (400, {"error": "score must be 1, 2, 3 or 4", "field": "score"})
        assert post(url + "api/rate", {"score": True})[0] == 400
        assert post(url + "api/rate", b"x" * 5000)[0] == 413
        assert post(url + "api/rate", {"score": 1}, {"Host": "evil.example:80"})[0] == 403
        assert post(url + "api/rate", {"score": 1}, {"Content-Type": "text/plain"})[0] == 415
        status, state = post(url + "api/rate", {"score": 1})
        assert status == 200 and state["stage"] == "question"
        assert post(url + "api/answer", {"rating": state["rating"], "reason": "friendly"})[0] == 400  # a 4's option
        assert post(url + "api/answer", {"rating": "someone-else", "reason": "queue"})[0] == 409
        long = "x" * (protocol.MAX_COMMENT_CHARS + 1)
        assert post(url + "api/answer", {"rating": state["rating"], "reason": "queue"})[0] == 200
        assert post(url + "api/answer", {"rating": state["rating"], "reason": "queue"})[0] == 200  # a double tap
        status, body = post(url + "api/answer", {"rating": state["rating"], "comment": long})
        assert status == 400 and body["field"] == "comment"
        assert [r["kind"] for r in kiosk.outbox.rows()] == ["rating", "answer"]  # the double tap stored once
    finally:
        kiosk.stop()


@pytest.mark.parametrize("language", LANGUAGES)
def test_screenshots_at_kiosk_sizes(mosquitto: Mosquitto, tmp_path: Path, chromium: Any, language: str) -> None:
    kiosk = touch_kiosk(mosquitto, tmp_path, language=language, idle_s=60)
    try:
        assert kiosk.screen is not None
        for width, height in SIZES:
            page = chromium.new_page(viewport={"width": width, "height": height})
            page.goto(kiosk.screen.url)
            page.wait_for_selector("#idle", state="visible")
            stages = {"idle": None, "question": "button.smiley.s1", "comment": "#options button[data-reason='staff']"}
            for stage, tap in stages.items():
                if tap:
                    page.click(tap)
                page.wait_for_selector(f"#{stage}", state="visible")
                if stage == "comment":  # a few keys of the branch's own keyboard
                    keys = page.eval_on_selector_all(
                        "#keyboard .keys button[data-key]", "bs => bs.map(b => b.dataset.key)"
                    )
                    for key in keys[:4]:
                        page.click(f"#keyboard button[data-key='{key}']")
                    assert page.input_value("#comment-text") == "".join(keys[:4])
                # Everything on the screen, nothing to scroll to: a kiosk has no scroll bar.
                overflow = page.evaluate(
                    "() => [document.documentElement.scrollWidth > innerWidth,"
                    " document.documentElement.scrollHeight > innerHeight]"
                )
                assert overflow == [False, False], f"{language} {width}x{height} {stage} overflows"
                page.screenshot(path=str(ARTIFACTS / f"screen-{stage}-{language}-{width}x{height}.png"))
            assert page.evaluate("document.documentElement.dir") == ("rtl" if language == "fa" else "ltr")
            post(kiosk.screen.url + "api/reset", {})
            page.close()
    finally:
        kiosk.stop()


def test_the_screen_section_is_checked_field_by_field() -> None:
    base = {"broker": {"url": "mqtt://127.0.0.1:1883"}, "kiosk": {"branch": "b1", "id": "k1", "data_dir": "/tmp/k"}}
    assert config_from_dict(base).screen is None  # buttons only, as every kiosk before the screen
    screen = config_from_dict({**base, "screen": {"language": "fa", "idle_s": 30}}).screen
    assert screen == ScreenConfig(language="fa", idle_s=30.0)
    for section, field in (({"language": "de"}, "screen.language"), ({"port": 80}, "screen.port"),
                           ({"idle_s": 1}, "screen.idle_s"), ({"colour": "red"}, "screen.colour")):  # fmt: skip
        with pytest.raises(ConfigError) as err:
            config_from_dict({**base, "screen": section})
        assert err.value.field == field


def test_a_kiosk_killed_right_after_the_page_heard_back_loses_neither_press_nor_answer(
    mosquitto: Mosquitto, tmp_path: Path, start_hub: Callable[[], HubService]
) -> None:
    """SIGKILL the kiosk process the moment its page got the answer's 200, broker down: both arrive later, once."""
    start_hub()
    data = tmp_path / "kiosk"
    data.mkdir()
    # The follow-up as a previous push left it: the kiosk restores it before the broker is reachable.
    (data / STATE_FILE.format(branch="b1", kiosk="k1")).write_text(
        json.dumps(parse_settings(1, {"followup": FOLLOWUP}).to_payload())
    )
    port = free_port()
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[broker]\nurl = "{mosquitto.url}"\n[kiosk]\nbranch = "b1"\nid = "k1"\ndata_dir = "{data}"\n'
        f'[screen]\nport = {port}\nlanguage = "ru"\n'
    )
    args = [sys.executable, "-m", "otklik", "kiosk", "--simulate", "--config", str(config), "--count", "0"]
    url = f"http://127.0.0.1:{port}/"
    mosquitto.stop()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:

        def page_up() -> bool:
            try:
                with urllib.request.urlopen(url + "api/state", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(page_up, timeout=30, message="the kiosk process to serve its page")
        status, state = post(url + "api/rate", {"score": 1})
        assert status == 200 and state["question"]["text"] == "Что пошло не так?"
        assert post(url + "api/answer", {"rating": state["rating"], "reason": "staff"})[0] == 200
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    mosquitto.start()
    restarted = subprocess.run([*args, "--exit-when-sent"], capture_output=True, timeout=90)
    assert restarted.returncode == 0, restarted.stdout.decode() + restarted.stderr.decode()
    assert f"touch page: {url}" in restarted.stdout.decode()
    wait_until(lambda: len(hub_rows(tmp_path / "hub.db")[1]) == 1, message="the answer stored by the hub")
    events, stored = hub_rows(tmp_path / "hub.db")
    assert [(e["id"], e["score"], e["channel"]) for e in events] == [(state["rating"], 1, "touch")]
    assert [(a["rating_id"], a["reason"]) for a in stored] == [(state["rating"], "staff")]


def test_buttons_and_screen_share_one_cooldown(mosquitto: Mosquitto, tmp_path: Path) -> None:
    now = [100.0]
    config = simple_config(broker_url=mosquitto.url, branch="b1", kiosk="k1", data_dir=tmp_path / "k", cooldown_s=5)
    factory = MockFactory(pin_class=MockPWMPin)
    kiosk = Kiosk(config, pin_factory=factory, clock_synced=fixed(True), clock=lambda: now[0])
    try:
        pin = factory.pin(config.buttons.pins[3])
        pin.drive_low()  # the physical "very happy" button
        pin.drive_high()
        now[0] += 2
        kiosk.touch_press(1)  # a tap 2 s later: a repeat within the cooldown, stored and flagged
        now[0] += 10
        kiosk.touch_press(2)
        rows = [(r["channel"], r["score"], r["flags"]) for r in kiosk.outbox.rows()]
        assert rows == [("buttons", 4, ""), ("touch", 1, "cooldown"), ("touch", 2, "")]
    finally:
        kiosk.stop()
