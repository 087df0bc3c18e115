"""Scores against hand-computed values: index, Wilson interval, shrunk ranking, periods, heatmap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub import aggregates, branches, scores
from hub.db import open_db
from hub.periods import split
from otklik import times
from tests.analytics_util import feed, local, press


@pytest.fixture
def db(hub_target):
    database = open_db(hub_target)
    yield database
    database.close()


def test_satisfaction_index_weights():
    assert scores.index_of([0, 0, 0, 0]) is None
    assert scores.index_of([1, 0, 0, 0]) == 0
    assert scores.index_of([0, 0, 0, 3]) == 100
    # one of each: (0 + 33.3 + 66.7 + 100) / 4 = 50
    assert scores.index_of([1, 1, 1, 1]) == pytest.approx(50)
    assert scores.index_of([0, 1, 2, 0]) == pytest.approx((100 / 3 + 2 * 200 / 3) / 3)


def test_wilson_matches_hand_computation():
    # 7 of 10, z = 1.96: centre (0.7 + 3.8415/20) / 1.38415 = 0.64449,
    # half 1.96/1.38415 * sqrt(0.021 + 0.0096037) = 0.24772  ->  0.3968 .. 0.8922
    low, high = scores.wilson(7, 10)
    assert low == pytest.approx(0.39677, abs=1e-4)
    assert high == pytest.approx(0.89221, abs=1e-4)
    # 0 of 5: the lower end is 0, the upper end z^2 / (n + z^2) = 3.8415 / 8.8415
    assert scores.wilson(0, 5) == (0.0, pytest.approx(0.43449, abs=1e-4))
    assert scores.wilson(0, 0) == (None, None)


def test_summary_fields_from_counts(db):
    # 1x button1, 2x button2, 3x button3, 4x button4 on one kiosk:
    # index = (0*1 + 33.33*2 + 66.67*3 + 100*4) / 10 = 66.67; positive 7/10; very unhappy 1/10
    t = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    messages = [press(t + timedelta(minutes=i), s) for i, s in enumerate([1, 2, 2, 3, 3, 3, 4, 4, 4, 4])]
    feed(db, messages)
    [row] = scores.report(db, "kiosk")
    assert row["counts"] == {"1": 1, "2": 2, "3": 3, "4": 4}
    assert row["responses"] == 10
    assert row["index"] == 66.7
    assert row["positive_share"] == 0.7
    assert (row["positive_low"], row["positive_high"]) == (0.3968, 0.8922)
    assert row["very_unhappy_share"] == 0.1
    assert row["flagged"]["total"] == 0


def _employee_presses(employee: str, fours: int, threes: int, twos: int, start: datetime) -> list:
    scores_ = [4] * fours + [3] * threes + [2] * twos
    # one press every 30 s: far from the burst rule
    return [press(start + timedelta(seconds=30 * i), s, employee=employee, kiosk=f"k-{employee}")
            for i, s in enumerate(scores_)]  # fmt: skip


def test_shrunk_ranking_does_not_crown_a_small_sample(db):
    t = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    feed(db, _employee_presses("ann", 3, 0, 0, t))  # 3 presses, raw 100
    feed(db, _employee_presses("bob", 51, 9, 0, t))  # 60 presses, raw (51*100 + 9*66.67)/60 = 95.0
    feed(db, _employee_presses("cat", 0, 30, 30, t))  # 60 presses, raw 50.0
    # pooled mean = (300 + 5700 + 3000) / 123 = 73.17; W = 30
    # ann (30*73.17 + 3*100)/33 = 75.6; bob (2195.1 + 5700)/90 = 87.7; cat (2195.1 + 3000)/90 = 57.7
    ranked = scores.ranking(db, "employee", min_responses=1, weight=30)
    assert [(r["employee"], r["index"], r["adjusted_index"], r["rank"]) for r in ranked] == [
        ("bob", 95.0, 87.7, 1),
        ("ann", 100.0, 75.6, 2),
        ("cat", 50.0, 57.7, 3),
    ]
    # under the minimum: left out of the ranking, still shown (rank None) in the report
    ranked = scores.ranking(db, "employee", min_responses=5, weight=30)
    assert [r["employee"] for r in ranked] == ["bob", "cat"]
    rows = {r["employee"]: r for r in scores.report(db, "employee", min_responses=5, weight=30)}
    assert rows["ann"]["rank"] is None and rows["ann"]["adjusted_index"] == 75.6
    # W = 0 is the raw index
    assert [r["employee"] for r in scores.ranking(db, "employee", min_responses=1, weight=0)] == ["ann", "bob", "cat"]


def test_a_ranking_across_time_zones_gives_each_branch_its_own_days(db):
    # 20:00 UTC on 2026-11-22 is 06:00 on the 23rd in Vladivostok and 23:00 on the 22nd in Moscow.
    branches.update(db, "vl", timezone="Asia/Vladivostok")
    branches.update(db, "msk", timezone="Europe/Moscow")
    t = datetime(2026, 11, 22, 19, 30, tzinfo=UTC)  # 05:30 on the 23rd in vl, 22:30 on the 22nd in msk
    feed(db, [press(t, 4, branch="vl", employee="ann"), press(t, 3, branch="msk", employee="bob")])
    now = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
    today = {b: times.local_today(branches.get(db, b).zone, now) for b in ("vl", "msk")}
    periods = {b: (day, day + timedelta(days=1)) for b, day in today.items()}
    ranked = scores.ranking(db, "employee", periods=periods, min_responses=1)
    assert [(r["branch"], r["employee"], r["responses"]) for r in ranked] == [("vl", "ann", 1), ("msk", "bob", 1)]
    # One calendar day for both (the UTC date) would have lost Vladivostok's press.
    utc_day = now.date()
    ranked = scores.ranking(db, "employee", start=utc_day, end=utc_day + timedelta(days=1), min_responses=1)
    assert [r["employee"] for r in ranked] == ["bob"]


def test_periods_are_branch_local_and_roll_up(db):
    branches.update(db, "b1", timezone="Asia/Yekaterinburg")  # UTC+5
    # 2026-11-30 22:30 UTC is 2026-12-01 03:30 in Yekaterinburg: December, Tuesday
    feed(
        db, [press(datetime(2026, 11, 30, 22, 30, tzinfo=UTC), 4), press(datetime(2026, 11, 30, 18, 0, tzinfo=UTC), 1)]
    )
    assert [(r["period"], r["responses"]) for r in scores.series(db, "month")] == [("2026-11", 1), ("2026-12", 1)]
    assert [r["period"] for r in scores.series(db, "day")] == ["2026-11-30", "2026-12-01"]
    assert [r["period"] for r in scores.series(db, "hour")] == ["2026-11-30T23", "2026-12-01T03"]
    assert [(r["period"], r["start"]) for r in scores.series(db, "week")] == [("2026-W49", "2026-11-30")]
    # Saturday-first weeks (Persian): Saturday 28 November starts the week of both presses.
    assert [(r["period"], r["start"], r["responses"]) for r in scores.series(db, "week", first_weekday=5)] == [
        ("2026-11-28", "2026-11-28", 2)
    ]
    cells = {(c["dow"], c["hour"]): c["responses"] for c in scores.heatmap(db) if c["responses"]}
    assert cells == {(0, 23): 1, (1, 3): 1}  # Monday 23:00 and Tuesday 03:00 local
    assert scores.total(db, start="2026-12-01", end="2026-12-02")["counts"]["4"] == 1
    # a time zone change moves every bucket once the branch is rebuilt
    branches.update(db, "b1", timezone="UTC")
    aggregates.rebuild(db, "b1")
    assert [r["period"] for r in scores.series(db, "day")] == ["2026-11-30"]


def test_range_queries_agree_with_hour_rows(db):
    # presses spread over 70 days at odd hours; any range must equal the sum of its hours
    t0 = local("Europe/Moscow", 2026, 1, 20, 5, 0)
    branches.update(db, "b1", timezone="Europe/Moscow")
    feed(db, [press(t0 + timedelta(hours=7 * i + 0.5), 1 + i % 4) for i in range(240)])
    ranges = [
        ("2026-01-25T07", "2026-03-03T13"),
        ("2026-02-01", "2026-03-01"),
        ("2026-01-20T05", "2026-01-20T09"),
        (None, "2026-02-10"),
        ("2026-02-10T01", None),
    ]
    for start, end in ranges:
        whole = scores.total(db, start=start, end=end)
        by_hour = scores.series(db, "hour", start=start, end=end)
        assert whole["responses"] == sum(r["responses"] for r in by_hour) > 0, (start, end)
        cells = scores.heatmap(db, start=start, end=end)
        assert sum(c["responses"] for c in cells) == whole["responses"]
    pieces = split(times.parse_bound("2026-01-25T07"), times.parse_bound("2026-03-03T13"))
    assert ("month", "2026-02", "2026-03") in pieces


def test_flagged_presses_are_kept_counted_by_reason_and_left_out(db):
    t = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    feed(db, [press(t, 4), press(t + timedelta(seconds=2), 1, flags=["cooldown"])])
    [row] = scores.report(db, "branch")
    assert row["responses"] == 1 and row["index"] == 100.0
    assert row["flagged"] == {"cooldown": 1, "burst": 0, "hours": 0, "clock": 0, "other": 0, "total": 1}
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 2


def test_overview_and_camera(db):
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    branches.update(db, "b1", timezone="Europe/Moscow")
    feed(
        db, [press(now - timedelta(hours=1), 4), press(now - timedelta(days=3), 1), press(now - timedelta(days=20), 2)]
    )
    [row] = scores.overview(db, now=now)
    assert row["date"] == "2026-11-22"
    assert (row["today"]["responses"], row["last_7_days"]["responses"], row["last_30_days"]["responses"]) == (1, 2, 3)
    # camera: 40 visitors, 10 smiling in the hour of the one happy press today
    from hub import ingest
    from otklik import protocol

    body = {
        "v": 1, "branch": "b1", "kiosk": "k1", "id": "cam0000001",
        "window_start": times.format_ts(now - timedelta(minutes=50)),
        "window_s": 60.0, "visitors": 40, "smiling": 10, "frames": 300, "fps": 5.0, "detector": "blazeface",
    }  # fmt: skip
    assert (
        ingest.handle_message(db, protocol.topic("b1", "k1", "reaction"), protocol.encode(body), now).result == "stored"
    )
    [cam] = scores.camera(db, start="2026-11-22", end="2026-11-23")
    # 1 press / 40 visitors; smile 10/40 = 25 %; buttons 100 % positive -> 75 points rosier than the faces
    assert (cam["visitors"], cam["response_rate"], cam["smile_share"], cam["button_vs_smile"]) == (
        40,
        0.025,
        0.25,
        75.0,
    )
    assert cam["skewed"] is False  # fewer than 50 visitors: not enough to call it


def test_aggregates_equal_a_rebuild_from_events(db):
    t = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
    branches.update(db, "b1", timezone="Europe/Berlin")  # DST change on 2026-03-29
    feed(db, [press(t + timedelta(minutes=13 * i), 1 + i % 4, kiosk=f"k{i % 3}") for i in range(300)])
    tables = ("agg_hour", "agg_day", "agg_month", "agg_weekhour", "agg_bhour")

    def snapshot():
        return {t: sorted(r for r in db.execute(f"SELECT * FROM {t}") if any(r[-10:])) for t in tables}

    live = snapshot()
    aggregates.rebuild(db)
    assert snapshot() == live
