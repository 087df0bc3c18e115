"""Fixtures for the dashboard: a real hub database and accounts store in tmp_path, Flask's test client."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import accounts, build, create_app
from dashboard import store as dash_store
from hub import alerts as hub_alerts
from hub import roster as hub_roster
from hub.db import open_db
from hub.ingest import handle_message
from otklik import protocol, times
from tests.hub_db import migrate

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session", autouse=True)
def _catalogs() -> None:
    # The install step compiles them too; doing it here keeps a fresh checkout's tests honest.
    build.compile_catalogs()


@pytest.fixture
def hub_path(tmp_path: Path) -> Path:
    return tmp_path / "hub.db"


@pytest.fixture(scope="session")
def accounts_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four users every dashboard test starts with, made once: each password is a real scrypt
    hash, which costs a quarter of a second on a loaded machine, and 200 tests start from these."""
    path = tmp_path_factory.mktemp("accounts") / "hub-dashboard.db"
    store = accounts.open_store(str(path))
    accounts.add_user(store, "root", PASSWORD, "admin")
    accounts.add_user(store, "olga", PASSWORD, "manager", ["b1"])
    accounts.add_user(store, "petr", PASSWORD, "manager", ["b2"])
    accounts.add_user(store, "tech", PASSWORD, "technician")
    store.conn.close()
    # The last connection closed has checkpointed the WAL into the file: the file alone is the store.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite hub database migrated once, by `otklik db migrate` as an operator does, for copying."""
    path = migrate(tmp_path_factory.mktemp("hub") / "hub.db")
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def app(hub_path: Path, tmp_path: Path, accounts_template: Path, hub_template: Path) -> Iterator[Flask]:
    if isinstance(hub_path, Path) and not hub_path.exists():
        shutil.copy2(hub_template, hub_path)  # the same file `otklik db migrate` makes, without the 13 steps
    else:
        migrate(hub_path)  # a PostgreSQL URL (modules that run on both stores), or a file a test made
    # The accounts file named, not defaulted: beside a PostgreSQL hub there is no file to put it next to.
    config = {"OTKLIK_DB": str(hub_path), "OTKLIK_AUTH_DB": str(tmp_path / "hub-dashboard.db")}
    # A copy of its own (mode 0600 kept, as open_store makes it), so a test may change users freely.
    shutil.copy2(accounts_template, config["OTKLIK_AUTH_DB"])
    app = create_app({**config, "SECRET_KEY": "test", "TESTING": True})
    yield app
    # A PostgreSQL hub's pool keeps its connections open for the process's life: one per test would pile up.
    dash_store.close_pools()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def publish(db_path: Path, branch: str, kiosk: str, score: int, seq: int, ts: datetime | None = None, **kw) -> None:
    """A rating through the hub's real ingest, as if it came over MQTT."""
    ts = ts or datetime.now(UTC)
    payload = protocol.rating_payload(
        branch=branch,
        kiosk=kiosk,
        id=f"{branch}-{kiosk}-{seq:08d}",
        seq=seq,
        score=score,
        ts=times.format_ts(ts),
        **kw,
    )
    db = open_db(db_path)
    handle_message(db, protocol.topic(branch, kiosk, "rating"), protocol.encode(payload))
    db.conn.close()


def heartbeat(db_path: Path, branch: str, kiosk: str, **extra) -> None:
    payload = protocol.heartbeat_payload(
        branch=branch,
        kiosk=kiosk,
        uptime_s=10.0,
        version="1.2.3",
        outbox_depth=extra.pop("outbox_depth", 0),
        last_seq_sent=extra.pop("last_seq_sent", 0),
        **extra,
    )
    db = open_db(db_path)
    handle_message(db, protocol.topic(branch, kiosk, "heartbeat"), protocol.encode(payload))
    db.conn.close()


@pytest.fixture
def data(hub_path: Path) -> Path:
    """Two branches: b1 gets 4,4,3,1 (index 66.7) by e1, b2 gets 1,1 (index 0); b1/k1 skips seq 5..6."""
    db = open_db(hub_path)
    hub_roster.add_employee(db, "e1", "b1", "Anna", actor=hub_roster.ADMIN)
    hub_roster.add_employee(db, "e2", "b2", "Boris", actor=hub_roster.ADMIN)
    db.conn.close()
    for seq, score in zip((1, 2, 3, 4), (4, 4, 3, 1), strict=True):
        publish(hub_path, "b1", "k1", score, seq, employee="e1")
    publish(hub_path, "b1", "k1", 2, 7, flags=["cooldown"])
    publish(hub_path, "b2", "k9", 1, 1, employee="e2")
    publish(hub_path, "b2", "k9", 1, 2, employee="e2")
    heartbeat(hub_path, "b1", "k1", outbox_depth=3, last_seq_sent=7, camera="unavailable: no device", refused=1,
              unconfirmed=2, unconfirmed_age_s=40.4)  # fmt: skip
    db = open_db(hub_path)
    hub_alerts.fire(db, "unhappy", "b2", "Many unhappy presses")
    hub_alerts.fire(db, "offline", "b1", "Kiosk k1 offline", kiosk="k1")
    db.conn.close()
    return hub_path
