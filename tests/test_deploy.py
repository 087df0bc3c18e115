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


# --- the touchscreen: Chromium in kiosk mode (deploy/pi) ------------------------------------

SCREEN_UNIT = DEPLOY / "pi" / "otklik-screen.service"
SCREEN_DROPIN = DEPLOY / "pi" / "otklik-kiosk-screen.conf"


def test_screen_unit_passes_verify_and_restarts_the_browser(tmp_path: Path) -> None:
    # verify wants ExecStart's program to exist: cage is a stub here, as otklik is for the others.
    stub = tmp_path / "cage"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    unit = tmp_path / "src" / SCREEN_UNIT.name
    unit.parent.mkdir()
    unit.write_text(SCREEN_UNIT.read_text().replace("/usr/bin/cage", str(stub)))
    done = subprocess.run([tool("systemd-analyze"), "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify resolves User= against this machine: the Pi's otklik-screen user is not here.
    lines = [
        line for line in (done.stdout + done.stderr).splitlines() if "otklik-screen" not in line or "User" not in line
    ]
    assert not [line for line in lines if line.strip()], done.stdout + done.stderr
    text = SCREEN_UNIT.read_text()
    for line in ("Restart=always", "User=otklik-screen", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "EnvironmentFile=/etc/otklik/screen.env", "PAMName=login", "WantedBy=multi-user.target"):  # fmt: skip
        assert line in text, f"{SCREEN_UNIT.name} lacks {line}"
    # Full-screen kiosk mode on the page the env file names; never the kiosk's own user (its password).
    exec_start = " ".join(line.strip().rstrip("\\") for line in text.split("ExecStart=", 1)[1].splitlines()[:4])
    assert "--kiosk" in exec_start and "${OTKLIK_SCREEN_URL}" in exec_start and "${OTKLIK_BROWSER}" in exec_start
    assert "User=otklik\n" not in text


def test_kiosk_dropin_runs_the_kiosk_with_its_screen(tmp_path: Path) -> None:
    base = (DEPLOY / "systemd" / "otklik-kiosk.service").read_text()
    dropin = SCREEN_DROPIN.read_text()
    starts = [line for line in dropin.splitlines() if line.startswith("ExecStart=")]
    # An empty ExecStart= first: a drop-in adding a second ExecStart to a simple service is refused.
    assert starts[0] == "ExecStart=" and starts[1].endswith(" --screen")
    kiosk_start = next(line for line in base.splitlines() if line.startswith("ExecStart="))
    assert starts[1] == kiosk_start + " --screen"
    merged = tmp_path / "otklik-kiosk.service"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "otklik").write_text("#!/bin/sh\n")
    (stubs / "otklik").chmod(0o755)
    merged.write_text((base + "\n" + dropin).replace("/opt/otklik/venv/bin/", f"{stubs}/"))
    done = subprocess.run([tool("systemd-analyze"), "verify", str(merged)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _run_setup(tmp_path: Path, config_text: str) -> tuple[subprocess.CompletedProcess[str], Path, str]:
    """setup-kiosk.sh --config with the system-changing commands stubbed and `runuser` running the real
    config check, so the screen URL is the one kiosk.config reads from the file."""
    assert os.geteuid() == 0, "setup-kiosk.sh refuses to run without root; run this test as root"
    bundle_dir, stubs, prefix, etc, log = (tmp_path / d for d in ("bundle", "stubs", "opt", "etc", "log"))
    for d in (bundle_dir, stubs, prefix / "venv" / "bin", etc, log):
        d.mkdir(parents=True)
    (bundle_dir / "kiosk.toml").write_text(config_text)
    (bundle_dir / "mqtt-password").write_text("pw\n")
    for name in ("apt-get", "useradd", "usermod", "install", "chown", "chmod", "systemctl", "python3", "chromium"):
        (stubs / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}/stubbed\n')
    # runuser -u otklik -- CMD...: run CMD as we are (the check is the point, not the user switch).
    (stubs / "runuser").write_text('#!/bin/sh\nshift 3\nexec "$@"\n')
    (prefix / "venv" / "bin" / "pip").write_text("#!/bin/sh\n")
    (prefix / "venv" / "bin" / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    for f in [*stubs.iterdir(), *(prefix / "venv" / "bin").iterdir()]:
        f.chmod(0o755)
    # `install` is stubbed: the bundle's files are put in place by hand, as it would.
    for name in ("kiosk.toml", "mqtt-password"):
        (etc / name).write_text((bundle_dir / name).read_text())
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "OTKLIK_PREFIX": str(prefix),
           "OTKLIK_ETC": str(etc)}  # fmt: skip
    done = subprocess.run(["sh", str(DEPLOY / "pi" / "setup-kiosk.sh"), "--config", str(bundle_dir)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    stubbed = (log / "stubbed").read_text() if (log / "stubbed").exists() else ""
    return done, etc, stubbed


KIOSK_TOML = """
[broker]
url = "mqtt://127.0.0.1:1883"
username = "k-b1-k1"
password_file = "mqtt-password"

[kiosk]
branch = "b1"
id = "k1"
"""


def test_setup_installs_chromium_kiosk_mode_on_the_configured_screen_page(tmp_path: Path) -> None:
    from kiosk.config import load_config

    done, etc, stubbed = _run_setup(tmp_path, KIOSK_TOML + '\n[screen]\nport = 8899\nlanguage = "fa"\n')
    assert done.returncode == 0, done.stdout + done.stderr
    url = load_config(etc / "kiosk.toml").screen.url  # type: ignore[union-attr]
    assert url == "http://127.0.0.1:8899/"
    env = dict(line.split("=", 1) for line in (etc / "screen.env").read_text().splitlines())
    assert env["OTKLIK_SCREEN_URL"] == url and env["OTKLIK_BROWSER"].endswith("/chromium")
    assert "apt-get install -y -q --no-install-recommends cage chromium" in stubbed
    assert f"install -m 0644 {DEPLOY}/pi/otklik-screen.service /etc/systemd/system/otklik-screen.service" in stubbed
    assert "otklik-kiosk.service.d/screen.conf" in stubbed
    assert "systemctl enable otklik-screen.service" in stubbed and "systemctl restart otklik-screen.service" in stubbed


def test_setup_without_a_screen_section_installs_no_browser(tmp_path: Path) -> None:
    done, etc, stubbed = _run_setup(tmp_path, KIOSK_TOML)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chromium" not in stubbed and "otklik-screen" not in stubbed
    assert not (etc / "screen.env").exists()
    assert "systemctl restart otklik-kiosk.service" in stubbed
