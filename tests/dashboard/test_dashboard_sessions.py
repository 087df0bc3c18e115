"""Sessions end on the server: log-out, a new password and disabling an account make old cookies worthless,
open streams stop when their credential does, and the cookie is Secure over HTTPS."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from dashboard import accounts, create_app
from tests.dashboard.conftest import PASSWORD, csrf_token, login


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str) -> int:
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get("/api/v1/me").status_code


def _store(app: Flask):
    return accounts.open_store(app.config["OTKLIK_AUTH_DB"])


def test_a_cookie_replayed_after_log_out_is_refused(app: Flask, client: FlaskClient) -> None:
    assert login(client, "olga").status_code == 302
    cookie = _session_cookie(client)
    assert _replay(app, cookie) == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302
    assert _replay(app, cookie) == 401


def test_password_change_and_disable_end_every_session_and_re_enabling_revives_none(app: Flask) -> None:
    phone, desktop = app.test_client(), app.test_client()
    login(phone, "olga")
    login(desktop, "olga")
    cookies = [_session_cookie(phone), _session_cookie(desktop)]
    assert [_replay(app, c) for c in cookies] == [200, 200]
    accounts.change_user(_store(app), "olga", password="another long password")
    assert [_replay(app, c) for c in cookies] == [401, 401]
    login(phone, "olga", "another long password")
    cookie = _session_cookie(phone)
    assert _replay(app, cookie) == 200
    accounts.change_user(_store(app), "olga", active=False)
    assert _replay(app, cookie) == 401
    accounts.change_user(_store(app), "olga", active=True)
    assert _replay(app, cookie) == 401
    # A change of branches alone keeps the session (load_user reads the grants on every request).
    login(phone, "olga", "another long password")
    cookie = _session_cookie(phone)
    accounts.change_user(_store(app), "olga", branches=["b1", "b2"])
    assert _replay(app, cookie) == 200


def test_sessions_expire_after_12_hours_idle_or_7_days_in_all(app: Flask) -> None:
    store = _store(app)
    user = accounts.get_user(store, "olga")
    assert user is not None
    start = time.time()
    idle = accounts.start_session(store, user, now=start)
    assert accounts.session_user(store, idle, now=start + 11 * 3600) is not None
    assert accounts.session_user(store, idle, now=start + 11 * 3600 + 12.5 * 3600) is None
    busy = accounts.start_session(store, user, now=start)
    hour = 0
    while hour < 7 * 24:  # seen every hour: idle never runs out, the week does
        assert accounts.session_user(store, busy, now=start + hour * 3600) is not None, hour
        hour += 1
    assert accounts.session_user(store, busy, now=start + 7 * 24 * 3600 + 60) is None
    # The browser is told the same idle limit: the cookie lives 12 hours past the last request, not 31 days.
    client = app.test_client()
    response = login(client, "olga")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    assert abs((expires - datetime.now(UTC)).total_seconds() - 12 * 3600) < 120


def _login_cookie_header(app: Flask, base: str = "http://localhost", headers: dict | None = None) -> str:
    client = app.test_client()
    headers = {"Referer": f"{base}/login", **(headers or {})}  # Flask-WTF checks it over HTTPS
    html = client.get("/login", base_url=base, headers=headers).get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"username": "root", "password": PASSWORD, "csrf_token": token}, base_url=base, headers=headers
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Set-Cookie"]


def test_the_cookie_is_secure_over_https_and_behind_a_trusted_proxy_only(app: Flask, hub_path: Path) -> None:
    assert "Secure" not in _login_cookie_header(app)
    assert "Secure" in _login_cookie_header(app, "https://dash.example")
    # Without a trusted proxy configured, anyone can send X-Forwarded-Proto: it is ignored.
    assert "Secure" not in _login_cookie_header(app, headers={"X-Forwarded-Proto": "https"})
    proxied = create_app(
        {"OTKLIK_DB": str(hub_path), "OTKLIK_AUTH_DB": app.config["OTKLIK_AUTH_DB"], "SECRET_KEY": "test",
         "TESTING": True, "TRUSTED_PROXIES": 1}
    )  # fmt: skip
    forwarded = {"X-Forwarded-Proto": "https", "Referer": "https://localhost/login"}
    assert "Secure" in _login_cookie_header(proxied, headers=forwarded)


def _read_until(response, marker: bytes, seconds: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    for chunk in response.response:
        seen += chunk if isinstance(chunk, bytes) else chunk.encode()
        if marker in seen or time.monotonic() > deadline:
            break
    return seen


def test_an_open_stream_ends_when_its_token_is_revoked_or_its_account_disabled(app: Flask, data: Path) -> None:
    app.config.update(SSE_POLL_S=0.05, SSE_RECHECK_S=0.1, SSE_MAX_S=20.0)
    store = _store(app)
    token = accounts.issue_token(store, "olga", "wallboard")
    streaming = app.test_client().get("/api/v1/stream", headers={"Authorization": f"Bearer {token}"}, buffered=False)
    assert b"event: overview" in _read_until(streaming, b"event: overview", 5)
    accounts.revoke_token(store, accounts.list_tokens(store, "olga")[0]["id"])
    revoked_at = time.monotonic()
    assert b"event: end" in _read_until(streaming, b"event: end", 10)
    assert time.monotonic() - revoked_at < 5
    streaming.close()

    client = app.test_client()
    login(client, "olga")
    page = client.get("/api/v1/stream", buffered=False)
    assert b"event: overview" in _read_until(page, b"event: overview", 5)
    accounts.change_user(store, "olga", active=False)
    assert b"event: end" in _read_until(page, b"event: end", 10)
    page.close()
    assert client.get("/api/v1/stream").status_code == 401
