"""Editing shifts on the Roster page and through /api/v1/shifts, over a real hub database.

Branch b1 runs on Moscow time (UTC+3, no DST) so local and stored times differ; b2 on UTC.
Two presses on b1/k1 name nobody, so who they are credited to follows the shifts.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import accounts
from hub import branches
from hub import roster as hub_roster
from hub.db import open_db
from tests.dashboard.conftest import csrf_token, heartbeat, login, publish


@dataclass
class Hub:
    path: Path
    day: str  # yesterday (UTC), inside every default period
    other: int  # b2's shift, which olga (manager of b1) must not touch


@pytest.fixture
def hub(hub_path: Path) -> Hub:
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    db = open_db(hub_path)
    branches.update(db, "b1", timezone="Europe/Moscow")
    hub_roster.add_employee(db, "e1", "b1", "Anna", actor=hub_roster.ADMIN)
    hub_roster.add_employee(db, "e3", "b1", "Vera", actor=hub_roster.ADMIN)
    hub_roster.add_employee(db, "e2", "b2", "Boris", actor=hub_roster.ADMIN)
    db.conn.close()
    for branch, kiosk in (("b1", "k1"), ("b1", "k2"), ("b2", "k9")):
        heartbeat(hub_path, branch, kiosk)
    # 10:00 and 10:30 in Moscow.
    publish(hub_path, "b1", "k1", 4, 1, ts=datetime.fromisoformat(f"{day}T07:00:00+00:00"))
    publish(hub_path, "b1", "k1", 1, 2, ts=datetime.fromisoformat(f"{day}T07:30:00+00:00"))
    db = open_db(hub_path)
    other = hub_roster.add_shift(db, "e2", "b2", f"{day} 08:00", f"{day} 16:00", kiosk="k9", actor=hub_roster.ADMIN)
    db.conn.close()
    return Hub(hub_path, day, other.id)


def stored(hub: Hub) -> list[dict[str, Any]]:
    db = open_db(hub.path)
    try:
        return [asdict(s) for s in hub_roster.list_shifts(db)]
    finally:
        db.conn.close()


def credited(client: FlaskClient, branch: str = "b1") -> dict[str, int]:
    """Responses per employee as the Employees page ranks them."""
    response = client.get(f"/api/v1/employees?branch={branch}&min_responses=1")
    assert response.status_code == 200
    return {r["employee"]: r["responses"] for r in response.get_json()["rows"] if r["employee"]}


def shift_form(hub: Hub, **changes: str) -> dict[str, str]:
    form = {
        "employee": "e1",
        "branch": "b1",
        "kiosk": "k1",
        "start": f"{hub.day}T09:00",
        "end": f"{hub.day}T17:00",
        "note": "",
    }
    form.update({k: v.format(day=hub.day) for k, v in changes.items()})
    return form


def page_text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def shift_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="shift-(\d+)">', page)]


def test_add_edit_delete_on_the_page_moves_the_presses(client: FlaskClient, hub: Hub) -> None:
    login(client, "olga")
    assert credited(client) == {}
    token = csrf_token(client, "/roster")

    response = client.post("/roster/shift", data={"csrf_token": token, **shift_form(hub, note="opening")})
    assert response.status_code == 302
    page = page_text(client.get("/roster"))
    assert "Saved." in page
    (new,) = [s for s in stored(hub) if s["branch"] == "b1"]
    assert (new["start"], new["end"]) == (f"{hub.day}T06:00:00.000Z", f"{hub.day}T14:00:00.000Z")
    assert shift_ids(page) == [new["id"]]
    assert f"{hub.day} 09:00" in page and f"{hub.day} 17:00" in page and "opening" in page
    assert credited(client) == {"e1": 2}

    form = page_text(client.get(f"/roster?shift={new['id']}"))
    assert f'name="id" value="{new["id"]}"' in form
    assert f'name="start" value="{hub.day}T09:00" required' in form
    assert f'name="end" value="{hub.day}T17:00" required' in form
    assert f"Edit shift {new['id']}" in form

    # Someone else stood at the kiosk: both presses follow the corrected shift.
    edit = shift_form(hub, employee="e3", note="swapped")
    assert client.post("/roster/shift", data={"csrf_token": token, "id": str(new["id"]), **edit}).status_code == 302
    assert credited(client) == {"e3": 2}
    # Starting at 10:15 leaves the 10:00 press uncredited.
    edit["start"] = f"{hub.day}T10:15"
    assert client.post("/roster/shift", data={"csrf_token": token, "id": str(new["id"]), **edit}).status_code == 302
    assert credited(client) == {"e3": 1}
    (changed,) = [s for s in stored(hub) if s["branch"] == "b1"]
    assert (changed["employee"], changed["start"], changed["note"]) == ("e3", f"{hub.day}T07:15:00.000Z", "swapped")

    response = client.post(f"/roster/shift/{new['id']}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    page = page_text(client.get("/roster"))
    assert "Shift deleted." in page and shift_ids(page) == []
    assert credited(client) == {}
    assert [s["id"] for s in stored(hub)] == [hub.other]


def test_api_lists_adds_changes_and_deletes(client: FlaskClient, hub: Hub) -> None:
    login(client, "olga")
    headers = {"X-CSRFToken": csrf_token(client, "/roster")}
    response = client.post("/api/v1/shifts", json=shift_form(hub, kiosk=""), headers=headers)
    assert response.status_code == 201
    row = response.get_json()
    assert row["kiosk"] == "" and row["start"] == f"{hub.day} 09:00" and row["timezone"] == "Europe/Moscow"
    assert credited(client) == {"e1": 2}  # a branch-wide shift covers k1 too

    listed = client.get("/api/v1/shifts").get_json()
    assert [r["id"] for r in listed["rows"]] == [row["id"]]
    today = datetime.now(UTC).date()
    assert (listed["from"], listed["to"]) == ((today - timedelta(7)).isoformat(), (today + timedelta(14)).isoformat())

    # Only what is sent changes.
    response = client.put(f"/api/v1/shifts/{row['id']}", json={"employee": "e3"}, headers=headers)
    assert response.status_code == 200
    assert {k: response.get_json()[k] for k in ("employee", "start", "end")} == {
        "employee": "e3",
        "start": f"{hub.day} 09:00",
        "end": f"{hub.day} 17:00",
    }
    assert credited(client) == {"e3": 2}

    assert client.delete(f"/api/v1/shifts/{row['id']}", headers=headers).status_code == 200
    assert credited(client) == {}
    for method in (client.put, client.delete):
        missing = method(f"/api/v1/shifts/{row['id']}", json={"note": "x"}, headers=headers)
        assert missing.status_code == 404 and "does not exist" in missing.get_json()["error"]
    assert client.get("/roster?shift=999999").status_code == 404


def test_times_are_shown_in_each_branchs_local_time(client: FlaskClient, hub: Hub) -> None:
    db = open_db(hub.path)
    hub_roster.add_shift(db, "e1", "b1", f"{hub.day} 09:00", f"{hub.day} 21:00", kiosk="k2", actor=hub_roster.ADMIN)
    old_day = (date.fromisoformat(hub.day) - timedelta(days=40)).isoformat()
    old = hub_roster.add_shift(db, "e1", "b1", f"{old_day} 09:00", f"{old_day} 18:00", actor=hub_roster.ADMIN)
    db.conn.close()
    login(client, "root")

    rows = client.get("/api/v1/shifts").get_json()["rows"]
    by_branch = {r["branch"]: r for r in rows}
    assert set(by_branch) == {"b1", "b2"}  # the 40-day-old shift is outside the default period
    assert by_branch["b1"]["start_utc"] == f"{hub.day}T06:00:00.000Z"
    assert (by_branch["b1"]["start"], by_branch["b1"]["end"]) == (f"{hub.day} 09:00", f"{hub.day} 21:00")
    assert (by_branch["b2"]["start"], by_branch["b2"]["timezone"]) == (f"{hub.day} 08:00", "UTC")

    page = page_text(client.get("/roster?branch=b1"))
    assert f"{hub.day} 09:00" in page and f"{hub.day} 21:00" in page and "Anna" in page
    assert hub.other not in shift_ids(page)
    page = page_text(client.get(f"/roster?branch=b1&from={old_day}&to={old_day}"))
    assert shift_ids(page) == [old.id] and f"{old_day} 18:00" in page

    export = client.get(f"/export/shifts.csv?branch=b1&from={old_day}&to={hub.day}").get_data(as_text=True)
    assert export.splitlines()[0].startswith("id,employee,name,branch,kiosk,start,end,note")
    assert f"{old_day} 09:00" in export and f"{hub.day} 21:00" in export


def test_manager_cannot_touch_another_branchs_shifts(client: FlaskClient, hub: Hub) -> None:
    login(client, "olga")
    token = csrf_token(client, "/roster")
    headers = {"X-CSRFToken": token}
    before = stored(hub)
    other = f"/roster/shift/{hub.other}/delete"
    for response in (
        client.get("/roster?branch=b2"),
        client.get(f"/roster?shift={hub.other}"),
        client.get("/export/shifts.csv?branch=b2"),
        client.post("/roster/shift", data={"csrf_token": token, **shift_form(hub, branch="b2", employee="e2")}),
        client.post("/roster/shift", data={"csrf_token": token, "id": str(hub.other), **shift_form(hub)}),
        client.post(other, data={"csrf_token": token}),
        client.get("/api/v1/shifts?branch=b2"),
        client.post("/api/v1/shifts", json=shift_form(hub, branch="b2", employee="e2", kiosk=""), headers=headers),
        client.put(f"/api/v1/shifts/{hub.other}", json={"note": "mine now"}, headers=headers),
        client.delete(f"/api/v1/shifts/{hub.other}", headers=headers),
    ):
        assert response.status_code == 404, response.request.path
    assert {r["branch"] for r in client.get("/api/v1/shifts").get_json()["rows"]} <= {"b1"}
    assert "b2" not in client.get("/export/shifts.csv").get_data(as_text=True)
    assert hub.other not in shift_ids(page_text(client.get("/roster")))
    assert stored(hub) == before


def test_technician_has_no_shifts(client: FlaskClient, hub: Hub) -> None:
    login(client, "tech")
    assert client.get("/api/v1/shifts").status_code == 403
    token = csrf_token(client, "/fleet")
    assert client.post(f"/roster/shift/{hub.other}/delete", data={"csrf_token": token}).status_code == 403
    assert len(stored(hub)) == 1


def test_shift_forms_need_csrf(client: FlaskClient, hub: Hub) -> None:
    login(client, "root")
    before = stored(hub)
    response = client.post("/roster/shift", data=shift_form(hub))
    assert response.status_code == 400 and "reload the page" in page_text(response)
    response = client.post(f"/roster/shift/{hub.other}/delete")
    assert response.status_code == 400 and "reload the page" in page_text(response)
    assert client.post("/api/v1/shifts", json=shift_form(hub)).status_code == 400
    assert client.delete(f"/api/v1/shifts/{hub.other}").status_code == 400
    assert stored(hub) == before


def test_api_needs_a_login(client: FlaskClient, hub: Hub) -> None:
    for response in (
        client.get("/api/v1/shifts"),
        client.post("/api/v1/shifts", json=shift_form(hub)),
        client.put(f"/api/v1/shifts/{hub.other}", json={"note": "x"}),
        client.delete(f"/api/v1/shifts/{hub.other}"),
    ):
        assert response.status_code == 401 and "log in" in response.get_json()["error"]
    assert client.get("/roster").status_code == 302


def test_api_token_needs_no_csrf(app: Flask, client: FlaskClient, hub: Hub) -> None:
    token = accounts.issue_token(accounts.open_store(app.config["OTKLIK_AUTH_DB"]), "olga", "rota tool")
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/shifts", json=shift_form(hub), headers=headers)
    assert response.status_code == 201
    assert client.put(f"/api/v1/shifts/{hub.other}", json={"note": "x"}, headers=headers).status_code == 404
    bad = client.post("/api/v1/shifts", data="employee=e1", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("body:")


BAD_INPUT = [
    ({"employee": ""}, "employee: choose an employee"),
    ({"employee": "e99"}, "employee: 'e99' is not on the roster"),
    ({"employee": "bad id!"}, "employee: 'bad id!' is not on the roster"),
    ({"employee": "e2"}, "employee: 'e2' is not on the roster of b1"),
    ({"branch": ""}, "branch: choose the shift's branch"),
    ({"branch": "b9"}, "employee: 'e1' is not on the roster of b9"),
    ({"kiosk": "k7"}, "kiosk: 'k7' is not a kiosk of b1 (known: k1, k2)"),
    ({"kiosk": "k9"}, "kiosk: 'k9' is not a kiosk of b1"),
    ({"start": ""}, "start: give a time like"),
    ({"start": "tomorrow"}, "start: 'tomorrow' is not a time like"),
    ({"end": "{day}T25:00"}, "end: '"),
    ({"end": "{day}T08:00"}, "end: the shift must end after it starts"),
    ({"end": "{day}T09:00"}, "end: the shift must end after it starts"),
    ({"start": "{day}T08:00", "end": "{day}T08:00"}, "end: the shift must end after it starts"),
    ({"end": "2099-01-01T09:00"}, "end: a shift cannot be longer than 24 hours"),
    ({"note": "x" * 501}, "note: keep it under 500 characters"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_INPUT)
def test_bad_input_is_refused_and_nothing_stored(client: FlaskClient, hub: Hub, changes: dict, message: str) -> None:
    login(client, "root")
    token = csrf_token(client, "/roster")
    before = stored(hub)
    form = shift_form(hub, **changes)
    response = client.post("/roster/shift", data={"csrf_token": token, **form})
    assert response.status_code == 400
    page = page_text(response)
    assert message in page
    # What was typed comes back, so a typo is fixed rather than retyped.
    assert f'value="{form["employee"]}"' in response.get_data(as_text=True)
    response = client.post("/api/v1/shifts", json=form, headers={"X-CSRFToken": token})
    assert response.status_code == 400 and response.get_json()["error"].startswith(message)
    assert stored(hub) == before
    assert credited(client) == {}


BAD_EDITS = [
    ({"branch": "b2"}, "branch: a shift stays in its branch"),
    ({"employee": "e99"}, "employee: 'e99' is not on the roster"),
    ({"employee": "e2"}, "employee: 'e2' is not on the roster of b1"),
    ({"kiosk": "k9"}, "kiosk: 'k9' is not a kiosk of b1"),
    ({"start": "{day}T17:00"}, "end: the shift must end after it starts"),
    # An explicit UTC time is taken as such: 05:00 UTC is before the 09:00 Moscow (06:00 UTC) start.
    ({"end": "{day}T05:00:00Z"}, "end: the shift must end after it starts"),
    ({"end": "yesterday"}, "end: 'yesterday' is not a time"),
    ({"note": "x" * 501}, "note: keep it under 500 characters"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_EDITS)
def test_bad_edit_leaves_the_shift_as_it_was(client: FlaskClient, hub: Hub, changes: dict, message: str) -> None:
    db = open_db(hub.path)
    mine = hub_roster.add_shift(
        db, "e1", "b1", f"{hub.day} 09:00", f"{hub.day} 17:00", kiosk="k1", actor=hub_roster.ADMIN
    )
    db.conn.close()
    login(client, "root")
    token = csrf_token(client, "/roster")
    before = stored(hub)
    edit = {k: v.format(day=hub.day) for k, v in changes.items()}
    response = client.put(f"/api/v1/shifts/{mine.id}", json=edit, headers={"X-CSRFToken": token})
    assert response.status_code == 400 and response.get_json()["error"].startswith(message)
    response = client.post("/roster/shift", data={**shift_form(hub), **edit, "csrf_token": token, "id": str(mine.id)})
    assert response.status_code == 400 and message in page_text(response)
    assert stored(hub) == before
    assert credited(client) == {"e1": 2}


def test_an_old_shift_stays_correctable(client: FlaskClient, hub: Hub) -> None:
    """Roster and kiosk checks apply to what changes: a shift of someone who has since moved branch,
    on a kiosk since taken away, can still get its times or note corrected."""
    db = open_db(hub.path)
    # Recorded before k5 was taken away: today's rules would not let it be added.
    with db.conn:
        cursor = db.execute(
            'INSERT INTO shifts (employee, branch, kiosk, start, "end") VALUES (?, ?, ?, ?, ?) RETURNING id',
            ["e1", "b1", "k5", *(hub_roster.to_utc(db, "b1", f"{hub.day} {t}", t) for t in ("09:00", "17:00"))],
        )
        shift_id = cursor.fetchone()[0]
    old = hub_roster.get_shift(db, shift_id)
    hub_roster.add_employee(db, "e1", "b2", "Anna", actor=hub_roster.ADMIN)
    db.conn.close()
    login(client, "olga")
    headers = {"X-CSRFToken": csrf_token(client, "/roster")}
    response = client.put(
        f"/api/v1/shifts/{old.id}", json={"note": "left for b2", "end": f"{hub.day}T16:00"}, headers=headers
    )
    assert response.status_code == 200
    assert {k: response.get_json()[k] for k in ("employee", "kiosk", "end", "note")} == {
        "employee": "e1",
        "kiosk": "k5",
        "end": f"{hub.day} 16:00",
        "note": "left for b2",
    }


def test_bad_filters_and_ids_on_the_page(client: FlaskClient, hub: Hub) -> None:
    login(client, "root")
    for path, message in [
        ("/roster?shift=abc", "shift: 'abc' is not a shift id"),
        ("/roster?from=2026-13-01", "from:"),
        ("/roster?from=2026-02-01&to=2026-01-01", "from: the start date is after the end date"),
    ]:
        response = client.get(path)
        assert response.status_code == 400, path
        assert message in page_text(response), path
    response = client.get("/api/v1/shifts?to=soon")
    assert response.status_code == 400 and response.get_json()["error"].startswith("to:")


def test_shift_page_and_messages_are_translated(client: FlaskClient, hub: Hub) -> None:
    login(client, "olga")
    token = csrf_token(client, "/roster")
    for language, heading, button, refusal in [
        # The field by its label on the page (the API names it "employee").
        ("ru", "Смены", "Удалить", "Сотрудник: 'e99' нет в штате филиала b1"),
        ("fa", "شیفت‌ها", "حذف", "کارمند: 'e99' در فهرست کارکنان شعبهٔ b1 نیست"),
    ]:
        headers = {"Accept-Language": language}
        client.post("/roster/shift", data={"csrf_token": token, **shift_form(hub)}, headers=headers)
        page = page_text(client.get("/roster", headers=headers))
        assert heading in page and button in page and "Shifts" not in page
        response = client.post(
            "/roster/shift", data={"csrf_token": token, **shift_form(hub, employee="e99")}, headers=headers
        )
        assert response.status_code == 400 and refusal in page_text(response)


def test_shift_times_go_through_the_date_macro_in_each_language(client: FlaskClient, hub: Hub) -> None:
    """A Persian reader types and sees a shift's start and end in Solar Hijri (no browser's picker has
    it); a Russian or English one gets the browser's datetime-local with the page's lang. A wrong
    Solar Hijri time is refused naming the field by its label."""
    db = open_db(hub.path)
    mine = hub_roster.add_shift(
        db, "e1", "b1", "2026-12-01 09:00", "2026-12-01 17:00", kiosk="k1", actor=hub_roster.ADMIN
    )
    db.conn.close()
    login(client, "olga")
    token = csrf_token(client, "/roster")
    for language in ("ru", "en"):
        client.post("/settings/language", data={"language": language, "csrf_token": token})
        page = page_text(client.get(f"/roster?shift={mine.id}"))
        assert f'<input type="datetime-local" name="start" value="2026-12-01T09:00" required lang="{language}">' in page
        assert 'type="datetime-local" name="end"' in page and 'type="date" name="from"' in page
    client.post("/settings/language", data={"language": "fa", "csrf_token": token})
    page = page_text(client.get(f"/roster?shift={mine.id}"))
    # 2026-12-01 is 1405/9/10; no native date or time input is left on the page.
    assert re.search(r'<input type="text" name="start" value="۱۴۰۵/۹/۱۰ ۰۹:۰۰" required dir="ltr"', page), page
    assert 'type="datetime-local"' not in page and 'type="date"' not in page
    form = {"csrf_token": token, "id": str(mine.id), **shift_form(hub, start="۱۴۰۵/۹/۱۰ ۱۰:۰۰", end="1405/9/10 18:30")}
    assert client.post("/roster/shift", data=form).status_code == 302
    (changed,) = [s for s in stored(hub) if s["id"] == mine.id]
    assert (changed["start"], changed["end"]) == ("2026-12-01T07:00:00.000Z", "2026-12-01T15:30:00.000Z")  # Moscow
    response = client.post("/roster/shift", data={**form, "start": "۱۴۰۵/۱۳/۱۰ ۱۰:۰۰"})
    assert response.status_code == 400 and "شروع: «۱۴۰۵/۱۳/۱۰ ۱۰:۰۰» زمان نیست" in page_text(response)
    assert [s for s in stored(hub) if s["id"] == mine.id] == [changed]
