"""The kiosk sleeps outside its branch's opening hours, pushed from the hub; presses still count.

The same branch hours drive the hub's misuse rule, so a press made while the kiosk sleeps is
stored, sent and flagged ``hours`` by the hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from gpiozero.pins.mock import MockFactory

from hub import branches
from hub.db import open_db
from hub.provisioning.cli import config_group
from kiosk.buttons import ButtonPanel
from kiosk.sleep import MAX_WAIT_S, SleepSchedule
from otklik.settings import DAYS, OpeningHours
from tests.broker import wait_until
from tests.test_provision_broker import heartbeat_extra, hub_service, make_kiosk, press
from tests.test_provision_env import Store, store_fixture

TZ = "Asia/Tehran"  # +03:30: a zone whose hours are not UTC's
STATUS_PIN = 21


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_fixture(tmp_path)


def test_schedule_sleeps_and_wakes_at_the_edges_and_stays_awake_without_a_clock() -> None:
    now = [datetime(2026, 11, 16, 7, 59, tzinfo=UTC)]  # Monday
    synced = [True]
    changes: list[bool] = []
    schedule = SleepSchedule(changes.append, clock_synced=lambda: synced[0], now=lambda: now[0])
    schedule.set_hours(OpeningHours.parse("mon-fri 08:00-21:00; sat 22:00-02:00"), UTC)
    assert schedule.asleep and changes == [True]
    assert schedule.check() <= 60.5  # it looks again at 08:00, not a minute late
    now[0] = now[0].replace(hour=8)
    schedule.check()
    assert not schedule.asleep and changes == [True, False]
    now[0] = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # Sunday 01:00: Saturday's overnight span
    assert schedule.check() == MAX_WAIT_S and not schedule.asleep
    now[0] = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    schedule.check()
    assert schedule.asleep
    synced[0] = False  # NTP lost after a reboot: the local time is unknown, stay awake
    schedule.check()
    assert not schedule.asleep
    synced[0] = True
    schedule.set_hours(None, UTC)  # always open
    assert not schedule.asleep and changes == [True, False, True, False]


def test_asleep_the_offline_light_is_dark_and_a_press_still_counts_and_blinks(mock_pins: MockFactory) -> None:
    stored: list[int] = []
    panel = ButtonPanel([5, 6, 13, 19], [1, 2, 3, 4], lambda score, flags: stored.append(score),
                        thanks_pin=20, status_pin=STATUS_PIN, pin_factory=mock_pins)  # fmt: skip
    try:
        panel.set_status(True)  # offline
        assert panel.status is not None and panel.status.is_lit
        panel.set_asleep(True)
        assert not panel.status.is_lit
        press(mock_pins, 13)
        assert stored == [3] and panel.stored == 1
        wait_until(lambda: any(s.state for s in mock_pins.pin(20).states), message="the thank-you blink")
        panel.set_asleep(False)
        assert panel.status.is_lit  # still offline once awake
    finally:
        panel.close()


def _spec(start: datetime, end: datetime) -> str:
    return f"{DAYS[start.weekday()]} {start:%H:%M}-{end:%H:%M}"


def _set_hours(store: Store, hours: str) -> str:
    pw = store.root / "etc" / "otklik-hub-push.password"
    return store.run(config_group, "set", "--branch", "b1", "--hours", hours,
                     "--broker", store.url, "--password-file", str(pw), "--ca-file", store.ca)  # fmt: skip


def _flags(store: Store) -> list[str]:
    return [f for (f,) in open_db(store.db).execute("SELECT flags FROM events ORDER BY seq")]


@pytest.mark.broker
def test_branch_hours_put_the_kiosk_to_sleep_and_the_hub_flags_its_presses(
    store: Store, mock_pins: MockFactory
) -> None:
    db = open_db(store.db)
    branches.update(db, "b1", timezone=TZ)
    db.close()
    bundle_dir = store.provision_kiosk("b1", "k1", "--cooldown", "0")  # two presses here are seconds apart
    hub = hub_service(store)
    kiosk = make_kiosk(store, bundle_dir, mock_pins)
    try:
        assert kiosk.wait_connected(10) and not kiosk.sleep.asleep
        local = datetime.now(ZoneInfo(TZ))
        # Open two days from now only: closed now, far outside the hub's 15 min grace.
        out = _set_hours(store, _spec(local + timedelta(days=2), local + timedelta(days=2, hours=1)))
        assert "b1/k1: config version 2" in out and "pushed b1/k1 config version 2" in out
        wait_until(lambda: kiosk.sleep.asleep, message="the kiosk to fall asleep outside its hours")
        assert kiosk.remote_settings is not None and kiosk.remote_settings.timezone == TZ
        press(mock_pins, 19)
        wait_until(lambda: _flags(store) == ["hours"], message="the asleep press stored and flagged 'hours'")
        # Now open from an hour ago to an hour ahead (past midnight when it must be).
        _set_hours(store, _spec(local - timedelta(hours=1), local + timedelta(hours=1)))
        wait_until(lambda: not kiosk.sleep.asleep, message="the kiosk to wake in its hours")
        press(mock_pins, 5)
        wait_until(lambda: _flags(store) == ["hours", ""], message="the awake press stored unflagged")
        wait_until(lambda: heartbeat_extra(store, "b1", "k1").get("config_version") == 3,
                   message="the heartbeat to report config version 3")  # fmt: skip
        # Closed again; then (below) a restart with the hub away: the kiosk sleeps from its saved push.
        _set_hours(store, _spec(local + timedelta(days=2), local + timedelta(days=2, hours=1)))
        wait_until(lambda: kiosk.sleep.asleep, message="asleep again")
    finally:
        kiosk.stop()
        hub.stop()
    again = make_kiosk(store, bundle_dir, mock_pins)
    try:
        assert again.remote_config is not None and again.remote_config.version == 4
        assert again.sleep.asleep
    finally:
        again.stop()
