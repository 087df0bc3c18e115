"""Every `otklik` command has one shape: --help with an example, one --db, every listing as a table,
--tsv or --json, and every domain error reported through OtklikError with its hint."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hub import ingest, notify
from hub.db import open_db
from otklik import config
from otklik.cli import cli
from otklik.command import Command, Group
from otklik.errors import OtklikError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "kiosk", "otklik", "dashboard")

# Each listing with the arguments that make it list something from the seeded hub below.
LISTINGS: dict[str, list[str]] = {
    "report": [],
    "dead-letters": [],
    "alerts list": ["--state", "all"],
    "alerts channel": ["list"],
    "roster employees": [],
    "roster shifts": [],
    "branch show": ["central"],
    "provision list": [],
    "provision qr list": [],
    "config show": [],
    "users list": [],
    "cut-offs list": [],
    "events status": [],
}


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


COMMANDS = dict(walk(cli))


def invoke(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_every_command_has_help_with_an_example() -> None:
    for path in COMMANDS:
        result = invoke(*path.split(), "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Example:" in result.output, f"`otklik {path} --help` shows no example"


def test_every_command_is_of_the_shared_class_so_errors_become_messages_in_one_place() -> None:
    for path, command in COMMANDS.items():
        assert isinstance(command, Group if isinstance(command, click.Group) else Command), path


def test_every_db_option_is_the_same_option() -> None:
    with_db = {p: c for p, c in COMMANDS.items() if any(o.name == "db_path" for o in c.params)}
    assert len(with_db) >= 35
    for path, command in with_db.items():
        (db,) = [o for o in command.params if o.name == "db_path"]
        assert db.opts == ["--db"] and db.envvar == ["OTKLIK_DB"] and db.default == config.DEFAULT_DB, path


def test_the_listings_are_exactly_the_commands_with_the_output_option() -> None:
    with_output = {p for p, c in COMMANDS.items() if any(o.name == "output" and "--json" in o.opts for o in c.params)}
    assert with_output == set(LISTINGS)
    # Any other --json is not a listing: `otklik camera` and `otklik db copy` print one summary of one run.
    with_json = {p for p, c in COMMANDS.items() if any("--json" in o.opts for o in c.params)}
    assert with_json - with_output == {"camera", "db copy"}
    # A new command named like a listing must take the option too.
    named = {p for p in COMMANDS if p.split(" ")[-1] in ("list", "show", "employees", "shifts")}
    assert named <= with_output


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shape")
    db_path = folder / "hub.db"
    result = invoke("demo", "seed", "--db", str(db_path), "--days", "1", "--now", "2026-12-01T15:00:00Z")
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    ingest.handle_batch(db, [("otklik/v1/b1/k1/rating", b"not json", datetime.now(UTC))])
    notify.add_channel(db, "webhook", "https://chat.example/hook", "central")
    # What hub.flood_guard records when it cuts a flooding kiosk off (its own test floods a real broker).
    db["flood_cut_offs"].insert(
        {"source": "otklik/v1/b1/k1", "username": "k-b1-k1", "cut_at": "2026-12-01T15:00:00.000Z", "junk_per_s": 900}
    )
    db.close()
    for args in (
        ["provision", "service", "hub", "--out", str(folder / "etc"), "--broker-dir", str(folder / "broker"),
         "--reload", "none"],
        ["users", "add", "olga", "--role", "manager", "--branch", "central", "--password-stdin"],
        ["provision", "qr", "--branch", "central", "--url", "https://feedback.example.com",
         "--out", str(folder / "qr.png")],
    ):  # fmt: skip
        done = CliRunner().invoke(cli, [*args, "--db", str(db_path)], input="a-long-password\n")
        assert done.exit_code == 0, done.output
    return db_path


@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_every_listing_honours_json_tsv_and_table(listing: str, seeded: Path) -> None:
    args = [*listing.split(), *LISTINGS[listing]]
    env = {"OTKLIK_DB": str(seeded)}  # the environment, not --db: the issue's `OTKLIK_...= otklik report`
    as_json = json.loads(invoke(*args, "--json", env=env).stdout)
    assert as_json, f"{listing} --json listed nothing"
    if isinstance(as_json, list):
        assert all(isinstance(row, dict) for row in as_json), listing
        columns = list(as_json[0])
    else:  # branch show (one record), dead-letters (sources and newest letters)
        columns = list(as_json) if listing == "branch show" else list(as_json["sources"][0])
    tsv = invoke(*args, "--tsv", env=env).stdout.splitlines()
    assert "\t" in tsv[0] and len(tsv) >= 2, listing
    table = invoke(*args, env=env).stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(table)
    assert "\t" not in table.splitlines()[0], listing
    if listing != "branch show":
        header = tsv[0].split("\t")
        assert set(header) & set(columns) or listing in ("report", "alerts list"), (listing, header, columns)


def test_the_environment_names_the_database_and_a_retired_name_is_refused(seeded: Path, tmp_path: Path) -> None:
    # Before: `OTKLIK_HUB_DB=... otklik report` failed (report wanted --db), `otklik users` used data/hub.db.
    listed = invoke("users", "list", "--json", env={"OTKLIK_DB": str(seeded)})
    assert [u["username"] for u in json.loads(listed.stdout)] == ["olga"]
    refused = CliRunner().invoke(cli, ["report"], env={"OTKLIK_HUB_DB": str(seeded)})
    assert refused.exit_code == 1
    assert "OTKLIK_HUB_DB is no longer read" in refused.output and "Hint: use OTKLIK_DB" in refused.output
    missing = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "typo.db")])
    assert missing.exit_code == 2 and "no hub database at" in missing.output and "otklik db migrate" in missing.output
    assert not (tmp_path / "typo.db").exists(), "a reading command must not create an empty hub"


def test_a_domain_error_is_one_message_with_its_hint(seeded: Path) -> None:
    result = CliRunner().invoke(cli, ["roster", "import", "--db", str(seeded), "-"], input="id,name,branch\n,x,b1\n")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "\nHint: nothing was imported" in result.output
    assert "Traceback" not in result.output


def _our_modules() -> Iterator[object]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not info.name.endswith(("__main__", "wsgi", "gunicorn_conf")):  # these run on import
                yield importlib.import_module(info.name)


def test_every_domain_error_derives_from_otklik_error() -> None:
    found = []
    for module in _our_modules():
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Exception) or name.startswith("_"):
                continue
            found.append(name)
            assert issubclass(cls, OtklikError), f"{module.__name__}.{name} does not derive from OtklikError"
    assert {"RosterError", "ProvisionError", "AccountError", "ProtocolError", "ConfigError"} <= set(found)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_command_modules_do_not_import_each_other() -> None:
    modules = [importlib.import_module(m) for m in importlib.import_module("otklik.cli").COMMAND_MODULES]
    names = {m.__name__ for m in modules}
    for module in modules:
        path = Path(inspect.getfile(module))
        assert not (_imports(path) & (names - {module.__name__})), f"{module.__name__} imports another command module"
