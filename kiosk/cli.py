"""``otklik kiosk``: run a kiosk on the Pi, or a simulated one anywhere."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from gpiozero.exc import BadPinFactory

from kiosk.clock import ClockCheck, fixed, system_clock_synced
from kiosk.config import Config, ConfigError, ScreenConfig, config_from_dict, load_config, simple_config
from kiosk.outbox import OutboxError
from otklik.command import command
from otklik.errors import OtklikError

log = logging.getLogger(__name__)

CLOCKS: dict[str, ClockCheck] = {"system": system_clock_synced, "synced": fixed(True), "unsynced": fixed(False)}


@command("kiosk")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="Kiosk TOML config file."
)
@click.option("--simulate", is_flag=True, help="Run off the Pi: mock pins pressed by a thread.")
@click.option("--broker", "broker_url", help="Broker URL (simulate without --config), e.g. mqtt://localhost:1883.")
@click.option("--branch", help="Branch id (simulate without --config).")
@click.option("--kiosk", "kiosk_id", help="Kiosk id (simulate without --config).")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated presses per second (Poisson arrivals).",
)
@click.option("--count", type=click.IntRange(min=0), help="Stop pressing after N presses (default: never).")
@click.option("--exit-when-sent", is_flag=True, help="With --count: exit once the hub has confirmed all N presses.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the outbox lives (overrides the config; simulate default: ./data/kiosk-BRANCH-KIOSK).",
)
@click.option("--cooldown", type=click.FloatRange(min=0), help="Repeat-press cooldown in seconds (overrides config).")
@click.option("--heartbeat", type=click.FloatRange(min=1), help="Heartbeat interval in seconds (overrides config).")
@click.option("--mqtt-version", type=click.Choice(["5", "3.1.1"]), help="MQTT protocol version (overrides config).")
@click.option(
    "--clock",
    "clock_mode",
    type=click.Choice(list(CLOCKS)),
    help="Treat the wall clock as synced or unsynced (simulate default: synced; Pi: system).",
)
@click.option("--seed", type=int, help="Random seed for the simulated presses.")
@click.option(
    "--screen", is_flag=True, help="Serve the touch page on 127.0.0.1 (the config's [screen] section, or its defaults)."
)
def kiosk(
    config_path: Path | None,
    simulate: bool,
    broker_url: str | None,
    branch: str | None,
    kiosk_id: str | None,
    rate: float,
    count: int | None,
    exit_when_sent: bool,
    data_dir: Path | None,
    cooldown: float | None,
    heartbeat: float | None,
    mqtt_version: str | None,
    clock_mode: str | None,
    seed: int | None,
    screen: bool,
) -> None:
    """Run a feedback kiosk: buttons -> durable outbox -> MQTT (QoS 1).

    Every press is committed to the outbox before the thank-you LED blinks;
    the outbox is drained to the broker and a row is deleted only after the
    broker's acknowledgement. Runs until Ctrl-C or SIGTERM, then says
    "offline" and closes the outbox.

    With --simulate it runs off the Pi on gpiozero mock pins, pressed at
    --rate per second with a realistic (happy-skewed) score mix.

    \b
    Example:
        otklik kiosk --config /etc/otklik/kiosk.toml
        otklik kiosk --simulate --broker mqtt://localhost:1883 --branch b1 --kiosk k1 --rate 2
        otklik kiosk --simulate --config kiosk.toml --count 100 --cooldown 0 --exit-when-sent
        otklik kiosk --config /etc/otklik/kiosk.toml --screen
    """
    config = _build_config(
        config_path, simulate, broker_url, branch, kiosk_id, data_dir, cooldown, heartbeat, mqtt_version
    )
    if screen and config.screen is None:
        config = replace(config, screen=ScreenConfig())
    clock = CLOCKS[clock_mode or ("synced" if simulate else "system")]
    from kiosk.app import Kiosk  # after config checks: gpiozero's default pin factory probes hardware

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    factory: Any = None
    presser = None
    if simulate:
        from gpiozero.pins.mock import MockFactory

        from kiosk.simulate import presser_for

        factory = MockFactory()
    try:
        running = Kiosk(config, pin_factory=factory, clock_synced=clock)
    except OutboxError as err:
        err.hint = "is another `otklik kiosk` running on this data dir?"
        raise
    except OSError as err:
        # The config's checks cannot know the disk: a read-only mount, a file where a folder should be.
        if not _in_data_dir(err, config):
            raise
        raise OtklikError(
            f"bad kiosk config: kiosk.data_dir: cannot use {err.filename}: {err.strerror}", field="kiosk.data_dir"
        ) from None
    except BadPinFactory as err:
        raise OtklikError(f"no GPIO here ({err})", hint="off a Raspberry Pi use --simulate") from None
    click.echo(f"kiosk {config.kiosk.branch}/{config.kiosk.id}: broker {config.broker.broker()}")
    click.echo(f"outbox: {running.outbox.path} ({running.outbox.depth()} waiting)")
    if running.screen is not None:
        click.echo(f"touch page: {running.screen.url}")
    try:
        if simulate:
            presser = presser_for(config, factory, rate=rate, count=count, seed=seed).start()
            click.echo(f"simulating {rate:g} presses/s" + (f", {count} in all" if count is not None else ""))
        while not stop.wait(0.2):
            if exit_when_sent and presser is not None and presser.done.is_set() and running.outbox.depth() == 0:
                click.echo(f"all {presser.pressed} presses sent")
                break
    finally:
        if presser is not None:
            presser.stop()
        running.stop()
        click.echo("kiosk stopped; outbox closed")


def _build_config(
    config_path: Path | None,
    simulate: bool,
    broker_url: str | None,
    branch: str | None,
    kiosk_id: str | None,
    data_dir: Path | None,
    cooldown: float | None,
    heartbeat: float | None,
    mqtt_version: str | None,
) -> Config:
    try:
        if config_path is not None:
            if broker_url or branch or kiosk_id:
                raise click.UsageError("give either --config or --broker/--branch/--kiosk, not both")
            config = load_config(config_path)
            if data_dir or cooldown is not None or heartbeat is not None or mqtt_version:
                config = _override(config_path, data_dir, cooldown, heartbeat, mqtt_version)
            return config
        if not simulate:
            raise click.UsageError("--config is required (or use --simulate with --broker, --branch and --kiosk)")
        missing = [n for n, v in (("--broker", broker_url), ("--branch", branch), ("--kiosk", kiosk_id)) if not v]
        if missing:
            raise click.UsageError(f"--simulate without --config needs {', '.join(missing)}")
        assert broker_url and branch and kiosk_id
        return simple_config(
            broker_url=broker_url,
            branch=branch,
            kiosk=kiosk_id,
            data_dir=data_dir or Path("data") / f"kiosk-{branch}-{kiosk_id}",
            cooldown_s=5.0 if cooldown is None else cooldown,
            heartbeat_s=30.0 if heartbeat is None else heartbeat,
            mqtt_version=mqtt_version or "5",
        )
    except ConfigError as err:
        raise OtklikError(f"bad kiosk config: {err}", field=err.field) from None


def _in_data_dir(err: OSError, config: Config) -> bool:
    """Whether the failing path is the data dir, one of its parents (mkdir), or a file in it."""
    if not isinstance(err.filename, str):
        return False
    failed, data_dir = Path(err.filename), config.kiosk.data_dir
    return data_dir.is_relative_to(failed) or failed.is_relative_to(data_dir)


def _override(
    path: Path, data_dir: Path | None, cooldown: float | None, heartbeat: float | None, mqtt_version: str | None
) -> Config:
    # Re-check through the same parser so an override is validated like the file.
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    kiosk_table = data.setdefault("kiosk", {})
    if data_dir:
        kiosk_table["data_dir"] = str(data_dir.resolve())
    if cooldown is not None:
        kiosk_table["cooldown_s"] = cooldown
    if heartbeat is not None:
        kiosk_table["heartbeat_s"] = heartbeat
    if mqtt_version:
        data.setdefault("broker", {})["mqtt_version"] = mqtt_version
    return config_from_dict(data, base_dir=path.parent, source=str(path))


COMMANDS: list[click.Command] = [kiosk]
