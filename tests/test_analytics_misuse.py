"""Each misuse rule: bursts, opening hours, kiosk cooldown; per-branch settings; honest defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub import branches, scores
from hub.db import open_db
from otklik.settings import SettingsError, parse_hours
from tests.analytics_util import feed, local, press

TZ = "Europe/Moscow"


@pytest.fixture
def db(hub_target):
    database = open_db(hub_target)
    branches.update(database, "b1", timezone=TZ)
    yield database
    database.close()


def flags(db) -> list[str]:
    return [f for (f,) in db.execute("SELECT flags FROM events ORDER BY ts")]


def test_defaults_flag_nothing_a_busy_honest_store_produces(db):
    # a press every 2 s for 10 minutes, at 3 a.m. on a Sunday: no hours set = always open
    t = local(TZ, 2026, 11, 22, 3, 0)
    feed(db, [press(t + timedelta(seconds=2 * i), 1 + i % 4) for i in range(300)])
    assert set(flags(db)) == {""}
    assert scores.total(db)["responses"] == 300


def test_burst_flags_presses_beyond_the_limit(db):
    # 15 presses 0.5 s apart: the default allows 10 within 10 s, so presses 11..15 are a burst
    t = local(TZ, 2026, 11, 16, 12, 0)
    feed(db, [press(t + timedelta(milliseconds=500 * i), 4) for i in range(15)])
    assert flags(db) == [""] * 10 + ["burst"] * 5
    row = scores.total(db)
    assert (row["responses"], row["flagged"]["burst"], row["flagged"]["total"]) == (10, 5, 5)
    # the same kiosk later, at a calm pace: not flagged
    feed(db, [press(t + timedelta(minutes=5, seconds=3 * i), 3) for i in range(20)])
    assert flags(db).count("burst") == 5


def test_burst_is_per_kiosk_and_per_branch_setting(db):
    branches.update(db, "b2", timezone=TZ, burst_max=3, burst_window_s=60)
    t = local(TZ, 2026, 11, 16, 12, 0)
    # 5 presses 10 s apart on b1/k1, b1/k2 interleaved (10 in 50 s on the branch), and on b2/k1
    messages = []
    for i in range(5):
        messages += [press(t + timedelta(seconds=10 * i), 3, kiosk=k) for k in ("k1", "k2")]
        messages.append(press(t + timedelta(seconds=10 * i), 3, branch="b2"))
    feed(db, messages)
    per_branch = {r["branch"]: r["flagged"]["burst"] for r in scores.report(db, "branch")}
    assert per_branch == {"b1": 0, "b2": 2}


def test_opening_hours_with_grace(db):
    branches.update(db, "b1", hours="mon-fri 09:00-18:00; sat 10:00-16:00", hours_grace_min=15)
    at = lambda d, h, m: local(TZ, 2026, 11, d, h, m)  # noqa: E731  (16 Nov 2026 is a Monday)
    feed(
        db,
        [
            press(at(16, 8, 50), 4),  # Monday, 10 min early: within grace
            press(at(16, 8, 40), 4),  # 20 min early: closed
            press(at(16, 18, 14), 4),  # 14 min after closing: grace
            press(at(21, 12, 0), 4),  # Saturday noon: open
            press(at(22, 12, 0), 4),  # Sunday: not listed, closed
        ],
    )
    row = scores.total(db)
    assert (row["responses"], row["flagged"]["hours"]) == (3, 2)


def test_opening_hours_parsing():
    table = parse_hours("fri 18:00-02:00")
    assert table[4] == [(18 * 60, 24 * 60)] and table[5] == [(0, 120)] and table[0] == []
    assert parse_hours("") is None
    assert parse_hours("mon-sun 00:00-24:00")[6] == [(0, 1440)]
    with pytest.raises(SettingsError, match=r"'funday' is not a weekday|not like"):
        parse_hours("funday 09:00-10:00")
    with pytest.raises(SettingsError, match="time span"):
        parse_hours("mon 9-5")


def test_kiosk_cooldown_flag_is_kept_and_left_out(db):
    t = local(TZ, 2026, 11, 16, 12, 0)
    feed(db, [press(t, 1), press(t + timedelta(seconds=1), 1, flags=["cooldown"])])
    assert flags(db) == ["", "cooldown"]
    row = scores.total(db)
    assert (row["responses"], row["flagged"]["cooldown"]) == (1, 1)


def test_bad_settings_name_the_field(db):
    with pytest.raises(SettingsError, match="burst_max must be a whole number"):
        branches.update(db, "b1", burst_max="many")
    with pytest.raises(SettingsError, match="timezone 'Mars/Olympus'"):
        branches.update(db, "b1", timezone="Mars/Olympus")
    assert branches.get(db, "b1").burst_max == 10
