"""Bad input is a 400 naming the field, never a 500; every ``next`` stays on this site; webhook URLs stay secret.

The cases are the ones schemathesis and a manual review found answering 500 (issue 12).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import accounts
from hub import alerts as hub_alerts
from hub.db import open_db
from tests.dashboard.conftest import csrf_token, login

BIG = str(2**63)


@pytest.fixture
def token_headers(app: Flask) -> dict[str, str]:
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    try:
        return {"Authorization": f"Bearer {accounts.issue_token(store, 'root', 'fuzz')}"}
    finally:
        store.conn.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("put", f"/api/v1/shifts/{BIG}", {"note": "x"}, "shift_id"),
        ("delete", f"/api/v1/shifts/{BIG}", None, "shift_id"),
        ("post", f"/api/v1/alerts/{BIG}/ack", {}, "alert_id"),
        ("post", "/api/v1/alerts/1/ack", {"note": 123}, "note"),
        ("post", "/api/v1/shifts", {"employee": "e1", "branch": "b1", "start": 9, "end": "x"}, "start"),
        ("post", "/api/v1/roster", {"id": ["e1"], "branch": "b1"}, "id"),
        ("get", "/api/v1/branches/b1/series?from=0001-01-01", None, "from"),
        ("get", "/api/v1/branches/b1/series?to=9999-12-31", None, "to"),
        ("get", "/api/v1/branches/b1/heatmap?from=0001-01-01&to=0001-01-02", None, "to"),
        ("get", "/api/v1/shifts?to=9999-12-31", None, "to"),
        ("get", "/api/v1/shifts?from=0001-01-01", None, "from"),
        ("get", "/api/v1/branches/b1/flagged?limit=%C2%B2", None, "limit"),
        ("get", "/api/v1/employees?min_responses=%C2%B2", None, "min_responses"),
    ],
)
def test_bad_api_input_is_a_400_naming_the_field(
    client: FlaskClient, data: Path, token_headers: dict, method: str, path: str, body: dict | None, field: str
) -> None:
    if "alerts/1/" in path:
        path = path.replace("/1/", f"/{hub_alerts.list_alerts(open_db(data), state=None)[0]['id']}/")
    response = getattr(client, method)(path, json=body, headers=token_headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"].startswith(f"{field}:"), response.get_json()


def test_a_405_says_what_is_allowed(client: FlaskClient, data: Path, token_headers: dict) -> None:
    api = client.patch("/api/v1/shifts/1", headers=token_headers)
    assert api.status_code == 405 and set(api.headers["Allow"].split(", ")) >= {"PUT", "DELETE"}
    assert api.get_json()["status"] == 405
    login(client, "root")
    page = client.get("/logout")
    assert page.status_code == 405 and "POST" in page.headers["Allow"]


@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example", "/\\evil.example", "//evil.example", "/\n/evil.example", "https://evil.example/",
     "/%0d%0aSet-Cookie:x=1", "/ok\r\nSet-Cookie: x=1", "/\x00/evil.example", "\\\\evil.example"],
)  # fmt: skip
def test_every_next_stays_on_this_site(client: FlaskClient, data: Path, target: str) -> None:
    token = csrf_token(client)
    response = client.post("/settings/language", data={"language": "ru", "next": target, "csrf_token": token})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location in ("/", target) and "\r" not in location and "\n" not in location
    assert not location.startswith("//") and "evil" not in location.replace("%0d%0aSet-Cookie:x=1", "")
    # The log-in form's ?next= goes through the same check.
    token = csrf_token(client)
    form = {"username": "root", "password": "correct horse battery", "csrf_token": token}
    response = client.post("/login", query_string={"next": target}, data=form)
    assert response.status_code == 302
    assert response.headers["Location"] in ("/", target) and "evil" not in response.headers["Location"]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def test_a_good_next_is_kept(client: FlaskClient, data: Path) -> None:
    token = csrf_token(client)
    target = "/employees?branch=b1&from=2026-11-01"
    response = client.post("/settings/language", data={"language": "fa", "next": target, "csrf_token": token})
    assert response.headers["Location"] == target


SECRET = "T0ABC/B0DEF/xoxb-very-secret-key"


def test_webhook_urls_are_not_shown_to_managers(client: FlaskClient, data: Path) -> None:
    db = open_db(data)
    alert = next(a for a in hub_alerts.list_alerts(db, state=None) if a["branch"] == "b1")
    hub_alerts.mark_delivered(
        db,
        alert["id"],
        {f"webhook:https://hooks.example/{SECRET}": f"failed: HTTP Error 500 from https://hooks.example/{SECRET}?x=1"},
    )
    db.conn.close()
    login(client, "olga")
    rows = client.get("/api/v1/alerts").get_json()["rows"]
    shown = next(r for r in rows if r["id"] == alert["id"])
    assert shown["delivered"] == {
        "webhook:https://hooks.example/…": "failed: HTTP Error 500 from https://hooks.example/…"
    }
    for path in ("/api/v1/alerts?state=all", "/export/alerts.csv", "/api/v1/export/alerts.csv", "/alerts"):
        text = client.get(path).get_data(as_text=True)
        assert "secret" not in text and "T0ABC" not in text, path
