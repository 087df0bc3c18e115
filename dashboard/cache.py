"""Figures computed once and shared between requests, refreshed at a bounded cadence while presses arrive.

Twenty managers opening the overview at nine o'clock ask for the same numbers;
computing them once is the difference between a few milliseconds a page and
tens or hundreds of them.

The policy, and why:

- **Not thrown away on every commit.** A chain at noon stores 50 presses a
  second, a commit every few tens of milliseconds. Keying figures on the data's
  version made nearly every request a miss (branch page 2.4 s at p95 at
  50 presses/s). An entry here remembers the change token it was computed at;
  when the data has moved on, the entry is *stale*, not gone.
- **Stale-while-revalidate, at most once per REFRESH_S.** A stale figure is
  recomputed by one background thread, on its own connection, no sooner than
  REFRESH_S (0.5 s) after its previous computation began: a figure costs at
  most about two computations a second however fast the presses come. Meanwhile
  requests get the value there is and never wait for the recomputation.
- **A press shows within a second.** A stale value is only served while the
  last moment it was known to be current is at most MAX_STALE_S (1 s) ago;
  past that a request waits for the fresh one (joining the recomputation under
  way, not starting a second). So every answer includes every press committed
  more than MAX_STALE_S before it was asked; with REFRESH_S well under that (a
  fragment waits for its figures' refresh, then its own), a refresh normally
  lands first and nobody waits.
- **A value built from others is only as current as they are.** A page
  fragment rendered from a figure that was being recomputed is stored as
  stale, as old as that figure: it is rendered again once the figure caught up
  (rendered from it and remembered as current, the press it missed would never
  show), and the one-second bound holds across both. Its figures are shared,
  not recomputed for it: a fragment's refresh costs its rendering.
- **No clock in the keys.** Keying on the current minute made every figure of
  every page miss together at each minute's turn. A figure that depends on the
  date takes its dates as arguments (each branch's own local today, see
  dashboard.figures), so only a branch whose day turned misses, once a day; a
  value that goes out of date with the clock otherwise (a kiosk's last
  heartbeat growing old) says how long it stays true (``max_age``) and is then
  refreshed as a stale one is.
- **How long ago.** :func:`observe` tells a caller whether what it was served
  was stale and the wall-clock time its oldest part was known current, for
  "as of 12:04:31" on a page and for the live stream to look again until its
  figures caught up.

How a change is noticed is :func:`version`'s business alone (the policy only
compares its tokens for equality): ``hub.changes.shared``, SQLite's
``PRAGMA data_version`` on a watcher connection per file or PostgreSQL's
LISTEN/NOTIFY, which moves whenever any connection commits.

OTKLIK_DASH_CACHE=0 turns it off (the benchmark measures both).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hub import changes, store
from hub import db as hub_db
from hub.store import Database
from otklik import config

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
MAX_ENTRIES = 512
# A changing figure is recomputed at most this often (seconds) ...
REFRESH_S = 0.5
# ... and no answer misses a commit older than this.
MAX_STALE_S = 1.0
_lock = threading.Lock()
_entries: OrderedDict[tuple, _Entry] = OrderedDict()
_flights: dict[tuple, _Flight] = {}
# The token of a value built from stale ones: equal to no version, so it is never taken as current.
_STALE: tuple = ("stale",)
_NOTHING = object()  # no stale value to serve (None may be a figure's value)
# Set for a request that must see its own write (dashboard.store): nothing stale is served to it.
_fresh_only: contextvars.ContextVar[bool] = contextvars.ContextVar("otklik_cache_fresh_only", default=False)
_observers: contextvars.ContextVar[tuple[Observed, ...]] = contextvars.ContextVar("otklik_cache_observers", default=())
# Per database file: values computed (foreground and background) and requests that waited for
# one while a value was there (too stale to serve, or read inside another computation).
computed: Counter[str] = Counter()
waited: Counter[str] = Counter()


def enabled() -> bool:
    return config.get("OTKLIK_DASH_CACHE") != "0"


# --- noticing a change ------------------------------------------------------------------


def version(db: Database) -> tuple:
    """A token that changes with every commit to ``db``'s database by any connection (compare with ==)."""
    target = changes.target_of(db)
    watcher = changes.shared(target)
    # The watcher's identity second (what the policy keys entries by): a SQLite file replaced at
    # the same path gets a new watcher, and is another database, not a stale one.
    return (target, watcher.identity, watcher.version())


