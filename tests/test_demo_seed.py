"""The demo's history: deterministic for a seed, and it holds the story the demo promises."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from hub import alerts, scores
from hub.db import open_db
from otklik import demo_seed

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday afternoon in every branch but the airport's night
DAYS = 14


def tables(db: Database) -> dict[str, list[tuple]]:
    out = {}
    for name in db.table_names():
        if name == "_sqlite_migrations":  # when each migration ran
            continue
        rows = db.execute(f"SELECT * FROM [{name}]").fetchall()
        if name in ("branch_settings", "kiosk_settings"):  # updated_at is the wall clock of the seeding run
            columns = [c.name for c in db[name].columns]
            rows = [tuple(v for c, v in zip(columns, r, strict=True) if c != "updated_at") for r in rows]
        out[name] = sorted(rows, key=repr)
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, demo_seed.Summary]:
    db = open_db(tmp_path_factory.mktemp("seed") / "hub.db")
    return db, demo_seed.seed(db, days=DAYS, seed=1, now=NOW)


def test_the_same_seed_gives_the_same_tables_and_another_seed_does_not(seeded, tmp_path: Path) -> None:
    db, summary = seeded
    again = open_db(tmp_path / "again.db")
    assert demo_seed.seed(again, days=DAYS, seed=1, now=NOW) == summary
    first, second = tables(db), tables(again)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], f"table {name} differs between two runs with seed 1"
    other = open_db(tmp_path / "other.db")
    demo_seed.seed(other, days=3, seed=2, now=NOW)
    assert tables(other)["events"] != [r for r in first["events"] if r[4] >= (NOW - timedelta(days=3)).isoformat()]


def test_every_message_went_through_ingest_and_was_stored(seeded) -> None:
    db, summary = seeded
    assert summary.rejected == 0
    events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    reactions = db.execute("SELECT count(*) FROM reactions").fetchone()[0]
    assert (events, reactions) == (summary.ratings, summary.reactions)
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    # Each kiosk's seq runs 1..n without a gap, as its outbox counter would give them.
    for branch, kiosk, n, top in db.execute("SELECT branch, kiosk, count(*), max(seq) FROM events GROUP BY 1, 2"):
        assert n == top, f"{branch}/{kiosk}: {n} presses but seq reaches {top}"
    # Aggregates agree with the raw events (ingest wrote both).
    assert db.execute("SELECT SUM(n1 + n2 + n3 + n4 + flagged) FROM agg_month").fetchone()[0] == events


def test_the_chain_has_the_story_the_demo_shows(seeded) -> None:
    db, _ = seeded
    zones = dict(db.execute("SELECT branch, timezone FROM branch_settings").fetchall())
    assert len(set(zones.values())) == 5 and zones["tehran"] == "Asia/Tehran"
    flags = dict(db.execute("SELECT flags, count(*) FROM events GROUP BY flags").fetchall())
    assert flags["burst,cooldown"] >= 15  # the child at the exit
    assert flags["cooldown"] >= 50  # shoppers pressing twice
    assert db.execute("SELECT count(*) FROM events WHERE employee = 'c-pavel'").fetchone()[0] > 50  # a desk pad
    assert db.execute("SELECT count(*) FROM attribution WHERE source = 'shift'").fetchone()[0] > 1000
    # Weekly rhythm: Saturdays busier than Mondays in central.
    by_dow = dict(db.execute(
        "SELECT dow, SUM(n1 + n2 + n3 + n4) FROM agg_weekhour WHERE branch = 'central' GROUP BY dow"
    ).fetchall())  # fmt: skip
    assert by_dow[5] > 1.2 * by_dow[0]
    # Daily rhythm: the after-work hour busier than the first hour.
    heat = scores.heatmap(db, branch="central", start=date(2026, 11, 17), end=date(2026, 12, 2))
    by_hour = {h: sum(c["responses"] for c in heat if c["hour"] == h) for h in range(24)}
    assert by_hour[18] > 2 * by_hour[8] > 0 and by_hour[3] == 0
    # The bad week, the new hire and the unplugged kiosk.
    week = {r["branch"]: r for r in scores.overview(db, now=NOW)}
    assert week["riverside"]["last_7_days"]["index"] < 45 < week["central"]["last_7_days"]["index"]
    ranked = scores.ranking(db, "employee", start=NOW.date() - timedelta(days=DAYS), end=NOW.date() + timedelta(1))
    names = {r["employee"]: r for r in ranked}
    assert "c-olga" not in names and len(names) >= 15
    assert 0 < db.execute("SELECT count(*) FROM attribution WHERE employee = 'c-olga'").fetchone()[0] < 20
    live = alerts.list_alerts(db, state="live")
    assert ("kiosk_offline", "north", "till-1") in {(a["rule"], a["branch"], a["kiosk"]) for a in live}
    assert any(a["branch"] == "riverside" for a in live)
    assert alerts.list_alerts(db, state="resolved")  # managers dealt with the earlier ones
    assert scores.camera(db, branch="central", start=NOW.date() - timedelta(days=7), end=NOW.date())[0]["visitors"]
