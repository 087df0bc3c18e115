"""How much one address may ask of the public phone page: requests per second, ratings per kiosk.

Held in this process's memory only, never written anywhere: an address is personal data,
and what it is needed for (a flood now, a burst of ratings in the last few minutes) is over
before a restart could matter. Each gunicorn worker keeps its own, so the figures are per
worker (the deploy runs few). Bounded: at most ``MAX_ADDRESSES`` are remembered, the
least recently seen forgotten first, so a flood from many addresses costs memory once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_ADDRESSES = 10_000


@dataclass
class _Address:
    tokens: float
    at: float
    ratings: dict[str, deque[float]] = field(default_factory=dict)


class AddressLimits:
    """A token bucket of requests per address, and a sliding window of ratings per address and kiosk.

    ``burst`` requests at once, then ``per_s`` a second; ``ratings`` ratings per kiosk within
    ``window_s`` (a store's Wi-Fi shows many phones as one address, so this is the loose limit;
    the phone's own cookie is the tight one).
    """

    def __init__(self, *, burst: int, per_s: float, ratings: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.burst, self.per_s, self.ratings, self.window_s = burst, per_s, ratings, window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, _Address] = OrderedDict()

    def _address(self, address: str, now: float) -> _Address:
        entry = self._seen.get(address)
        if entry is None:
            entry = self._seen[address] = _Address(tokens=float(self.burst), at=now)
            while len(self._seen) > MAX_ADDRESSES:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(address)
            entry.tokens = min(float(self.burst), entry.tokens + (now - entry.at) * self.per_s)
            entry.at = now
        return entry

    def request(self, address: str) -> float | None:
        """Take one request from ``address``'s bucket: None if allowed, else seconds until one is."""
        with self._lock:
            entry = self._address(address, self.clock())
            if entry.tokens >= 1:
                entry.tokens -= 1
                return None
            return (1 - entry.tokens) / self.per_s

    def rating(self, address: str, place: str) -> float | None:
        """Count a rating from ``address`` for kiosk ``place``: None if allowed (and counted), else seconds to wait."""
        with self._lock:
            now = self.clock()
            entry = self._address(address, now)
            times = entry.ratings.setdefault(place, deque())
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if len(times) >= self.ratings:
                return times[0] + self.window_s - now
            times.append(now)
            return None