def _connect(path: str) -> Database:
    """A connection of the background refresher's own (a request's is closed when it ends); either store."""
    return hub_db.connect(path)


# --- the policy ---------------------------------------------------------------------------


@dataclass
class _Entry:
    value: Any
    token: tuple
    started: float  # monotonic: when its computation began (the token was read just before)
    checked: float  # monotonic: the last moment it was known to be current
    checked_wall: float  # the same moment by the wall clock, for "as of"
    expires: float | None  # monotonic: when it goes out of date with the clock (max_age)
    refresh: Callable[[Database], Any]

    def good_until(self) -> float:
        return self.checked if self.expires is None else min(self.checked, self.expires)


@dataclass
class _Flight:
    """A computation under way: ``done`` when it is over; ``urgent`` wakes a refresh still waiting
    for its interval, when a request cannot be served without it."""

    done: threading.Event = field(default_factory=threading.Event)
    urgent: threading.Event = field(default_factory=threading.Event)


@dataclass
class Observed:
    """What :func:`observe` saw served: ``stale`` if any value was, ``as_of`` its oldest (epoch seconds)."""

    stale: bool = False
    as_of: float | None = None
    values: int = 0
    good_until: float | None = None  # the same moment, monotonic

    def _saw(self, stale: bool, as_of: float, good_until: float) -> None:
        self.values += 1
        self.stale = self.stale or stale
        self.as_of = as_of if self.as_of is None else min(self.as_of, as_of)
        self.good_until = good_until if self.good_until is None else min(self.good_until, good_until)


@contextlib.contextmanager
def observe() -> Iterator[Observed]:
    """Collect how fresh the values served inside the block were."""
    seen = Observed()
    reset = _observers.set((*_observers.get(), seen))
    try:
        yield seen
    finally:
        _observers.reset(reset)


def fresh_only() -> contextvars.Token[bool]:
    """From here on in this context, serve nothing stale (undo with :func:`release`).

    For a request right after the user's own write: "Alert updated." must not show the alert
    as it was, whichever worker process answers."""
    return _fresh_only.set(True)


def release(token: contextvars.Token[bool]) -> None:
    _fresh_only.reset(token)


def _served(entry: _Entry, stale: bool) -> Any:
    good_until = entry.good_until()
    as_of = entry.checked_wall - max(0.0, entry.checked - good_until)
    for seen in _observers.get():
        seen._saw(stale, as_of, good_until)
    return entry.value


def remember(
    db: Database,
    key: tuple,
    compute: Callable[[Database], T],
    *,
    max_age: float | None = None,
) -> T:
    """``compute(db)``, or what it gave for ``key`` before, under the policy of the module docstring.

    ``compute`` must work on any connection to the same file it is given: a
    stale value is recomputed in a background thread on a connection of its
    own. ``max_age``: seconds after which the value is out of date
    even if nothing was committed. The result is shared between requests:
    callers must treat it as read-only (copying it each time cost more than
    computing some of the figures).
    """
    if not enabled():
        return compute(db)
    token = version(db)
    path, inode = token[0], token[1]
    # The inode too: a database replaced at the same path is another database, not a stale one.
    full = (path, inode, key)
    for attempt in range(3):
        if attempt:
            token = version(db)
        now = time.monotonic()
        fresh_only = _fresh_only.get()
        stale: Any = _NOTHING
        # Set when this request serves a stale value and is the one to start its refresh.
        refreshing: tuple[_Entry, _Flight] | None = None
        with _lock:
            entry = _entries.get(full)
            flight = _flights.get(full)
            if entry is not None:
                _entries.move_to_end(full)
                if entry.token == token and (entry.expires is None or now < entry.expires):
                    entry.checked, entry.checked_wall = now, time.time()
                    return _served(entry, stale=False)
                if now - entry.good_until() <= MAX_STALE_S and not fresh_only:
                    stale = _served(entry, stale=True)
                    if flight is None:
                        refreshing = entry, _Flight()
                        _flights[full] = refreshing[1]
            if stale is _NOTHING and flight is None:
                flight = _flights[full] = _Flight()
                break
        if stale is not _NOTHING:
            # The refresh's thread started outside the lock: starting a thread waits for it to
            # run, and every other request of the worker queued behind that wait for the lock.
            if refreshing is not None:
                old, started = refreshing
                try:
                    _start_refresh(full, path, old, max(0.0, old.started + REFRESH_S - now), max_age, started)
                except BaseException:
                    _abandon(full, started)  # nobody may wait for a refresh that never started
                    raise
            return stale
        assert flight is not None
        # Another thread is computing it: wait for that one rather than computing it twice.
        waited[path] += 1
        flight.urgent.set()
        flight.done.wait()
    else:
        flight = None  # the others kept failing; compute it here
    if entry is not None:
        waited[path] += 1
    return _compute(full, db, compute, max_age, flight)


