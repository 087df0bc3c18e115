"""Fetch MicroPython's ``umqtt.simple`` from its PyPI package into this folder (git-ignored).

The sdist of ``micropython-umqtt.simple`` has no setup.py, so pip cannot install
it; the tests still run the real module, taken from the registry at set-up
time (``./dev test`` calls this) and checked against pinned SHA-256 sums,
rather than a copy of third-party code kept in the repository.

    python -m tests.firmware_stubs.fetch_umqtt
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

PACKAGE, VERSION = "micropython-umqtt-simple", "1.3.4"
SDIST_SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
TARGET = Path(__file__).resolve().parent / "umqtt" / "simple.py"


def fetch() -> Path:
    from tests.firmware_stubs import UMQTT_SIMPLE_SHA256

    if TARGET.exists() and hashlib.sha256(TARGET.read_bytes()).hexdigest() == UMQTT_SIMPLE_SHA256:
        return TARGET
    index = urllib.request.Request(
        f"https://pypi.org/simple/{PACKAGE}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(index, timeout=60) as resp:
        files = json.load(resp)["files"]
    [sdist] = [f for f in files if f["filename"] == f"micropython-umqtt.simple-{VERSION}.tar.gz"]
    with urllib.request.urlopen(sdist["url"], timeout=60) as resp:
        data = resp.read()
    if hashlib.sha256(data).hexdigest() != SDIST_SHA256:
        raise SystemExit(f"{PACKAGE} {VERSION}: the downloaded sdist does not match the pinned SHA-256")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith("/umqtt/simple.py")]
        module = tar.extractfile(member).read()  # type: ignore[union-attr]
    if hashlib.sha256(module).hexdigest() != UMQTT_SIMPLE_SHA256:
        raise SystemExit(f"{PACKAGE} {VERSION}: umqtt/simple.py does not match the pinned SHA-256")
    TARGET.write_bytes(module)
    return TARGET


if __name__ == "__main__":
    print(f"umqtt.simple {VERSION} at {fetch()}", file=sys.stderr)
