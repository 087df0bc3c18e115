"""Time, defined once: the stored timestamp, a branch's local day, and local periods.

- **A timestamp**, on the wire and in every table, is RFC 3339 in UTC with milliseconds and
  a 'Z': ``2026-11-22T11:24:46.123Z`` (``format_ts``). One width and one zone, so text order
  is time order and SQL compares timestamps as strings. ``parse_ts`` checks one that comes
  from outside (a message, a command-line option) strictly; ``read_ts`` reads one back from
  a database, which may be older than that rule (the dashboard's accounts wrote
  microseconds, ``...46.123456Z``; a naive value is UTC).
- **A branch's local day** is the date its own wall clock shows (``local_today``). Every
  "today" and every date a page, the API, ``otklik report`` or an export shows is one: a
  Vladivostok shop at 06:00 is on its new day while UTC is still on yesterday.
- **A period** is a range of local wall-clock hours [start, end) of the branch, its bounds
  given as dates, datetimes or text like '2026-11', '2026-11-22', '2026-11-22T10'
  (``parse_bound``). The aggregate tables are keyed by the same local hours, days and months
  (``local_keys``); ``utc_range`` turns a period into UTC bounds for the raw events.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from otklik.errors import OtklikError

HOUR_FMT = "%Y-%m-%dT%H"
LOCAL_MINUTE = "%Y-%m-%d %H:%M"
# Bounds of every period: a day or a week past either end must still be a date.
FAR_PAST = datetime(1970, 1, 1)
FAR_FUTURE = datetime(9000, 1, 1)
# RFC 3339 exactly (ASCII digits only: \d alone would take any script's digits);
# datetime.fromisoformat alone also takes week dates, bare dates and "2026-11-22 11:00".
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)
# The stored form exactly, as every kiosk sends it: fromisoformat alone reads it right (3.11 takes the 'Z').
STORED_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
# A period bound: a date, a datetime or text (see parse_bound); None is unbounded.
Bound = str | date | datetime | None


class TimestampError(OtklikError, ValueError):
    """A timestamp that is not RFC 3339 or not a real time; the text names the field."""


# --- timestamps -----------------------------------------------------------------


def format_ts(moment: datetime) -> str:
    """RFC 3339, UTC, milliseconds: ``2026-11-22T11:24:46.123Z``; what every table stores."""
    zone = moment.tzinfo
    if zone is not UTC:
        if zone is None:
            raise ValueError("format_ts needs an aware datetime")
        moment = moment.astimezone(UTC)
    # %-formatting the fields: faster than isoformat or an f-string (and several times faster than
    # strftime); the hub runs this a few times for every stored event.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond // 1000
    )  # fmt: skip


def now_ts() -> str:
    return format_ts(datetime.now(UTC))


def parse_ts(what: str, value: Any) -> datetime:
    """An RFC 3339 timestamp from outside (any offset, up to nanoseconds) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise TimestampError(f"{what} must be an RFC 3339 timestamp string, got {_kind(value)}")
    if STORED_RE.fullmatch(value):
        # Every rating's time: read without the general path's rewriting (a tenth of decoding one).
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise TimestampError(f"{what} {_shown(value)} is not a real date and time") from None
    if not TS_RE.fullmatch(value):
        if TS_RE.fullmatch(value + "Z"):
            raise TimestampError(f"{what} {_shown(value)} has no UTC offset; send UTC with a trailing 'Z'")
        raise TimestampError(f"{what} {_shown(value)} is not an RFC 3339 timestamp (e.g. 2026-11-22T11:24:46.123Z)")
    try:
        # fromisoformat keeps at most microseconds; RFC 3339 allows more digits.
        head, dot, tail = value.upper().partition(".")
        if dot:
            digits = len(tail) - len(tail.lstrip("0123456789"))
            tail = tail[:digits][:6] + tail[digits:]
        return datetime.fromisoformat(head + dot + tail).astimezone(UTC)
    except ValueError:
        raise TimestampError(f"{what} {_shown(value)} is not a real date and time") from None
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+01:00: a valid string whose UTC is before year 1.
        raise TimestampError(f"{what} {_shown(value)} is outside the years 1-9999 once converted to UTC") from None


