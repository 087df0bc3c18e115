"""What the charts and cards promise, without a browser: the Excel download, the alerts CSV,
the employees below the ranking minimum, the funnel plot's data and the never-configured kiosk.
(The drawn charts themselves are checked in Chromium: test_dashboard_layout.py.)"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import accounts
from hub.exports import CsvDialect, csv_text
from tests.dashboard.conftest import PASSWORD, heartbeat, login


@pytest.fixture
def hub_path(hub_target: str | Path) -> str | Path:
    """These figures are read from either store (tests/hub_db.py)."""
    return hub_target


ROWS = [
    {"name": '=HYPERLINK("http://evil")', "index": 66.7, "trend": -2.5, "responses": 4, "note": "Ёлка, «ok»"},
    {"name": "+7 999", "index": None, "trend": 0.0, "responses": 0, "note": "-done"},
]


def test_the_plain_csv_has_no_bom_and_keeps_the_dot() -> None:
    text = csv_text(ROWS)
    assert not text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["index"] == "66.7" and rows[0]["trend"] == "-2.5"
    assert rows[0]["name"].startswith("'=") and rows[1]["name"] == "'+7 999" and rows[1]["note"] == "'-done"


def test_the_excel_variant_has_a_bom_the_regions_separators_and_still_escapes_formulas() -> None:
    russian = csv_text(ROWS, CsvDialect.excel(","))
    assert russian.startswith("\ufeff")
    assert russian.encode("utf-8").startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(russian[1:]), delimiter=";"))
    assert rows[0]["index"] == "66,7" and rows[0]["responses"] == "4"
    assert rows[0]["trend"] == "-2,5"  # a negative number is a number, not a formula
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil")' and rows[1]["note"] == "'-done"
    assert rows[0]["note"] == "Ёлка, «ok»"
    english = csv_text(ROWS, CsvDialect.excel("."))
    assert english.startswith("\ufeff")
    assert next(csv.DictReader(io.StringIO(english[1:])))["index"] == "66.7"


def _user(app: Flask, name: str, language: str) -> None:
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    accounts.add_user(store, name, PASSWORD, "admin", language=language)
    store.conn.close()


def test_downloads_come_plain_and_for_excel_in_the_users_language(app: Flask, client: FlaskClient, data: Path) -> None:
    _user(app, "rus", "ru")
    login(client, "rus")
    plain = client.get("/export/alerts.csv?state=all")
    excel = client.get("/export/alerts.csv?state=all&excel=1")
    assert not plain.data.startswith(b"\xef\xbb\xbf") and excel.data.startswith(b"\xef\xbb\xbf")
    assert "excel" in excel.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(excel.get_data(as_text=True)[1:]), delimiter=";"))
    assert {r["branch"] for r in rows} == {"b1", "b2"}
    # Nested fields are JSON a spreadsheet or a script can read, not Python's repr.
    for row in rows:
        assert json.loads(row["delivered"]) == {} or isinstance(json.loads(row["delivered"]), dict)
        assert "{'" not in row["params"] and isinstance(json.loads(row["params"]), dict)
        assert row["text"] and not row["text"].startswith("{")
    page = client.get("/alerts").get_data(as_text=True)
    assert "excel=1" in page


def test_employees_below_the_minimum_are_shown_not_ranked(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    page = html.unescape(client.get("/employees").get_data(as_text=True))  # minimum 30: nobody is ranked
    assert "not enough responses yet (n = 4)" in page and "not enough responses yet (n = 2)" in page
    funnel = json.loads(re.search(r"data-funnel='([^']+)'", page).group(1))
    assert {p["employee"]: p["n"] for p in funnel["points"]} == {"e1": 4, "e2": 2}
    assert funnel["mean"] == 3 / 6 and set(funnel["bands"]) == {"0.95", "0.998"}
    ranked = html.unescape(client.get("/employees?min_responses=3").get_data(as_text=True))
    assert "not enough responses yet (n = 2)" in ranked and "(n = 4)" not in ranked
    employee = html.unescape(client.get("/employees/b1/e1").get_data(as_text=True))
    assert "not enough responses yet (n = 4)" in employee and 'id="period"' in employee


def test_a_never_configured_kiosk_says_so(client: FlaskClient, data: Path) -> None:
    heartbeat(data, "b1", "k2", config_version=0)
    heartbeat(data, "b1", "k3", config_version=4)
    login(client, "root")
    page = client.get("/fleet").get_data(as_text=True)
    row = re.search(r'data-kiosk="b1/k2".*?</tr>', page, re.S).group(0)
    assert "never configured" in row
    assert ">4<" in re.search(r'data-kiosk="b1/k3".*?</tr>', page, re.S).group(0)


def test_overview_cards_carry_their_period_n_interval_and_kiosks(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    page = html.unescape(client.get("/").get_data(as_text=True))
    card = re.search(r'data-branch="b1".*?</section>', page, re.S).group(0)
    assert "Index, last 7 days" in card and "n = " in card and "95% interval" in card
    assert "Responses this week" not in page
    assert "1 offline" in card or "of 1 online" in card
