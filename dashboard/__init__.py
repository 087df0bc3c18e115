"""The managers' dashboard: a Flask app over the hub's SQLite database.

``create_app(test_config=None)`` follows Flask's flaskr layout. Configuration:

- ``OTKLIK_DB``: the hub's database (read per request on its own connection;
  WAL means a reader never blocks ingest).
- ``OTKLIK_AUTH_DB``: the dashboard's own database (accounts, tokens, log-in
  attempts); defaults to ``<hub db stem>-dashboard.db`` next to the hub's.
- ``OTKLIK_TRUSTED_PROXIES``: reverse proxies in front whose X-Forwarded-For/-Proto
  are believed (default 0: none); ``OTKLIK_SECURE_COOKIE=1`` marks the session cookie
  Secure even on requests that did not look like HTTPS.
- ``SECRET_KEY``: signs sessions; if unset, one is generated once and kept in
  ``<auth db>.secret`` (mode 0600) so restarts and gunicorn workers agree.

Environment variables of the same names fill in what ``test_config`` leaves out,
which is how ``dashboard.wsgi`` is configured under gunicorn.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask


def default_auth_db(hub_db: str | Path) -> str:
    hub_db = Path(hub_db)
    return str(hub_db.with_name(f"{hub_db.stem}-dashboard.db"))


def _secret_key(auth_db: str) -> str:
    path = Path(auth_db + ".secret")
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two gunicorn workers starting together must not write two keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"{name}={raw!r} is not a whole number") from None


def _system_clock() -> datetime:
    return datetime.now(UTC)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    from dashboard.jsonprovider import OrjsonProvider

    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    config: dict[str, Any] = {
        "OTKLIK_DB": os.environ.get("OTKLIK_DB", "data/hub.db"),
        "OTKLIK_AUTH_DB": os.environ.get("OTKLIK_AUTH_DB"),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or os.environ.get("OTKLIK_SECRET_KEY"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure is added per request when it came over HTTPS (auth.SessionInterface); this forces it always.
        "SESSION_COOKIE_SECURE": os.environ.get("OTKLIK_SECURE_COOKIE", "") == "1",
        # The browser forgets the cookie after this long without a request (Flask re-sends it on each one);
        # the server holds the session to the same idle limit and a 7-day absolute one (accounts.SESSION_*).
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # How many reverse proxies of ours stand in front (deploy: 1, nginx or Caddy with TLS); 0 ignores
        # X-Forwarded-For/-Proto, which any client could send.
        "TRUSTED_PROXIES": _env_int("OTKLIK_TRUSTED_PROXIES", 0),
        "WTF_CSRF_TIME_LIMIT": None,
        # CSRF is checked in auth.before_request so that API-token clients
        # (no cookie, nothing to forge) are exempt and everyone else is not.
        "WTF_CSRF_CHECK_DEFAULT": False,
        # What "now" is for every figure (each branch's today, the default periods); a test sets the time.
        "CLOCK": _system_clock,
        "SSE_POLL_S": 0.2,
        # A stream ends after this long and the page reconnects (OTKLIK_SSE_MAX_S; under a proxy's own timeout).
        "SSE_MAX_S": float(_env_int("OTKLIK_SSE_MAX_S", 3600)),
        # How often an open stream checks that its session or token is still good.
        "SSE_RECHECK_S": 1.0,
        # Live streams one process serves at once (see api.StreamSlots); gunicorn_conf sets it from its threads.
        "SSE_MAX_STREAMS": _env_int("OTKLIK_SSE_MAX_STREAMS", 24),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
    }
    config.update(test_config or {})
    if not config["OTKLIK_AUTH_DB"]:
        config["OTKLIK_AUTH_DB"] = default_auth_db(config["OTKLIK_DB"])
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _secret_key(config["OTKLIK_AUTH_DB"])
    app.config.from_mapping(config)

    # Imported here so `otklik users ...` works without the web-only extras installed.
    from dashboard import api, auth, errors, i18n, levels, store, views

    store.init_app(app)
    i18n.init_app(app)
    levels.init_app(app)
    auth.init_app(app)
    errors.init_app(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    api.init_app(app)
    return app
