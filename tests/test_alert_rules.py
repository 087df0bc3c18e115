"""The rules a manager would trust, on generated streams whose truth is known: the statistical
change rule (quiet on a busy branch's normal bad hour, firing on a quiet branch whose rate really
jumped, per branch and per kiosk), positive alerts, the silent kiosk, auto-resolve, and alert
texts in every language."""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub import alert_text, alerts, branches, ingest, notify
from hub.db import open_db
from otklik import protocol, times
from tests.analytics_util import feed, press

# A Saturday, 18:50 UTC: the window is 17:50-18:50, its baseline the same hours of past Saturdays.
NOW = datetime(2026, 11, 21, 18, 50, tzinfo=UTC)
QUIET_RULES = {"unhappy_share_pct": 101, "day_index_below": "off", "silent_after_min": 0}


@pytest.fixture
def db(hub_target):
    database = open_db(hub_target)
    yield database
    database.close()


def stream(rng: random.Random, start: datetime, minutes: float, n: int, unhappy: float, very_happy: float = 0.3,
           branch: str = "b1", kiosk: str = "k1") -> list:  # fmt: skip
    """``n`` presses spread over ``minutes`` from ``start``; each unhappy with probability ``unhappy``."""
    out = []
    for i in range(n):
        when = start + timedelta(minutes=minutes * (i + rng.random()) / n)
        u = rng.random()
        score = rng.choice((1, 2)) if u < unhappy else (4 if u < unhappy + very_happy else 3)
        out.append(press(when, score, branch=branch, kiosk=kiosk))
    return out


def history(db, rng: random.Random, n_per_hour: int, unhappy: float, weeks: int = 8, **kw: Any) -> None:
    """The same Saturday 17:00-19:00 of each past week at the branch's normal rate."""
    for w in range(1, weeks + 1):
        start = NOW.replace(hour=17, minute=0) - timedelta(weeks=w)
        feed(db, stream(rng, start, 120, 2 * n_per_hour, unhappy, **kw), start + timedelta(hours=2))


def change_alerts(db, branch: str = "b1", now: datetime = NOW) -> list[tuple[str, str]]:
    return [(a["rule"], a["kiosk"]) for a in alerts.evaluate(db, now, only=[branch]) if a["rule"] != "kiosk_offline"]


def test_busy_branch_with_a_normally_bad_hour_stays_quiet(db):
    """Saturday evening at these branches is always 40 % unhappy: that is their normal, not news."""
    rng = random.Random(1)
    fired = []
    for branch in ("busy1", "busy2", "busy3"):
        branches.update(db, branch, **QUIET_RULES)
        history(db, rng, 100, 0.40, branch=branch)
        for w in range(1, 9):  # its weekday mornings are calm: a branch-wide baseline would be ~25 %
            start = NOW.replace(hour=9, minute=0) - timedelta(weeks=w, days=4)
            feed(db, stream(rng, start, 120, 100, 0.10, branch=branch), start + timedelta(hours=2))
        feed(db, stream(rng, NOW - timedelta(minutes=60), 60, 100, 0.40, branch=branch), NOW)
        fired += change_alerts(db, branch)
    assert fired == []


def test_quiet_branch_whose_rate_jumped_fires_and_a_normal_hour_does_not(db):
    rng = random.Random(2)
    for branch in ("normal", "jumped"):
        branches.update(db, branch, **QUIET_RULES)
        history(db, rng, 6, 0.10, branch=branch)  # six presses an hour, one in ten unhappy
    feed(db, stream(rng, NOW - timedelta(minutes=60), 60, 8, 0.10, branch="normal"), NOW)
    assert change_alerts(db, "normal") == [], "a normal hour of a quiet branch fired"
    # Something went wrong: 7 of 10 presses unhappy this hour.
    scores = [1, 2, 1, 3, 1, 2, 4, 1, 3, 2]
    feed(db, [press(NOW - timedelta(minutes=50 - 5 * i), s, branch="jumped") for i, s in enumerate(scores)])
    [alert] = [a for a in alerts.evaluate(db, NOW, only=["jumped"]) if a["rule"] == "unhappy_change"]
    assert alert["kiosk"] == "" and alert["value"] == 70.0
    assert alert["details"]["p_value"] < 0.001 and alert["details"]["baseline_responses"] >= 90
    assert alert["message"].startswith("jumped: 70% unhappy (7 of 10) in the last 60 min, usually 1")


