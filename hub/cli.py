"""``otklik hub``, ``otklik db``, ``otklik report`` and ``otklik dead-letters``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from hub import db_copy, dead_letters, flood_guard, retention
from hub.alert_watch import AlertWatcher
from hub.db import migrate, open_existing
from hub.scores import BY, DEFAULT_MIN_RESPONSES, DEFAULT_WEIGHT, RANKED
from hub.scores import report as analytics_report
from hub.service import HubService
from hub.store import redacted
from otklik import config
from otklik.command import (
    DATES_HINT,
    DbTarget,
    broker_from,
    broker_options,
    command,
    db_option,
    echo_json,
    emit,
    group,
    output_option,
    plain_value_errors,
)
from otklik.errors import OtklikError
from otklik.mqtt import AckedPublisher
from otklik.runtime import wait_for_stop_signal


@command()
@broker_options(required=True, username_help="Broker user name (the hub's own credentials).")
@db_option
@click.option(
    "--client-id",
    help="Fixed id: the broker keeps our session under it.  [default: the --username, else otklik-hub]",
)
@click.option(
    "--share-group",
    envvar=config.envvars("OTKLIK_SHARE_GROUP"),
    show_envvar=True,
    help="Run as one of several hubs splitting the kiosks' stream (an MQTT 5 shared subscription); "
    "each hub needs its own --username (`otklik provision service hub --count N`).",
)
@click.option(
    "--alerts/--no-alerts",
    "run_alerts",
    default=True,
    show_default=True,
    help="Evaluate the alert rules within a second of each commit and send what opens.",
)
@click.option(
    "--cut-off-per-s",
    type=click.IntRange(0),
    default=flood_guard.CUT_OFF_PER_S,
    show_default=True,
    help="Bad messages from one kiosk within a second that get it cut off at the broker (0: never).",
)
def hub(
    broker_url: str,
    username: str | None,
    password_file: Path | None,
    ca_file: str | None,
    mqtt_version: str,
    db_path: Path,
    client_id: str | None,
    share_group: str | None,
    run_alerts: bool,
    cut_off_per_s: int,
) -> None:
    """Run the ingest service: subscribe to every kiosk and store its events.

    Ratings are acknowledged to the broker only after they are committed, and
    the session is persistent, so nothing published while the hub is down or
    restarting is lost; a redelivered event is stored once. If storing stops
    for any reason but a storage error (which is retried), the hub exits with
    status 1 so that systemd restarts it.

    Alert evaluation runs inside the hub (see "Alerts" in the README): alerts
    are published on otklik/v1/alerts/<branch> over the hub's own connection
    and sent to the webhooks and e-mail addresses of `otklik alerts channel`.

    Several hubs share the stream with --share-group (the same group name on
    each; see "Several hubs" in the README): each message goes to one of them,
    each keeps its own persistent session under its own broker user.

    \b
    Example:
        otklik hub --broker mqtt://127.0.0.1:1883 --db /var/lib/otklik/hub.db
        otklik hub --broker mqtts://broker.example.com:8883 --db postgresql://hub@db.example.com/otklik \\
            --share-group hubs --username otklik-hub-2 --password-file /etc/otklik/otklik-hub-2.password
    """
    broker = broker_from(broker_url, username, password_file, ca_file, mqtt_version)
    # The broker ties a session to its user (use_username_as_clientid), so two hubs must differ in both.
    client_id = client_id or username or "otklik-hub"
    service = HubService(broker, db_path, client_id=client_id, cut_off_per_s=cut_off_per_s or None,
                         share_group=share_group).start()  # fmt: skip
    watcher = None
    if run_alerts:
        # The hub's own connection: a second one with the hub's username would take over its session.
        watcher = AlertWatcher(db_path, AckedPublisher(service.client).publish).start()
    alerting = " with alerts" if watcher else ""
    click.echo(f"hub: storing events from {broker} in {redacted(db_path)}{alerting} (Ctrl-C to stop)")
    try:
        wait_for_stop_signal(until=service.failed)
    finally:
        if watcher:
            watcher.stop()
        service.stop()
    if service.failed.is_set():
        # A hub that stays up without its writer stores and acknowledges
        # nothing while systemd sees it running: exit non-zero so it restarts.
        cause = f"{type(service.failure).__name__}: {service.failure}" if service.failure else "it ended"
        raise OtklikError(f"the hub's writer stopped ({cause}); exiting so the service manager restarts it")


@group("db")
def db_group() -> None:
    """The hub's database: its schema belongs to the hub, which migrates it.

    `otklik hub` and the hub's commands migrate on opening; the dashboard only reads and
    refuses a database that is not migrated, so run this after installing a new version
    (the hub's systemd unit runs it before starting).

    \b
    Example:
        otklik db migrate --db /var/lib/otklik/hub.db
        otklik db copy /var/lib/otklik/hub.db postgresql://otklik@db.example.com/otklik
    """


@db_group.command("migrate")
@db_option
def db_migrate(db_path: Path) -> None:
    """Create the hub database if needed and bring its schema up to date.

    \b
    Example:
        otklik db migrate --db /var/lib/otklik/hub.db
    """
    applied = migrate(db_path)
    shown = redacted(db_path)
    click.echo(f"{shown}: applied {len(applied)} migrations" if applied else f"{shown}: up to date")


@db_group.command("copy")
@click.argument("source", type=DbTarget())
@click.argument("dest", type=DbTarget())
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object (the tables, rows, seconds) instead of text."
)
def db_copy_command(source: str | Path, dest: str | Path, as_json: bool) -> None:
    """Copy a store's SQLite hub database (SOURCE) into PostgreSQL (DEST, a postgresql:// URL).

    For a store moving into the chain layout. DEST is migrated first, and must hold no
    hub rows (a new database made for the hub). SOURCE is read as one snapshot, so stop
    the hub first: what it stores after the snapshot would not be copied. DEST is written
    in one transaction, so a failure or a killed copy leaves it without hub rows and the
    same command can run again. Prints each table's rows, once every table's row count and
    column sums were found equal on both sides; the URL's password is never printed (keep
    it in PGPASSFILE, not in the URL).

    \b
    Example:
        sudo systemctl stop otklik-hub otklik-dashboard
        otklik db copy /var/lib/otklik/hub.db postgresql://otklik@db.example.com/otklik
        otklik db copy data/hub.db postgresql://otklik@127.0.0.1/otklik --json
    """
    shown = redacted(dest)
    last = [0.0]

    def progress(table: str, done: int, total: int) -> None:
        # A line now and then on a big table; the listing comes at the end.
        now = time.monotonic()
        if total >= 100_000 and (now - last[0] >= 5 or done == total):
            last[0] = now
            click.echo(f"{table}: {done:,} of {total:,} rows", err=True)

    done = db_copy.copy_to_pg(source, str(dest), progress=progress)
    if as_json:
        echo_json(done.as_dict())
    else:
        emit([{"table": t.table, "rows": t.rows, "sums equal": t.sums, "seconds": f"{t.seconds:.2f}"}
              for t in done.tables], "table")  # fmt: skip
        rate = f" ({done.rows / done.seconds:,.0f} rows/s)" if done.seconds else ""
        click.echo(
            f"copied {done.rows:,} rows of {len(done.tables)} tables from {source} to {shown} in "
            f"{done.seconds:.1f} s{rate}; every table's row count and column sums are equal on both sides"
        )
    for line in db_copy.next_steps(source, shown, done):
        click.echo(line, err=True)


@command()
@db_option
@output_option
@click.option("--by", type=click.Choice(BY), default="kiosk", show_default=True, help="Group rows by.")
@click.option("--branch", help="Only this branch.")
@click.option("--from", "start", help="Local start, inclusive (2026-11-01, 2026-11-01T09).")
@click.option("--to", "end", help="Local end, exclusive.")
@click.option("--min-responses", type=int, default=DEFAULT_MIN_RESPONSES, show_default=True, help="To be ranked.")
@click.option("--weight", type=float, default=DEFAULT_WEIGHT, show_default=True, help="Shrinkage weight W.")
def report(db_path: Path, output: str, by: str, branch: str | None, start: str | None, end: str | None,
           min_responses: int, weight: float) -> None:  # fmt: skip
    """Print button counts and the satisfaction index per branch, kiosk, employee or period.

    The index runs from 0 (every press very unhappy) to 100 (every press very
    happy); the four buttons count 0, 33.3, 66.7 and 100. Flagged presses
    (cooldown, burst, outside opening hours, doubtful clock) are left out and
    counted apart by reason. Branches and employees are ranked by an index
    shrunk toward the mean, (W*mean + n*index)/(W + n), leaving out anyone
    under --min-responses. Periods are each branch's local time.

    \b
    Example:
        otklik report --db data/hub.db
        otklik report --db data/hub.db --by employee --branch b1 --from 2026-11-01 --to 2026-12-01 --json
        otklik report --db data/hub.db --by week --json
    """
    db = open_existing(db_path)
    with plain_value_errors(DATES_HINT):
        rows = analytics_report(db, by, branch=branch, start=start, end=end, min_responses=min_responses,
                                weight=weight)  # fmt: skip
    if output == "json":
        emit(rows, output)
        return
    emit([report_row(r, by) for r in rows], output)


def report_row(r: dict[str, Any], by: str) -> dict[str, Any]:
    """A ``scores.report`` row flattened into the report table's columns."""
    keys = {"branch": ["branch"], "kiosk": ["branch", "kiosk"], "employee": ["branch", "employee"]}.get(by, ["period"])

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    pos = "-"
    if r["positive_share"] is not None:
        pos = f"{100 * r['positive_share']:.0f} ({100 * r['positive_low']:.0f}-{100 * r['positive_high']:.0f})"
    vu = r["very_unhappy_share"]
    row: dict[str, Any] = {k: r.get(k) or "(none)" for k in keys}
    row |= {s: r["counts"][s] for s in ("1", "2", "3", "4")}
    row |= {"resp": r["responses"], "index": num(r["index"], ".1f"), "pos% (95% CI)": pos,
            "vu%": num(None if vu is None else 100 * vu, ".0f"), "flagged": r["flagged"]["total"]}  # fmt: skip
    if by in RANKED:
        row |= {"adj": num(r.get("adjusted_index"), ".1f"), "rank": num(r.get("rank"), "d")}
    return row


