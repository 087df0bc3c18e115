"""Every ``OTKLIK_*`` environment variable, named once: what it means, who reads it, its default.

The click options take their ``envvar=`` from here (``envvars``), ``dashboard.create_app``
and ``dashboard.gunicorn_conf`` read through ``get``/``get_int``, and a test checks that the
systemd units in deploy/systemd and the README's table name only these.

A variable in ``RETIRED`` stops a command with the name to use instead: a setting that is
silently ignored would send the command to the wrong file or broker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from otklik.errors import OtklikError

DEFAULT_DB = "data/hub.db"


@dataclass(frozen=True)
class Var:
    name: str
    meaning: str
    readers: str
    default: str | None = None
    # Older names still honoured because deployed files set them; they win over ``name``
    # since only a file written for the old name sets them.
    legacy: tuple[str, ...] = ()


VARS: tuple[Var, ...] = (
    Var(
        "OTKLIK_DB",
        "the hub's database: a SQLite file or a postgresql:// URL",
        "every command's --db; the dashboard (create_app)",
        DEFAULT_DB,
    ),
    Var(
        "OTKLIK_AUTH_DB",
        "the dashboard's own database (accounts, API tokens, log-in attempts)",
        "`otklik users`, `otklik dashboard` (--auth-db); the dashboard",
        "<hub db stem>-dashboard.db next to the hub's",
    ),
    Var(
        "OTKLIK_SECRET_KEY",
        "signs the dashboard's sessions",
        "the dashboard",
        "generated once into <auth db>.secret (0600)",
        legacy=("SECRET_KEY",),
    ),
    Var("OTKLIK_SECURE_COOKIE", "1: the session cookie is always Secure", "the dashboard", "0"),
    Var(
        "OTKLIK_TRUSTED_PROXIES",
        "how many reverse proxies in front are believed (X-Forwarded-For/-Proto)",
        "the dashboard",
        "0",
    ),
    Var("OTKLIK_SSE_MAX_S", "seconds a live stream lasts before the page reconnects", "the dashboard", "3600"),
    Var(
        "OTKLIK_SSE_MAX_STREAMS",
        "live streams one dashboard process serves at once",
        "the dashboard",
        "24 (under gunicorn: threads - 8)",
    ),
    Var("OTKLIK_DASH_CACHE", "0 turns the dashboard's figure cache off", "the dashboard", "1"),
    Var("OTKLIK_DASHBOARD_BIND", "address gunicorn listens on", "dashboard/gunicorn_conf.py", "127.0.0.1:8000"),
    Var("OTKLIK_DASHBOARD_WORKERS", "gunicorn worker processes", "dashboard/gunicorn_conf.py", "2"),
    Var("OTKLIK_DASHBOARD_THREADS", "threads per gunicorn worker", "dashboard/gunicorn_conf.py", "32"),
    Var(
        "OTKLIK_DASHBOARD_ACCESS_LOG",
        "where gunicorn writes an access log (- the journal, or a file)",
        "dashboard/gunicorn_conf.py",
        "none: the TLS proxy in front keeps it",
    ),
    Var(
        "OTKLIK_BROKER",
        "mqtt(s)://HOST:PORT of the broker",
        "`otklik hub`, `otklik alerts`, `otklik config` (--broker)",
        legacy=("OTKLIK_HUB_BROKER",),
    ),
    Var(
        "OTKLIK_MQTT_PASSWORD",
        "the broker password when no --password-file is given",
        "`otklik hub`, `otklik alerts`, `otklik config`",
    ),
    Var(
        "OTKLIK_SHARE_GROUP",
        "several hubs: the MQTT 5 shared-subscription group they split the kiosks' stream in",
        "`otklik hub` (--share-group)",
        "none: one hub takes every message",
    ),
    Var("OTKLIK_MQTT_CA_FILE", "CA certificate for mqtts://", "`otklik hub`, `otklik alerts`, `otklik config`"),
    Var(
        "OTKLIK_BROKER_DIR",
        "where the broker's passwd, acl and certs/ live",
        "`otklik provision` (--broker-dir)",
        "/etc/mosquitto/otklik",
    ),
    Var(
        "OTKLIK_BROKER_RELOAD",
        "how Mosquitto rereads its files: systemctl, pidfile:PATH, command:CMD or none",
        "`otklik provision` (--reload)",
        "systemctl",
    ),
    Var(
        "OTKLIK_BROKER_GROUP",
        "the group Mosquitto runs as (reads passwd, acl, the TLS key)",
        "`otklik provision` (--broker-group)",
        "mosquitto, if it exists",
    ),
    Var(
        "OTKLIK_PUBLIC_BROKER_URL",
        "the broker URL written into kiosk bundles",
        "`otklik provision kiosk/rotate` (--broker-url)",
        "mqtts://hub.local:8883",
    ),
    Var(
        "OTKLIK_CENTRAL_BROKER_URL",
        "the central broker as a store bridge reaches it",
        "`otklik provision store` (--central-url)",
    ),
    Var(
        "OTKLIK_QR_KEY_FILE",
        "the private file whose key signs the phone QR codes' tokens",
        "`otklik provision qr`; the dashboard's phone page",
        "<hub db>.qr-key next to the hub's (0600, made on first use); required with a PostgreSQL hub",
    ),
    Var(
        "OTKLIK_PUBLIC_DASHBOARD_URL",
        "the dashboard's address as a shopper's phone reaches it (printed in the QR code)",
        "`otklik provision qr` (--url)",
    ),
    Var("OTKLIK_PREFIX", "where the kiosk's virtualenv goes", "deploy/pi/setup-kiosk.sh", "/opt/otklik"),
    Var("OTKLIK_ETC", "where the kiosk's config goes", "deploy/pi/setup-kiosk.sh", "/etc/otklik"),
    Var(
        "OTKLIK_SCREEN_URL",
        "the kiosk's loopback touch page the Pi's full-screen browser opens (from the [screen] section)",
        "deploy/pi/otklik-screen.service (written to screen.env by setup-kiosk.sh)",
        "http://127.0.0.1:8765/",
    ),
    Var(
        "OTKLIK_BROWSER",
        "the Chromium binary the touch screen runs",
        "deploy/pi/otklik-screen.service (written to screen.env by setup-kiosk.sh)",
    ),
)

BY_NAME: dict[str, Var] = {v.name: v for v in VARS}

# Old name -> what to use now. Nothing deployed set these (the units never did).
RETIRED: dict[str, str] = {
    "OTKLIK_HUB_DB": "OTKLIK_DB",
    "OTKLIK_MQTT_USERNAME": "--username (each process has its own broker user)",
    "OTKLIK_MQTT_PASSWORD_FILE": "--password-file (each process has its own broker user)",
}


class ConfigError(OtklikError):
    """An environment variable that cannot be used."""


def _var(name: str) -> Var:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not in otklik.config.VARS: name it there first") from None


def envvars(name: str) -> list[str]:
    """What click's ``envvar=`` gets for ``name``: its legacy names first, then itself."""
    var = _var(name)
    return [*var.legacy, var.name]


def get(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of ``name`` (or a legacy name of it) if set and not empty, else None."""
    env = os.environ if environ is None else environ
    for candidate in envvars(name):
        if env.get(candidate):
            return env[candidate]
    return None


def get_int(name: str, default: int, *, minimum: int = 0, environ: Mapping[str, str] | None = None) -> int:
    raw = get(name, environ)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be a whole number of at least {minimum}", field=name)
    return value


def get_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = get(name, environ)
    return default if raw is None else raw == "1"


def check_retired(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to run with a retired variable set: it would be ignored, and the command hit the wrong file."""
    env = os.environ if environ is None else environ
    for old, new in RETIRED.items():
        if env.get(old):
            raise ConfigError(f"{old} is no longer read", field=old, hint=f"use {new} instead, and unset {old}")


def default_auth_db(hub_db: str | Path) -> str:
    """Where the dashboard's accounts live when OTKLIK_AUTH_DB is not set: beside the hub's database
    (beside the default one when the hub's is a PostgreSQL URL: the accounts stay a SQLite file)."""
    from hub.store import is_url

    hub_db = Path(DEFAULT_DB if is_url(str(hub_db)) else hub_db)
    return str(hub_db.with_name(f"{hub_db.stem}-dashboard.db"))
