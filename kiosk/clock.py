"""Is the wall clock right yet?

A Raspberry Pi has no battery-backed clock: it boots at the last saved time (or
1970) and only learns the real time once NTP syncs, which may be hours later in
a shop without network. A press made before that must not be stored with a
stale time, so every press records whether the clock was synchronised.

The kernel knows: ``adjtimex`` (read-only with modes=0, no privileges needed)
returns TIME_ERROR and sets STA_UNSYNC until an NTP daemon (systemd-timesyncd,
chrony) has disciplined the clock. A year before 2025 is never right either.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

ClockCheck = Callable[[], bool]

TIME_ERROR = 5
STA_UNSYNC = 0x0040
# No honest clock reads earlier than this: the software did not exist before.
PLAUSIBLE_SINCE = 1735689600  # 2025-01-01T00:00:00Z


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; ctypes lays it out for this ABI
    # (4-byte longs on 32-bit Raspberry Pi OS, 8-byte on 64-bit).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        # The kernel reserves 11 more ints; extra room guards against a
        # libc whose struct is larger than this one.
        ("_reserved", ctypes.c_int * 32),
    ]


_adjtimex: Callable[[ctypes.c_void_p], int] | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _adjtimex = _libc.adjtimex
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        _adjtimex = None


def kernel_says_synced() -> bool | None:
    """True/False from adjtimex, or None when the kernel cannot tell us (not Linux)."""
    if _adjtimex is None:
        return None
    tx = _Timex()
    state = _adjtimex(ctypes.byref(tx))  # type: ignore[arg-type]
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


def plausible(now: float | None = None) -> bool:
    return (time.time() if now is None else now) >= PLAUSIBLE_SINCE


def system_clock_synced() -> bool:
    """The default check: plausible year and, where the kernel can tell, NTP-synchronised."""
    if not plausible():
        return False
    kernel = kernel_says_synced()
    return True if kernel is None else kernel


def fixed(value: bool) -> ClockCheck:
    """A check that always answers ``value`` (tests, ``--simulate``)."""
    return lambda: value


class Switchable:
    """A check a test can flip: ``clock = Switchable(False); ...; clock.synced = True``."""

    def __init__(self, synced: bool) -> None:
        self.synced = synced

    def __call__(self) -> bool:
        return self.synced
