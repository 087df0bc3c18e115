"""Live pages in a real headless Chromium: what the hub stores shows on the open page, without a reload.

A real Mosquitto, the real hub service and a real MQTT client as the kiosk (with the last will a
kiosk's publisher sets, so cutting its connection is what a kiosk losing power looks like). The
page is told by its live stream which topic changed, fetches its own part again and marks what
changed; the cue says when, and a page whose server died says so until the server is back.
Screenshots go to test-artifacts/ as live-*.png.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import sync_playwright

from dashboard import accounts
from hub import alerts as hub_alerts
from hub.db import open_db
from hub.service import HubService
from otklik import protocol, times
from tests.broker import free_port, wait_until
from tests.dashboard import test_dashboard_browser as harness
from tests.dashboard.conftest import PASSWORD, heartbeat, login, publish
from tests.dashboard.served import gunicorn

ARTIFACTS = harness.ARTIFACTS
# The browser tests' Chromium and in-process server, as fixtures of this module too.
browser = harness.browser
server = harness.server

PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")
# Chart.js sets the canvas's size attributes when it draws; without them the canvas is blank.
FUNNEL_DRAWN = """() => { const c = document.getElementById('funnel-chart');
                          return !!Chart.getChart(c) && c.hasAttribute('width'); }"""
# The responses in the heat map's cells (its first row and column are the hours and the days).
HEAT_TOTAL = """() => [...document.querySelectorAll('#heatmap table tr')].slice(1)
  .flatMap((tr) => [...tr.cells].slice(1)).reduce((n, td) => n + (Number(td.textContent) || 0), 0)"""
CUE = re.compile(r"\d\d:\d\d:\d\d")  # "Updated 12:04:31" in English digits


def _log_in(page: Any, url: str, username: str = "olga") -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")


def _live(page: Any, part: str) -> None:
    """Wait until the page's stream is open and its part has been fetched once through it."""
    page.wait_for_selector('#live-status[data-state="live"]')
    page.wait_for_function(f"() => document.getElementById('{part}').dataset.updated", timeout=10000)


def _updated_at(page: Any, part: str) -> int:
    return int(page.evaluate(f"() => Number(document.getElementById('{part}').dataset.updated || 0)"))


class Kiosk:
    """A kiosk's MQTT connection with the last will its publisher sets (kiosk/publisher.py)."""

    def __init__(self, host: str, port: int, branch: str, kiosk: str) -> None:
        self.branch, self.kiosk, self.seq = branch, kiosk, 100
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"live-{kiosk}", protocol=mqtt.MQTTv5)
        status = protocol.topic(branch, kiosk, "status")
        offline = protocol.encode(protocol.status_payload(branch, kiosk, "offline", with_ts=False))
        self.client.will_set(status, offline, qos=1, retain=True)
        self.client.connect(host, port, keepalive=5)
        self.client.loop_start()
        online = protocol.encode(protocol.status_payload(branch, kiosk, "online"))
        self.client.publish(status, online, qos=1, retain=True).wait_for_publish(5)

    def press(self, score: int) -> None:
        self.seq += 1
        payload = protocol.rating_payload(branch=self.branch, kiosk=self.kiosk, id=f"live-{self.kiosk}-{self.seq}",
                                          seq=self.seq, score=score, ts=times.now_ts())  # fmt: skip
        topic = protocol.topic(self.branch, self.kiosk, "rating")
        self.client.publish(topic, protocol.encode(payload), qos=1).wait_for_publish(5)

    def lose_power(self) -> None:
        # No DISCONNECT: the socket just goes, so the broker publishes the will.
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()


@pytest.fixture
def hub(mosquitto, hub_path: Path) -> Iterator[HubService]:
    publish(hub_path, "b1", "k1", 3, 1)  # both branches exist before the pages open
    publish(hub_path, "b2", "k9", 3, 1)
    service = HubService(mosquitto.broker(), hub_path, client_id="hub-live-test").start()
    assert service.connected.wait(10), "hub did not connect to Mosquitto"
    yield service
    service.stop()


def _state(hub_path: Path, kiosk: str) -> str:
    db = open_db(hub_path)
    try:
        return db.execute("SELECT state FROM kiosks WHERE kiosk = ?", [kiosk]).fetchone()[0]
    finally:
        db.conn.close()


