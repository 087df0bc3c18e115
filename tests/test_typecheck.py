"""Static check: mypy passes over the app's four packages.

The configuration is pyproject.toml's [tool.mypy], the same one a developer's
plain ``mypy`` reads, so the suite and the editor never disagree. mypy found the
crash that stopped ``otklik alerts watch`` (a missing keyword argument) before
any test did; this keeps that class of bug out.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_hub_kiosk_dashboard_and_otklik_type_check() -> None:
    # Packages named here as well as in [tool.mypy] files, so emptying that list cannot pass silently.
    cmd = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "hub", "kiosk", "dashboard", "otklik"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
