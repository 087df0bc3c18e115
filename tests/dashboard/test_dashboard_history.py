"""A figure read as its kept past days plus its newest ones equals the figure read whole (dashboard.history).

Each step changes the aggregates the way the hub does (presses today, a late press for an old
day, a re-attribution, a rebuild after a time zone change); after each, every period figure the
dashboard splits is computed both ways on the same database and must be equal, on SQLite and
PostgreSQL. With the marks switched off (hub.aggregates._marking) the kept days miss the late
press and the re-attribution, and these tests fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dashboard import cache, figures, history
from hub import aggregates, branches, scores
from hub import roster as hub_roster
from hub.db import open_db
from hub.store import Database
from otklik import times
from tests.analytics_util import feed, press

ZONE = "Asia/Tokyo"  # far from UTC: local days and UTC days differ for most of the day


@pytest.fixture
def db(hub_target: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("OTKLIK_DASH_CACHE", "1")
    cache.clear()
    database = open_db(hub_target)
    for name in ("b1", "b2"):
        branches.update(database, name, timezone=ZONE)
    yield database
    cache.clear()
    database.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _local_today() -> date:
    return times.local_today(branches.zone(ZONE), _now())


def _at(days_ago: int, hour: int) -> datetime:
    """A moment ``days_ago`` local days before today, at ``hour`` local, as UTC; never later than now."""
    day = _local_today() - timedelta(days=days_ago)
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=branches.zone(ZONE)).astimezone(UTC)
    return min(moment, _now() - timedelta(seconds=1))


def _history(db: Database, seed: int) -> None:
    """Presses on the last 40 local days in both branches, some named, some flagged."""
    messages = []
    for days_ago in range(40, 0, -1):
        for i in range(3):
            branch = ("b1", "b2")[(days_ago + i) % 2]
            employee = (None, "e1", "e2")[(days_ago + i + seed) % 3] if branch == "b1" else "e3"
            flags = ["cooldown"] if (days_ago + i) % 7 == 0 else None
            messages.append(press(_at(days_ago, 9 + i), 1 + (days_ago * 3 + i + seed) % 4, branch=branch,
                                  kiosk=f"k{i % 2}", employee=employee, flags=flags))  # fmt: skip
    feed(db, messages)


def _today(db: Database, n: int) -> None:
    now = _now()
    feed(
        db, [press(now - timedelta(seconds=i + 1), 1 + i % 4, branch="b1", kiosk="k0", employee="e1") for i in range(n)]
    )


def _figures(db: Database) -> dict[str, Any]:
    """Every split figure of the dashboard, and the reads behind them."""
    names = ["b1", "b2"]
    today = _local_today()
    tomorrow = today + timedelta(days=1)
    periods = tuple((name, today - timedelta(days=29), tomorrow) for name in names)
    return {
        "overview": figures._overview(db, tuple(names), _now()),
        "field": figures._field.__wrapped__(db, periods, 1),  # type: ignore[attr-defined]
        "30 days by employee": history.fetch(
            db, ["branch", "employee"], branch=names, start=today - timedelta(days=29), end=tomorrow
        ),
        "14 days by day": history.fetch(
            db, ["branch", "period"], branch=names, start=today - timedelta(days=13), end=tomorrow, grain="day"
        ),
        # Not by branch: b2's newest day is yesterday, b1's today, so a day has rows on both sides of a cut.
        "both branches by day": history.fetch(
            db, ["period"], branch=names, start=today - timedelta(days=13), end=tomorrow, grain="day"
        ),
        "a past week": history.fetch(
            db, ["branch"], branch=names, start=today - timedelta(days=13), end=today - timedelta(days=6)
        ),
        "35 days, one sum": history.fetch(db, [], branch="b1", start=today - timedelta(days=34), end=tomorrow),
    }


def _assert_same_as_whole(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    split = _figures(db)
    with monkeypatch.context() as plain:
        plain.setenv("OTKLIK_DASH_CACHE", "0")  # history.fetch is then hub.scores.fetch, whole
        whole = _figures(db)
    for name in split:
        assert split[name] == whole[name], name


def test_kept_days_plus_newest_equal_the_whole_period_after_every_kind_of_write(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(db, 0)
    _today(db, 3)
    _assert_same_as_whole(db, monkeypatch)
    kept = len(cache._kept)
    assert kept, "the past days were not kept"

    _today(db, 5)  # presses today: the kept days serve, today is read again
    _assert_same_as_whole(db, monkeypatch)
    assert len(cache._kept) == kept, "a press today made the past days be read again"

    feed(db, [press(_at(9, 11), 4, branch="b1", kiosk="k1", employee="e2")])  # a late press, 9 days old
    _assert_same_as_whole(db, monkeypatch)

    # A shift over a day three weeks ago: the presses nobody was credited with move to e2's rows.
    hub_roster.add_employee(db, "e2", "b1", "Eva", actor=hub_roster.ADMIN)
    hub_roster.add_shift(db, "e2", "b1", _at(22, 0), _at(22, 23), actor=hub_roster.ADMIN)
    _assert_same_as_whole(db, monkeypatch)

    # Another zone for b1: every local day of it moves, and the rows are counted again.
    branches.update(db, "b1", timezone="America/Los_Angeles")
    aggregates.rebuild(db, "b1")
    _assert_same_as_whole(db, monkeypatch)
    branches.update(db, "b1", timezone=ZONE)
    aggregates.rebuild(db)
    _assert_same_as_whole(db, monkeypatch)
    _today(db, 2)
    _assert_same_as_whole(db, monkeypatch)


def test_marks_move_only_for_a_write_before_the_newest_day(db: Database) -> None:
    _history(db, 1)
    newest, moved = history.marks(db, ["b1"])["b1"]
    assert newest == (_local_today() - timedelta(days=1)).isoformat()
    _today(db, 2)
    assert history.marks(db, ["b1"])["b1"] == (_local_today().isoformat(), moved)
    _today(db, 2)
    assert history.marks(db, ["b1"])["b1"] == (_local_today().isoformat(), moved)
    feed(db, [press(_at(3, 10), 2, branch="b1")])
    assert history.marks(db, ["b1"])["b1"] == (_local_today().isoformat(), moved + 1)
    aggregates.rebuild(db, "b2")
    assert history.marks(db, ["b1"])["b1"][1] == moved + 1  # another branch's rebuild
    assert history.marks(db, ["b2"])["b2"][1] > 0


def test_a_database_counted_before_the_marks_gets_its_newest_days(tmp_path: Any) -> None:
    # The migration fills the marks from the rows there are: a kept past is then keyed right away.
    path = tmp_path / "hub.db"
    db = open_db(path)
    branches.update(db, "b1", timezone=ZONE)
    _history(db, 2)
    db.execute("DELETE FROM agg_marks")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_agg_marks'")
    db.execute("DROP TABLE agg_marks")
    db.conn.commit()
    db.conn.close()
    db = open_db(path)
    assert history.marks(db, ["b1"]) == {"b1": ((_local_today() - timedelta(days=1)).isoformat(), 0)}
    assert scores.fetch(db, ["branch"], branch="b1") == history.fetch(db, ["branch"], branch="b1",
                                                                     start="2000-01", end="2100-01")  # fmt: skip
    db.conn.close()
