"""MicroPython's machine.Pin / RTC for the tests.

A test drives an input like a button would (``Pin.board(5).drive(0)``); the
pin's IRQ handler runs right away when the edge matches its trigger, as a
soft IRQ would between two bytecodes of the main program.
"""

import time as _time
from datetime import UTC, datetime, timedelta


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    _board: dict = {}  # noqa: RUF012 - one board per test process, like the real one

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._out = 1 if value else 0
        self._driven = None
        self._handler = None
        self._trigger = 0
        Pin._board[id] = self

    def _level(self):
        if self.mode == Pin.OUT:
            return self._out
        if self._driven is not None:
            return self._driven
        return 1 if self.pull == Pin.PULL_UP else 0

    def value(self, x=None):
        if x is None:
            return self._level()
        self._out = 1 if x else 0
        return None

    __call__ = value

    def on(self):
        self._out = 1

    def off(self):
        self._out = 0

    def toggle(self):
        self._out ^= 1

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=False):
        self._handler = handler
        self._trigger = trigger

    # --- test side ----------------------------------------------------------

    @classmethod
    def board(cls, id):
        return cls._board[id]

    def drive(self, level):
        """The outside world sets the line to ``level``; fires the IRQ on a matching edge."""
        before = self._level()
        self._driven = 1 if level else 0
        after = self._level()
        if before == after or self._handler is None:
            return
        edge = Pin.IRQ_RISING if after else Pin.IRQ_FALLING
        if self._trigger & edge:
            self._handler(self)


# The Pico's RTC after power-up, until NTP sets it.
_POWER_UP = datetime(2021, 1, 1, tzinfo=UTC)
_rtc = {"base": _POWER_UP, "at": _time.monotonic()}


class RTC:
    def datetime(self, datetimetuple=None):
        if datetimetuple is not None:
            y, mo, d, _wd, h, mi, s, _sub = datetimetuple
            _rtc["base"] = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
            _rtc["at"] = _time.monotonic()
            return None
        now = _rtc["base"] + timedelta(seconds=_time.monotonic() - _rtc["at"])
        return (now.year, now.month, now.day, now.weekday(), now.hour, now.minute, now.second, 0)


def disable_irq():
    return 0


def enable_irq(state):
    return None


def unique_id():
    return b"\xe6\x61\x41\x04\x03\x25\x2b\x26"


def reset_board():
    """Test helper: forget pins, RTC back to its power-up date."""
    Pin._board.clear()
    _rtc["base"] = _POWER_UP
    _rtc["at"] = _time.monotonic()
