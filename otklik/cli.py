"""The ``otklik`` command: one click group, each area of the product adds its subcommands.

Each module listed in COMMAND_MODULES exposes ``COMMANDS``, a list of click
commands; this file only gathers them, so the areas stay in their own packages.
"""

from __future__ import annotations

import importlib
import logging

import click

from otklik import __version__
from otklik.command import group

COMMAND_MODULES = [
    "hub.cli",
    "hub.analytics_cli",
    "kiosk.cli",
    "otklik.demo",
    "hub.provisioning.cli",
    "kiosk.camera.cli",
    "dashboard.cli",
]


@group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="otklik")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Otklik: feedback kiosks, the hub that stores their presses, and the tools around them.

    \b
    Example:
        otklik demo            # the whole system on this machine
        otklik report --db data/hub.db
    """
    level = logging.INFO - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(name)s %(levelname)s %(message)s")


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="otklik")
