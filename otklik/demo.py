"""``otklik demo``: the whole system on one machine, with no set-up.

A broker (Mosquitto when installed, else the embedded amqtt one), the hub on a
SQLite file in a data folder, simulated kiosks on mock pins pressing buttons,
and the dashboard when it is installed. Each part runs as its own process, the
way it runs in a store, so the demo exercises the real paths.

On first start the data folder gets months of a chain's history
(``otklik.demo_seed``), so every page has something to show; ``--fresh``
starts empty. On Mosquitto every client has its own user, password and ACL,
rendered by the provisioning module, and the broker ties each client id to its
username. The embedded amqtt broker cannot: it is anonymous, and a client may
take another's id there.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from otklik import demo_seed, protocol, times
from otklik.command import db_option, group
from otklik.errors import OtklikError
from otklik.mosquitto import BrokerAuth, MosquittoProcess, free_port, mosquitto_binary, port_is_free

MAX_KIOSKS_PER_BRANCH = max(len(b.kiosks) for b in demo_seed.CHAIN)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


@dataclass
class Login:
    username: str
    password_file: Path


@dataclass
class DemoCredentials:
    """Every MQTT user the demo starts, each with its own password file."""

    auth: BrokerAuth
    hub: Login
    dashboard: Login
    kiosks: dict[tuple[str, str], Login] = field(default_factory=dict)


def write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only, from the first byte (never a chmod after the fact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def provision_broker(data: Path, db_path: Path, kiosks: list[demo_seed.KioskPlan]) -> DemoCredentials:
    """Users for the hub, the dashboard and each kiosk in the hub's registry; the broker's passwd and ACL from it.

    A user whose password file is gone gets a new password (the registry keeps
    only hashes); the others keep theirs, so a restarted demo carries on.
    """
    from hub.provisioning import broker_files, registry

    secret_dir = data / "secrets"
    secret_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = registry.open_hub_db(db_path)
    try:

        def login(username: str, add: Any) -> Login:
            password_file = secret_dir / f"{username}.password"
            cred = registry.get(db, username)
            if cred is not None and cred.active and password_file.exists():
                return Login(username, password_file)
            _, password = registry.rotate(db, username) if cred is not None and cred.active else add()
            write_private(password_file, password + "\n")
            return Login(username, password_file)

        def service(role: str) -> Login:
            return login(registry.service_username(role), lambda: registry.add_service(db, role))

        creds = DemoCredentials(
            auth=BrokerAuth(data / "mosquitto" / broker_files.PASSWD, data / "mosquitto" / broker_files.ACL),
            hub=service(registry.ROLE_HUB),
            dashboard=service(registry.ROLE_DASHBOARD),
        )
        for k in kiosks:
            role = registry.ROLE_PAD if k.kind == "desk" else registry.ROLE_KIOSK
            creds.kiosks[(k.branch, k.kiosk)] = login(
                registry.device_username(k.branch, k.kiosk),
                lambda k=k, role=role: registry.add_device(db, k.branch, k.kiosk, role=role),
            )
        # 0600: they name every user and hold their hashes; the broker runs as this same user.
        broker_files.write_auth_files(data / "mosquitto", registry.all_credentials(db), mode=0o600)
    finally:
        db.close()
    return creds


class Demo:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.logs = data / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.mosquitto: MosquittoProcess | None = None

    def spawn(self, name: str, *args: str) -> Child:
        return self.spawn_python(name, "-m", "otklik", *args)

    def start_broker(self, port: int, creds: DemoCredentials | None) -> tuple[str, str]:
        """Mosquitto with ``creds``, else the embedded broker; returns the URL and the MQTT version to speak."""
        if creds is not None:
            self.mosquitto = MosquittoProcess(
                self.data / "mosquitto", port=port, auth=creds.auth, max_packet_size=protocol.MAX_PACKET_BYTES
            ).start()
            return self.mosquitto.url, "5"
        if importlib.util.find_spec("amqtt") is None:
            raise click.ClickException(
                "no broker available: install Mosquitto (apt-get install mosquitto) or the demo extra "
                "(pip install 'otklik[demo]')"
            )
        self.spawn_python("broker", "-m", "otklik.embedded_broker", "--port", str(port))
        _wait_for_port(port, self.children[-1])
        # amqtt speaks MQTT 3.1.1 only.
        return f"mqtt://127.0.0.1:{port}", "3.1.1"

    def spawn_python(self, name: str, *args: str) -> Child:
        log = (self.logs / f"{name}.log").open("ab")
        # A session of its own: Ctrl-C reaches the demo only, which then stops
        # the children in order (kiosks first, broker last) instead of all at once.
        proc = subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def check_children(self) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise click.ClickException(
                    f"{child.name} stopped with exit code {code}; see {self.logs / (child.name + '.log')}"
                )

    def stop(self) -> None:
        # Kiosks and dashboard first, then the hub (it stores what it holds),
        # then the broker (it saves its sessions).
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.log.close()
        if self.mosquitto:
            self.mosquitto.stop()


def _wait_for_port(port: int, child: Child, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise click.ClickException(f"{child.name} exited with {child.proc.returncode} while starting")
        if not port_is_free(port):
            return
        time.sleep(0.1)
    raise click.ClickException(f"{child.name} did not listen on port {port} within {timeout} s")


def _status_line(db_path: Path) -> str:
    from hub import scores
    from hub.db import open_db

    if not db_path.exists():
        return "waiting for the first press"
    db = open_db(db_path, migrate=False)
    try:
        kiosks = len(scores.report(db, "kiosk"))
        whole = scores.total(db)
    except Exception:  # the hub may still be creating its tables
        return "waiting for the hub"
    finally:
        db.close()
    index = "-" if whole["index"] is None else f"{whole['index']:.1f}"
    return (
        f"{whole['responses']} responses stored from {kiosks} kiosks, index {index}, "
        f"{whole['flagged']['total']} flagged"
    )


@group(invoke_without_command=True)
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default="otklik-data", show_default=True,
    help="Folder for the hub database, outboxes, broker files and logs.",
)  # fmt: skip
@click.option("--branches", type=click.IntRange(1, len(demo_seed.CHAIN)), default=len(demo_seed.CHAIN),
              show_default=True, help="Branches with live kiosks (the others' kiosks fall silent).")  # fmt: skip
@click.option("--kiosks", type=click.IntRange(1, MAX_KIOSKS_PER_BRANCH), default=MAX_KIOSKS_PER_BRANCH,
              show_default=True, help="Live kiosks per branch, at most.")  # fmt: skip
@click.option("--rate", type=click.FloatRange(0.001, 50), default=0.1, show_default=True, help="Presses/s per kiosk.")
@click.option("--broker", "broker_choice", type=click.Choice(["auto", "mosquitto", "embedded"]), default="auto",
              show_default=True, help="auto: Mosquitto when installed, else the embedded broker.")  # fmt: skip
@click.option("--broker-port", type=int, default=None, help="Default: 1883 when free, else any free port.")
@click.option("--dashboard-port", type=int, default=None, help="Default: 5000 when free, else any free port.")
@click.option("--seconds", type=float, default=None, help="Stop by itself after this long (default: run until Ctrl-C).")
@click.option("--fresh", is_flag=True, help="Start with an empty database instead of months of history.")
@click.option("--days", type=click.IntRange(1, 730), default=90, show_default=True,
              help="Days of history seeded on first start.")  # fmt: skip
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed of the history.")
@click.pass_context
def demo(
    ctx: click.Context,
    data: Path,
    branches: int,
    kiosks: int,
    rate: float,
    broker_choice: str,
    broker_port: int | None,
    dashboard_port: int | None,
    seconds: float | None,
    fresh: bool,
    days: int,
    seed_value: int,
) -> None:
    """Run the whole system on this machine: broker, hub, simulated kiosks and dashboard.

    The first start writes --days of a five-branch chain's history into the
    data folder (through the hub's own ingest), so the dashboard opens on
    rankings, heat maps, camera response rates, trends and open alerts; live
    presses from the simulated kiosks land on top. Run it again and it carries
    on where it stopped. Ctrl-C stops every part cleanly.

    \b
    Example:
        otklik demo
        otklik demo --fresh --data /tmp/otklik-empty --branches 2 --kiosks 1 --rate 1
        otklik demo --days 30 --seed 7 --data /tmp/otklik-30d
        otklik demo seed --db /tmp/chain.db --days 90 --seed 1
    """
    if ctx.invoked_subcommand is not None:
        return
    data = data.resolve()
    # 0700: the folder holds the hub database, password files and outboxes.
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    db_path = data / "hub.db"
    if fresh and db_path.exists():
        raise OtklikError(f"{db_path} already exists", hint="--fresh starts empty only in a new --data folder")
    if not fresh and not db_path.exists():
        seed_into(db_path, days=days, seed=seed_value, why=" (first start only; later starts carry on from it)")
    # As an operator does after installing: the dashboard refuses a hub database that is not migrated
    # (a --fresh one does not exist yet; one from an older version lacks the new migrations).
    subprocess.run([sys.executable, "-m", "otklik", "db", "migrate", "--db", str(db_path)], check=True)
    live = demo_seed.live_kiosks(branches, kiosks)
    use_mosquitto = broker_choice == "mosquitto" or (broker_choice == "auto" and mosquitto_binary() is not None)
    demo_run = Demo(data)
    port = broker_port or (1883 if port_is_free(1883) else free_port())
    try:
        creds = provision_broker(data, db_path, live) if use_mosquitto else None
        url, mqtt_version = demo_run.start_broker(port, creds)
        pushed = push_pending_config(db_path, url, mqtt_version, creds.dashboard if creds else None)
        login = ["--username", creds.hub.username, "--password-file", str(creds.hub.password_file)] if creds else []
        demo_run.spawn("hub", "hub", "--broker", url, "--db", str(db_path), "--mqtt-version", mqtt_version, *login)
        dashboard_line = _start_dashboard(demo_run, db_path, dashboard_port)
        for plan in live:
            config = write_kiosk_config(data, plan, url, mqtt_version, creds.kiosks[(plan.branch, plan.kiosk)]
                                        if creds else None)  # fmt: skip
            continue_seq(db_path, plan, config)
            demo_run.spawn(f"kiosk-{plan.branch}-{plan.kiosk}", "kiosk", "--simulate", "--config", str(config),
                           "--rate", str(rate))  # fmt: skip
        identity = "client ids tied to usernames" if creds else "anonymous, client ids not checked"
        click.echo(
            f"Otklik demo running\n"
            f"  broker     {url} ({'Mosquitto' if creds else 'embedded amqtt'}, MQTT {mqtt_version}, {identity})\n"
            f"  hub db     {db_path}\n"
            f"  config     {pushed}\n"
            f"  kiosks     {len(live)} simulated in {min(branches, len(demo_seed.CHAIN))} branches, "
            f"{rate} presses/s each\n"
            f"{dashboard_line}"
            f"  logs       {demo_run.logs}\n"
            f"  commands   export OTKLIK_DB={db_path}  (then `otklik report`, `otklik users list` ... use it)\n"
            f"Ctrl-C stops everything."
        )
        _run(demo_run, db_path, seconds)
    finally:
        click.echo("stopping: kiosks, dashboard, hub, broker ...")
        demo_run.stop()
        click.echo(f"stopped. {_status_line(db_path)}")


def push_pending_config(db_path: Path, url: str, mqtt_version: str, login: Login | None) -> str:
    """Publish the kiosk settings waiting in the hub database (the seeded Persian labels), retained.

    With the dashboard's user, whose ACL may write config: with the hub's, the
    broker would give this connection the hub's client id and close the hub's.
    """
    from hub.config_push import push, targets
    from hub.db import open_db
    from hub.provisioning import ProvisionError
    from otklik.mqtt import parse_broker_url

    password = login.password_file.read_text().strip() if login else None
    broker = parse_broker_url(url, username=login.username if login else None, password=password,
                              mqtt_version=mqtt_version)  # fmt: skip
    db = open_db(db_path)
    try:
        done = push(broker, db, targets(db, pending_only=True))
    except ProvisionError as err:
        return f"not pushed: {err}"
    finally:
        db.close()
    return f"{len(done)} kiosk settings pushed" if done else "kiosk settings up to date"


def seed_into(db_path: Path, *, days: int, seed: int, now: datetime | None = None, why: str = "") -> demo_seed.Summary:
    """Seed a new hub database; written beside it and renamed when complete, so Ctrl-C leaves no half history."""
    from hub.db import open_db

    partial = db_path.with_name(db_path.name + ".seeding")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    click.echo(f"seeding {days} days of history into {db_path}{why} ...")
    started = time.monotonic()
    db = open_db(partial)
    try:
        summary = demo_seed.seed(db, days=days, seed=seed, now=now, progress=lambda line: click.echo(f"  {line}"))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    os.replace(partial, db_path)
    Path(f"{partial}-wal").unlink(missing_ok=True)
    Path(f"{partial}-shm").unlink(missing_ok=True)
    click.echo(
        f"  seeded in {time.monotonic() - started:.1f} s: {summary.stored:,} messages stored, "
        f"{summary.alerts_open} alerts open, {summary.alerts_resolved} resolved"
    )
    return summary


def write_kiosk_config(data: Path, plan: demo_seed.KioskPlan, url: str, mqtt_version: str, login: Login | None) -> Path:
    """The simulated kiosk's TOML, as `otklik provision kiosk` would give it; the password stays in its own file."""
    import tomli_w

    folder = data / "kiosks" / f"{plan.branch}-{plan.kiosk}"
    folder.mkdir(parents=True, exist_ok=True)
    broker: dict[str, Any] = {"url": url, "mqtt_version": mqtt_version}
    if login:
        broker.update(username=login.username, password_file=str(login.password_file))
    # Simulated shoppers are independent arrivals, not one person pressing
    # again: a short cooldown keeps the demo's figures about people while
    # still showing a few flagged repeats.
    kiosk: dict[str, Any] = {"branch": plan.branch, "id": plan.kiosk, "data_dir": str(folder), "cooldown_s": 1.0}
    if plan.employee:
        kiosk["employee"] = plan.employee
    path = folder / "kiosk.toml"
    path.write_text(tomli_w.dumps({"broker": broker, "kiosk": kiosk}))
    return path


def continue_seq(db_path: Path, plan: demo_seed.KioskPlan, config_path: Path) -> None:
    """A new outbox for a seeded kiosk starts its counter where the kiosk's history ends.

    A real kiosk's seq survives restarts; one starting again at 1 would look
    to the fleet page like a kiosk that lost its outbox.
    """
    from kiosk.config import load_config
    from kiosk.outbox import Outbox

    outbox = load_config(config_path).outbox_path
    if outbox.exists():
        return
    with sqlite3.connect(db_path) as hub_db:
        row = hub_db.execute("SELECT seq_max FROM kiosks WHERE branch = ? AND kiosk = ?", [plan.branch, plan.kiosk])
        found = row.fetchone()
    Outbox(outbox).close()
    if found and found[0]:
        with sqlite3.connect(outbox) as conn:
            conn.execute("UPDATE counters SET value = ? WHERE name IN ('seq', 'last_seq_sent')", [found[0]])


@demo.command("seed")
@db_option
@click.option("--days", type=click.IntRange(1, 730), default=90, show_default=True, help="Days of history.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True, help="Random seed.")
@click.option("--now", "now_text", help="End of the history, UTC (2026-12-01T15:00:00Z); default: now.")
def seed_command(db_path: Path, days: int, seed_value: int, now_text: str | None) -> None:
    """Write the demo chain's history into a new hub database, through the hub's own ingest.

    Five branches in five time zones, 14 kiosks and desk pads, a roster with
    shifts, camera windows, a bad week, misuse and an unplugged kiosk; then the
    alert rules run over it. The same --seed and --now give the same tables.

    \b
    Example:
        otklik demo seed --db /tmp/chain.db --days 90 --seed 1
        otklik demo seed --db /tmp/bench.db --days 30 --seed 2 --now 2026-12-01T15:00:00Z
    """
    if db_path.exists():
        raise OtklikError(f"{db_path} already exists", field="--db", hint="seed a new file")
    now = None
    if now_text:
        try:
            now = times.parse_ts("--now", now_text)
        except times.TimestampError as err:
            err.field = "--now"
            raise
    seed_into(db_path, days=days, seed=seed_value, now=now)


def _run(demo_run: Demo, db_path: Path, seconds: float | None) -> None:
    stop = {"now": False}

    def request_stop(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started = time.monotonic()
    next_status = started + 5
    while not stop["now"]:
        if seconds is not None and time.monotonic() - started >= seconds:
            return
        demo_run.check_children()
        if time.monotonic() >= next_status:
            click.echo(f"  {time.strftime('%H:%M:%S')}  {_status_line(db_path)}")
            next_status = time.monotonic() + 10
        time.sleep(0.2)


def _start_dashboard(demo_run: Demo, db_path: Path, port: int | None) -> str:
    """Start the dashboard when its package is installed; returns the lines to print."""
    if importlib.util.find_spec("dashboard.cli") is None:
        return ""
    port = port or (5000 if port_is_free(5000) else free_port())
    password_file = demo_run.data / "admin-password.txt"
    if not password_file.exists():
        # First run in this data folder: make the admin account once, with a
        # random password kept beside the data (never a well-known default).
        password = secrets.token_urlsafe(12)
        subprocess.run(
            [sys.executable, "-m", "otklik", "users", "add", "admin", "--role", "admin", "--db", str(db_path),
             "--password-stdin"],
            input=(password + "\n").encode(), check=True, capture_output=True,
        )  # fmt: skip
        write_private(password_file, password + "\n")
    demo_run.spawn("dashboard", "dashboard", "--db", str(db_path), "--host", "127.0.0.1", "--port", str(port))
    return f"  dashboard  http://127.0.0.1:{port}/  (user admin, password in {password_file})\n"


COMMANDS: list[click.Command] = [demo]
