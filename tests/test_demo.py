"""`otklik demo`, the first quick-start command: a chain with history, live presses on top, Ctrl-C stops it all."""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.db import open_db
from tests.broker import free_port, wait_until


def stored(db_path: Path) -> int:
    """Presses in the demo's hub database, read as a bystander: read-only, never switching its journal mode.

    (Opened with open_db, fifty times a second, the poll fought the demo's own ``otklik db migrate``
    for the new file's lock until the migration gave up: "database is locked", seen in CI.)
    """
    if not db_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # no events table yet, or the file is still being set up
    finally:
        conn.close()


def children_of(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()[1:] if line.split()[1] == str(pid)]


def start_demo(data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "otklik", "demo", "--data", str(data), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def stop_demo(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_fresh_demo_runs_everything_and_stops_cleanly_on_ctrl_c(tmp_path, broker):
    data = tmp_path / "demo"
    proc = start_demo(data, "--fresh", "--broker", broker, "--branches", "2", "--kiosks", "1", "--rate", "4")
    try:
        wait_until(lambda: stored(data / "hub.db") >= 10, timeout=60, interval=0.2,
                   message="demo presses stored by its hub")  # fmt: skip
        children = children_of(proc.pid)
        assert len(children) >= 3  # hub, kiosks (and the dashboard, the embedded broker)
    finally:
        output = stop_demo(proc)
    assert "Otklik demo running" in output and f"hub db     {data / 'hub.db'}" in output
    assert "seeding" not in output and "stopped." in output
    time.sleep(0.5)
    # Every part it started is gone (an orphan would have been re-parented, so check the pids).
    alive = [c for c in children if Path(f"/proc/{c.split()[0]}").exists()]
    assert alive == []
    logs = {p.name for p in (data / "logs").iterdir()}
    assert {"hub.log", "kiosk-central-exit-1.log", "kiosk-north-exit-1.log"} <= logs
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "admin-password.txt").stat().st_mode) == 0o600
    db = open_db(data / "hub.db")
    # --fresh: nothing but what the live kiosks pressed.
    assert db.execute("SELECT count(*) FROM employees").fetchone()[0] == 0
    assert {r[0] for r in db.execute("SELECT DISTINCT kiosk FROM events")} == {"exit-1"}
    if broker == "mosquitto":
        assert "client ids tied to usernames" in output
        users = {r[0] for r in db.execute("SELECT username FROM credentials")}
        assert {"otklik-hub", "otklik-dashboard", "k-central-exit-1", "k-north-exit-1"} <= users
        connected = re.findall(
            r"New client connected from \S+ as (\S+) .*u'([^']+)'", (data / "mosquitto" / "mosquitto.log").read_text()
        )
        assert connected and all(client_id == user for client_id, user in connected), connected
    db.close()


class Dashboard:
    """The demo's dashboard over HTTP, logged in as its admin with the password the demo wrote."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        html = self.opener.open(url + "/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert token, "no CSRF token on the login page"
        form = {"username": "admin", "password": password, "csrf_token": token.group(1)}
        self.opener.open(url + "/login", data=urllib.parse.urlencode(form).encode(), timeout=10)

    def get(self, path: str) -> Any:
        with self.opener.open(self.url + path, timeout=30) as answer:
            return json.loads(answer.read())


@pytest.fixture
def seeded_demo(tmp_path: Path) -> Iterator[tuple[Path, Dashboard, subprocess.Popen[str]]]:
    data = tmp_path / "demo"
    port = free_port()
    proc = start_demo(data, "--broker", "mosquitto", "--days", "14", "--branches", "2", "--kiosks", "1",
                      "--rate", "4", "--dashboard-port", str(port))  # fmt: skip
    try:
        # The history is renamed into place only when complete: from then on the hub runs.
        wait_until(lambda: (data / "hub.db").exists(), timeout=120, interval=0.2, message="the seeded history")
        seeded = stored(data / "hub.db")
        wait_until(lambda: stored(data / "hub.db") >= seeded + 5, timeout=60, interval=0.2,
                   message="live presses stored on top of the history")  # fmt: skip
        wait_until(lambda: (data / "admin-password.txt").exists(), timeout=30, message="the admin password")
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), timeout=30, interval=0.2, message="the dashboard")
        yield data, Dashboard(url, (data / "admin-password.txt").read_text().strip()), proc
    finally:
        if proc.poll() is None:
            stop_demo(proc)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/login", timeout=2).close()
        return True
    except OSError:
        return False


def test_seeded_demo_opens_on_a_chain_with_ranking_heat_map_response_rate_and_alerts(seeded_demo) -> None:
    _, dashboard, proc = seeded_demo
    me = dashboard.get("/api/v1/me")
    assert me["role"] == "admin", me
    ranking = dashboard.get("/api/v1/employees")["rows"]
    assert len(ranking) >= 10 and all(r["name"] for r in ranking), ranking[:3]
    heat = dashboard.get("/api/v1/branches/central/heatmap")["rows"]
    assert {c["dow"] for c in heat if c["responses"]} == set(range(7))
    overview = {r["branch"]: r for r in dashboard.get("/api/v1/overview")["branches"]}
    assert len(overview) == 5
    assert any(r["response_rate"] for r in overview.values()), overview
    assert overview["riverside"]["trend"] < -10  # the bad week
    open_alerts = dashboard.get("/api/v1/alerts")["rows"]
    assert any(a["state"] == "open" for a in open_alerts)
    assert ("kiosk_offline", "north", "till-1") in {(a["rule"], a["branch"], a["kiosk"]) for a in open_alerts}
    # The touch screens' answers fill the reasons and comments views (the bad week is mostly the queue).
    riverside = dashboard.get("/api/v1/reasons?branch=riverside")["reasons"]
    assert riverside and riverside[0]["reason"] == "queue", riverside[:2]
    assert dashboard.get("/api/v1/comments")["total"] > 20
    # Tehran's Persian labels and the touch screens' follow-up question went to those kiosks, retained,
    # with the dashboard's MQTT user: Tehran's two kiosks and the other four branches' exits.
    assert "config     6 kiosk settings pushed" in stop_demo(proc)
