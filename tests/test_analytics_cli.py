"""The analytics commands end to end through click: roster, report --by, export, alerts, branch settings."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import click
import pytest
from click.testing import CliRunner

import hub.analytics_cli
import hub.cli
from hub.db import open_db
from tests.analytics_util import feed, local, press

TZ = "Europe/Moscow"
CLI = click.Group(commands=hub.cli.COMMANDS + hub.analytics_cli.COMMANDS)


@pytest.fixture
def db_path(hub_target):
    open_db(hub_target).close()
    return str(hub_target)


def run(*args: str) -> str:
    result = CliRunner().invoke(CLI, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # the row counts go to stderr


def test_roster_report_and_exports(db_path, tmp_path):
    run("branch", "set", "b1", "--db", db_path, "--timezone", TZ)
    (tmp_path / "people.csv").write_text("id,name,branch\nanna,Anna,b1\nboris,Boris,b1\n")
    (tmp_path / "shifts.csv").write_text(
        "employee,branch,kiosk,start,end\nanna,b1,k1,2026-11-16 09:00,2026-11-16 14:00\n"
        "boris,b1,k1,2026-11-16 14:00,2026-11-16 20:00\n"
    )
    assert json.loads(run("roster", "import", "--db", db_path, str(tmp_path / "people.csv"))) == {"employees": 2}
    db = open_db(db_path)
    start = local(TZ, 2026, 11, 16, 10, 0)
    feed(db, [press(start + timedelta(minutes=30 * i), (4, 3, 1)[i % 3]) for i in range(18)])
    # After the presses: a shift may name only a kiosk the hub has heard from (and it re-credits what it covers).
    assert json.loads(run("roster", "import", "--db", db_path, str(tmp_path / "shifts.csv"))) == {"shifts": 2}
    rows = json.loads(
        run(
            "report",
            "--db",
            db_path,
            "--by",
            "employee",
            "--from",
            "2026-11-16",
            "--to",
            "2026-11-17",
            "--json",
            "--min-responses",
            "5",
        )
    )
    by_name = {r["employee"]: r for r in rows}
    # anna 10:00-13:30 (8 presses), boris 14:00-18:30 (10 presses)
    assert (by_name["anna"]["responses"], by_name["boris"]["responses"]) == (8, 10)
    for key in ("positive_share", "positive_low", "positive_high", "very_unhappy_share", "adjusted_index", "rank"):
        assert key in by_name["anna"]
    assert sorted(r["rank"] for r in rows) == [1, 2]
    text = run("report", "--db", db_path, "--by", "hour", "--branch", "b1")
    assert "2026-11-16T10" in text and "2026-11-16T18" in text
    out = tmp_path / "monthly.csv"
    run("export", "monthly", "--db", db_path, "--month", "2026-11", "--min-responses", "5", "-o", str(out))
    monthly = list(csv.DictReader(out.open()))
    assert {r["employee"]: r["name"] for r in monthly} == {"anna": "Anna", "boris": "Boris"}
    events = list(csv.DictReader(io.StringIO(run("export", "events", "--db", db_path, "--branch", "b1"))))
    assert len(events) == 18 and events[0]["local_time"] == "2026-11-16 10:00:00" and events[0]["employee"] == "anna"
    daily = list(csv.DictReader(io.StringIO(run("export", "aggregates", "--db", db_path, "--by", "day"))))
    assert [(r["period"], r["responses"]) for r in daily] == [("2026-11-16", "18")]


def test_alert_commands_and_errors(db_path):
    db = open_db(db_path)
    feed(db, [press(local(TZ, 2026, 11, 16, 10, i), 1) for i in range(4)], local(TZ, 2026, 11, 16, 10, 5))
    opened = json.loads(run("alerts", "check", "--db", db_path))
    # evaluated at the real now: the presses are old, so only the silent-kiosk rule can fire
    assert [a["rule"] for a in opened] == ["kiosk_offline"]
    alert_id = str(opened[0]["id"])
    assert json.loads(run("alerts", "ack", alert_id, "--db", db_path, "--by", "olga"))["state"] == "acknowledged"
    assert (
        json.loads(run("alerts", "resolve", alert_id, "--db", db_path, "--by", "olga", "--note", "rebooted"))[
            "resolve_note"
        ]
        == "rebooted"
    )
    listed = run("alerts", "list", "--db", db_path, "--state", "all", "--language", "ru")
    assert "закрыта" in listed and "нет сигнала с" in listed and "[olga]" in listed
    result = CliRunner().invoke(CLI, ["alerts", "ack", alert_id, "--db", db_path, "--by", "olga"])
    assert result.exit_code == 1 and "only an open alert can be acknowledged" in result.output
    result = CliRunner().invoke(CLI, ["report", "--db", db_path, "--from", "yesterday"])
    assert result.exit_code == 1 and "'yesterday' is not a date" in result.output
    result = CliRunner().invoke(CLI, ["branch", "set", "b1", "--db", db_path, "--set", "burst_max=lots"])
    assert result.exit_code == 1 and "burst_max must be a whole number" in result.output


def test_every_command_has_an_example():
    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for group in hub.analytics_cli.COMMANDS:
        for path, command in walk(group, [group.name]):
            assert "Example:" in (command.help or ""), " ".join(path)
