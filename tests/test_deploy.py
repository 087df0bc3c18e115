"""deploy/: the units pass systemd-analyze verify, the scripts pass shellcheck, the broker config is current.

The tools must be installed (CI: apt-get install -y shellcheck systemd); a missing
tool fails these tests rather than skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.provisioning.broker_files import render_mosquitto_conf
from otklik import protocol

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
    for args, message in (([], "--bootstrap - (token on stdin), --bootstrap-file FILE or --config DIR"),
                          (["--frobnicate"], "unknown option"),
                          (["--config", "/nonexistent"], "kiosk.toml not found"),
                          (["--bootstrap", "otk1:abc"], "never the token itself")):  # fmt: skip
        done = subprocess.run(["sh", str(script), *args], capture_output=True, text=True)
        assert done.returncode == 1 and message in done.stderr


def test_deployed_mosquitto_conf_is_what_provision_renders() -> None:
    """deploy/mosquitto/otklik.conf is what the broker tests run (with their own ports and paths)."""
    text = (DEPLOY / "mosquitto" / "otklik.conf").read_text()
    assert text == render_mosquitto_conf(), (
        "regenerate: otklik provision broker-config --out deploy/mosquitto/otklik.conf"
    )
    for line in ("allow_anonymous false", "persistence true", "max_queued_messages 1000000", "acl_file",
                 "password_file", "keyfile", "max_inflight_messages"):  # fmt: skip
        assert line in text
    assert "%c" not in text and "allow_anonymous true" not in text
    # use_username_as_clientid is a listener option: one right under every listener line,
    # none before the first (that would configure a default listener on 1883).
    lines = text.splitlines()
    listeners = [i for i, line in enumerate(lines) if line.startswith("listener ")]
    identity = [i for i, line in enumerate(lines) if line == "use_username_as_clientid true"]
    assert len(listeners) == 2 and identity == [i + 1 for i in listeners]
    assert f"max_packet_size {protocol.MAX_PACKET_BYTES}" in lines


def test_setup_script_never_puts_the_bootstrap_token_in_an_argv(tmp_path: Path) -> None:
    """Run setup-kiosk.sh with the system-changing commands stubbed out and the real `otklik provision
    unpack` behind a recorder that, while the token is in flight, reads every process's command line
    (what `ps` shows): the token must be in none of them, and the password must still arrive."""
    from hub.provisioning import bundle

    assert os.geteuid() == 0, "setup-kiosk.sh refuses to run without root; run this test as root"
    spec = bundle.KioskSpec(branch="b1", kiosk="k1", username="k-b1-k1", broker_url="mqtts://hub.local:8883")
    files = bundle.write_kiosk_bundle(tmp_path / "out", bundle.kiosk_config(spec), "pw-in-flight-42", None)
    line = files["bootstrap"].read_text()
    token = bundle.find_token(line)
    stubs, prefix, etc, log = tmp_path / "stubs", tmp_path / "opt", tmp_path / "etc", tmp_path / "log"
    for d in (stubs, prefix / "venv" / "bin", log):
        d.mkdir(parents=True)
    for name in ("apt-get", "useradd", "usermod", "install", "chown", "runuser", "systemctl", "python3"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}/stubbed\n')
    (prefix / "venv" / "bin" / "pip").write_text("#!/bin/sh\n")
    real = Path(sys.executable).with_name("otklik")
    (prefix / "venv" / "bin" / "otklik").write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {log}/argv\n'
        f"for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done > {log}/ps 2>/dev/null\n"
        f'exec {real} "$@"\n'
    )
    for f in [*stubs.iterdir(), *(prefix / "venv" / "bin").iterdir()]:
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "OTKLIK_PREFIX": str(prefix),
           "OTKLIK_ETC": str(etc)}  # fmt: skip
    # What the technician types: the bootstrap line, read by their shell (not `sh -c LINE`, an argv).
    command = line.replace("sudo sh setup-kiosk.sh", f"sh {DEPLOY / 'pi' / 'setup-kiosk.sh'}")
    done = subprocess.run(["sh"], input=command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (etc / "mqtt-password").read_text() == "pw-in-flight-42\n"
    ps = (log / "ps").read_text()
    assert "provision unpack" in ps, "the snapshot did not see the unpack process"
    assert token not in ps and token[5:40] not in ps
    assert token not in (log / "argv").read_text()
    assert token not in (log / "stubbed").read_text()
