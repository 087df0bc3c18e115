"""The dashboard through Flask's test client, over a real hub database fed by the hub's own ingest."""

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
from dashboard.openapi import ENDPOINTS
from hub import alerts as hub_alerts
from hub import roster as hub_roster
from hub.db import open_db
from tests.dashboard.conftest import PASSWORD, csrf_token, login, publish


@pytest.fixture
def hub_path(hub_target: str | Path) -> str | Path:
    """These figures are read from either store (tests/hub_db.py)."""
    return hub_target


PAGES = ["/", "/branch/b1", "/employees", "/employees/b1/e1", "/alerts", "/fleet", "/roster"]
APIS = [
    "/api/v1/me",
    "/api/v1/overview",
    "/api/v1/branches/b1",
    "/api/v1/branches/b1/series",
    "/api/v1/branches/b1/series?by=week",
    "/api/v1/branches/b1/series?by=month",
    "/api/v1/branches/b1/heatmap",
    "/api/v1/branches/b1/flagged",
    "/api/v1/branches/b1/kiosks",
    "/api/v1/employees",
    "/api/v1/employees/b1/e1",
    "/api/v1/alerts",
    "/api/v1/fleet",
    "/api/v1/roster",
    "/api/v1/openapi.json",
    "/api/v1/export/fleet.csv",
]


def test_every_page_and_api_needs_a_login(client: FlaskClient, app: Flask) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    api_rules = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert len(api_rules) >= 15
    for rule in api_rules:
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if m.group(1) == "alert_id" else "b1", rule)
        method = "post" if rule in ("/api/v1/alerts/<int:alert_id>/<action>", "/api/v1/roster") else "get"
        response = getattr(client, method)(path)
        assert response.status_code == 401, rule
        assert response.is_json and "log in" in response.get_json()["error"], rule
    assert client.get("/api/v1/fleet", headers={"Authorization": "Bearer otk_forged"}).status_code == 401


def test_admin_sees_every_page_and_figures(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], path
    for path in APIS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
    rows = {r["branch"]: r for r in client.get("/api/v1/overview").get_json()["branches"]}
    assert set(rows) == {"b1", "b2"}
    # (100 + 100 + 66.67 + 0) / 4; the cooldown-flagged press is kept but left out.
    assert rows["b1"]["today"]["index"] == pytest.approx(66.7, abs=0.05)
    assert rows["b1"]["today"]["responses"] == 4
    assert rows["b1"]["today"]["flagged"]["cooldown"] == 1
    assert rows["b2"]["today"]["index"] == 0
    assert rows["b2"]["open_alerts"] == 1
    flagged = client.get("/api/v1/branches/b1/flagged").get_json()["rows"]
    assert [(r["seq"], r["flags"]) for r in flagged] == [(7, "cooldown")]
    ranking = client.get("/api/v1/employees?min_responses=1").get_json()["rows"]
    assert {r["employee"]: r["responses"] for r in ranking} == {"e1": 4, "e2": 2}
    detail = client.get("/api/v1/employees/b1/e1").get_json()
    assert detail["name"] == "Anna" and detail["summary"]["responses"] == 4
    heat = client.get("/api/v1/branches/b1/heatmap").get_json()["rows"]
    assert len(heat) == 168 and sum(c["responses"] for c in heat) == 4
    assert client.get("/employees/b1/nobody").status_code == 404


def test_fleet_shows_health_from_heartbeats(client: FlaskClient, data: Path) -> None:
    login(client, "tech")
    rows = {r["kiosk"]: r for r in client.get("/api/v1/fleet").get_json()["rows"]}
    k1 = rows["k1"]
    assert (k1["outbox_depth"], k1["refused"], k1["version"]) == (3, 1, "1.2.3")
    assert k1["camera"] == "unavailable: no device"
    assert (k1["unconfirmed"], k1["unconfirmed_age_s"]) == (2, 40.4)  # sent, waiting for the hub's receipt
    assert k1["seq_gaps"] == 2  # seqs 1-4 and 7 arrived: 5 and 6 are missing
    assert rows["k9"]["seq_gaps"] == 0
    page = client.get("/fleet").get_data(as_text=True)
    assert "unavailable: no device" in page and "1.2.3" in page and "oldest 40 s" in page