@command("dead-letters")
@db_option
@output_option
@click.option("--last", type=click.IntRange(0, 1000), default=10, show_default=True, help="Newest letters to show.")
def dead_letters_command(db_path: Path, output: str, last: int) -> None:
    """Show rejected messages: per kiosk topic, letters written, dropped over the rate limit, retained repeats.

    The table lists the sources; --json prints {"sources": [...], "newest": [...]}.

    \b
    Example:
        otklik dead-letters --db data/hub.db
        otklik dead-letters --db data/hub.db --last 50 --json
    """
    db = open_existing(db_path)
    try:
        sources = dead_letters.sources(db)
        newest = dead_letters.newest(db, last)
    finally:
        db.close()
    if output == "json":
        echo_json({"sources": sources, "newest": newest})
        return
    emit(sources, output, ["source", "written", "dropped", "retained_repeats", "last_at"])
    for letter in newest:
        size = f"{letter['payload_size']} B"
        click.echo(f"#{letter['id']} {letter['received_at']} {letter['topic']} ({size}): {letter['reason']}")


@group("cut-offs")
def cut_offs_group() -> None:
    """Kiosks the hub cut off at the broker for flooding it with bad messages (hub/flood_guard.py).

    \b
    Example:
        otklik cut-offs list --db data/hub.db
        otklik cut-offs restore --db data/hub.db --branch b1 --kiosk k1
    """


