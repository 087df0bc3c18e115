"""'Today' is the branch's own date everywhere: a Vladivostok shop (UTC+10) at 06:00 local.

At that moment UTC is still on yesterday (20:00). A press at 05:30 local belongs to the shop's
today on the overview, the branch page, the series, the heat map, the ranking, the flagged list,
every CSV export and ``otklik report``; a dashboard that took the UTC date showed it on the
overview (computed per branch) and nowhere else. The clock is injected, not waited for.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from dashboard import accounts, create_app
from hub import branches
from hub.db import open_db
from otklik.cli import cli as otklik
from tests.analytics_util import feed, press
from tests.dashboard.conftest import PASSWORD, login


@pytest.fixture
def hub_path(hub_target: str | Path) -> str | Path:
    """These figures are read from either store (tests/hub_db.py)."""
    return hub_target


ZONE = ZoneInfo("Asia/Vladivostok")
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=ZONE)  # 2026-11-22 20:00 UTC
TODAY = "2026-11-23"  # a Monday in Vladivostok
YESTERDAY_PRESSES = 19  # with today's one press: exactly the ranking minimum of 20


@pytest.fixture
def vladivostok(tmp_path: Path) -> Path:
    """Branch 'vl': 19 presses by e1 yesterday afternoon, one today at 05:30 and a flagged one at 05:40."""
    path = tmp_path / "hub.db"
    db = open_db(path)
    branches.update(db, "vl", timezone="Asia/Vladivostok")
    afternoon = datetime(2026, 11, 22, 14, 0, tzinfo=ZONE)
    messages = [
        press(afternoon + timedelta(minutes=i), 3, branch="vl", employee="e1") for i in range(YESTERDAY_PRESSES)
    ]
    messages.append(press(datetime(2026, 11, 23, 5, 30, tzinfo=ZONE), 4, branch="vl", employee="e1"))
    messages.append(press(datetime(2026, 11, 23, 5, 40, tzinfo=ZONE), 1, branch="vl", flags=["cooldown"]))
    feed(db, messages, received_at=NOW.astimezone(UTC))
    db.conn.close()
    return path


@pytest.fixture
def client(vladivostok: Path) -> FlaskClient:
    app = create_app({"OTKLIK_DB": str(vladivostok), "SECRET_KEY": "test", "TESTING": True, "CLOCK": lambda: NOW})
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    accounts.add_user(store, "root", PASSWORD, "admin")
    store.conn.close()
    client = app.test_client()
    login(client, "root")
    return client


def _csv(client: FlaskClient, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200, path
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_today_is_the_branch_date_on_every_page_api_export_and_report(client: FlaskClient, vladivostok: Path):
    # Overview: today's card and its date.
    [card] = client.get("/api/v1/overview").get_json()["branches"]
    assert (card["date"], card["today"]["responses"], card["today"]["flagged"]["total"]) == (TODAY, 1, 1)
    summary = client.get("/api/v1/branches/vl").get_json()
    assert (summary["date"], summary["today"]["responses"]) == (TODAY, 1)

    # Branch page: the responses card's line for today, with the branch's own date.
    page = client.get("/branch/vl").get_data(as_text=True)
    # The date in brackets is the branch's (23 November), not UTC's (22 November at 20:00).
    assert re.search(r"Today \([^)]*\b23\b[^)]*\): 1</p>", page), page

    # Series by day (default period: the last 30 days ending today) ends with today's press.
    series = client.get("/api/v1/branches/vl/series?by=day").get_json()["rows"]
    assert [(r["period"], r["responses"]) for r in series] == [("2026-11-22", YESTERDAY_PRESSES), (TODAY, 1)]

    # Heat map (default: the last 90 days ending today): Monday 05:00 holds it.
    heat = client.get("/api/v1/branches/vl/heatmap").get_json()["rows"]
    monday_five = next(c for c in heat if (c["dow"], c["hour"]) == (0, 5))
    assert (monday_five["responses"], monday_five["flagged"]["total"]) == (1, 1)
    assert sum(c["responses"] for c in heat) == YESTERDAY_PRESSES + 1

    # Ranking over the default period counts today's press, and so reaches the minimum of 20.
    ranking = client.get("/api/v1/employees?branch=vl").get_json()
    assert ranking["min_responses"] == 20
    assert [(r["employee"], r["responses"], r["rank"]) for r in ranking["rows"]] == [("e1", 20, 1)]
    today_only = client.get(f"/api/v1/employees?branch=vl&from={TODAY}&to={TODAY}&min_responses=1").get_json()
    assert [(r["employee"], r["responses"]) for r in today_only["rows"]] == [("e1", 1)]

    # Flagged presses of the local day "today" (the bounds are local dates, the column UTC).
    flagged = client.get(f"/api/v1/branches/vl/flagged?from={TODAY}&to={TODAY}").get_json()["rows"]
    assert [(r["score"], r["flags"]) for r in flagged] == [(1, "cooldown")]

    # Exports: the same figures.
    [overview] = _csv(client, "/export/overview.csv")
    assert (overview["date"], overview["today_responses"]) == (TODAY, "1")
    assert [(r["period"], r["responses"]) for r in _csv(client, "/export/series.csv?branch=vl")][-1] == (TODAY, "1")
    heat_csv = next(r for r in _csv(client, "/export/heatmap.csv?branch=vl") if (r["dow"], r["hour"]) == ("0", "5"))
    assert heat_csv["responses"] == "1"
    assert [(r["employee"], r["responses"]) for r in _csv(client, "/export/employees.csv?branch=vl")] == [("e1", "20")]
    assert len(_csv(client, f"/export/flagged.csv?branch=vl&from={TODAY}&to={TODAY}")) == 1

    # `otklik report` reads the same local days.
    result = CliRunner().invoke(otklik, ["report", "--db", str(vladivostok), "--by", "day", "--json"])
    assert result.exit_code == 0, result.output
    days = {r["period"]: r["responses"] for r in json.loads(result.stdout)}
    assert days == {"2026-11-22": YESTERDAY_PRESSES, TODAY: 1}
