"""``otklik users ...`` and ``otklik dashboard``: a thin click layer over dashboard.accounts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlite_utils

from dashboard import accounts, create_app
from otklik.command import auth_db_option, command, db_option, emit, group, output_option
from otklik.config import default_auth_db


def _store(db_path: Path, auth_db: Path | None) -> sqlite_utils.Database:
    """The accounts database the dashboard started with the same --db/--auth-db (or environment) would use."""
    path = str(auth_db) if auth_db else default_auth_db(db_path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return accounts.open_store(path)


def _read_password(password_stdin: bool, confirm: bool = True) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return password


@group()
def users() -> None:
    """Dashboard accounts: admins, managers (their branches only) and technicians (the fleet).

    \b
    Example:
        otklik users add olga --role manager --branch b1 --branch b2
        otklik users list
    """


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True, help="What the account may see.")
@click.option("--branch", "branches", multiple=True, help="A branch a manager may see (repeat for several).")
@click.option("--language", type=click.Choice(accounts.LANGUAGES), default=None, help="Fixed UI language.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@db_option
@auth_db_option
def add(
    username: str,
    role: str,
    branches: tuple[str, ...],
    language: str | None,
    password_stdin: bool,
    db_path: Path,
    auth_db: Path | None,
) -> None:
    """Create an account; the password is asked for (or read from stdin), never passed as an argument.

    \b
    Example:
        otklik users add admin --role admin
        echo "$PW" | otklik users add olga --role manager --branch b1 --password-stdin
    """
    store = _store(db_path, auth_db)
    try:
        # Check everything but the password first so a typo does not cost a password prompt.
        accounts.check_username(username)
        accounts.check_branches(role, branches)
        user = accounts.add_user(store, username, _read_password(password_stdin), role, branches, language)
    except accounts.AccountError as exc:
        exc.hint = exc.hint or "see `otklik users add --help`"
        raise
    click.echo(f"added {user.username} ({user.role}{': ' + ', '.join(user.branches) if user.branches else ''})")


@users.command("list")
@click.option("--tokens", is_flag=True, help="List API tokens instead of accounts.")
@db_option
@auth_db_option
@output_option
def list_(tokens: bool, db_path: Path, auth_db: Path | None, output: str) -> None:
    """List accounts (or API tokens, never their secrets).

    \b
    Example:
        otklik users list
        otklik users list --tokens
    """
    store = _store(db_path, auth_db)
    if tokens:
        columns = ["id", "username", "name", "created_at", "last_used_at", "revoked_at"]
        emit(accounts.list_tokens(store), output, columns)
        return
    rows = [
        {
            "username": u.username,
            "role": u.role,
            "branches": ",".join(u.branches) or "-",
            "language": u.language or "browser",
            "calendar": u.calendar or "default",
            "state": "active" if u.active else "disabled",
        }
        for u in accounts.list_users(store)
    ]
    emit(rows, output)


@users.command("change")
@click.argument("username")
@click.option("--role", type=click.Choice(accounts.ROLES), default=None, help="New role.")
@click.option("--branch", "branches", multiple=True, help="Replace a manager's branches (repeat for several).")
@click.option("--password", "new_password", is_flag=True, help="Set a new password (prompted, or --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@click.option("--language", type=click.Choice([*accounts.LANGUAGES, "browser"]), default=None, help="UI language.")
@click.option(
    "--calendar",
    type=click.Choice([*accounts.CALENDARS, "default"]),
    default=None,
    help="Dates on Persian pages: Solar Hijri (persian) or Gregorian; default: the language's own.",
)
@click.option("--disable/--enable", default=None, help="Lock the account out (or let it back in).")
@db_option
@auth_db_option
def change(
    username: str,
    role: str | None,
    branches: tuple[str, ...],
    new_password: bool,
    password_stdin: bool,
    language: str | None,
    calendar: str | None,
    disable: bool | None,
    db_path: Path,
    auth_db: Path | None,
) -> None:
    """Change an account's role, branches, password, language, calendar or whether it may log in.

    \b
    Example:
        otklik users change olga --branch b1 --branch b3
        otklik users change olga --password
        otklik users change ivan --disable
    """
    store = _store(db_path, auth_db)
    try:
        password = _read_password(password_stdin) if (new_password or password_stdin) else None
        lang: str | bool | None = False if language is None else (None if language == "browser" else language)
        user = accounts.change_user(
            store,
            username,
            password=password,
            role=role,
            branches=branches or None,
            language=lang,
            calendar=False if calendar is None else (None if calendar == "default" else calendar),
            active=None if disable is None else not disable,
        )
    except accounts.AccountError as exc:
        exc.hint = exc.hint or "see `otklik users list`"
        raise
    click.echo(f"changed {user.username} ({user.role}{': ' + ', '.join(user.branches) if user.branches else ''})")


@users.command("remove")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
@auth_db_option
def remove(username: str, yes: bool, db_path: Path, auth_db: Path | None) -> None:
    """Delete an account and its API tokens.

    \b
    Example:
        otklik users remove ivan --yes
    """
    store = _store(db_path, auth_db)
    if not yes:
        click.confirm(f"Remove {username} and its API tokens?", abort=True)
    try:
        accounts.remove_user(store, username)
    except accounts.AccountError as exc:
        exc.hint = exc.hint or "see `otklik users list`"
        raise
    click.echo(f"removed {username}")


@users.command("token")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@click.option("--revoke", "revoke_id", type=int, default=None, help="Revoke the token with this id instead.")
@db_option
@auth_db_option
def token(username: str, name: str, revoke_id: int | None, db_path: Path, auth_db: Path | None) -> None:
    """Issue an API token for USERNAME (printed once; send it as `Authorization: Bearer <token>`).

    \b
    Example:
        otklik users token olga --name reporting
        curl -H "Authorization: Bearer otk_..." http://hub:8000/api/v1/overview
        otklik users token olga --revoke 3
    """
    store = _store(db_path, auth_db)
    try:
        if revoke_id is not None:
            accounts.revoke_token(store, revoke_id)
            click.echo(f"revoked token {revoke_id}")
            return
        click.echo(accounts.issue_token(store, username, name))
    except accounts.AccountError as exc:
        exc.hint = exc.hint or "see `otklik users list --tokens`"
        raise


@command("dashboard")
@db_option
@auth_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def dashboard(db_path: Path, auth_db: Path | None, host: str, port: int) -> None:
    """Serve the managers' dashboard (Flask's threaded server; use gunicorn in production).

    \b
    Example:
        otklik dashboard --db data/hub.db --port 8000
        OTKLIK_DB=/var/lib/otklik/hub.db gunicorn -c python:dashboard.gunicorn_conf
    """
    config = {"OTKLIK_DB": str(db_path)}
    if auth_db:
        config["OTKLIK_AUTH_DB"] = str(auth_db)
    app = create_app(config)
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    if not accounts.list_users(store):
        where = f"--db {db_path}" + (f" --auth-db {auth_db}" if auth_db else "")
        click.echo(f"No accounts yet: create one with `otklik users add NAME --role admin {where}`.", err=True)
    app.run(host=host, port=port, threaded=True)


COMMANDS: list[click.Command] = [users, dashboard]
