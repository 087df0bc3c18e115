"""The phone page's public endpoints through Flask's test client, on a real hub database.

What the browser test (test_phone_browser.py) shows by looking, this checks by rule: the token
(forged, altered, revoked), the phone's cookie and the address limit, the body limit, the
origin check, the hub's de-duplication, and the branch's choice of counting phone ratings.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import phone
from hub import aggregates, branches, config_push, scores
from hub.db import open_db
from hub.provisioning import qr

FOLLOWUP = [
    {
        "id": "why-bad", "scores": [1, 2], "comment": True,
        "text": {"en": "What went wrong?", "ru": "Что пошло не так?", "fa": "چه چیزی خوب نبود؟"},
        "options": [
            {"id": "queue", "text": {"en": "Queue", "ru": "Очередь", "fa": "صف"}},
            {"id": "staff", "text": {"en": "Staff", "ru": "Персонал", "fa": "کارکنان"}},
        ],
    }
]  # fmt: skip
JSON = {"Content-Type": "application/json"}


def make_code(hub_path: Path, branch: str = "b1", kiosk: str | None = "k1", followup: bool = True) -> str:
    db = open_db(hub_path)
    if followup:
        config_push.set_settings(db, branch, kiosk or qr.BRANCH_KIOSK, {"followup": FOLLOWUP})
    _token, signed = qr.create(db, qr.signing_key(hub_path), branch, kiosk)
    db.close()
    return signed


def rows(hub_path: Path, sql: str) -> list[tuple]:
    db = open_db(hub_path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture
def hub_path(hub_target: str | Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | Path:
    """The phone path writes through the hub's ingest into either store (tests/hub_db.py)."""
    if isinstance(hub_target, str):  # PostgreSQL: no hub file for the key to sit beside (hub/provisioning/qr.py)
        monkeypatch.setenv("OTKLIK_QR_KEY_FILE", str(tmp_path / "qr-key"))
    return hub_target


def post(client: FlaskClient, path: str, body: object, **headers: str):
    return client.post(path, data=json.dumps(body), headers={**JSON, **headers})


@pytest.fixture
def code(app: Flask, hub_path: Path) -> str:
    return make_code(hub_path)