@cut_offs_group.command("list")
@db_option
@output_option
def cut_offs_list(db_path: Path, output: str) -> None:
    """Every cut-off: when, how many bad messages a second set it off, what was dropped since, if restored.

    \b
    Example:
        otklik cut-offs list --db data/hub.db
        otklik cut-offs list --json
    """
    db = open_existing(db_path)
    try:
        rows = flood_guard.cut_offs(db)
    finally:
        db.close()
    emit(rows, output, ["source", "username", "cut_at", "junk_per_s", "dropped", "restore_requested_at", "restored_at"])


@cut_offs_group.command("restore")
@db_option
@click.option("--branch", required=True)
@click.option("--kiosk", required=True)
def cut_offs_restore(db_path: Path, branch: str, kiosk: str) -> None:
    """Let a cut-off kiosk connect again: the running hub tells the broker within seconds.

    The kiosk then sends the presses it kept meanwhile. If it floods again, it is cut off again.

    \b
    Example:
        otklik cut-offs restore --db data/hub.db --branch b1 --kiosk k1
    """
    db = open_existing(db_path)
    try:
        source = flood_guard.request_restore(db, branch, kiosk)
    finally:
        db.close()
    click.echo(f"restore of {source} requested; the hub passes it to the broker within {flood_guard.POLL_S:g} s")


