"""The dashboard in a real gunicorn (the production settings, dashboard/gunicorn_conf.py) on a free port."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    url: str
    port: int
    output: str = ""  # what gunicorn wrote (its access log too), once the block has ended
    process: subprocess.Popen | None = None  # to kill it from inside the block, as a crash would
    log_fd: int = -1

    def written(self) -> str:
        """What gunicorn has written so far, from inside the block."""
        size = os.fstat(self.log_fd).st_size
        return os.pread(self.log_fd, size, 0).decode(errors="replace")


@contextmanager
def gunicorn(hub_db: Path, auth_db: str, threads: int = 16, port: int = 0, **env: str) -> Iterator[Served]:
    """Serve the app until the block ends (on ``port``, or a free one). ``env`` adds to the server's environment."""
    port = port or free_port()
    served = Served(f"http://127.0.0.1:{port}", port)
    environ = {**os.environ, "OTKLIK_DB": str(hub_db), "OTKLIK_AUTH_DB": auth_db, "SECRET_KEY": "test",
               "OTKLIK_DASHBOARD_BIND": f"127.0.0.1:{port}", "OTKLIK_DASHBOARD_WORKERS": "1",
               "OTKLIK_DASHBOARD_THREADS": str(threads), **env}  # fmt: skip
    environ.pop("OTKLIK_SSE_MAX_STREAMS", None)
    command = [sys.executable, "-m", "gunicorn", "-c", "python:dashboard.gunicorn_conf"]
    # A file, not a pipe: nobody reads a pipe while the block runs, and a full one (64 KB of access
    # log) stops gunicorn mid-request.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
        served.process = server
        served.log_fd = log.fileno()
        try:
            _wait_until_up(server, port)
            yield served
        finally:
            # The whole group at once: any orderly shutdown waits until an open
            # stream's thread next writes and finds its client gone (up to 5 s).
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
            log.seek(0)
            served.output = log.read().decode(errors="replace")


def _wait_until_up(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login")
            assert conn.getresponse().status == 200
            return
        except ConnectionRefusedError:
            assert server.poll() is None, "gunicorn stopped"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
