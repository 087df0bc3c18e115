"""The managers' dashboard: a Flask app over the hub's SQLite database.

``create_app(test_config=None)`` follows Flask's flaskr layout. ``test_config`` keys
``OTKLIK_DB``, ``OTKLIK_AUTH_DB``, ``SECRET_KEY`` ...; what it leaves out comes from the
environment variables named in ``otklik.config`` (that is how ``dashboard.wsgi`` is
configured under gunicorn): the hub's database (read per request on its own
connection; WAL means a reader never blocks ingest), the dashboard's own (accounts,
tokens, log-in attempts; beside the hub's by default), the session key (if unset,
generated once into ``<auth db>.secret``, mode 0600, so restarts and gunicorn workers
agree), trusted proxies, cookie and stream limits.

The hub's schema is the hub's: the app refuses a database that ``otklik db migrate``
has not brought up to date rather than migrating it from every gunicorn worker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from hub.db import check_migrated
from otklik import config as env
from otklik.config import default_auth_db
from otklik.private_files import read_or_create_secret

__all__ = ["create_app", "default_auth_db"]


def _secret_key(auth_db: str) -> str:
    return read_or_create_secret(auth_db + ".secret")


def _system_clock() -> datetime:
    return datetime.now(UTC)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    from dashboard.jsonprovider import OrjsonProvider

    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    config: dict[str, Any] = {
        "OTKLIK_DB": env.get("OTKLIK_DB") or env.DEFAULT_DB,
        "OTKLIK_AUTH_DB": env.get("OTKLIK_AUTH_DB"),
        "SECRET_KEY": env.get("OTKLIK_SECRET_KEY"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure is added per request when it came over HTTPS (auth.SessionInterface); this forces it always.
        "SESSION_COOKIE_SECURE": env.get_flag("OTKLIK_SECURE_COOKIE", False),
        # The browser forgets the cookie after this long without a request (Flask re-sends it on each one);
        # the server holds the session to the same idle limit and a 7-day absolute one (accounts.SESSION_*).
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # How many reverse proxies of ours stand in front (deploy: 1, nginx or Caddy with TLS); 0 ignores
        # X-Forwarded-For/-Proto, which any client could send.
        "TRUSTED_PROXIES": env.get_int("OTKLIK_TRUSTED_PROXIES", 0),
        "WTF_CSRF_TIME_LIMIT": None,
        # CSRF is checked in auth.before_request so that API-token clients
        # (no cookie, nothing to forge) are exempt and everyone else is not.
        "WTF_CSRF_CHECK_DEFAULT": False,
        # What "now" is for every figure (each branch's today, the default periods); a test sets the time.
        "CLOCK": _system_clock,
        "SSE_POLL_S": 0.2,
        # A stream ends after this long and the page reconnects (OTKLIK_SSE_MAX_S; under a proxy's own timeout).
        "SSE_MAX_S": float(env.get_int("OTKLIK_SSE_MAX_S", 3600, minimum=1)),
        # How often an open stream checks that its session or token is still good.
        "SSE_RECHECK_S": 1.0,
        # Live streams one process serves at once (see api.StreamSlots); gunicorn_conf sets it from its threads.
        "SSE_MAX_STREAMS": env.get_int("OTKLIK_SSE_MAX_STREAMS", 24, minimum=1),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
    }
    config.update(test_config or {})
    check_migrated(config["OTKLIK_DB"])
    if not config["OTKLIK_AUTH_DB"]:
        config["OTKLIK_AUTH_DB"] = default_auth_db(config["OTKLIK_DB"])
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _secret_key(config["OTKLIK_AUTH_DB"])
    app.config.from_mapping(config)

    # Imported here so `otklik users ...` works without the web-only extras installed.
    from dashboard import api, auth, charts, errors, i18n, levels, phone, reasons_views, store, views

    store.init_app(app)
    i18n.init_app(app)
    levels.init_app(app)
    charts.init_app(app)
    auth.init_app(app)
    errors.init_app(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    phone.init_app(app)
    api.init_app(app)
    reasons_views.init_app(app)
    return app
