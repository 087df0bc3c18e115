"""MicroPython's extra ``time`` functions, added to CPython's ``time`` module.

The firmware does ``import time`` and calls ``time.ticks_ms()`` as on the
device. Ticks wrap at 2**30 ms like rp2 and start 5 s before the wrap, so code
that subtracts ticks instead of using ``ticks_diff`` breaks within a test.
"""

import time as _time

PERIOD = 1 << 30
_MASK = PERIOD - 1
_HALF = PERIOD >> 1
_offset = 0


def ticks_ms():
    return (int(_time.monotonic() * 1000) + _offset) & _MASK


def ticks_diff(ticks1, ticks2):
    return ((ticks1 - ticks2 + _HALF) & _MASK) - _HALF


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def sleep_ms(ms):
    _time.sleep(max(0, ms) / 1000)


def install(wrap_in_ms=5000):
    """Patch ``time`` and start ticks ``wrap_in_ms`` before they wrap."""
    global _offset
    _offset = (PERIOD - wrap_in_ms - int(_time.monotonic() * 1000)) % PERIOD
    _time.ticks_ms = ticks_ms
    _time.ticks_diff = ticks_diff
    _time.ticks_add = ticks_add
    _time.sleep_ms = sleep_ms
