"""`otklik hub` in its own process, as systemd runs it, for tests that SIGKILL it or watch it exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent


class HubProcess:
    """One hub process at a time; each start logs to its own file so a test waits on that run's lines.

    ``prefix`` runs the hub under another program (``setpriv`` with fewer
    privileges, ``prlimit``); the hub itself is the real command line.
    """

    def __init__(
        self,
        broker: Mosquitto,
        db_path: Path | str,
        *,
        client_id: str = "hub-test",
        prefix: Sequence[str] = (),
        args: Sequence[str] = (),
        log_dir: Path | None = None,
    ) -> None:
        """``db_path``: a SQLite file or a PostgreSQL URL; ``args``: more ``otklik hub`` options (--share-group)."""
        self.broker = broker
        self.db_path = db_path
        self.client_id = client_id
        self.prefix = list(prefix)
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        # Several hubs log side by side, each under its client id.
        self.log_dir = log_dir or Path(db_path).parent
        self._log_name = "hub" if log_dir is None else client_id
        self.log_path = self.log_dir / f"{self._log_name}-0.log"

    def start(self) -> HubProcess:
        assert self.proc is None or self.proc.poll() is not None, "the previous hub is still running"
        self.runs += 1
        self.log_path = self.log_dir / f"{self._log_name}-{self.runs}.log"
        command = [*self.prefix, sys.executable, "-m", "otklik", "hub", "--broker", self.broker.url,
                   "--db", str(self.db_path), "--client-id", self.client_id, *self.args]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, count: int = 1, timeout: float = 20) -> str:
        """Wait until ``text`` appears ``count`` times in this run's log; fail at once if the hub exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if log.count(text) >= count:
                return log
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"hub exited ({self.proc.returncode}) before logging {text!r}:\n{log}")
            time.sleep(0.05)
        raise AssertionError(f"hub did not log {text!r} {count}× within {timeout} s:\n{self.log()}")

    def wait_subscribed(self, *, count: int = 1, timeout: float = 20) -> None:
        self.wait_for_log("hub subscribed", count=count, timeout=timeout)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(30)