def read_ts(text: str) -> datetime:
    """A timestamp read back from a table, in any form the project ever stored, as aware UTC."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_ts_or_none(value: object) -> datetime | None:
    """``read_ts`` for a column that may be empty or hold junk (a registry row, a page's cell): None then."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str):
        return None
    try:
        return read_ts(value)
    except ValueError:
        return None


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


# --- a branch's local day ------------------------------------------------------------


def local_today(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The date the branch's wall clock shows at ``now`` (default: this moment; a naive ``now`` is UTC)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def local_minute(value: str | datetime, zone: tzinfo) -> str:
    """A stored timestamp as the branch's wall clock showed it: "2026-12-01 09:00" (no zone).

    How a moment reads where no calendar of the reader's applies (the hub's e-mails, roster
    rows as the CSV import takes them); the dashboard shows the same local moment in the
    reader's calendar (dashboard/i18n.py ``fmt_dt``)."""
    moment = value if isinstance(value, datetime) else read_ts(value)
    return moment.astimezone(zone).strftime(LOCAL_MINUTE)


def last_days(today: date, days: int) -> tuple[date, date]:
    """[first, last] local dates of the ``days`` days ending with ``today`` (today included)."""
    return today - timedelta(days=days - 1), today


def local_keys(ts: str, zone: ZoneInfo) -> tuple[str, str, str, int, int, datetime]:
    """(hour key, day key, month key, weekday 0=Mon, hour of day, local datetime) of a stored timestamp."""
    local = read_ts(ts).astimezone(zone)
    hour = local.strftime(HOUR_FMT)
    return hour, hour[:10], hour[:7], local.weekday(), local.hour, local


def week_key(day: str, first_weekday: int = 0) -> str:
    """The week of a day key: its ISO week ('2026-W47') for Monday-first weeks, else the day it
    starts on ('2026-11-21' for a Saturday-first week, as Persian readers count it)."""
    if first_weekday == 0:
        year, week, _ = date.fromisoformat(day).isocalendar()
        return f"{year}-W{week:02d}"
    return week_start(day, first_weekday)


def week_start(day: str, first_weekday: int = 0) -> str:
    """The first day (a day key) of the week holding ``day``; weekdays count 0 = Monday."""
    moment = date.fromisoformat(day)
    return (moment - timedelta(days=(moment.weekday() - first_weekday) % 7)).isoformat()


# --- periods ---------------------------------------------------------------------------


def parse_bound(value: Bound, what: str = "time") -> datetime | None:
    """A period bound as a naive *local* datetime rounded down to the hour.

    Accepts '2026-11', '2026-11-22', '2026-11-22T10', '2026-11-22 10:30', dates and datetimes
    (an aware datetime is taken as the wall-clock time it shows).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=None)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            if len(text) == 7:
                moment = datetime.strptime(text, "%Y-%m")
            elif len(text) == 13:
                moment = datetime.strptime(text, HOUR_FMT)
            else:
                moment = datetime.fromisoformat(text).replace(tzinfo=None)
        except ValueError:
            raise ValueError(f"{what} {text!r} is not a date like 2026-11-22 or 2026-11-22T10:00") from None
    return moment.replace(minute=0, second=0, microsecond=0)


def utc_range(
    zone: ZoneInfo, start: str | date | datetime | None, end: str | date | datetime | None
) -> tuple[str, str]:
    """A branch's local period as stored-timestamp bounds [lo, hi) for comparing with ``events.ts``."""
    s, e = parse_bound(start, "start"), parse_bound(end, "end")
    lo = format_ts(s.replace(tzinfo=zone)) if s else ""
    hi = format_ts(e.replace(tzinfo=zone)) if e else "9999"
    return lo, hi
