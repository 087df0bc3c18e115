"""Running a long-lived service in the foreground until Ctrl-C or SIGTERM (systemd's stop)."""

from __future__ import annotations

import signal
import threading


def wait_for_stop_signal(until: threading.Event | None = None) -> None:
    """Return on SIGINT or SIGTERM, or (within half a second) once ``until`` is set: a fault the service reports."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if until is not None and until.is_set():
                return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
