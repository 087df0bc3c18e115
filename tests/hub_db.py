"""Hub databases for the tests: made the way an operator makes one (`otklik db migrate`), on either store.

``hub_target`` is parametrised over both stores: a SQLite file in the test's folder, and a PostgreSQL
schema of its own in one database made for this run (``CREATE DATABASE ... TEMPLATE template0``,
dropped at the end). The server is ``OTKLIK_TEST_PG`` (default: 127.0.0.1:5432, user postgres, as on
this machine kind; ``./dev test`` starts one where none runs). A test on PostgreSQL fails when there is
no server: it is never skipped.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner

from hub import changes
from otklik.cli import cli

PG_SERVER = os.environ.get("OTKLIK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STORES = ("sqlite", "postgresql")
_schemas = itertools.count(1)


def migrate(path: str | Path) -> Path:
    result = CliRunner().invoke(cli, ["db", "migrate", "--db", str(path)])
    assert result.exit_code == 0, result.output
    return Path(path)


def migrate_target(target: str | Path) -> str | Path:
    """``migrate`` for either store: a URL stays a URL."""
    result = CliRunner().invoke(cli, ["db", "migrate", "--db", str(target)])
    assert result.exit_code == 0, result.output
    return target


def database_url(database: str, schema: str | None = None) -> str:
    """The test server's URL for ``database`` (and, with ``schema``, that schema alone on the search path).

    Commits do not wait for the server's disk (synchronous_commit=off): no test here is about
    PostgreSQL's own durability, and the wait made each migration set cost seconds on a loaded machine.
    """
    parts = urlsplit(PG_SERVER)
    settings = "-csynchronous_commit=off" + (f" -csearch_path={schema}" if schema else "")
    query = f"options={quote(settings)}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One PostgreSQL database for the whole run; its name."""
    name = f"otklik_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as err:
        pytest.fail(f"no PostgreSQL at {PG_SERVER} (set OTKLIK_TEST_PG, or run ./dev test, which starts one): {err}")
    admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        yield name
    finally:
        changes.close_all()  # the change listeners of the run's tests: they would try again to reach it
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A URL to an empty schema of its own in the run's database (cheaper than a database per test)."""
    schema = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(database_url(pg_database), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield database_url(pg_database, schema)
    with psycopg.connect(database_url(pg_database), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=STORES)
def hub_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's hub database lives: a SQLite file, or a PostgreSQL URL (not created yet, nor migrated)."""
    if request.param == "sqlite":
        return tmp_path / "hub.db"
    return request.getfixturevalue("pg_url")