def test_the_change_needs_enough_presses(db):
    branches.update(db, "b1", **QUIET_RULES)
    history(db, random.Random(3), 6, 0.10)
    need = branches.get(db, "b1").change_min_responses
    feed(db, [press(NOW - timedelta(minutes=10 + i), 1) for i in range(need - 1)])  # all unhappy, one too few
    assert change_alerts(db) == []
    feed(db, [press(NOW - timedelta(minutes=1), 1)])
    assert change_alerts(db) == [("unhappy_change", "")]


def test_per_kiosk_change_finds_the_one_kiosk_that_went_wrong(db):
    branches.update(db, "b1", **QUIET_RULES)
    rng = random.Random(4)
    for kiosk in ("exit", "till"):
        history(db, rng, 40, 0.15, kiosk=kiosk)
    feed(db, stream(rng, NOW - timedelta(minutes=60), 60, 40, 0.15, kiosk="exit"), NOW)
    feed(db, stream(rng, NOW - timedelta(minutes=60), 60, 16, 0.75, kiosk="till"), NOW)
    found = change_alerts(db)
    assert ("unhappy_change", "till") in found and ("unhappy_change", "exit") not in found


def test_positive_alerts_are_off_by_default_and_find_an_unusually_good_hour(db):
    branches.update(db, "b1", **QUIET_RULES)
    rng = random.Random(5)
    history(db, rng, 20, 0.2, very_happy=0.2)
    feed(db, stream(rng, NOW - timedelta(minutes=60), 60, 20, 0.0, very_happy=0.95), NOW)
    assert change_alerts(db) == []
    branches.update(db, "b1", positive_alerts="on")
    [alert] = [a for a in alerts.evaluate(db, NOW, only=["b1"]) if a["rule"] == "good_hour"]
    assert "unusually good hour" in alert["message"] and alert["details"]["p_value"] < 0.001


def test_change_pvalue_accounts_for_a_thin_baseline():
    # The same 6 of 10 is strong evidence against a baseline of 1000 presses at 10 %, weak against 10.
    assert alerts.change_pvalue(6, 10, 100, 1000) < 1e-3 < alerts.change_pvalue(6, 10, 1, 10)
    assert alerts.change_pvalue(0, 10, 1, 10) == 1.0
    # beta-binomial with a = b = 1 (no history) is uniform: P(X >= 10 of 10) = 1/11
    assert alerts.change_pvalue(10, 10, 0, 0) == pytest.approx(1 / 11)


# --- silent kiosk ---------------------------------------------------------------------


def heartbeat(db, at: datetime, kiosk: str = "k1") -> None:
    body = protocol.heartbeat_payload(branch="b1", kiosk=kiosk, uptime_s=5, version="t", outbox_depth=0,
                                      last_seq_sent=0)  # fmt: skip
    assert ingest.handle_message(db, protocol.topic("b1", kiosk, "heartbeat"), protocol.encode(body), at).result


def reaction(db, at: datetime, visitors: int, kiosk: str = "k1") -> None:
    body = {"v": 1, "branch": "b1", "kiosk": kiosk, "id": "r" + "".join(random.choices(string.ascii_lowercase, k=12)),
            "window_start": times.format_ts(at), "window_s": 60, "visitors": visitors, "smiling": 0,
            "frames": 300, "fps": 5.0, "detector": "test"}  # fmt: skip
    assert ingest.handle_message(db, protocol.topic("b1", kiosk, "reaction"), protocol.encode(body), at).result


def silent(db, now: datetime = NOW) -> list[dict]:
    return [a for a in alerts.evaluate(db, now, only=["b1"]) if a["rule"] == "kiosk_silent"]


