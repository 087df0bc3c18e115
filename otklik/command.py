"""The shape every ``otklik`` command shares (as sqlite-utils does it): a thin click layer over
library functions.

- ``Command`` / ``Group``: any ``OtklikError`` a command raises becomes a click error here, and
  only here: its text, then ``Hint: ...``; an error whose ``field`` is an option is reported
  as a bad value of that option. A retired environment variable stops every command.
- ``db_option``: one ``--db`` for every command (OTKLIK_DB, default data/hub.db).
- ``output_option`` + ``emit``: every listing prints an aligned table, ``--tsv`` or ``--json``.
- ``broker_options`` + ``broker_from``: how a command reaches the MQTT broker.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from otklik import config
from otklik.errors import OtklikError
from otklik.mqtt import Broker, BrokerURLError, parse_broker_url

F = TypeVar("F", bound=Callable[..., Any])


def to_click(err: OtklikError) -> click.ClickException:
    """The one translation of a domain error into what click prints (exit status 1, or 2 for an option)."""
    text = str(err) + (f"\nHint: {err.hint}" if err.hint else "")
    if err.field and err.field.startswith("--"):
        return click.BadParameter(text, param_hint=err.field)
    return click.ClickException(text)


def _invoke(invoke: Callable[[click.Context], Any], ctx: click.Context) -> Any:
    """Every command and group runs through here: retired variables refused, domain errors turned once."""
    try:
        config.check_retired()
        return invoke(ctx)
    except OtklikError as err:
        raise to_click(err) from None


class Command(click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        return _invoke(super().invoke, ctx)


class Group(click.Group):
    command_class = Command
    group_class = type  # subgroups are of this class too

    def invoke(self, ctx: click.Context) -> Any:
        return _invoke(super().invoke, ctx)


def command(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Command]:
    return click.command(name, cls=Command, **kwargs)  # type: ignore[return-value]


def group(name: str | None = None, **kwargs: Any) -> Callable[[Callable[..., Any]], Group]:
    return click.group(name, cls=Group, **kwargs)  # type: ignore[return-value]


# --- the hub's database -------------------------------------------------------------------


class DbTarget(click.ParamType):
    """A SQLite file (as a Path) or a ``postgresql://`` URL (kept a str: a Path would fold its ``//``)."""

    name = "path|url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from hub.store import is_url

        if isinstance(value, str) and is_url(value):
            return value
        return click.Path(dir_okay=False, path_type=Path).convert(value, param, ctx)


def db_option(fn: F) -> F:
    return click.option(
        "--db",
        "db_path",
        envvar=config.envvars("OTKLIK_DB"),
        default=config.DEFAULT_DB,
        show_default=True,
        show_envvar=True,
        type=DbTarget(),
        help="The hub's database: a SQLite file, or a postgresql:// URL.",
    )(fn)


def auth_db_option(fn: F) -> F:
    return click.option(
        "--auth-db",
        envvar=config.envvars("OTKLIK_AUTH_DB"),
        show_envvar=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The dashboard's accounts database (default: <hub db stem>-dashboard.db beside the hub's).",
    )(fn)


# --- listings -------------------------------------------------------------------------------


def output_option(fn: F) -> F:
    """Table (default), ``--tsv`` or ``--json``: every listing takes these three and nothing else."""
    for opt in reversed(
        [
            click.option("--table", "output", flag_value="table", default=True, help="An aligned table (default)."),
            click.option("--tsv", "output", flag_value="tsv", help="Tab-separated values, one row a line."),
            click.option("--json", "output", flag_value="json", help="A JSON list of objects."),
        ]
    ):
        fn = opt(fn)
    return fn


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def render(rows: Sequence[Mapping[str, Any]], output: str, columns: Sequence[str] | None = None) -> str:
    """``rows`` as ``output`` (table, tsv, json); ``columns`` picks and orders the table's columns."""
    if output == "json":
        return json.dumps(list(rows), indent=2, ensure_ascii=False, default=str)
    cols = list(columns or (rows[0].keys() if rows else []))
    body = [[_cell(r.get(c)) for c in cols] for r in rows]
    if output == "tsv":
        return "\n".join("\t".join(line) for line in [cols, *body])
    widths = [max(len(c), *(len(line[i]) for line in body)) for i, c in enumerate(cols)]
    lines = ("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in [cols, *body])
    return "\n".join(line.rstrip() for line in lines)


def emit(rows: Iterable[Mapping[str, Any]], output: str, columns: Sequence[str] | None = None) -> None:
    rows = list(rows)
    if output != "json" and not rows:
        click.echo("(none)", err=True)
        return
    click.echo(render(rows, output, columns))


def echo_json(data: Any) -> None:
    """What a change command prints: the record as it is now."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- the broker -------------------------------------------------------------------------------


def read_password(password_file: Path | None) -> str | None:
    """The broker password from a file (first line) or OTKLIK_MQTT_PASSWORD; never from the command line."""
    if password_file:
        try:
            return password_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise OtklikError(f"{password_file}: cannot read a password ({err})", field="--password-file") from None
    return config.get("OTKLIK_MQTT_PASSWORD")


def broker_options(
    *, required: bool, username_default: str | None = None, username_help: str = "", versions: bool = True
) -> Callable[[F], F]:
    """--broker (OTKLIK_BROKER), --username, --password-file (or OTKLIK_MQTT_PASSWORD), --ca-file, --mqtt-version.

    ``versions=False`` leaves --mqtt-version out, for a command that speaks MQTT 5 only.
    """

    def decorate(fn: F) -> F:
        for opt in reversed(
            [
                click.option(
                    "--broker",
                    "broker_url",
                    required=required,
                    envvar=config.envvars("OTKLIK_BROKER"),
                    show_envvar=True,
                    help="mqtt://HOST:PORT or mqtts://HOST:PORT (TLS).",
                ),
                click.option(
                    "--username",
                    default=username_default,
                    show_default=bool(username_default),
                    help=username_help or "Broker user name: this process's own credentials.",
                ),
                click.option(
                    "--password-file",
                    type=click.Path(exists=True, dir_okay=False, path_type=Path),
                    help="File holding the broker password (or set OTKLIK_MQTT_PASSWORD).",
                ),
                click.option(
                    "--ca-file",
                    envvar=config.envvars("OTKLIK_MQTT_CA_FILE"),
                    show_envvar=True,
                    type=click.Path(exists=True, dir_okay=False),
                    help="CA certificate for mqtts://.",
                ),
                click.option("--mqtt-version", type=click.Choice(["5", "3.1.1"]), default="5", show_default=True),
            ][: None if versions else -1]
        ):
            fn = opt(fn)
        return fn

    return decorate


def broker_from(
    broker_url: str, username: str | None, password_file: Path | None, ca_file: str | None, mqtt_version: str = "5"
) -> Broker:
    try:
        return parse_broker_url(
            broker_url,
            username=username,
            password=read_password(password_file),
            ca_file=ca_file,
            mqtt_version=mqtt_version,
        )
    except BrokerURLError as err:
        raise OtklikError(str(err), field="--broker") from None


DATES_HINT = "dates look like 2026-11-22 or 2026-11-22T09"


@contextlib.contextmanager
def plain_value_errors(hint: str) -> Iterator[None]:
    """Report a plain ValueError (period and date parsing raises those) like an OtklikError, with ``hint``."""
    try:
        yield
    except OtklikError:
        raise
    except ValueError as err:
        raise OtklikError(str(err), hint=hint) from None
