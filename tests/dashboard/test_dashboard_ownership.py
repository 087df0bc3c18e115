"""A manager changes only their branches' roster, on every write path, and learns nothing of the others.

olga manages b1; e2 and its shift belong to b2. Every path (form, JSON API, CSV import, CLI) goes
through hub.roster's one function per write, so the same refusals come from each.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

import hub.analytics_cli
from hub import roster as hub_roster
from hub.db import open_db
from tests.dashboard.conftest import csrf_token, heartbeat, login


@pytest.fixture
def hub_path(hub_target: str | Path) -> str | Path:
    """These figures are read from either store (tests/hub_db.py)."""
    return hub_target


def _employees(db, *rows: tuple[str, str, str]) -> None:
    # Plain SQL, as an earlier version's data would be: the test runs unchanged on the code before the fix.
    with db.conn:
        db.conn.executemany("INSERT INTO employees (id, branch, name) VALUES (?, ?, ?)", rows)


def _setup(hub_path: Path) -> tuple[str, int]:
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    db = open_db(hub_path)
    _employees(db, ("e1", "b1", "Anna"), ("e2", "b2", "Boris"))
    db.conn.close()
    heartbeat(hub_path, "b1", "k1")
    heartbeat(hub_path, "b2", "k9")
    db = open_db(hub_path)
    with db.conn:
        cursor = db.execute(
            'INSERT INTO shifts (employee, branch, kiosk, start, "end") VALUES (?, ?, ?, ?, ?) RETURNING id',
            ["e2", "b2", "", f"{day}T08:00:00.000Z", f"{day}T16:00:00.000Z"],
        )
        shift_id = cursor.fetchone()[0]
    db.conn.close()
    return day, shift_id


def _roster(hub_path: Path) -> tuple[list[dict], list[dict]]:
    db = open_db(hub_path)
    try:
        return hub_roster.list_employees(db), [asdict(s) for s in hub_roster.list_shifts(db)]
    finally:
        db.conn.close()


def _upload(client: FlaskClient, token: str, text: str):
    return client.post(
        "/roster/import",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "roster.csv")},
        content_type="multipart/form-data",
    )


def _flash(response) -> str:
    found = re.findall(r'class="flash[^"]*"[^>]*>\s*([^<]*)', response.get_data(as_text=True))
    return html.unescape(" ".join(found))


def test_csv_import_cannot_rename_move_or_credit_another_branchs_employee(client: FlaskClient, hub_path: Path) -> None:
    """The attack of issue 12: a manager of b1 renamed and moved b2's employee into b1 and gave them a
    30-day shift on b1's kiosks. Each row is refused, and nothing of the file is stored."""
    day, _ = _setup(hub_path)
    before = _roster(hub_path)
    login(client, "olga")
    token = csrf_token(client, "/roster")
    month_later = (datetime.fromisoformat(day) + timedelta(days=30)).date().isoformat()
    for text, reason in [
        ("id,name,branch\ne2,Mine now,b1\n", "line 2: id: 'e2' is taken by an employee you cannot change"),
        ("id,name,branch\ne9,New,b1\ne2,Boris,b2\n", "line 3: branch: 'b2' is not one of yours"),
        (f"employee,branch,kiosk,start,end\ne2,b1,,{day} 09:00,{day} 17:00\n", "line 2: employee: 'e2' is not"),
        (f"employee,branch,kiosk,start,end\ne2,b2,,{day} 09:00,{day} 17:00\n", "line 2: branch: 'b2' is not one"),
        (f"employee,branch,kiosk,start,end\ne1,b1,,{day} 09:00,{month_later} 09:00\n", "line 2: end: a shift cannot"),
    ]:
        response = _upload(client, token, text)
        assert response.status_code == 400, text
        assert reason in _flash(response), (text, _flash(response))
        assert "b2" not in _flash(response).replace("'b2' is not one of yours", ""), "names another branch"
    assert _roster(hub_path) == before


def test_every_write_path_refuses_the_same_things(client: FlaskClient, hub_path: Path) -> None:
    """Form, API and CLI (the CLI as admin) all apply the 24-hour rule and the roster check."""
    day, _ = _setup(hub_path)
    before = _roster(hub_path)
    login(client, "olga")
    token = csrf_token(client, "/roster")
    long_shift = {"employee": "e1", "branch": "b1", "kiosk": "", "start": f"{day}T09:00", "end": f"{day}T09:00"}
    long_shift["end"] = (datetime.fromisoformat(day) + timedelta(days=30)).date().isoformat() + "T09:00"
    form = client.post("/roster/shift", data={**long_shift, "csrf_token": token})
    api = client.post("/api/v1/shifts", json=long_shift, headers={"X-CSRFToken": token})
    assert (form.status_code, api.status_code) == (400, 400)
    assert "end: a shift cannot be longer than 24 hours" in _flash(form)
    assert api.get_json()["error"] == "end: a shift cannot be longer than 24 hours"
    cli = CliRunner().invoke(
        hub.analytics_cli.roster_group,
        ["add-shift", "e1", "--db", str(hub_path), "--branch", "b1", "--start", long_shift["start"],
         "--end", long_shift["end"]],
    )  # fmt: skip
    assert cli.exit_code != 0 and "a shift cannot be longer than 24 hours" in cli.output
    cli = CliRunner().invoke(
        hub.analytics_cli.roster_group,
        ["add-shift", "e2", "--db", str(hub_path), "--branch", "b1", "--start", f"{day} 09:00",
         "--end", f"{day} 17:00"],
    )  # fmt: skip
    assert cli.exit_code != 0 and "employee: 'e2' is not on the roster of b1" in cli.output
    assert _roster(hub_path) == before


