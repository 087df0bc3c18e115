"""``otklik hub`` and ``otklik report``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from hub import flood_guard
from hub.analytics_cli import format_report
from hub.db import open_db
from hub.scores import BY, DEFAULT_MIN_RESPONSES, DEFAULT_WEIGHT
from hub.scores import report as analytics_report
from otklik.mqtt import BrokerURLError, parse_broker_url
from otklik.runtime import wait_for_stop_signal


def read_password(password_file: Path | None) -> str | None:
    """The broker password from a file (first line) or OTKLIK_MQTT_PASSWORD; never from the command line."""
    if password_file:
        try:
            return password_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise click.ClickException(f"--password-file {password_file}: cannot read a password ({err})") from None
    return os.environ.get("OTKLIK_MQTT_PASSWORD")


@click.command()
@click.option("--broker", "broker_url", required=True, help="mqtt://HOST:PORT or mqtts://HOST:PORT (TLS).")
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="SQLite file.")
@click.option("--username", help="Broker user name (the hub's own credentials).")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the broker password (or set OTKLIK_MQTT_PASSWORD).",
)
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA certificate for mqtts://.")
@click.option("--mqtt-version", type=click.Choice(["5", "3.1.1"]), default="5", show_default=True)
@click.option("--client-id", default="otklik-hub", show_default=True, help="Fixed id: the broker keeps our session.")
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
    db_path: Path,
    username: str | None,
    password_file: Path | None,
    ca_file: str | None,
    mqtt_version: str,
    client_id: str,
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

    \b
    Example:
        otklik hub --broker mqtt://127.0.0.1:1883 --db /var/lib/otklik/hub.db
    """
    from hub.service import HubService

    try:
        broker = parse_broker_url(
            broker_url,
            username=username,
            password=read_password(password_file),
            ca_file=ca_file,
            mqtt_version=mqtt_version,
        )
    except BrokerURLError as err:
        raise click.BadParameter(str(err), param_hint="--broker") from None
    service = HubService(broker, db_path, client_id=client_id, cut_off_per_s=cut_off_per_s or None).start()
    watcher = None
    if run_alerts:
        from hub.alert_watch import AlertWatcher
        from otklik.mqtt import AckedPublisher

        # The hub's own connection: a second one with the hub's username would take over its session.
        watcher = AlertWatcher(db_path, AckedPublisher(service.client).publish).start()
    click.echo(f"hub: storing events from {broker} in {db_path}{' with alerts' if watcher else ''} (Ctrl-C to stop)")
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
        raise click.ClickException(f"the hub's writer stopped ({cause}); exiting so the service manager restarts it")


@click.command()
@click.option(
    "--db", "db_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Hub DB."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--by", type=click.Choice(BY), default="kiosk", show_default=True, help="Group rows by.")
@click.option("--branch", help="Only this branch.")
@click.option("--from", "start", help="Local start, inclusive (2026-11-01, 2026-11-01T09).")
@click.option("--to", "end", help="Local end, exclusive.")
@click.option("--min-responses", type=int, default=DEFAULT_MIN_RESPONSES, show_default=True, help="To be ranked.")
@click.option("--weight", type=float, default=DEFAULT_WEIGHT, show_default=True, help="Shrinkage weight W.")
def report(db_path: Path, as_json: bool, by: str, branch: str | None, start: str | None, end: str | None,
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
    db = open_db(db_path)
    try:
        rows = analytics_report(db, by, branch=branch, start=start, end=end, min_responses=min_responses,
                                weight=weight)  # fmt: skip
    except ValueError as err:
        raise click.ClickException(f"{err} (dates look like 2026-11-22 or 2026-11-22T09)") from None
    click.echo(json.dumps(rows, indent=2) if as_json else format_report(rows, by))


@click.command("dead-letters")
@click.option(
    "--db", "db_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Hub DB."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--last", type=click.IntRange(0, 1000), default=10, show_default=True, help="Newest letters to show.")
def dead_letters_command(db_path: Path, as_json: bool, last: int) -> None:
    """Show rejected messages: per kiosk topic, letters written, dropped over the rate limit, retained repeats.

    \b
    Example:
        otklik dead-letters --db data/hub.db
    """
    from hub import dead_letters

    db = open_db(db_path)
    try:
        sources = dead_letters.sources(db)
        newest = [
            dict(zip(("id", "received_at", "topic", "payload_size", "reason"), row, strict=True))
            for row in db.execute(
                "SELECT id, received_at, topic, payload_size, reason FROM dead_letters ORDER BY id DESC LIMIT ?",
                [last],
            )
        ]
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps({"sources": sources, "newest": newest}, indent=2))
        return
    click.echo(f"{'source':<48} {'written':>8} {'dropped':>8} {'retained':>8}  last")
    for s in sources:
        click.echo(
            f"{s['source']:<48} {s['written']:>8} {s['dropped']:>8} {s['retained_repeats']:>8}  {s['last_at'] or ''}"
        )
    for letter in newest:
        size = f"{letter['payload_size']} B"
        click.echo(f"#{letter['id']} {letter['received_at']} {letter['topic']} ({size}): {letter['reason']}")


@click.group("cut-offs")
def cut_offs_group() -> None:
    """Kiosks the hub cut off at the broker for flooding it with bad messages (hub/flood_guard.py)."""


@cut_offs_group.command("list")
@click.option(
    "--db", "db_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Hub DB."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def cut_offs_list(db_path: Path, as_json: bool) -> None:
    """Every cut-off: when, how many bad messages a second set it off, what was dropped since, if restored.

    \b
    Example:
        otklik cut-offs list --db data/hub.db
    """
    db = open_db(db_path)
    try:
        rows = flood_guard.cut_offs(db)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'source':<40} {'user':<24} {'cut at':<24} {'junk/s':>7} {'dropped':>8}  restored")
    for r in rows:
        restored = r["restored_at"] or ("requested" if r["restore_requested_at"] else "no")
        click.echo(f"{r['source']:<40} {r['username']:<24} {r['cut_at']:<24} {r['junk_per_s']:>7} "
                   f"{r['dropped']:>8}  {restored}")  # fmt: skip


@cut_offs_group.command("restore")
@click.option(
    "--db", "db_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Hub DB."
)
@click.option("--branch", required=True)
@click.option("--kiosk", required=True)
def cut_offs_restore(db_path: Path, branch: str, kiosk: str) -> None:
    """Let a cut-off kiosk connect again: the running hub tells the broker within seconds.

    The kiosk then sends the presses it kept meanwhile. If it floods again, it is cut off again.

    \b
    Example:
        otklik cut-offs restore --db data/hub.db --branch b1 --kiosk k1
    """
    db = open_db(db_path)
    try:
        source = flood_guard.request_restore(db, branch, kiosk)
    except flood_guard.NotCutOff as err:
        raise click.ClickException(f"{err} (see `otklik cut-offs list`)") from None
    finally:
        db.close()
    click.echo(f"restore of {source} requested; the hub passes it to the broker within {flood_guard.POLL_S:g} s")


COMMANDS: list[click.Command] = [hub, report, dead_letters_command, cut_offs_group]