def test_an_online_kiosk_that_stops_being_pressed_in_its_busy_hour(db):
    branches.update(db, "b1", unhappy_share_pct=101, day_index_below="off", change_alpha=0)
    history(db, random.Random(6), 20, 0.2)  # 20 presses an hour on Saturday evenings
    feed(db, [press(NOW - timedelta(minutes=70), 3)], NOW - timedelta(minutes=70))
    heartbeat(db, NOW - timedelta(minutes=1))
    [alert] = silent(db)
    assert alert["kiosk"] == "k1" and alert["value"] == 70 and alert["details"]["expected"] >= 15
    assert "online but no press for 70 min" in alert["message"] and "presses expected" in alert["message"]


def test_silence_is_news_only_when_presses_were_due(db):
    branches.update(db, "b1", unhappy_share_pct=101, day_index_below="off", change_alpha=0)
    # No history at this hour: a quiet evening is not a broken kiosk.
    feed(db, [press(NOW - timedelta(minutes=70), 3)], NOW - timedelta(minutes=70))
    heartbeat(db, NOW - timedelta(minutes=1))
    assert silent(db) == []
    # ...unless the camera keeps seeing visitors walk past the kiosk.
    for i in range(6):
        reaction(db, NOW - timedelta(minutes=60 - 10 * i), 3)
    [alert] = silent(db)
    assert alert["details"]["visitors"] == 18 and "camera counted 18 visitors" in alert["message"]


def test_silent_kiosk_needs_it_online_and_the_branch_open(db):
    branches.update(db, "b1", unhappy_share_pct=101, day_index_below="off", change_alpha=0)
    history(db, random.Random(7), 20, 0.2)
    feed(db, [press(NOW - timedelta(minutes=70), 3)], NOW - timedelta(minutes=70))
    heartbeat(db, NOW - timedelta(minutes=30))  # last heartbeat 30 min ago: offline, a different alert
    assert silent(db) == []
    heartbeat(db, NOW - timedelta(minutes=1))
    branches.update(db, "b1", hours="mon-sat 08:00-17:00")  # the shop closed at 17:00
    assert silent(db) == []
    branches.update(db, "b1", hours="mon-sat 08:00-21:00")
    assert len(silent(db)) == 1


# --- auto-resolve -----------------------------------------------------------------------


def test_an_alert_resolves_itself_once_its_condition_has_been_gone_long_enough(db):
    branches.update(db, "b1", day_index_below="off", change_alpha=0, silent_after_min=0, auto_resolve_min=30,
                    offline_after_min=1000)  # fmt: skip
    feed(db, [press(NOW - timedelta(minutes=4 - i), s) for i, s in enumerate([1, 1, 2, 4])])
    changes = alerts.check(db, NOW, only=["b1"])
    [alert] = changes.opened
    # 20 min on the 15-min window is empty: the condition is gone, the clock starts.
    assert alerts.check(db, NOW + timedelta(minutes=20), only=["b1"]).resolved == []
    assert alerts.get(db, alert["id"])["cleared_at"] is not None
    # It comes back before 30 min are up: the clock is reset, the alert stays the same one.
    feed(db, [press(NOW + timedelta(minutes=40 + i), s) for i, s in enumerate([1, 1, 2, 4])])
    again = alerts.check(db, NOW + timedelta(minutes=44), only=["b1"])
    assert again.opened == [] and alerts.get(db, alert["id"])["cleared_at"] is None
    assert alerts.check(db, NOW + timedelta(minutes=70), only=["b1"]).resolved == []  # gone since 70
    assert alerts.check(db, NOW + timedelta(minutes=99), only=["b1"]).resolved == []
    [done] = alerts.check(db, NOW + timedelta(minutes=100), only=["b1"]).resolved
    assert (done["id"], done["state"], done["resolved_by"]) == (alert["id"], "resolved", "auto")
    assert done["resolve_note"] == "condition cleared for 30 min"
    assert alert_text.resolved_by(done, "ru").startswith("автоматически")


