"""Running a long-lived service in the foreground until Ctrl-C or SIGTERM (systemd's stop)."""

from __future__ import annotations

import signal
import threading


def wait_for_stop_signal() -> None:
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
