"""Raw-event retention (hub/retention.py, `otklik events ...`): archive, then prune; the aggregates stay."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub import aggregates, exports, retention, scores
from hub.db import open_db
from hub.ingest import handle_message
from hub.store import Database
from otklik import protocol, times
from otklik.cli import cli

NOW = datetime.now(UTC)


def _press(db: Database, n: int, when: datetime, branch: str = "b1", score: int = 4, **kw: object) -> None:
    payload = protocol.rating_payload(branch=branch, kiosk="k1", id=f"{branch}-{n:06d}", seq=n,
                                      ts=times.format_ts(when), score=score, **kw)  # fmt: skip
    handle_message(db, protocol.topic(branch, "k1", "rating"), protocol.encode(payload))


@pytest.fixture
def target(hub_target: str | Path) -> str:
    """Retention runs on either store (tests/hub_db.py): a SQLite file, or a PostgreSQL URL."""
    return str(hub_target)


@pytest.fixture
def hub(target: str) -> Iterator[Database]:
    """b1 with presses 9, 8, 7 and 0 months old (one flagged), e1 credited with some."""
    db = open_db(target)
    for i, months in enumerate((9, 9, 8, 7, 0, 0)):
        _press(db, i + 1, NOW - timedelta(days=30 * months + 1), score=1 + i % 4, employee="e1" if i % 2 else None)
    _press(db, 50, NOW - timedelta(days=250), flags=["cooldown"])
    yield db
    db.close()  # before the PostgreSQL schema is dropped


def test_cutoff_is_midnight_utc_by_age_or_date_and_refuses_the_last_month() -> None:
    now = datetime(2026, 8, 31, 15, 30, tzinfo=UTC)
    assert retention.cutoff("6m", now) == datetime(2026, 2, 28, tzinfo=UTC)  # the 31st of a shorter month
    assert retention.cutoff("90d", now) == datetime(2026, 6, 2, tzinfo=UTC)
    assert retention.cutoff("1y", now) == datetime(2025, 8, 31, tzinfo=UTC)
    assert retention.cutoff("2026-05-01", now) == datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(retention.CutoffTooRecent) as refused:
        retention.cutoff("2w", now)
    assert refused.value.field == "--older-than" and "--force" in (refused.value.hint or "")
    assert retention.cutoff("2w", now, force=True) == datetime(2026, 8, 17, tzinfo=UTC)
    with pytest.raises(retention.RetentionError) as bad:
        retention.cutoff("six months", now)
    assert bad.value.field == "--older-than"


def test_archive_then_prune_keeps_the_aggregates_and_refuses_raw_reads_of_the_pruned_months(
    hub: Database, tmp_path: Path
) -> None:
    start, end = (NOW - timedelta(days=400)).date(), (NOW - timedelta(days=200)).date()
    before = scores.total(hub, branch="b1", start=start, end=end)
    by_employee = scores.report(hub, "employee", branch="b1", start=start, end=end)
    cut = retention.cutoff("6m")
    target = tmp_path / "old.jsonl.gz"
    done = retention.archive(hub, target, cut)
    assert done.events == 5  # the 9, 8 and 7 months old, and the flagged one
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = list(retention.read_archive(target))
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert {r["id"] for r in rows} == {"b1-000001", "b1-000002", "b1-000003", "b1-000004", "b1-000050"}
    assert all(r["ts"] < times.format_ts(cut) for r in rows)
    assert next(r for r in rows if r["id"] == "b1-000050")["flags"] == "cooldown"
    assert {r["id"]: r["employee"] for r in rows}["b1-000002"] == "e1"

    with pytest.raises(retention.ArchiveExists):
        retention.archive(hub, target, cut)  # never overwritten
    with pytest.raises(retention.NotArchived):
        retention.prune(hub, retention.cutoff("5m"))  # later than what the archive holds

    pruned = retention.prune(hub, cut, batch=2)  # batches of two: the loop, not one statement
    assert pruned.events == 5
    assert hub.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    assert hub.execute("SELECT count(*) FROM attribution WHERE event_id IN ('b1-000002', 'b1-000004')").fetchone() == (
        0,
    )
    # Every figure of the archived months is still there: the aggregates were not touched.
    assert scores.total(hub, branch="b1", start=start, end=end) == before
    assert scores.report(hub, "employee", branch="b1", start=start, end=end) == by_employee
    months = io.StringIO()
    assert exports.write_aggregates(hub, months, "month", branch="b1", start=start, end=end) == 3
    # Raw rows of a pruned period are refused, naming the archive, not answered with silence.
    with pytest.raises(retention.EventsArchived) as refused:
        exports.write_events(hub, io.StringIO(), branch="b1", start=start.isoformat(), end=end.isoformat())
    assert str(target.resolve()) in (refused.value.hint or "")
    assert exports.write_events(hub, io.StringIO(), branch="b1") == 2  # what is kept, without a start
    with pytest.raises(retention.EventsArchived):
        aggregates.rebuild(hub)  # it would drop the archived months' figures
    assert retention.status(hub)["pruned_before"] == times.format_ts(cut)


def test_prune_keeps_old_presses_that_arrived_after_the_archive(hub: Database, tmp_path: Path) -> None:
    cut = retention.cutoff("6m")
    assert retention.archive(hub, tmp_path / "old.jsonl", cut).events == 5
    # A kiosk back from a long outage delivers a press from 7 months ago after the archive was written.
    _press(hub, 60, NOW - timedelta(days=215))
    assert retention.prune(hub, cut).events == 5
    kept = [r[0] for r in hub.execute("SELECT id FROM events WHERE ts < ?", [times.format_ts(cut)])]
    assert kept == ["b1-000060"]


def test_the_commands_archive_prune_and_report(hub: Database, target: str, tmp_path: Path) -> None:
    path = target
    runner = CliRunner()
    refused = runner.invoke(cli, ["events", "prune", "--db", path, "--older-than", "6m"])
    assert refused.exit_code == 2 and "not all archived" in refused.output and "otklik events archive" in refused.output
    recent = runner.invoke(cli, ["events", "archive", "--db", path, "--older-than", "1w", "--to", str(tmp_path / "a")])
    assert recent.exit_code == 2 and "inside the last month" in recent.output and not (tmp_path / "a").exists()
    target = tmp_path / "old.jsonl"
    done = runner.invoke(cli, ["events", "archive", "--db", path, "--older-than", "6m", "--to", str(target)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["events"] == 5 and len(target.read_text().splitlines()) == 5
    done = runner.invoke(cli, ["events", "prune", "--db", path, "--older-than", "6m"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["events"] == 5
    moved = runner.invoke(cli, ["branch", "set", "--db", path, "b1", "--timezone", "Asia/Vladivostok"])
    assert moved.exit_code == 1 and "were pruned" in moved.output
    shown = runner.invoke(cli, ["branch", "show", "--db", path, "b1", "--json"])
    assert shown.exit_code == 0 and "timezone" in shown.output and "Vladivostok" not in shown.output
    status = runner.invoke(cli, ["events", "status", "--db", path, "--json"])
    assert json.loads(status.output)[0]["events"] == 2
    missing = runner.invoke(cli, ["events", "status", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code != 0 and "no hub database" in missing.output
