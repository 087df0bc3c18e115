"""deploy/: the units pass systemd-analyze verify, the scripts pass shellcheck, the broker config is current.

The tools must be installed (CI: apt-get install -y shellcheck systemd); a missing
tool fails these tests rather than skipping them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hub.provisioning.broker_files import render_mosquitto_conf

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: apt-get install -y {'systemd' if 'systemd' in name else name}"
    return found


def verify_units(units: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify, with /opt/otklik/venv/bin pointed at stub executables.

    verify insists that ExecStart's program exists; everything else in the unit
    is checked as written. It exits 0 on unknown keys and bad values (it only
    warns), so any output counts as a failure.
    """
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("otklik", "gunicorn"):
        (stubs / name).write_text("#!/bin/sh\n")
        (stubs / name).chmod(0o755)
    copies = []
    for unit in units:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/otklik/venv/bin/", f"{stubs}/"))
        copies.append(str(copy))
    return subprocess.run([tool("systemd-analyze"), "verify", *copies], capture_output=True, text=True, timeout=60)


def test_units_exist_with_the_hardening_we_promise() -> None:
    names = {u.name for u in UNITS}
    assert {"otklik-hub.service", "otklik-dashboard.service", "otklik-kiosk.service"} <= names
    for unit in UNITS:
        text = unit.read_text()
        for line in ("User=otklik", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "ReadWritePaths=/var/lib/otklik"):  # fmt: skip
            assert line in text, f"{unit.name} lacks {line}"
        # The hub exits 1 when it cannot store; it must come back whatever ended it.
        restart = "Restart=always" if unit.name == "otklik-hub.service" else "Restart=on-failure"
        assert restart in text, f"{unit.name} lacks {restart}"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    done = verify_units(UNITS, tmp_path)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    broken = tmp_path / "src" / "broken.service"
    broken.parent.mkdir()
    broken.write_text("[Service]\nExecStart=/opt/otklik/venv/bin/otklik hub\nRestart=sometimes\n")
    done = verify_units([broken], tmp_path)
    assert "restart" in (done.stdout + done.stderr).lower()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_shellcheck(script: Path) -> None:
    done = subprocess.run([tool("shellcheck"), "--shell=sh", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_setup_script_checks_its_arguments_before_touching_the_system() -> None:
    script = DEPLOY / "pi" / "setup-kiosk.sh"
    assert SCRIPTS, "no scripts found"
    helped = subprocess.run(["sh", str(script), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--bootstrap" in helped.stdout
    for args, message in (([], "--bootstrap TOKEN or --config DIR"), (["--frobnicate"], "unknown option"),
                          (["--config", "/nonexistent"], "kiosk.toml not found")):  # fmt: skip
        done = subprocess.run(["sh", str(script), *args], capture_output=True, text=True)
        assert done.returncode == 1 and message in done.stderr


def test_deployed_mosquitto_conf_is_what_provision_renders() -> None:
    """deploy/mosquitto/otklik.conf is what the broker tests run (with their own ports and paths)."""
    text = (DEPLOY / "mosquitto" / "otklik.conf").read_text()
    assert text == render_mosquitto_conf(), (
        "regenerate: otklik provision broker-config --out deploy/mosquitto/otklik.conf"
    )
    for line in ("allow_anonymous false", "persistence true", "max_queued_messages 1000000", "acl_file",
                 "password_file", "keyfile", "message_size_limit", "max_inflight_messages"):  # fmt: skip
        assert line in text
    assert "%c" not in text and "allow_anonymous true" not in text
