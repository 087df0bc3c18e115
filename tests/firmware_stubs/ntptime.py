"""MicroPython's ntptime: ``settime()`` sets the RTC to UTC; raises OSError on timeout."""

import time as _time

import machine

host = "pool.ntp.org"
timeout = 1
# Tests switch this off to play a network without NTP.
reachable = True


def time():
    if not reachable:
        raise OSError(110, "ETIMEDOUT")
    return int(_time.time())


def settime():
    t = _time.gmtime(time())
    machine.RTC().datetime((t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, 0))
