"""The hub's schema is the hub's: the dashboard checks it and refuses, naming the command, rather than migrating."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboard import create_app
from hub.db import MIGRATION_MODULES, NotMigrated, open_db, pending
from otklik.cli import cli
from otklik.mosquitto import free_port
from tests.hub_db import migrate

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_hub_database_is_refused_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    with pytest.raises(NotMigrated, match=rf"no hub database at {path}: run `otklik db migrate --db {path}` first"):
        create_app({"OTKLIK_DB": str(path), "SECRET_KEY": "x", "TESTING": True})
    assert not path.exists()
    served = CliRunner().invoke(cli, ["dashboard", "--db", str(path)])
    assert served.exit_code == 1 and "otklik db migrate --db" in served.output, served.output


def test_an_older_schema_is_refused_until_otklik_db_migrate(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    old = open_db(path, migrate=False)  # a hub from before the later migration sets
    importlib.import_module(MIGRATION_MODULES[0]).migrations.apply(old)
    missing = len(pending(old))
    old.close()
    assert missing > 0
    with pytest.raises(NotMigrated, match=f"lacks {missing} migrations: run `otklik db migrate"):
        create_app({"OTKLIK_DB": str(path), "SECRET_KEY": "x", "TESTING": True})
    migrate(path)
    app = create_app({"OTKLIK_DB": str(path), "SECRET_KEY": "x", "TESTING": True})
    assert app.test_client().get("/login").status_code == 200
    db = open_db(path, migrate=False)
    assert pending(db) == []
    db.close()
    again = CliRunner().invoke(cli, ["db", "migrate", "--db", str(path)])
    assert again.exit_code == 0 and "up to date" in again.output


def test_gunicorn_refuses_to_serve_an_unmigrated_database_and_says_why(tmp_path: Path) -> None:
    """The production path: every worker would have migrated the hub's schema; now none starts, and the log says why."""
    path = tmp_path / "hub.db"
    env = {**os.environ, "OTKLIK_DB": str(path), "OTKLIK_AUTH_DB": str(tmp_path / "auth.db"), "SECRET_KEY": "x",
           "OTKLIK_DASHBOARD_BIND": f"127.0.0.1:{free_port()}", "OTKLIK_DASHBOARD_WORKERS": "1"}  # fmt: skip
    command = [sys.executable, "-m", "gunicorn", "-c", "python:dashboard.gunicorn_conf"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"run `otklik db migrate --db {path}` first" in done.stderr, done.stderr[-2000:]
    assert not path.exists()