def test_manager_sees_only_their_branches(client: FlaskClient, data: Path) -> None:
    login(client, "olga")  # manager of b1
    assert client.get("/branch/b1").status_code == 200
    for path in ["/branch/b2", "/employees/b2/e2", "/employees?branch=b2"]:
        assert client.get(path).status_code == 404, path
    for path in [
        "/api/v1/branches/b2",
        "/api/v1/branches/b2/series",
        "/api/v1/branches/b2/heatmap",
        "/api/v1/branches/b2/flagged",
        "/api/v1/branches/b2/kiosks",
        "/api/v1/employees?branch=b2",
        "/api/v1/employees/b2/e2",
        "/export/series.csv?branch=b2",
        "/export/heatmap.csv?branch=b2",
        "/export/flagged.csv?branch=b2",
        "/export/fleet.csv?branch=b2",
        "/export/employees.csv?branch=b2",
        "/api/v1/export/flagged.csv?branch=b2",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"b2" not in response.data or b"error" in response.data
    assert [r["branch"] for r in client.get("/api/v1/overview").get_json()["branches"]] == ["b1"]
    assert {r["branch"] for r in client.get("/api/v1/fleet").get_json()["rows"]} == {"b1"}
    assert {r["branch"] for r in client.get("/api/v1/alerts").get_json()["rows"]} == {"b1"}
    assert {r["branch"] for r in client.get("/api/v1/roster").get_json()["rows"]} == {"b1"}
    assert [r["employee"] for r in client.get("/api/v1/employees?min_responses=1").get_json()["rows"]] == ["e1"]
    for view in ("overview", "fleet", "employees", "alerts", "roster", "shifts"):
        text = client.get(f"/export/{view}.csv?state=all&min_responses=1").get_data(as_text=True)
        assert "b2" not in text, view
    # Alerts of another branch cannot be touched either.
    other = next(a for a in hub_alerts.list_alerts(open_db(data), state=None) if a["branch"] == "b2")
    token = csrf_token(client, "/alerts")
    response = client.post(f"/alerts/{other['id']}/ack", data={"csrf_token": token})
    assert response.status_code == 404
    assert hub_alerts.get(open_db(data), other["id"])["state"] == "open"


def test_technician_sees_the_fleet_only(client: FlaskClient, data: Path) -> None:
    login(client, "tech")
    assert client.get("/").headers["Location"].endswith("/fleet")
    assert client.get("/fleet").status_code == 200
    for path in ["/branch/b1", "/employees", "/alerts", "/roster", "/export/overview.csv"]:
        assert client.get(path).status_code == 403, path
    for path in ["/api/v1/overview", "/api/v1/branches/b1", "/api/v1/employees", "/api/v1/alerts", "/api/v1/roster"]:
        assert client.get(path).status_code == 403, path


def test_export_csv_matches_the_table(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    response = client.get("/export/employees.csv?min_responses=1")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["employee"]: int(r["responses"]) for r in rows} == {"e1": 4, "e2": 2}
    assert client.get("/export/nonsense.csv").status_code == 400
    assert client.get("/export/series.csv").status_code == 400  # needs ?branch=
    assert client.get("/export/series.csv?branch=b1&from=yesterday").status_code == 400


def test_templates_have_no_inline_script_the_policy_would_block() -> None:
    # script-src 'self' stops inline handlers and <script> blocks; behaviour lives in static/app.js.
    templates = Path(__file__).resolve().parents[2] / "dashboard" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), template.name
        assert "style=" not in text, template.name