def _compute(
    full: tuple,
    db: Database,
    compute: Callable[[Database], T],
    max_age: float | None,
    flight: _Flight | None,
) -> T:
    try:
        token = version(db)
        started, wall = time.monotonic(), time.time()
        with observe() as inputs:
            value = compute(db)
        checked = started
        if inputs.stale and inputs.good_until is not None:
            # Built from a value being recomputed: it is only as current as that one, and stale
            # already (a token no version equals), so it is built again once its inputs caught up.
            token = _STALE
            checked = min(started, inputs.good_until)
            wall -= started - checked
        with _lock:
            computed[full[0]] += 1
            entry = _entries[full] = _Entry(
                value, token, started, checked, wall, None if max_age is None else started + max_age,
                compute,
            )  # fmt: skip
            _entries.move_to_end(full)
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
        return _served(entry, stale=False)
    finally:
        if flight is not None:
            with _lock:
                if _flights.get(full) is flight:
                    del _flights[full]
            flight.done.set()


def _start_refresh(full: tuple, path: str, entry: _Entry, delay: float, max_age: float | None, flight: _Flight) -> None:
    refresh = entry.refresh

    def run() -> None:
        if delay:
            flight.urgent.wait(delay)
        try:
            db = _connect(path)
        except store.errors():
            _abandon(full, flight)
            return
        try:
            _compute(full, db, refresh, max_age, flight)
        except Exception:
            # Nobody waits on this thread to hear of it: a figure that can no longer be computed
            # would otherwise go stale in silence (the next request computes it, and raises, itself).
            logger.exception("background refresh of %r failed", full[2])
        finally:
            db.conn.close()

    threading.Thread(target=run, name="otklik-cache-refresh", daemon=True).start()


def _abandon(full: tuple, flight: _Flight) -> None:
    with _lock:
        if _flights.get(full) is flight:
            del _flights[full]
    flight.done.set()


def cached(fn: F) -> F:
    """Cache ``fn(db, *hashable_args)`` with :func:`remember`."""

    @functools.wraps(fn)
    def wrapper(db: Database, *args: Any) -> Any:
        return remember(db, (fn.__qualname__, args), lambda conn: fn(conn, *args))

    return wrapper  # type: ignore[return-value]


# --- values exact for as long as their key holds --------------------------------------------

MAX_KEPT = 256
_kept: OrderedDict[tuple, Any] = OrderedDict()


def kept(db: Database, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave before for ``key`` in the same database.

    Not the policy above: a value here never goes stale, because ``key`` itself holds what it
    depends on (dashboard.history: a branch's aggregate marks). Commits do not touch it; a
    computation under way is not shared (the values are parts of the figures that are). Read-only
    for the callers, as every cached value.
    """
    if not enabled():
        return compute()
    # The database's identity as remember keys it, without reading its change token (not needed here).
    target = changes.target_of(db)
    full = (target, changes.shared(target).identity, key)
    with _lock:
        if full in _kept:
            _kept.move_to_end(full)
            return _kept[full]  # type: ignore[no-any-return]
    value = compute()
    with _lock:
        _kept[full] = value
        while len(_kept) > MAX_KEPT:
            _kept.popitem(last=False)
    return value


def clear() -> None:
    """Forget every value (tests; a value being recomputed is stored when it is done)."""
    with _lock:
        _entries.clear()
        _kept.clear()