def test_a_csv_row_longer_than_its_header_is_a_400_naming_the_row(client: FlaskClient, hub_path: Path) -> None:
    _setup(hub_path)
    before = _roster(hub_path)
    login(client, "root")
    token = csrf_token(client, "/roster")
    response = _upload(client, token, "id,name,branch\ne5,Gleb,b1\ne6,Dina,b1,extra,more\n")
    assert response.status_code == 400
    assert "line 3: the row has 2 more fields than the header" in _flash(response)
    assert _roster(hub_path) == before


def test_what_a_manager_may_not_see_answers_like_what_does_not_exist(client: FlaskClient, hub_path: Path) -> None:
    """Another branch's shift, alert or branch gives the same 404 as an id nobody has: nothing to tell them apart."""
    from hub import alerts as hub_alerts

    day, other = _setup(hub_path)
    db = open_db(hub_path)
    b2_alert = hub_alerts.fire(db, "unhappy_share", "b2", "Many unhappy presses")
    db.conn.close()
    assert b2_alert is not None
    login(client, "olga")
    token = csrf_token(client, "/roster")
    headers = {"X-CSRFToken": token}
    missing = 999_999

    def answer(response) -> tuple[int, str]:
        text = (response.get_json() or {}).get("error", "")
        for found in (other, missing, b2_alert["id"]):
            text = text.replace(str(found), "ID")
        return response.status_code, text

    pairs = [
        (client.put(f"/api/v1/shifts/{other}", json={"note": "x"}, headers=headers),
         client.put(f"/api/v1/shifts/{missing}", json={"note": "x"}, headers=headers)),
        (client.delete(f"/api/v1/shifts/{other}", headers=headers),
         client.delete(f"/api/v1/shifts/{missing}", headers=headers)),
        (client.post(f"/api/v1/alerts/{b2_alert['id']}/ack", json={}, headers=headers),
         client.post(f"/api/v1/alerts/{missing}/ack", json={}, headers=headers)),
    ]  # fmt: skip
    for mine, nobodys in pairs:
        assert answer(mine) == answer(nobodys) and mine.status_code == 404, (answer(mine), answer(nobodys))
    b2 = client.get("/api/v1/branches/b2")
    b9 = client.get("/api/v1/branches/b9")
    assert (b2.status_code, b9.status_code) == (404, 404)
    assert b2.get_json()["error"].replace("b2", "X") == b9.get_json()["error"].replace("b9", "X")
    page_b2, page_b9 = client.get("/branch/b2"), client.get("/branch/b9")
    assert (page_b2.status_code, page_b9.status_code) == (404, 404)
    # The alerts page's branch filter, its live part and its export: b2's alerts stay b2's.
    for path in ("/alerts?branch={}", "/live/alerts?branch={}", "/export/alerts.csv?branch={}"):
        seen_b2, seen_b9 = client.get(path.format("b2")), client.get(path.format("b9"))
        assert (seen_b2.status_code, seen_b9.status_code) == (404, 404), path
        assert "Many unhappy presses" not in seen_b2.get_data(as_text=True), path
    # A shift for b2's employee in b1 does not say where they work.
    refused = client.post(
        "/api/v1/shifts",
        json={"employee": "e2", "branch": "b1", "start": f"{day}T09:00", "end": f"{day}T17:00"},
        headers=headers,
    )
    assert refused.status_code == 400 and "b2" not in refused.get_json()["error"]
    unknown = client.post(
        "/api/v1/shifts",
        json={"employee": "e77", "branch": "b1", "start": f"{day}T09:00", "end": f"{day}T17:00"},
        headers=headers,
    )
    assert refused.get_json()["error"].replace("e2", "X") == unknown.get_json()["error"].replace("e77", "X")


FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "@SUM(A1:A9)", "-2+3", "=1;=2"]


def test_every_csv_written_escapes_formulas(client: FlaskClient, hub_path: Path, tmp_path: Path) -> None:
    """`otklik export monthly` (hub.exports) and the dashboard's downloads share hub.exports.SafeWriter."""
    from hub import branches
    from hub.ingest import handle_batch
    from tests.analytics_util import press

    db = open_db(hub_path)
    branches.update(db, "b1", timezone="UTC")
    _employees(db, *((f"e{n}", "b1", name) for n, name in enumerate(FORMULAS)))
    day = datetime(2026, 11, 16, 10, tzinfo=UTC)
    handle_batch(db, [(t, p, r) for t, p, r in (press(day, 4, employee=f"e{n}") for n in range(len(FORMULAS)))])
    db.conn.close()
    out = tmp_path / "monthly.csv"
    result = CliRunner().invoke(
        hub.analytics_cli.export_group,
        ["monthly", "--db", str(hub_path), "--month", "2026-11", "--min-responses", "0", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    monthly = {r["employee"]: r["name"] for r in csv.DictReader(out.open())}
    assert monthly == {f"e{n}": "'" + name for n, name in enumerate(FORMULAS)}
    login(client, "root")
    dashboard = {r["id"]: r["name"] for r in csv.DictReader(io.StringIO(client.get("/export/roster.csv").text))}
    assert dashboard == monthly
    assert json.loads(json.dumps(client.get("/api/v1/roster").get_json()))["rows"][0]["name"] in FORMULAS
