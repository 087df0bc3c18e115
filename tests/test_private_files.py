"""Databases hold presses, password hashes and sessions: created owner-only (0600), -wal and -shm included.

Every service runs as the one user ``otklik`` (deploy/systemd), so owner-only is
all they need. Checked under umask 022 (a root shell's, the CLI's), where
SQLite's default would make them 0644.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import accounts, create_app
from hub.db import open_db
from hub.provisioning import registry
from kiosk.outbox import Outbox
from otklik.private_files import PRIVATE_MODE
from tests.hub_db import migrate

WAL_FILES = ("", "-wal", "-shm")


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(db: Path) -> dict[str, str]:
    return {suffix: oct(stat.S_IMODE(os.stat(f"{db}{suffix}").st_mode)) for suffix in WAL_FILES}


PRIVATE = {suffix: oct(PRIVATE_MODE) for suffix in WAL_FILES}


def test_a_fresh_hub_database_and_its_wal_are_private(tmp_path: Path) -> None:
    db = open_db(tmp_path / "hub.db")  # what `otklik hub` and every CLI opens
    db.table("probe").insert({"x": 1})
    assert modes(tmp_path / "hub.db") == PRIVATE
    # The provisioning CLI's opener (the credentials table lives here too).
    reg = registry.open_hub_db(tmp_path / "reg.db")
    registry.add_service(reg, registry.ROLE_HUB)
    assert modes(tmp_path / "reg.db") == PRIVATE


def test_the_dashboard_databases_are_private_from_its_first_start(tmp_path: Path) -> None:
    migrate(tmp_path / "hub.db")
    app = create_app({"OTKLIK_DB": str(tmp_path / "hub.db"), "SECRET_KEY": "x", "TESTING": True})
    auth_db = Path(app.config["OTKLIK_AUTH_DB"])
    with app.app_context():
        from dashboard.store import get_store

        accounts.open_store(str(auth_db)).conn.close()
        store = get_store()
        store.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        store.execute("INSERT INTO probe VALUES (1)")
        store.conn.commit()
        # The hub DB's last connection has closed (its -wal is gone); the auth DB's is open.
        assert oct(stat.S_IMODE((tmp_path / "hub.db").stat().st_mode)) == oct(PRIVATE_MODE)
        assert modes(auth_db) == PRIVATE


def test_the_kiosk_outbox_is_private(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", clock_synced=lambda: True)
    try:
        outbox.add_rating(branch="b1", kiosk="k1", score=3)
        assert modes(tmp_path / "outbox.db") == PRIVATE
    finally:
        outbox.close()


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    """Opening never chmods what an operator chose (e.g. 0640 for a backup group)."""
    path = tmp_path / "hub.db"
    open_db(path).conn.close()
    path.chmod(0o640)
    open_db(path).conn.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