@group("events")
def events_group() -> None:
    """Raw events: archive the old ones to a file, then prune them from the hub (hub/retention.py).

    Aggregates stay: scores, reports, the dashboard and `otklik export aggregates` keep
    covering archived months; `otklik export events` refuses a period that was pruned.

    \b
    Example:
        otklik events archive --db hub.db --older-than 6m --to events-before-2026-06.jsonl.gz
        otklik events prune --db hub.db --older-than 6m
        otklik events status --db hub.db
    """


_OLDER_THAN = click.option(
    "--older-than",
    required=True,
    help="An age (6m months, 90d, 2w, 1y) or a date (2026-05-01): events before that day's midnight UTC.",
)
_FORCE = click.option("--force", is_flag=True, help="Allow a cutoff inside the last month.")


@events_group.command("archive")
@db_option
@_OLDER_THAN
@click.option("--to", "to", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A new file (JSON Lines; gzip if it ends in .gz; written 0600).")  # fmt: skip
@_FORCE
def events_archive(db_path: Path, older_than: str, to: Path, force: bool) -> None:
    """Write every raw event older than the cutoff (with its attribution) to a new file.

    \b
    Example:
        otklik events archive --db hub.db --older-than 6m --to events-old.jsonl.gz
    """
    before = retention.cutoff(older_than, force=force)
    db = open_existing(db_path)
    try:
        done = retention.archive(db, to, before)
    finally:
        db.close()
    echo_json(done.as_dict())


@events_group.command("prune")
@db_option
@_OLDER_THAN
@_FORCE
def events_prune(db_path: Path, older_than: str, force: bool) -> None:
    """Delete the raw events older than the cutoff that `otklik events archive` wrote out.

    Deleted in batches, so the running hub keeps storing presses meanwhile.

    \b
    Example:
        otklik events prune --db hub.db --older-than 6m
    """
    before = retention.cutoff(older_than, force=force)
    db = open_existing(db_path)
    try:
        done = retention.prune(db, before)
    finally:
        db.close()
    echo_json(done.as_dict())


@events_group.command("status")
@db_option
@output_option
def events_status(db_path: Path, output: str) -> None:
    """The raw events kept (count, oldest, newest) and the last archive and prune.

    \b
    Example:
        otklik events status --db hub.db --json
    """
    db = open_existing(db_path)
    try:
        emit([retention.status(db)], output)
    finally:
        db.close()


COMMANDS: list[click.Command] = [hub, db_group, report, dead_letters_command, cut_offs_group, events_group]
