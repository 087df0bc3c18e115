"""Debounce and the cooldown rule as plain ticks arithmetic (no hardware), shared by the pad's IRQs.

Debounce works on the edges the pin IRQ reports with their ticks, so a press
is recognised even while the main loop is blocked in a publish.

Cooldown follows the kiosk's rule: a press within ``cooldown_ms`` of the
previous press on this pad (any button) is still a press, sent with the flag
``cooldown`` so the hub keeps it but leaves it out of scores.
"""

import time

COOLDOWN = "cooldown"


class Debouncer:
    """Same rule as the kiosk: an edge within ``debounce_ms`` of the previous edge
    (pressed or released) on the same button is contact bounce, not a press."""

    def __init__(self, debounce_ms: int) -> None:
        self.debounce_ms = debounce_ms
        self._last_edge = None
        self.bounces = 0

    def edge(self, is_pressed: bool, now) -> bool:  # now: a time.ticks_ms() value
        """An edge seen at ticks ``now``; True when it is a new press."""
        last = self._last_edge
        self._last_edge = now
        if last is not None and time.ticks_diff(now, last) < self.debounce_ms:
            self.bounces += 1
            return False
        return is_pressed


class Cooldown:
    def __init__(self, cooldown_ms: int) -> None:
        self.cooldown_ms = cooldown_ms
        self._last: int | None = None

    def flags(self, uptime_ms: int) -> list[str]:
        """Flags for a press at ``uptime_ms`` (a non-wrapping ms counter), and remember it."""
        within = self._last is not None and uptime_ms - self._last < self.cooldown_ms
        self._last = uptime_ms
        return [COOLDOWN] if within else []
