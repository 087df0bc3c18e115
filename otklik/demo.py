"""``otklik demo``: the whole system on one machine, with no set-up.

A broker (Mosquitto when installed, else the embedded amqtt one), the hub on a
SQLite file in a data folder, simulated kiosks on mock pins pressing buttons,
and the dashboard when it is installed. Each part runs as its own process, the
way it runs in a store, so the demo exercises the real paths.
"""

from __future__ import annotations

import importlib.util
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click

from otklik.mosquitto import MosquittoProcess, free_port, mosquitto_binary, port_is_free

DEMO_BRANCHES = ["central", "north", "riverside", "airport", "harbour"]
DEMO_KIOSKS = ["exit-1", "till-1", "till-2", "exit-2"]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]


class Demo:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.logs = data / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.mosquitto: MosquittoProcess | None = None

    def spawn(self, name: str, *args: str) -> Child:
        log = (self.logs / f"{name}.log").open("ab")
        # A session of its own: Ctrl-C reaches the demo only, which then stops
        # the children in order (kiosks first, broker last) instead of all at once.
        proc = subprocess.Popen(
            [sys.executable, "-m", "otklik", *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def start_broker(self, choice: str, port: int) -> tuple[str, str]:
        """Returns the broker URL and the MQTT version its clients must speak."""
        if choice == "mosquitto" or (choice == "auto" and mosquitto_binary()):
            self.mosquitto = MosquittoProcess(self.data / "mosquitto", port=port).start()
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
    from hub.db import open_db
    from hub.report import kiosk_report

    if not db_path.exists():
        return "waiting for the first press"
    db = open_db(db_path, migrate=False)
    try:
        rows = kiosk_report(db)
    except Exception:  # the hub may still be creating its tables
        return "waiting for the hub"
    finally:
        db.close()
    responses = sum(r["responses"] for r in rows)
    flagged = sum(r["flagged"] for r in rows)
    weighted = sum((r["index"] or 0) * r["responses"] for r in rows)
    index = f"{weighted / responses:.1f}" if responses else "-"
    return f"{responses} responses stored from {len(rows)} kiosks, index {index}, {flagged} flagged"


@click.command()
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default="otklik-data", show_default=True,
    help="Folder for the hub database, outboxes, broker files and logs.",
)  # fmt: skip
@click.option("--branches", type=click.IntRange(1, len(DEMO_BRANCHES)), default=3, show_default=True)
@click.option("--kiosks", type=click.IntRange(1, len(DEMO_KIOSKS)), default=2, show_default=True, help="Per branch.")
@click.option("--rate", type=click.FloatRange(0.001, 50), default=0.1, show_default=True, help="Presses/s per kiosk.")
@click.option("--broker", "broker_choice", type=click.Choice(["auto", "mosquitto", "embedded"]), default="auto",
              show_default=True, help="auto: Mosquitto when installed, else the embedded broker.")  # fmt: skip
@click.option("--broker-port", type=int, default=None, help="Default: 1883 when free, else any free port.")
@click.option("--dashboard-port", type=int, default=None, help="Default: 5000 when free, else any free port.")
@click.option("--seconds", type=float, default=None, help="Stop by itself after this long (default: run until Ctrl-C).")
def demo(
    data: Path,
    branches: int,
    kiosks: int,
    rate: float,
    broker_choice: str,
    broker_port: int | None,
    dashboard_port: int | None,
    seconds: float | None,
) -> None:
    """Run the whole system on this machine: broker, hub, simulated kiosks and dashboard.

    Everything lives in the --data folder; run it again and it carries on
    where it stopped. Ctrl-C stops every part cleanly.

    \b
    Example:
        otklik demo
        otklik demo --branches 5 --kiosks 4 --rate 1 --data /tmp/otklik-demo
    """
    data = data.resolve()
    demo_run = Demo(data)
    port = broker_port or (1883 if port_is_free(1883) else free_port())
    db_path = data / "hub.db"
    try:
        url, mqtt_version = demo_run.start_broker(broker_choice, port)
        demo_run.spawn("hub", "hub", "--broker", url, "--db", str(db_path), "--mqtt-version", mqtt_version)
        dashboard_line = _start_dashboard(demo_run, db_path, dashboard_port)
        for b in DEMO_BRANCHES[:branches]:
            for k in DEMO_KIOSKS[:kiosks]:
                demo_run.spawn(
                    f"kiosk-{b}-{k}",
                    "kiosk", "--simulate", "--broker", url, "--branch", b, "--kiosk", k,
                    "--rate", str(rate), "--data-dir", str(data / "kiosks" / f"{b}-{k}"),
                    "--mqtt-version", mqtt_version,
                    # Simulated shoppers are independent arrivals, not one person
                    # pressing again: a short cooldown keeps the demo's figures
                    # about people while still showing a few flagged repeats.
                    "--cooldown", "1",
                )  # fmt: skip
        click.echo(
            f"Otklik demo running\n"
            f"  broker     {url} ({'Mosquitto' if demo_run.mosquitto else 'embedded amqtt'}, MQTT {mqtt_version})\n"
            f"  hub db     {db_path}\n"
            f"  kiosks     {branches * kiosks} simulated ({branches} branches x {kiosks}), {rate} presses/s each\n"
            f"{dashboard_line}"
            f"  logs       {demo_run.logs}\n"
            f"  report     otklik report --db {db_path}\n"
            f"Ctrl-C stops everything."
        )
        _run(demo_run, db_path, seconds)
    finally:
        click.echo("stopping: kiosks, dashboard, hub, broker ...")
        demo_run.stop()
        click.echo(f"stopped. {_status_line(db_path)}")


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
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    demo_run.spawn("dashboard", "dashboard", "--db", str(db_path), "--host", "127.0.0.1", "--port", str(port))
    return f"  dashboard  http://127.0.0.1:{port}/  (user admin, password in {password_file})\n"


COMMANDS: list[click.Command] = [demo]
