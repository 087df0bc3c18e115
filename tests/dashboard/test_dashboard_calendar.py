"""Persian dates: the calendar a reader chose stays with their account, date filters take and show
Solar Hijri dates (Persian or Latin digits), and a wrong one is refused naming the field in the
reader's language. Also the funnel plot's limits: around the reader's whole chain, not one branch."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import accounts, charts
from dashboard.errors import InputError
from dashboard.filters import parse_date
from tests.dashboard.conftest import csrf_token, login


def _choose(client: FlaskClient, name: str, value: str) -> None:
    client.post(f"/settings/{name}", data={name: value, "next": "/", "csrf_token": csrf_token(client, "/")})


def test_the_calendar_is_kept_with_the_account(app: Flask, client: FlaskClient, data: Path) -> None:
    login(client, "olga")
    _choose(client, "language", "fa")
    assert 'data-calendar="persian"' in client.get("/").get_data(as_text=True)  # Persian's default
    _choose(client, "calendar", "gregory")
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    assert accounts.get_user(store, "olga").calendar == "gregory"  # type: ignore[union-attr]
    store.conn.close()
    # Another device, a new session: still Gregorian, without choosing again.
    other = app.test_client()
    login(other, "olga")
    assert 'data-calendar="gregory"' in other.get("/").get_data(as_text=True)
    _choose(other, "calendar", "persian")
    assert 'data-calendar="persian"' in client.get("/").get_data(as_text=True)  # and back, everywhere


def test_a_stored_calendar_that_is_no_calendar_is_refused(app: Flask) -> None:
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    with pytest.raises(accounts.AccountError, match="calendar"):
        accounts.change_user(store, "olga", calendar="julian")
    store.conn.close()


@pytest.mark.parametrize("typed", ["1405/9/10", "۱۴۰۵/۰۹/۱۰", "1405/09/10", "2026-12-01"])
def test_a_date_filter_takes_solar_hijri_or_iso_dates(typed: str) -> None:
    assert parse_date(typed, "from") == date(2026, 12, 1)


@pytest.mark.parametrize("typed", ["1405/13/01", "1405/12/31", "2026-13-01", "۱۴۰۵-۰۹-۱۰"])
def test_a_date_that_is_none_is_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(InputError, match=r"^to: "):
        parse_date(typed, "to")


@pytest.mark.parametrize("page_path", ["/employees", "/reasons", "/comments"])
def test_persian_date_filters_show_and_take_jalali_dates(client: FlaskClient, data: Path, page_path: str) -> None:
    login(client, "root")
    _choose(client, "language", "fa")
    page = client.get(f"{page_path}?from=2026-12-01&to=2026-12-07").get_data(as_text=True)
    # A text field holding the Jalali date in Persian digits: no browser's date picker has that calendar.
    assert re.search(r'<input type="text" name="from" value="۱۴۰۵/۹/۱۰"', page), re.findall(
        r"<input[^>]*from[^>]*>", page
    )
    typed = client.get(f"{page_path}?from=۱۴۰۵/۹/۱۰&to=۱۴۰۵/۹/۱۶")
    assert typed.status_code == 200
    assert 'value="۱۴۰۵/۹/۱۶"' in typed.get_data(as_text=True)
    wrong = client.get(f"{page_path}?from=۱۴۰۵/۱۳/۰۱")
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and "از: «۱۴۰۵/۱۳/۰۱» تاریخ نیست" in text  # the field by its label, in Persian
    _choose(client, "calendar", "gregory")
    page = client.get(f"{page_path}?from=2026-12-01").get_data(as_text=True)
    assert '<input type="date" name="from" value="2026-12-01"' in page  # Gregorian: the browser's own picker


def test_the_funnel_limits_are_around_the_chain_mean() -> None:
    branch = [{"employee": "a", "n3": 8, "n4": 0, "responses": 10}, {"employee": "c", "n3": 7, "responses": 10}]
    chain = [*branch, {"employee": "b", "n3": 0, "n4": 0, "responses": 90}]  # the chain: 15 of 110
    alone = charts.funnel_data(branch)
    assert alone["mean"] == pytest.approx(0.75) and {p["position"] for p in alone["points"]} == {"within"}
    judged = charts.funnel_data(branch, chain)
    assert judged["mean"] == pytest.approx(15 / 110)
    assert [p["position"] for p in judged["points"]] == ["above", "above"]  # 8 and 7 of 10 against 1 in 7
    assert [p["employee"] for p in judged["points"]] == ["a", "c"]  # the chain's others are not drawn
    assert json.dumps(judged)


def test_a_branch_page_funnel_uses_the_readers_chain(client: FlaskClient, data: Path) -> None:
    # b1: e1 with 4, 4, 3, 1 (3 positive of 4); b2: e2 with 1, 1 (none). root sees both.
    login(client, "root")
    page = client.get("/branch/b1").get_data(as_text=True)
    shape = json.loads(re.search(r"data-funnel='([^']+)'", page).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert shape["mean"] == pytest.approx(3 / 6)
    assert [p["employee"] for p in shape["points"]] == ["e1"]
    # olga manages b1 alone: her chain is b1, and its mean is b1's.
    other = client.application.test_client()
    login(other, "olga")
    page = other.get("/branch/b1").get_data(as_text=True)
    shape = json.loads(re.search(r"data-funnel='([^']+)'", page).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert shape["mean"] == pytest.approx(3 / 4)
