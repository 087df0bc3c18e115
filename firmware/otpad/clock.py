"""Uptime that never wraps, and wall-clock time from the RTC once NTP has set it.

``time.ticks_ms`` wraps (every 2**30 ms, ~12 days, on rp2), so the pad keeps
its own uptime counter, advanced by ``ticks_diff`` on every loop turn. Until
``ntptime.settime()`` has succeeded the RTC holds a made-up date (2021-01-01
on a Pico after power-up): times from then are sent as ``clock: unsynced``.
After a sync the wall time of any earlier press in the same boot is known
(sync time minus the uptime between), so those go out as synced after all.
"""

import time

from otpad.timefmt import rtc_to_ms

# An RTC before this was not set by NTP, whatever the flag says.
EARLIEST_MS = 1704067200000  # 2024-01-01T00:00:00Z


class Clock:
    def __init__(self, rtc: object, ntptime: object = None) -> None:
        self.rtc = rtc
        self.ntptime = ntptime
        self._last = time.ticks_ms()
        self._uptime = 0
        self.synced = False
        self._anchor_wall = 0
        self._anchor_up = 0

    def uptime_ms(self) -> int:
        now = time.ticks_ms()
        self._uptime += time.ticks_diff(now, self._last)
        self._last = now
        return self._uptime

    def uptime_at(self, ticks: int) -> int:
        """The uptime of an earlier ``ticks_ms`` reading (e.g. one taken in an IRQ)."""
        up = self.uptime_ms()
        return up - max(0, time.ticks_diff(self._last, ticks))

    def rtc_ms(self) -> int:
        return rtc_to_ms(self.rtc.datetime())  # type: ignore[attr-defined]

    def sync(self) -> bool:
        """Set the RTC from NTP; False (and unchanged) when that fails."""
        if self.ntptime is None:
            return False
        try:
            self.ntptime.settime()  # type: ignore[attr-defined]
        except Exception as err:  # OSError on timeout; anything else must not stop the pad
            print("otpad: NTP failed:", err)
            return False
        wall = self.rtc_ms()
        if wall < EARLIEST_MS:
            return False
        self._anchor_wall = wall
        self._anchor_up = self.uptime_ms()
        self.synced = True
        return True

    def wall_at(self, uptime_ms: int) -> int | None:
        """Epoch ms of an uptime in this boot, or None while unsynced."""
        if not self.synced:
            return None
        return self._anchor_wall + (uptime_ms - self._anchor_up)

    def now_ms(self) -> int:
        """Best current epoch ms: synced time, else whatever the RTC says."""
        wall = self.wall_at(self.uptime_ms())
        return wall if wall is not None else self.rtc_ms()