def test_auto_resolve_off_keeps_the_alert_for_a_person(db):
    branches.update(db, "b1", day_index_below="off", change_alpha=0, silent_after_min=0, auto_resolve_min=0,
                    offline_after_min=10000)  # fmt: skip
    feed(db, [press(NOW - timedelta(minutes=4 - i), s) for i, s in enumerate([1, 1, 2, 4])])
    [alert] = alerts.evaluate(db, NOW, only=["b1"])
    assert alerts.check(db, NOW + timedelta(days=1), only=["b1"]).resolved == []
    assert alerts.get(db, alert["id"])["state"] == "open"


# --- texts ---------------------------------------------------------------------------------


def test_every_text_exists_in_every_language_with_the_same_placeholders():
    fields = string.Formatter()
    for kind, texts in alert_text.TEXTS.items():
        assert set(texts) == set(alert_text.LANGUAGES), kind
        names = {lang: {f for _, f, _, _ in fields.parse(t) if f} for lang, t in texts.items()}
        assert names["ru"] == names["en"] == names["fa"], kind
    for state in alerts.STATES:
        assert set(alert_text.STATES[state]) == set(alert_text.LANGUAGES)


def test_an_alert_reads_in_the_readers_language_and_old_alerts_keep_their_text(db):
    branches.update(db, "b1", day_index_below="off", alert_language="fa")
    feed(db, [press(NOW - timedelta(minutes=4 - i), s) for i, s in enumerate([1, 1, 2, 4])])
    [alert] = alerts.evaluate(db, NOW, only=["b1"])
    assert alert_text.render(alert, "ru") == "b1: 75% недовольных (3 из 4 нажатий) за последние 15 мин (порог 50%)"
    # One digit style in Persian: every number of the text in Persian digits, the branch id as it is.
    assert alert_text.render(alert, "fa-IR").startswith("b1: ۷۵٪ ناراضی (۳ از ۴ فشار)")
    assert alert_text.render(alert, "de") == alert["message"]  # unknown language: English
    body = notify.payload(alert, branches.get(db, "b1").alert_language)
    assert body["language"] == "fa" and body["state_text"] == "باز" and "ناراضی" in body["message"]
    json.dumps(body)
    old = alerts.fire(db, "backlog", "b1", "b1/k9: 300 presses waiting (old text)", kiosk="k9", now=NOW)
    assert old is not None and alert_text.render(old, "ru") == "b1/k9: 300 presses waiting (old text)"


def test_e_mail_and_mqtt_texts_write_moments_by_the_branchs_clock_in_its_digits():
    # A kiosk offline since 20:05 UTC is offline since 06:05 in Vladivostok (UTC+10), the next day.
    alert = {"id": 12, "rule": "kiosk_offline", "branch": "b1", "kiosk": "k1", "state": "open",
             "opened_at": "2026-11-21T20:20:00.000Z", "details": {},
             "params": {"text": "kiosk_offline", "since": "2026-11-21T20:05:00.000Z", "limit_min": 10.0}}  # fmt: skip
    zone = ZoneInfo("Asia/Vladivostok")
    assert alert_text.render(alert, "en", zone=zone) == "b1/k1: offline since 2026-11-22 06:05 (more than 10 min)"
    fa = alert_text.render(alert, "fa", zone=zone)
    # Persian: the Solar Hijri date (1405/9/1 is 2026-11-22), as the dashboard writes it (otklik/dates.py).
    assert fa == "b1/k1: از ۱۴۰۵/۹/۱، ۰۶:۰۵ آفلاین است (بیش از ۱۰ دقیقه)"
    body = alert_text.email_body(alert, "fa", zone)
    assert "۱۴۰۵/۹/۱، ۰۶:۲۰ (Asia/Vladivostok)" in body and "هشدار ۱۲ " in body
    # Latin digits only in ids and in the command to type.
    assert {d for d in body.replace("b1/k1", "").replace("ack 12", "") if d.isascii() and d.isdigit()} == set()
    assert notify.payload(alert, "fa", zone)["message"] == fa
    assert notify.payload(alert, "fa", zone)["opened_at"] == alert["opened_at"]  # for programs: UTC as stored
