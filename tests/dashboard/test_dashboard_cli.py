"""`otklik users ...` and `otklik dashboard` (dashboard.cli.COMMANDS) on a real accounts database."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from dashboard import accounts, default_auth_db
from dashboard.cli import COMMANDS

# The same commands otklik/cli.py gathers; a group of our own keeps these tests
# independent of the other areas' modules.
cli = click.Group("otklik", commands={c.name: c for c in COMMANDS})


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_users_lifecycle(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.db")
    result = run("users", "add", "olga", "--role", "manager", "--branch", "b1", "--db", db, "--password-stdin",
                 input="s3cret-pass\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    store = accounts.open_store(default_auth_db(db))
    assert accounts.authenticate(store, "olga", "s3cret-pass", "test") is not None
    # Prompted twice (with confirmation), never echoed.
    result = run("users", "add", "root", "--role", "admin", "--db", db, input="admin-pass-1\nadmin-pass-1\n")
    assert result.exit_code == 0 and "admin-pass-1" not in result.output
    listing = run("users", "list", "--db", db, "--tsv").output
    assert "olga\tmanager\tb1" in listing and "root\tadmin" in listing
    assert "pbkdf2" not in listing and "scrypt" not in listing

    assert run("users", "change", "olga", "--branch", "b2", "--branch", "b3", "--db", db).exit_code == 0
    assert accounts.get_user(store, "olga").branches == ("b2", "b3")
    # The calendar a Persian page uses for her, as the page's own choice would keep it.
    assert run("users", "change", "olga", "--calendar", "gregory", "--db", db).exit_code == 0
    assert accounts.get_user(store, "olga").calendar == "gregory"
    assert "gregory" in run("users", "list", "--db", db, "--tsv").output
    run("users", "change", "olga", "--calendar", "default", "--db", db)
    assert accounts.get_user(store, "olga").calendar is None
    run("users", "change", "olga", "--password-stdin", "--db", db, input="new-pass-123\n")
    assert accounts.authenticate(store, "olga", "new-pass-123", "test") is not None

    token = run("users", "token", "olga", "--name", "bi", "--db", db).output.strip()
    assert token.startswith("otk_") and accounts.user_for_token(store, token).username == "olga"
    tokens = run("users", "list", "--tokens", "--db", db).output
    assert "bi" in tokens and token not in tokens
    assert run("users", "token", "olga", "--revoke", "1", "--db", db).exit_code == 0
    assert accounts.user_for_token(store, token) is None

    assert run("users", "remove", "olga", "--yes", "--db", db).exit_code == 0
    assert accounts.get_user(store, "olga") is None


def test_users_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.db")
    cases = [
        (["users", "add", "olga", "--role", "manager"], "a manager needs at least one branch"),
        (["users", "add", "tech", "--role", "technician", "--branch", "b1"], "only managers"),
        (["users", "add", "Bad Name", "--role", "admin"], "username 'Bad Name' is not valid"),
        (["users", "add", "olga", "--role", "manager", "--branch", "B/1"], "not a valid branch id"),
        (["users", "add", "short", "--role", "admin"], "password is too short"),
        (["users", "change", "ghost", "--role", "admin"], "does not exist"),
        (["users", "remove", "ghost", "--yes"], "does not exist"),
        (["users", "token", "ghost"], "does not exist"),
    ]
    for args, message in cases:
        extra = ["--password-stdin"] if args[1] == "add" else []
        result = run(*args, "--db", db, *extra, input="pw\n")
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert accounts.list_users(accounts.open_store(default_auth_db(db))) == []


def test_every_command_has_help_with_an_example() -> None:
    for args in (["users"], ["users", "add"], ["users", "list"], ["users", "change"], ["users", "remove"],
                 ["users", "token"], ["dashboard"]):  # fmt: skip
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, args
