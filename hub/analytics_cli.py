"""``otklik roster``, ``otklik branch``, ``otklik export`` and ``otklik alerts``: thin click layers over
hub.roster, hub.branches, hub.exports, hub.alerts and hub.notify."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from hub import aggregates, alert_text, alerts, branches, config_push, exports, notify, retention, roster, scores
from hub.alert_watch import AlertWatcher
from hub.db import open_existing
from hub.store import redacted
from otklik.command import (
    DATES_HINT,
    broker_from,
    broker_options,
    db_option,
    echo_json,
    emit,
    group,
    output_option,
    plain_value_errors,
)
from otklik.errors import OtklikError
from otklik.mqtt import AckedPublisher, connect_and_wait
from otklik.runtime import wait_for_stop_signal

log = logging.getLogger(__name__)


# --- roster --------------------------------------------------------------------------


@group("roster")
def roster_group() -> None:
    """Employees and shifts, used to credit presses to the person serving.

    A press is credited to the employee named in the event (a desk pad or a staff log-in),
    else to whoever is on shift at that kiosk (a shift without --kiosk covers the whole
    branch); changing a shift re-credits the presses it covers. Times are the branch's
    local time unless they carry an offset.

    \b
    Example:
        otklik roster add-employee e17 --branch b1 --name "Anna K."
        otklik roster add-shift e17 --branch b1 --kiosk k1 --start "2026-11-22 09:00" --end "2026-11-22 17:00"
    """


@roster_group.command("add-employee")
@db_option
@click.argument("employee")
@click.option("--branch", required=True, help="Home branch.")
@click.option("--name", default="", help="Display name.")
@click.option("--inactive", is_flag=True, help="Mark as no longer working here (kept for history).")
def add_employee_cmd(db_path: Path, employee: str, branch: str, name: str, inactive: bool) -> None:
    """Add an employee, or change their name, branch or active flag.

    \b
    Example:
        otklik roster add-employee e17 --db hub.db --branch b1 --name "Anna K."
    """
    echo_json(roster.add_employee(open_existing(db_path), employee, branch, name, not inactive, actor=roster.ADMIN))


@roster_group.command("employees")
@db_option
@output_option
@click.option("--branch", help="Only this branch.")
def employees_cmd(db_path: Path, output: str, branch: str | None) -> None:
    """List employees.

    \b
    Example:
        otklik roster employees --db hub.db --branch b1
    """
    emit(roster.list_employees(open_existing(db_path), branch), output)


@roster_group.command("add-shift")
@db_option
@click.argument("employee")
@click.option("--branch", required=True)
@click.option("--kiosk", default="", help="Kiosk or desk pad id; leave out for the whole branch.")
@click.option("--start", required=True, help="Local time, e.g. '2026-11-22 09:00'.")
@click.option("--end", required=True, help="Local time, e.g. '2026-11-22 17:00'.")
@click.option("--note", default="")
def add_shift_cmd(db_path: Path, employee: str, branch: str, kiosk: str, start: str, end: str, note: str) -> None:
    """Add a shift; presses it covers are credited to the employee.

    \b
    Example:
        otklik roster add-shift e17 --db hub.db --branch b1 --kiosk k1 \\
            --start "2026-11-22 09:00" --end "2026-11-22 17:00"
    """
    echo_json(
        roster.add_shift(open_existing(db_path), employee, branch, start, end, kiosk, note, actor=roster.ADMIN).__dict__
    )


@roster_group.command("change-shift")
@db_option
@click.argument("shift_id", type=int)
@click.option("--employee")
@click.option("--kiosk")
@click.option("--start", help="Local time.")
@click.option("--end", help="Local time.")
@click.option("--note")
def change_shift_cmd(db_path: Path, shift_id: int, **changes: Any) -> None:
    """Correct a shift after the fact; the presses it covered and covers now are re-credited.

    \b
    Example:
        otklik roster change-shift 12 --db hub.db --employee e18
    """
    echo_json(roster.update_shift(open_existing(db_path), shift_id, actor=roster.ADMIN, **changes).__dict__)


@roster_group.command("remove-shift")
@db_option
@click.argument("shift_id", type=int)
def remove_shift_cmd(db_path: Path, shift_id: int) -> None:
    """Delete a shift entered by mistake; its presses go back to unattributed (or another shift).

    \b
    Example:
        otklik roster remove-shift 12 --db hub.db
    """
    echo_json(roster.remove_shift(open_existing(db_path), shift_id, actor=roster.ADMIN).__dict__)


@roster_group.command("shifts")
@db_option
@output_option
@click.option("--branch")
@click.option("--employee")
def shifts_cmd(db_path: Path, output: str, branch: str | None, employee: str | None) -> None:
    """List shifts (times in UTC).

    \b
    Example:
        otklik roster shifts --db hub.db --branch b1
    """
    emit([s.__dict__ for s in roster.list_shifts(open_existing(db_path), branch, employee)], output)


@roster_group.command("import")
@db_option
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
def import_cmd(db_path: Path, csv_file: Any) -> None:
    """Import employees (id,name,branch[,active]) or shifts (employee,branch,kiosk,start,end[,note]) from CSV.

    The header row decides which. All rows or none: a bad row stops the import and names its line.

    \b
    Example:
        otklik roster import --db hub.db employees.csv
        otklik roster import --db hub.db shifts-november.csv
    """
    try:
        echo_json(roster.import_csv(open_existing(db_path), csv_file, actor=roster.ADMIN))
    except roster.RosterError as err:
        err.hint = "nothing was imported"
        raise


# --- branch settings -------------------------------------------------------------------


@group("branch")
def branch_group() -> None:
    """Per-branch settings: time zone, opening hours, misuse and alert thresholds.

    \b
    Example:
        otklik branch set b1 --db hub.db --timezone Europe/Moscow --hours "mon-sat 09:00-21:00; sun 10:00-18:00"
        otklik branch show b1 --db hub.db
    """


@branch_group.command("show")
@db_option
@output_option
@click.argument("branch")
def branch_show(db_path: Path, output: str, branch: str) -> None:
    """Print a branch's settings (defaults where none are set): one per line, or one JSON object.

    \b
    Example:
        otklik branch show b1 --db hub.db
        otklik branch show b1 --db hub.db --json
    """
    settings = branches.get(open_existing(db_path), branch).as_dict()
    if output == "json":
        echo_json(settings)
        return
    emit([{"setting": k, "value": v} for k, v in settings.items()], output)


@branch_group.command("set")
@db_option
@click.argument("branch")
@click.option("--timezone", help="IANA zone, e.g. Europe/Moscow (rebuilds the branch's aggregates).")
@click.option("--hours", help="Opening hours, e.g. 'mon-fri 08:00-21:00; sat 10:00-18:00'; '' = always open.")
@click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any other setting, e.g. burst_max=12, unhappy_share_pct=60, day_index_below=off.",
)
def branch_set(db_path: Path, branch: str, timezone: str | None, hours: str | None, pairs: tuple[str, ...]) -> None:
    """Change settings of a branch.

    Opening hours (and the zone they are read in) also go to every kiosk of the branch as a
    new config version, published by `otklik config push` (and when the hub starts).

    \b
    Settings: burst_max, burst_window_s, hours_grace_min, unhappy_share_pct, unhappy_window_min,
    unhappy_min_responses, day_index_below, day_min_responses, offline_after_min, backlog_above,
    change_window_min, change_weeks, change_min_responses, change_alpha (0 = off), positive_alerts (on/off),
    silent_after_min (0 = off), silent_expected_min, silent_visitors_min, auto_resolve_min (0 = never),
    alert_language (en, ru, fa), phone_ratings (together, separate; re-counts the branch).
    See "Alerts" and "Phone channel" in the README.
    Example:
        otklik branch set b1 --db hub.db --timezone Asia/Yekaterinburg
        otklik branch set b1 --db hub.db --set burst_max=15 --set burst_window_s=20
    """
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--set")
        changes[name.strip()] = value.strip()
    if hours is not None:
        changes["hours"] = hours
    if timezone is not None:
        changes["timezone"] = timezone
    db = open_existing(db_path)
    before = branches.get(db, branch)
    if {"timezone", "phone_ratings"} & changes.keys():
        # Those recount the aggregates from raw events: refused after a prune, before anything changes.
        retention.check_rebuild(db)
    try:
        result = branches.update(db, branch, **changes)
    except branches.SettingsError as err:
        err.hint = "see `otklik branch set --help`"
        raise
    if result.timezone != before.timezone:
        n = aggregates.rebuild(db, branch)
        click.echo(f"time zone changed: re-counted {n} presses of {branch} in {result.timezone}", err=True)
    elif result.phone_ratings != before.phone_ratings:  # phone presses join or leave the counts
        n = aggregates.rebuild(db, branch)
        click.echo(f"phone ratings now {result.phone_ratings}: re-counted {n} presses of {branch}", err=True)
    if hours is not None or timezone is not None:  # the kiosks sleep by them
        for kiosk, version in config_push.sync_branch(db, branch):
            click.echo(f"{branch}/{kiosk}: config version {version}; `otklik config push` publishes it", err=True)
    echo_json(result.as_dict())


@branch_group.command("rebuild")
@db_option
@click.argument("branch", required=False)
def branch_rebuild(db_path: Path, branch: str | None) -> None:
    """Recount the aggregates of one branch (or all) from the stored events.

    \b
    Example:
        otklik branch rebuild --db hub.db b1
    """
    n = aggregates.rebuild(open_existing(db_path), branch)
    click.echo(f"re-counted {n} presses")


# --- export ---------------------------------------------------------------------------


def _period_options(f: Callable) -> Callable:
    for option in reversed(
        [
            click.option("--branch", help="Only this branch."),
            click.option("--from", "start", help="Local start, inclusive (2026-11-01, 2026-11-01T09)."),
            click.option("--to", "end", help="Local end, exclusive."),
            click.option("--output", "-o", type=click.File("w"), default="-", help="CSV file (default stdout)."),
        ]
    ):
        f = option(f)
    return f


@group("export")
def export_group() -> None:
    """CSV exports: events, aggregates, the monthly employee report.

    \b
    Example:
        otklik export events --db hub.db --branch b1 --from 2026-11-01 --to 2026-12-01 -o nov.csv
        otklik export monthly --db hub.db --month 2026-11 -o employees-2026-11.csv
    """


@export_group.command("events")
@db_option
@_period_options
@click.option("--kiosk")
@click.option("--flagged", is_flag=True, help="Only flagged presses.")
def export_events(db_path: Path, branch: str | None, start: str | None, end: str | None, output: Any,
                  kiosk: str | None, flagged: bool) -> None:  # fmt: skip
    """Every press in the period with local time, credited employee and flags.

    \b
    Example:
        otklik export events --db hub.db --branch b1 --from 2026-11-01 --to 2026-12-01 -o nov.csv
    """
    with plain_value_errors(DATES_HINT):
        n = exports.write_events(open_existing(db_path), output, branch=branch, kiosk=kiosk, start=start, end=end,
                                 flagged_only=flagged)  # fmt: skip
    click.echo(f"{n} events", err=True)


@export_group.command("aggregates")
@db_option
@_period_options
@click.option("--by", type=click.Choice(scores.BY), default="day", show_default=True)
def export_aggregates(db_path: Path, branch: str | None, start: str | None, end: str | None, output: Any,
                      by: str) -> None:  # fmt: skip
    """Scores per branch, kiosk, employee, hour, day, week or month.

    \b
    Example:
        otklik export aggregates --db hub.db --by week --from 2026-01-01 -o weekly.csv
    """
    with plain_value_errors(DATES_HINT):
        n = exports.write_aggregates(open_existing(db_path), output, by, branch=branch, start=start, end=end)
    click.echo(f"{n} rows", err=True)


@export_group.command("monthly")
@db_option
@click.option("--month", required=True, help="Local month, e.g. 2026-11.")
@click.option("--branch")
@click.option("--min-responses", type=int, default=scores.DEFAULT_MIN_RESPONSES, show_default=True)
@click.option("--weight", type=float, default=scores.DEFAULT_WEIGHT, show_default=True, help="Shrinkage weight W.")
@click.option("--output", "-o", type=click.File("w"), default="-")
def export_monthly(db_path: Path, month: str, branch: str | None, min_responses: int, weight: float,
                   output: Any) -> None:  # fmt: skip
    """The monthly employee report: responses, index, adjusted index, rank, share very unhappy.

    \b
    Example:
        otklik export monthly --db hub.db --month 2026-11 -o employees-2026-11.csv
    """
    with plain_value_errors("use --month YYYY-MM"):
        n = exports.write_monthly(open_existing(db_path), output, month, branch=branch, min_responses=min_responses,
                                  weight=weight)  # fmt: skip
    click.echo(f"{n} employees", err=True)


# --- alerts ---------------------------------------------------------------------------


@group("alerts")
def alerts_group() -> None:
    """Alerts raised by the branch rules: list, acknowledge, resolve, check, watch, and channels.

    \b
    Example:
        otklik alerts list --db hub.db
        otklik alerts ack 3 --db hub.db --by "Olga (manager)" --note "calling the store"
        otklik alerts watch --db hub.db --broker mqtt://127.0.0.1:1883
    """


@alerts_group.command("list")
@db_option
@click.option("--branch")
@click.option("--state", type=click.Choice(["live", "open", "acknowledged", "resolved", "all"]), default="live",
              show_default=True)  # fmt: skip
@output_option
@click.option("--language", type=click.Choice(["en", "ru", "fa"]), default="en", show_default=True,
              help="Language of the alert texts.")  # fmt: skip
def alerts_list(db_path: Path, branch: str | None, state: str, output: str, language: str) -> None:
    """List alerts, newest first.

    \b
    Example:
        otklik alerts list --db hub.db --state all --json
        otklik alerts list --db hub.db --language ru
    """
    found = alerts.list_alerts(open_existing(db_path), branch=branch, state=None if state == "all" else state)
    if output == "json":
        emit(found, output)
        return
    rows = []
    for a in found:
        who = alert_text.resolved_by(a, language) or a["acknowledged_by"] or ""
        rows.append({"id": a["id"], "state": alert_text.state(a["state"], language), "opened": a["opened_at"],
                     "by": f"[{who}]" if who else "", "alert": alert_text.render(a, language)})  # fmt: skip
    emit(rows, output)


@contextlib.contextmanager
def _publisher(broker_url: str, username: str | None, password_file: Path | None, ca_file: str | None,
               mqtt_version: str) -> Iterator[Callable[[str, bytes], None]]:  # fmt: skip
    """A connection for publishing alerts: QoS 1, each publish waits for a PUBACK that says yes."""
    broker = broker_from(broker_url, username, password_file, ca_file, mqtt_version)
    try:
        client = connect_and_wait(broker, f"otklik-alerts-{os.getpid()}", logger=log)
    except ConnectionError as err:
        raise OtklikError(str(err), hint="check --broker, --username and --password-file") from None
    try:
        yield AckedPublisher(client).publish
    finally:
        client.disconnect()
        client.loop_stop()


def _transition(action: Callable, db_path: Path, alert_id: int, who: str, note: str, broker_url: str | None,
                **broker: Any) -> None:  # fmt: skip
    db = open_existing(db_path)
    # Connected first: an unreachable broker stops the command before the state changes.
    with _publisher(broker_url, **broker) if broker_url else contextlib.nullcontext() as publish:
        alert = action(db, alert_id, who, note)
        echo_json(alert)
        if publish:
            try:
                click.echo(notify.deliver_state(db, alert, publish), err=True)
            except OtklikError as err:
                err.hint = f"the alert is {alert['state']} in the database; only the publish failed"
                raise


@alerts_group.command("ack")
@db_option
@click.argument("alert_id", type=int)
@click.option("--by", "who", required=True, help="Who takes it on.")
@click.option("--note", default="")
@broker_options(required=False, username_help="Broker user name (not the hub's own: see `otklik provision service`).")
def alerts_ack(db_path: Path, alert_id: int, who: str, note: str, broker_url: str | None, **broker: Any) -> None:
    """Acknowledge an open alert: someone is on it.

    \b
    Example:
        otklik alerts ack 3 --db hub.db --by olga --note "calling the store"
    """
    _transition(alerts.acknowledge, db_path, alert_id, who, note, broker_url, **broker)


@alerts_group.command("resolve")
@db_option
@click.argument("alert_id", type=int)
@click.option("--by", "who", required=True, help="Who closes it.")
@click.option("--note", default="")
@broker_options(required=False, username_help="Broker user name (not the hub's own: see `otklik provision service`).")
def alerts_resolve(db_path: Path, alert_id: int, who: str, note: str, broker_url: str | None, **broker: Any) -> None:
    """Resolve an alert by hand; the same rule can fire again afterwards.

    Alerts also resolve themselves (by "auto") once their condition has been gone for the
    branch's auto_resolve_min.

    \b
    Example:
        otklik alerts resolve 3 --db hub.db --by olga --note "queue cleared, extra till opened"
    """
    _transition(alerts.resolve, db_path, alert_id, who, note, broker_url, **broker)


@alerts_group.command("check")
@db_option
@broker_options(required=False, username_help="Broker user name (not the hub's own: see `otklik provision service`).")
def alerts_check(db_path: Path, broker_url: str | None, **broker: Any) -> None:
    """Evaluate every branch's rules once and send what newly opened.

    \b
    Example:
        otklik alerts check --db hub.db --broker mqtt://127.0.0.1:1883
    """
    db = open_existing(db_path)
    if broker_url:
        with _publisher(broker_url, **broker) as publish:
            opened = notify.check_and_deliver(db, publish)
    else:
        opened = notify.check_and_deliver(db)
    echo_json(opened)


@alerts_group.command("watch")
@db_option
@broker_options(required=True, username_help="Broker user name (not the hub's own: see `otklik provision service`).")
@click.option("--poll", type=float, default=0.5, show_default=True, help="Seconds between looks for new commits.")
@click.option("--sweep", type=float, default=30.0, show_default=True, help="Seconds between checks of all branches.")
def alerts_watch(db_path: Path, broker_url: str, poll: float, sweep: float, **broker: Any) -> None:
    """Evaluate the rules within a second of each commit and send new alerts.

    `otklik hub` already does this (unless started with --no-alerts); run this only beside a
    hub started with --no-alerts, with its own broker user (the hub's would take over the
    hub's session).

    \b
    Example:
        otklik alerts watch --db /var/lib/otklik/hub.db --broker mqtts://hub.local:8883 \\
            --username otklik-hub-alerts --password-file /etc/otklik/otklik-hub-alerts.password \\
            --ca-file /etc/otklik/ca.crt
    """
    with _publisher(broker_url, **broker) as publish:
        watcher = AlertWatcher(db_path, publish, poll_s=poll, sweep_s=sweep).start()
        click.echo(f"alerts: watching {redacted(db_path)}, publishing on {broker_url} (Ctrl-C to stop)", err=True)
        try:
            wait_for_stop_signal()
        finally:
            watcher.stop()


@alerts_group.command("channel")
@db_option
@click.argument("action", type=click.Choice(["add", "remove", "list"]))
@click.argument("kind", type=click.Choice(["webhook", "email"]), required=False)
@click.argument("target", required=False)
@click.option("--branch", default="*", show_default=True, help="Branch, or * for all branches.")
@click.option("--language", type=click.Choice(["", "en", "ru", "fa"]), default="",
              help="Language of what this channel receives (default: the branch's alert_language).")  # fmt: skip
@output_option
def alerts_channel(db_path: Path, action: str, kind: str | None, target: str | None, branch: str,
                   language: str, output: str) -> None:  # fmt: skip
    """Add, remove or list where alerts are sent (webhook URLs, e-mail addresses).

    \b
    Example:
        otklik alerts channel add webhook https://chat.example/hooks/otklik --db hub.db
        otklik alerts channel add email manager-b1@example.com --branch b1 --language ru --db hub.db
        otklik alerts channel list --db hub.db
    """
    db = open_existing(db_path)
    if action == "list":
        emit(notify.list_channels(db, None if branch == "*" else branch), output)
        return
    if not kind or not target:
        raise click.UsageError(f"`channel {action}` needs KIND and TARGET")
    if action == "add":
        echo_json(notify.add_channel(db, kind, target, branch, language))
    elif not notify.remove_channel(db, kind, target, branch):
        raise OtklikError(f"no {kind} channel {target} for branch {branch}", hint="see `otklik alerts channel list`")


@alerts_group.command("smtp")
@db_option
@click.option("--host")
@click.option("--port", type=int)
@click.option("--from", "sender", help="From address.")
@click.option("--starttls/--no-starttls", default=None)
@click.option("--username")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False), help="File with the SMTP password.")
def alerts_smtp(db_path: Path, host: str | None, port: int | None, sender: str | None, starttls: bool | None,
                username: str | None, password_file: str | None) -> None:  # fmt: skip
    """Set the SMTP server used for e-mail alerts (the password stays in its file).

    \b
    Example:
        otklik alerts smtp --db hub.db --host smtp.example.com --port 587 --starttls \\
            --from otklik@example.com --username otklik --password-file /etc/otklik/smtp-password
    """
    values = {"smtp_host": host, "smtp_port": port, "smtp_from": sender, "smtp_username": username,
              "smtp_password_file": str(Path(password_file).resolve()) if password_file else None,
              "smtp_starttls": None if starttls is None else str(starttls).lower()}  # fmt: skip
    echo_json(notify.set_smtp(open_existing(db_path), **values))


COMMANDS: list[click.Command] = [roster_group, branch_group, export_group, alerts_group]
