"""Static check: ruff's lint rules and its formatting hold over the whole repository.

Both read pyproject.toml's [tool.ruff] (rules, line length, and the excludes for
files fetched or built at set-up time), as ``ruff check`` and ``ruff format`` do
on a developer's machine.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ruff", *args, "--no-cache", "."]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_ruff_check_passes() -> None:
    result = ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
