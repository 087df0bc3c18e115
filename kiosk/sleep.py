"""The kiosk sleeps outside its branch's opening hours (pushed as ``opening_hours`` + ``timezone``).

Asleep only dims the kiosk: the status LED stays dark (an "offline" light burning all night
in a closed store helps nobody), and presses are still stored, thanked and sent, because a
press is never dropped; the hub's misuse rule (``hub.misuse``, with its grace margin) flags
the ones outside the hours and leaves them out of scores.

While the wall clock is not synchronised (a Pi without network since boot) the kiosk cannot
know the local time, so it stays awake.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from otklik.settings import OpeningHours

log = logging.getLogger(__name__)

# Re-read the wall clock at least this often: NTP may set it at any moment after boot.
MAX_WAIT_S = 60.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SleepSchedule:
    """Calls ``on_change(asleep)`` whenever the kiosk should fall asleep or wake up."""

    def __init__(
        self,
        on_change: Callable[[bool], None],
        *,
        clock_synced: Callable[[], bool] = lambda: True,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._on_change = on_change
        self._clock_synced = clock_synced
        self._now = now or _utc_now
        self._hours: OpeningHours | None = None
        self._zone: tzinfo = UTC
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.asleep = False

    def set_hours(self, hours: OpeningHours | None, zone: tzinfo) -> None:
        """New opening hours (None: always open), read in ``zone``; takes effect at once."""
        with self._lock:
            self._hours, self._zone = hours, zone
        self.check()
        self._wake.set()

    def check(self) -> float:
        """Sleep or wake for the current time; returns the seconds until it must look again."""
        with self._lock:
            hours, zone = self._hours, self._zone
            if hours is None or not self._clock_synced():
                asleep, wait = False, MAX_WAIT_S
            else:
                local = self._now().astimezone(zone)
                asleep = not hours.is_open(local)
                wait = min(MAX_WAIT_S, hours.minutes_to_change(local) * 60 + 0.5)
            changed = asleep != self.asleep
            self.asleep = asleep
        if changed:
            log.info("outside opening hours: asleep" if asleep else "opening hours: awake")
            self._on_change(asleep)
        return wait

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kiosk-sleep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped:
            try:
                wait = self.check()
            except Exception:  # the buttons matter more than the LEDs: keep going
                log.exception("opening-hours check failed")
                wait = MAX_WAIT_S
            self._wake.wait(wait)
            self._wake.clear()
