"""Static check: firmware/ uses only what the Pico W's MicroPython has.

mypy runs with the `micropython-rp2-rpi-pico-w-stubs` package as its whole
world: MicroPython's reduced stdlib as the typeshed, the board's modules
(machine, network, ntptime, ...) on MYPYPATH, no site-packages. A CPython-only
import (``subprocess``, ``pathlib``, ``typing``) or call (``time.monotonic``)
then fails the build. umqtt.simple is checked against its real source.
"""

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import firmware_stubs

STUBS_DIST = "micropython-rp2-rpi-pico-w-stubs"
STDLIB_DIST = "micropython-stdlib-stubs"


def _installed(dist: str, tmp: Path) -> Path:
    """Copy a stub distribution's files to their own folder, so mypy sees nothing else of site-packages."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{dist} is not installed: pip install -e '.[test]' (it is in the test extra)")
    out = tmp / dist
    for f in d.files or []:
        if ".dist-info" in str(f) or not str(f).endswith((".pyi", "VERSIONS")):
            continue
        target = out / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(d.locate_file(f), target)
    return out


@pytest.fixture(scope="module")
def stub_paths(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mpy-stubs")
    board = _installed(STUBS_DIST, tmp)
    stdlib = _installed(STDLIB_DIST, tmp)
    # umqtt.simple is installed on the pad with mip; check calls against the real module.
    umqtt = tmp / "umqtt-src"
    shutil.copytree(firmware_stubs.STUBS / "umqtt", umqtt / "umqtt")
    return board, stdlib, umqtt


def _config(folder: Path) -> Path:
    # Report the firmware's errors only: the stubs and umqtt's source have their own untidiness.
    cfg = folder / "mypy.ini"
    cfg.write_text("[mypy]\nfollow_imports = silent\nfollow_imports_for_stubs = True\n")
    return cfg


def mypy(firmware: Path, paths) -> subprocess.CompletedProcess:
    board, stdlib, umqtt = paths
    cmd = [
        sys.executable, "-m", "mypy", "--no-site-packages", "--custom-typeshed-dir", str(stdlib),
        "--python-version", "3.11", "--no-incremental", "--cache-dir", "/dev/null",
        "--check-untyped-defs", "--explicit-package-bases",
        "--disable-error-code", "import-untyped",
        "--config-file", str(_config(board.parent)),
        str(firmware / "main.py"), str(firmware / "otpad"),
    ]  # fmt: skip
    # _mpy_shed (the stdlib stubs' private helpers) sits beside stdlib/, hence {stdlib} on the path too.
    env = {"MYPYPATH": f"{board}:{stdlib}:{umqtt}:{firmware}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=firmware, timeout=240)


def test_firmware_type_checks_against_the_pico_w_stubs(stub_paths):
    result = mypy(firmware_stubs.FIRMWARE, stub_paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_cpython_only_import_fails_the_check(stub_paths, tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(firmware_stubs.FIRMWARE, firmware)
    target = firmware / "otpad" / "store.py"
    target.write_text("import subprocess\n" + target.read_text() + "\nsubprocess.run(['true'])\n")
    result = mypy(firmware, stub_paths)
    assert result.returncode != 0
    assert "subprocess" in result.stdout, result.stdout


def test_a_cpython_only_call_fails_the_check(stub_paths, tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(firmware_stubs.FIRMWARE, firmware)
    target = firmware / "otpad" / "clock.py"
    # CPython's time.monotonic() does not exist on MicroPython (ticks_ms does).
    target.write_text(target.read_text() + "\n\ndef started() -> float:\n    return time.monotonic()\n")
    result = mypy(firmware, stub_paths)
    assert result.returncode != 0
    assert "monotonic" in result.stdout, result.stdout