def test_branch_fleet_and_alerts_pages_show_what_the_hub_stores_without_reload(
    mosquitto,
    hub,
    hub_path: Path,
    server: str,
    browser,
) -> None:
    kiosk = Kiosk(mosquitto.host, mosquitto.port, "b1", "k1")
    try:
        wait_until(lambda: _state(hub_path, "k1") == "online", 5, message="the hub stored the kiosk online")
        page = browser.new_page()
        blocked: list[str] = []
        page.on(
            "console", lambda m: blocked.append(m.text) if m.type == "error" or "Content Security" in m.text else None
        )

        # Branch page: a press stored by the hub changes "Responses today", marked, with the cue.
        _log_in(page, server + "/branch/b1")
        _live(page, "branch-live")
        today = page.locator('#branch-live [data-key="stat-responses"] .figure')
        assert today.inner_text() == "1"
        before = _updated_at(page, "branch-live")
        kiosk.press(4)
        page.wait_for_function(
            "() => document.querySelector('#branch-live [data-key=\"stat-responses\"] .figure')"
            ".textContent.trim() === '2'",
            timeout=5000,
        )
        assert "live-changed" in (today.get_attribute("class") or "")
        assert _updated_at(page, "branch-live") > before
        cue = page.inner_text("#live-status")
        assert cue.startswith("Updated ") and CUE.search(cue), cue
        # The heat map (drawn by app.js from the API) is drawn again: its responses add up to 2.
        page.wait_for_function(HEAT_TOTAL + " === 2", timeout=5000)
        # The funnel plot keeps its drawing through the update: live.js must not strip what Chart.js set on it.
        assert page.evaluate(FUNNEL_DRAWN)
        page.screenshot(path=str(ARTIFACTS / "live-branch-after-press.png"), full_page=True)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload

        # Fleet page: the kiosk loses power; its will arrives, the hub stores it offline, the row turns.
        page.goto(server + "/fleet")
        _live(page, "fleet-live")
        row = page.locator('#fleet-live tr[data-kiosk="b1/k1"]')
        assert row.locator(".badge.online").count() == 1
        assert page.locator('#fleet-live tr[data-kiosk="b2/k9"]').count() == 0  # olga manages b1 only
        kiosk.lose_power()
        row.locator(".badge.offline").wait_for(timeout=20000)  # keepalive 5 s: the broker notices in <= 7.5 s
        marked = page.evaluate(
            '() => !!document.querySelector(\'#fleet-live tr[data-kiosk="b1/k1"] .live-changed, '
            '#fleet-live tr[data-kiosk="b1/k1"].live-changed\')'
        )
        assert marked, "the offline kiosk's row is not marked as changed"
        page.screenshot(path=str(ARTIFACTS / "live-fleet-kiosk-offline.png"), full_page=True)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

        # Alerts page: an alert the hub opens for b1 appears; one for b2 never reaches olga's page.
        page.goto(server + "/alerts")
        _live(page, "alerts-live")
        db = open_db(hub_path)
        other = hub_alerts.fire(db, "unhappy_share", "b2", "Many unhappy presses")
        mine = hub_alerts.fire(db, "unhappy_share", "b1", "Many unhappy presses")
        db.conn.close()
        assert mine is not None and other is not None
        new_row = page.locator(f'#alerts-live tr[data-alert="{mine["id"]}"]')
        new_row.wait_for(timeout=5000)
        assert "live-changed" in (new_row.get_attribute("class") or "")
        assert page.locator(f'#alerts-live tr[data-alert="{other["id"]}"]').count() == 0
        assert new_row.locator("button").count() == 2, "the new row's Acknowledge and Resolve forms"
        page.screenshot(path=str(ARTIFACTS / "live-alerts-new-alert.png"), full_page=True)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
        assert not blocked, blocked
    finally:
        kiosk.lose_power()