def test_login_failures_are_throttled(client: FlaskClient) -> None:
    assert login(client, "root", "wrong password").status_code == 401
    for _ in range(4):
        login(client, "root", "wrong password")
    # Even the right password is refused until the window passes.
    response = login(client, "root", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401


def test_forms_need_csrf(client: FlaskClient, data: Path) -> None:
    response = client.post("/login", data={"username": "root", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/api/v1/me").status_code == 401
    login(client, "root")
    response = client.post("/roster/employee", data={"id": "e9", "name": "X", "branch": "b1"})
    assert response.status_code == 400 and "reload the page" in response.get_data(as_text=True)
    assert client.post("/api/v1/roster", json={"id": "e9", "branch": "b1"}).status_code == 400
    assert client.post("/logout").status_code == 400
    assert "e9" not in [e["id"] for e in hub_roster.list_employees(open_db(data))]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "No Id", "branch": "b1"}, "id: give the employee an id"),
        ({"id": "e9", "name": "No branch"}, "branch: choose"),
        ({"id": "bad id!", "branch": "b1"}, "employee"),
        ({"id": "e9", "branch": "B 1"}, "branch"),
        ({"id": "e9", "branch": "b1", "name": "x" * 300}, "name: keep it under 200"),
    ],
)
def test_roster_form_rejects_bad_input(client: FlaskClient, data: Path, form: dict, message: str) -> None:
    login(client, "root")
    form["csrf_token"] = csrf_token(client, "/roster")
    response = client.post("/roster/employee", data=form)
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))
    assert {e["id"] for e in hub_roster.list_employees(open_db(data))} == {"e1", "e2"}


def test_roster_form_and_csv_import(client: FlaskClient, data: Path) -> None:
    login(client, "olga")
    token = csrf_token(client, "/roster")
    response = client.post("/roster/employee", data={"id": "e3", "name": "Vera", "branch": "b1", "csrf_token": token})
    assert response.status_code == 302
    # A manager cannot put someone into another branch, nor take someone from it.
    assert client.post("/roster/employee", data={"id": "e4", "branch": "b2", "csrf_token": token}).status_code == 404
    assert client.post("/roster/employee", data={"id": "e2", "branch": "b1", "csrf_token": token}).status_code == 404

    def upload(text: str, name: str = "r.csv"):
        return client.post(
            "/roster/import",
            data={"csrf_token": token, "file": (io.BytesIO(text.encode()), name)},
            content_type="multipart/form-data",
        )

    assert upload("id,name,branch\ne5,Gleb,b1\ne6,Dina,b1\n").status_code == 302
    bad = upload("id,name,branch\ne7,Ok,b1\ne8,Other,b2\n")
    assert bad.status_code == 400
    assert "line 3: branch: 'b2' is not one of yours" in html.unescape(bad.get_data(as_text=True))
    bad = upload("who,what\n1,2\n")
    assert bad.status_code == 400 and "neither employees" in html.unescape(bad.get_data(as_text=True))
    bad = upload("id,name,branch\ne7,Ok,b1\nbad id!,Nope,b1\n")
    assert bad.status_code == 400 and "line 3" in html.unescape(bad.get_data(as_text=True))
    assert client.post("/roster/import", data={"csrf_token": token}).status_code == 400
    ids = {e["id"] for e in hub_roster.list_employees(open_db(data))}
    assert ids == {"e1", "e2", "e3", "e5", "e6"}  # nothing from the rejected files


def test_alert_ack_and_resolve(client: FlaskClient, data: Path) -> None:
    login(client, "olga")
    alert = client.get("/api/v1/alerts").get_json()["rows"][0]
    token = csrf_token(client, "/alerts")
    assert client.post(f"/alerts/{alert['id']}/ack", data={"csrf_token": token}).status_code == 302
    bad = client.post(f"/alerts/{alert['id']}/resolve", data={"csrf_token": token, "note": "  "})
    assert bad.status_code == 400 and "note: say how" in html.unescape(bad.get_data(as_text=True))
    assert client.post(f"/alerts/{alert['id']}/explode", data={"csrf_token": token}).status_code == 400
    assert client.post("/alerts/99999/ack", data={"csrf_token": token}).status_code == 404
    stored = hub_alerts.get(open_db(data), alert["id"])
    assert stored["state"] == "acknowledged" and stored["acknowledged_by"] == "olga"
    ok = client.post(
        f"/api/v1/alerts/{alert['id']}/resolve", json={"note": "cable replaced"}, headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 200 and ok.get_json()["state"] == "resolved"
    again = client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"note": "x"}, headers={"X-CSRFToken": token})
    assert again.status_code == 400 and "already resolved" in again.get_json()["error"]