def test_rate_answer_comment_arrive_once(client: FlaskClient, hub_path: Path, code: str) -> None:
    page = client.get(f"/q/{code}", headers={"Accept-Language": "ru"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="ru"' in html and "Как прошёл ваш визит?" in html and "Анонимно" in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in page.headers  # nothing of the dashboard's session for a shopper
    rated = post(client, f"/q/{code}/rate", {"score": 2}, **{"Accept-Language": "ru"})
    assert rated.status_code == 200, rated.get_json()
    body = rated.get_json()
    assert body["question"]["text"] == "Что пошло не так?"
    rating = body["rating"]
    first = post(client, f"/q/{code}/answer", {"rating": rating, "reason": "queue"})
    again = post(client, f"/q/{code}/answer", {"rating": rating, "reason": "queue"})  # a retry
    assert first.get_json()["answer"] == again.get_json()["answer"]
    note = "Очередь 20 минут, звоните +7 912 345-67-89"
    assert post(client, f"/q/{code}/answer", {"rating": rating, "reason": "queue", "comment": note}).status_code == 200
    assert rows(hub_path, "SELECT branch, kiosk, score, channel, seq FROM events") == [("b1", "k1", 2, "phone", 1)]
    answers = rows(hub_path, "SELECT rating_id, reason, comment FROM answers ORDER BY comment IS NOT NULL")
    assert answers == [(rating, "queue", None), (rating, "queue", "Очередь 20 минут, звоните [phone]")]
    # The kiosk's registry does not take a phone rating for a sign of the kiosk's life.
    assert rows(hub_path, "SELECT count(*) FROM kiosks") == [(0,)]


def test_second_rating_inside_the_window_is_refused_in_the_phones_language(
    client: FlaskClient, hub_path: Path, code: str
) -> None:
    assert post(client, f"/q/{code}/rate", {"score": 4}).status_code == 200
    refused = post(client, f"/q/{code}/rate", {"score": 1}, **{"Accept-Language": "fa-IR,fa;q=0.9"})
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["code"] == "answered"
    assert body["error"] == "شما اینجا پاسخ داده‌اید. سپاسگزاریم! ۵ دقیقهٔ دیگر می‌توانید دوباره پاسخ دهید."
    assert int(refused.headers["Retry-After"]) > 290
    assert rows(hub_path, "SELECT score FROM events") == [(4,)]
    # Another kiosk's code is another place: answered at once.
    other = make_code(hub_path, kiosk="k2", followup=False)
    assert post(client, f"/q/{other}/rate", {"score": 3}).status_code == 200


def test_a_phone_without_its_cookie_meets_the_address_limit(app: Flask, hub_path: Path, code: str) -> None:
    app.config["PHONE_ADDRESS_RATINGS"] = 3
    phone.init_limits(app)
    stored = 0
    for _ in range(5):
        fresh = app.test_client()  # cookies thrown away each time
        response = post(fresh, f"/q/{code}/rate", {"score": 3})
        stored += response.status_code == 200
    assert stored == 3
    assert response.status_code == 429 and response.get_json()["code"] == "too_many"
    # Another address is not held back by this one.
    other = app.test_client().post(
        f"/q/{code}/rate", data=json.dumps({"score": 3}), headers=JSON, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 200
    assert rows(hub_path, "SELECT count(*) FROM events") == [(4,)]


@pytest.mark.parametrize("how", ["altered", "forged", "revoked", "garbage"])
def test_a_bad_token_is_refused_and_stores_nothing(client: FlaskClient, hub_path: Path, code: str, how: str) -> None:
    if how == "altered":  # another kiosk's name under the same signature
        head, _, sig = code.partition(".")
        body = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        body["k"] = "k2"
        head = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
        bad = f"{head}.{sig}"
    elif how == "forged":  # signed with some other key
        db = open_db(hub_path)
        _t, bad = qr.create(db, "not the hub's key", "b1", "k1")
        db.close()
    elif how == "revoked":
        db = open_db(hub_path)
        qr.revoke(db, qr.list_tokens(db)[0].id)
        db.close()
        bad = code
    else:
        bad = "x" * 300
    page = client.get(f"/q/{bad}", headers={"Accept-Language": "en"})
    assert page.status_code == 404 and "This code is not valid any more." in page.get_data(as_text=True)
    refused = post(client, f"/q/{bad}/rate", {"score": 4})
    assert refused.status_code == 404 and refused.get_json()["code"] == "bad_code"
    assert rows(hub_path, "SELECT count(*) FROM events") == [(0,)]


def test_bodies_over_the_limit_are_refused_before_reading(client: FlaskClient, hub_path: Path, code: str) -> None:
    big = post(client, f"/q/{code}/rate", {"score": 4, "pad": "x" * 5000}, **{"Accept-Language": "ru"})
    assert big.status_code == 413
    assert big.get_json()["error"] == "Слишком длинно для отправки. Пожалуйста, сократите."
    rating = post(client, f"/q/{code}/rate", {"score": 1}).get_json()["rating"]
    long_comment = post(client, f"/q/{code}/answer", {"rating": rating, "comment": "я" * 600})
    assert long_comment.status_code == 413
    assert rows(hub_path, "SELECT count(*) FROM answers") == [(0,)]


def test_other_sites_and_forms_cannot_post(client: FlaskClient, hub_path: Path, code: str) -> None:
    cross = post(client, f"/q/{code}/rate", {"score": 4}, Origin="https://evil.example")
    assert cross.status_code == 403
    form = client.post(f"/q/{code}/rate", data={"score": "4"})
    assert form.status_code == 415
    assert rows(hub_path, "SELECT count(*) FROM events") == [(0,)]


def test_an_answer_only_for_this_phones_own_rating(app: Flask, hub_path: Path, code: str) -> None:
    mine, theirs = app.test_client(), app.test_client()
    rating = post(mine, f"/q/{code}/rate", {"score": 1}).get_json()["rating"]
    stolen = post(theirs, f"/q/{code}/answer", {"rating": rating, "reason": "staff"})
    assert stolen.status_code == 409
    wrong = post(mine, f"/q/{code}/answer", {"rating": rating, "reason": "not-an-option"})
    assert wrong.status_code == 400
    assert rows(hub_path, "SELECT count(*) FROM answers") == [(0,)]


def test_everything_else_stays_behind_log_in(client: FlaskClient, code: str) -> None:
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/branches").status_code == 401


def test_the_branch_decides_whether_phone_ratings_count_with_the_kiosks(app: Flask, hub_path: Path, code: str) -> None:
    from tests.dashboard.conftest import login, publish

    publish(hub_path, "b1", "k1", 4, 1)
    assert post(app.test_client(), f"/q/{code}/rate", {"score": 1}).status_code == 200
    db = open_db(hub_path)
    assert scores.total(db, branch="b1")["responses"] == 2  # together (the default)
    branches.update(db, "b1", phone_ratings="separate")
    aggregates.rebuild(db, "b1")
    assert scores.total(db, branch="b1")["responses"] == 1
    assert post(app.test_client(), f"/q/{code}/rate", {"score": 2}).status_code == 200
    assert scores.total(db, branch="b1")["responses"] == 1  # ingest keeps them out too
    manager = app.test_client()
    login(manager, "olga")
    html = manager.get("/branch/b1").get_data(as_text=True)
    card = html[html.index('data-key="stat-phone"') :][:400]
    assert "Phone ratings (QR code), last 7 days, counted apart" in card and "n = 2" in card
    assert "16.7" in card  # a 1 and a 2: the phone's own index, (0 + 33.3) / 2
    branches.update(db, "b1", phone_ratings="together")
    aggregates.rebuild(db, "b1")
    assert scores.total(db, branch="b1")["responses"] == 3
    assert 'data-key="stat-phone"' not in manager.get("/branch/b1").get_data(as_text=True)
    db.close()
    db = open_db(hub_path)
    with pytest.raises(branches.SettingsError, match="phone_ratings"):
        branches.update(db, "b1", phone_ratings="sometimes")
    db.close()


def test_a_burst_of_requests_from_one_address_is_refused_and_others_are_not(app: Flask, code: str) -> None:
    app.config.update(PHONE_BURST=5, PHONE_PER_S=0.01)
    phone.init_limits(app)
    client = app.test_client()
    # A made-up API token changes nothing: the shopper's page reads no credential.
    statuses = [client.get(f"/q/{code}", headers={"Authorization": "Bearer x"}).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    refused = post(client, f"/q/{code}/rate", {"score": 4}, **{"Accept-Language": "ru"})
    assert refused.status_code == 429 and refused.get_json()["code"] == "too_fast"
    assert refused.get_json()["error"] == "Слишком много запросов. Подождите немного и попробуйте снова."
    assert int(refused.headers["Retry-After"]) >= 1
    other = app.test_client().get(f"/q/{code}", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200


def test_an_unreadable_key_file_stops_the_phone_page_not_the_dashboard(
    app: Flask, hub_path: Path, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    (tmp_path / "not-a-key").mkdir()
    monkeypatch.setenv("OTKLIK_QR_KEY_FILE", str(tmp_path / "not-a-key"))  # reading it fails as root too
    client = app.test_client()
    assert client.get(f"/q/{code}").status_code == 404
    assert "cannot read its key file" in caplog.text and "not-a-key" in caplog.text
    assert client.get("/login").status_code == 200