def test_overview_cards_mark_a_new_level_and_sparkline_in_the_readers_digits(
    mosquitto, hub, hub_path: Path, app: Flask, server: str, browser
) -> None:
    """Presses that pull b1 from good to watch: the card's level word and its sparkline are marked
    as changed, and the cue's time is in Persian digits on a Persian page (static/format.js)."""
    yesterday = times.read_ts(times.now_ts()) - timedelta(days=1)
    for seq in range(2, 6):  # yesterday 4 x "very happy": with today's 3, the card is good
        publish(hub_path, "b1", "k1", 4, seq, ts=yesterday)
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    accounts.change_user(store, "olga", language="fa")
    store.conn.close()
    kiosk = Kiosk(mosquitto.host, mosquitto.port, "b1", "k1")
    try:
        page = browser.new_page()
        _log_in(page, server + "/", "olga")
        _live(page, "overview")
        card = page.locator('#overview .card[data-branch="b1"]')
        assert "level-good" in (card.get_attribute("class") or "")
        points = page.get_attribute('#overview .card[data-branch="b1"] svg.spark polyline', "points")
        for _ in range(6):
            kiosk.press(1)
        b1 = "#overview .card[data-branch=b1]"
        page.wait_for_function(
            f"() => !!document.querySelector('{b1}.level-watch .level-word.live-changed')", timeout=10000
        )
        page.wait_for_function(
            f"(before) => {{ const s = document.querySelector('{b1} svg.spark');"
            " return s.classList.contains('live-changed')"
            " && s.querySelector('polyline').getAttribute('points') !== before; }",
            arg=points,
            timeout=10000,
        )
        cue = page.inner_text("#live-status")
        assert re.search("[۰-۹]{2}:[۰-۹]{2}:[۰-۹]{2}", cue) and not re.search("[0-9]", cue), cue
        page.screenshot(path=str(ARTIFACTS / "live-overview-level-changed-fa.png"), full_page=True)
    finally:
        kiosk.lose_power()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A Chromium for several users at once: one context (cookie jar) each."""
    if not Path(harness.CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install -y chromium (the browser tests never skip)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=harness.CHROMIUM, headless=True, args=harness.CHROMIUM_ARGS)
        try:
            yield found
        finally:
            found.close()


def test_a_page_whose_server_died_says_so_and_recovers(app: Flask, hub_path: Path, chromium: Any) -> None:
    """SIGKILL the real gunicorn under open pages in en, ru and fa: each says its stream is lost, and
    when a server is back on the same port each says so no more and shows what was stored meanwhile."""
    publish(hub_path, "b1", "k1", 3, 1)
    heartbeat(hub_path, "b1", "k1")
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    for name, language in (("olga_ru", "ru"), ("olga_fa", "fa")):
        accounts.add_user(store, name, PASSWORD, "manager", ["b1"])
        accounts.change_user(store, name, language=language)
    store.conn.close()
    auth_db = app.config["OTKLIK_AUTH_DB"]
    port = free_port()
    pages = {}
    with gunicorn(hub_path, auth_db, port=port) as served:
        for username, language in (("olga", "en"), ("olga_ru", "ru"), ("olga_fa", "fa")):
            page = chromium.new_context(locale="en-US").new_page()
            _log_in(page, served.url + "/", username)
            _live(page, "overview")
            pages[language] = page
        assert served.process is not None
        os.killpg(served.process.pid, signal.SIGKILL)
        for language, page in pages.items():
            page.wait_for_selector('#live-status[data-state="lost"]', timeout=10000)
            notice = page.inner_text("#live-status")
            assert notice.strip() and notice != "", language
            for width, height in ((390, 844), (1366, 768)):
                page.set_viewport_size({"width": width, "height": height})
                page.screenshot(path=str(ARTIFACTS / f"live-lost-{language}-{width}.png"))
        assert "lost" in pages["en"].inner_text("#live-status")
        assert "потеряна" in pages["ru"].inner_text("#live-status")
        assert "قطع شد" in pages["fa"].inner_text("#live-status")
    publish(hub_path, "b1", "k1", 4, 2)  # stored while no server was up
    with gunicorn(hub_path, auth_db, port=port):
        for language, page in pages.items():
            page.wait_for_selector('#live-status[data-state="live"]', timeout=15000)
            figure = page.locator('[data-branch="b1"] [data-field="today.responses"]')
            # Whichever digits the locale writes (i18n decides): the count is 2.
            wait_until(lambda f=figure: f.inner_text().strip().translate(PERSIAN_DIGITS) == "2", 10,
                       message=f"{language}: the press stored during the outage")  # fmt: skip
            assert "lost" not in page.inner_text("#live-status")
            assert page.evaluate("performance.getEntriesByType('navigation').length") == 1, language
        pages["fa"].set_viewport_size({"width": 390, "height": 844})
        pages["fa"].screenshot(path=str(ARTIFACTS / "live-recovered-fa-390.png"))


def test_the_stream_tells_a_manager_only_of_their_branches(client: FlaskClient, data: Path) -> None:
    """Fleet and alert events carry olga's branch only, and a change in another branch sends her nothing."""
    login(client, "olga")
    response = client.get("/api/v1/stream", buffered=False)
    chunks = iter(response.response)

    def events(until: float) -> list[tuple[str, Any]]:
        seen = []
        for chunk in chunks:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            found = re.match(r"event: (\w+)\ndata: (.*)\n\n", text, re.S)
            if found:
                seen.append((found[1], json.loads(found[2])))
            if time.monotonic() > until or {"overview", "alerts", "fleet"} <= {e for e, _ in seen}:
                break
        return seen

    first = dict(events(time.monotonic() + 5))
    assert {r["branch"] for r in first["fleet"]["rows"]} == {"b1"}
    assert {r["branch"] for r in first["alerts"]["rows"]} == {"b1"}
    heartbeat(data, "b2", "k9", outbox_depth=9)  # another branch's kiosk and alert
    db = open_db(data)
    hub_alerts.fire(db, "day_index", "b2", "Index below 40 today")
    db.conn.close()
    publish(data, "b2", "k9", 4, 3)
    heartbeat(data, "b1", "k1", outbox_depth=0)  # then one of hers: this, and only this, is news
    news = events(time.monotonic() + 3)
    assert [e for e, _ in news] == ["fleet"], news
    assert {r["branch"] for r in news[0][1]["rows"]} == {"b1"}
    response.close()
