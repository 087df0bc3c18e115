"""`otklik demo`, the first quick-start command: everything starts, presses get stored, Ctrl-C stops it all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.db import open_db
from tests.broker import wait_until


def stored(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    db = open_db(db_path, migrate=False)
    try:
        return db.execute("SELECT count(*) FROM events").fetchone()[0] if db["events"].exists() else 0
    finally:
        db.close()


def children_of(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()[1:] if line.split()[1] == str(pid)]


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_runs_everything_and_stops_cleanly_on_ctrl_c(tmp_path, broker):
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "otklik", "demo", "--data", str(data), "--broker", broker,
         "--branches", "2", "--kiosks", "1", "--rate", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: stored(data / "hub.db") >= 10, timeout=60, message="demo presses stored by its hub")
        children = children_of(proc.pid)
        assert len(children) >= 3  # hub, kiosks (and the dashboard, the embedded broker)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Otklik demo running" in output and f"hub db     {data / 'hub.db'}" in output
    assert "stopped." in output
    time.sleep(0.5)
    # Every part it started is gone (an orphan would have been re-parented, so check the pids).
    alive = [c for c in children if Path(f"/proc/{c.split()[0]}").exists()]
    assert alive == []
    logs = {p.name for p in (data / "logs").iterdir()}
    assert {"hub.log", "kiosk-central-exit-1.log", "kiosk-north-exit-1.log"} <= logs
    assert (data / "admin-password.txt").stat().st_mode & 0o077 == 0