def test_api_token(app: Flask, client: FlaskClient, data: Path) -> None:
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    token = accounts.issue_token(store, "olga", "reports")
    headers = {"Authorization": f"Bearer {token}"}
    assert [r["branch"] for r in client.get("/api/v1/overview", headers=headers).get_json()["branches"]] == ["b1"]
    assert client.get("/api/v1/branches/b2", headers=headers).status_code == 404
    # A bearer token cannot be forged by another site: no CSRF token needed.
    assert client.post("/api/v1/roster", json={"id": "e3", "branch": "b1"}, headers=headers).status_code == 201
    bad = client.post("/api/v1/roster", json={"id": "", "branch": "b1"}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("id:")
    assert token not in repr(accounts.list_tokens(store))
    accounts.revoke_token(store, accounts.list_tokens(store)[0]["id"])
    assert client.get("/api/v1/overview", headers=headers).status_code == 401


def test_bad_query_strings_get_clear_400s(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    for path, field in [
        ("/api/v1/branches/b1/series?by=year", "by:"),
        ("/api/v1/branches/b1/series?from=2026-13-01", "from:"),
        ("/api/v1/branches/b1/heatmap?from=2026-02-01&to=2026-01-01", "from:"),
        ("/api/v1/branches/b1/flagged?limit=-3", "limit:"),
        ("/api/v1/employees?min_responses=lots", "min_responses:"),
        ("/api/v1/alerts?state=weird", "state:"),
        # The pages take the same filters and say the same, as a page.
        ("/employees?from=2026-13-01", "from:"),
        ("/employees?min_responses=lots", "min_responses:"),
        ("/alerts?state=weird", "state:"),
        ("/export/employees.csv?to=tomorrow", "to:"),
    ]:
        response = client.get(path)
        assert response.status_code == 400, path
        shown = response.get_json()["error"] if response.is_json else html.unescape(response.get_data(as_text=True))
        assert field in shown, path


def test_languages_and_rtl(client: FlaskClient, app: Flask) -> None:
    page = client.get("/login", headers={"Accept-Language": "fa-IR,fa;q=0.9"}).get_data(as_text=True)
    assert 'dir="rtl"' in page and 'lang="fa"' in page and "ورود" in page
    page = client.get("/login", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert 'dir="ltr"' in page and "Войти" in page
    login(client, "root")
    token = csrf_token(client, "/fleet")
    assert client.post("/settings/language", data={"language": "xx", "csrf_token": token}).status_code == 302
    assert accounts.get_user(accounts.open_store(app.config["OTKLIK_AUTH_DB"]), "root").language is None
    client.post("/settings/language", data={"language": "fa", "csrf_token": token, "next": "/fleet"})
    assert accounts.get_user(accounts.open_store(app.config["OTKLIK_AUTH_DB"]), "root").language == "fa"
    page = client.get("/fleet", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'dir="rtl"' in page
    # The language menu brings the user back to the same view, filters included.
    page = client.get("/employees?branch=b1&min_responses=5").get_data(as_text=True)
    assert 'name="next" value="/employees?branch=b1&amp;min_responses=5"' in page


def test_openapi_describes_every_api_route(client: FlaskClient, app: Flask) -> None:
    login(client, "root")
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    described = {(m.upper(), "/api/v1" + p) for m, p, *_ in ENDPOINTS}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:int:)?(\w+)>", r"{\1}", rule.rule)
            routed.update((m, path) for m in rule.methods - {"HEAD", "OPTIONS"})
    assert described == routed
    assert set(doc["paths"]) == {p for _, p, *_ in ENDPOINTS}


def test_live_stream_pushes_a_new_press(client: FlaskClient, data: Path) -> None:
    login(client, "olga")
    response = client.get("/api/v1/stream", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)

    def next_overview() -> dict:
        for chunk in chunks:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if text.startswith("event: overview"):
                return json.loads(text.split("data: ", 1)[1])
        raise AssertionError("stream ended")

    first = next_overview()
    assert [b["branch"] for b in first["branches"]] == ["b1"]
    assert first["branches"][0]["today"]["responses"] == 4
    publish(data, "b2", "k9", 4, 3)  # another branch: olga's stream has nothing new to say
    publish(data, "b1", "k1", 4, 8)
    second = next_overview()
    assert second["branches"][0]["today"]["responses"] == 5
    response.close()
