"""A hub database made the way an operator makes one: `otklik db migrate`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from otklik.cli import cli


def migrate(path: str | Path) -> Path:
    result = CliRunner().invoke(cli, ["db", "migrate", "--db", str(path)])
    assert result.exit_code == 0, result.output
    return Path(path)
