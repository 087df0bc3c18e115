"""Local period keys and splitting a time range into the coarsest aggregate rows that cover it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR_FMT = "%Y-%m-%dT%H"
FAR_PAST = datetime(1970, 1, 1)
FAR_FUTURE = datetime(9000, 1, 1)
GRAINS = ("hour", "day", "month")


def parse_utc(ts: str) -> datetime:
    """An event timestamp ('2026-11-22T11:24:46.123Z') as an aware UTC datetime."""
    return datetime.fromisoformat(ts).astimezone(UTC)


def local_keys(ts: str, zone: ZoneInfo) -> tuple[str, str, str, int, int, datetime]:
    """(hour key, day key, month key, weekday 0=Mon, hour of day, local datetime) of a UTC timestamp."""
    local = parse_utc(ts).astimezone(zone)
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


def parse_bound(value: str | date | datetime | None, what: str = "time") -> datetime | None:
    """A range bound as a naive *local* datetime rounded down to the hour.

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


def _day_floor(t: datetime) -> datetime:
    return t.replace(hour=0)


def _day_ceil(t: datetime) -> datetime:
    return t if t.hour == 0 else _day_floor(t) + timedelta(days=1)


def _month_floor(t: datetime) -> datetime:
    return t.replace(day=1, hour=0)


def _month_ceil(t: datetime) -> datetime:
    floor = _month_floor(t)
    if floor == t:
        return t
    return (floor + timedelta(days=32)).replace(day=1)


def key(grain: str, t: datetime) -> str:
    return t.strftime({"hour": HOUR_FMT, "day": "%Y-%m-%d", "month": "%Y-%m"}[grain])


def split(start: datetime | None, end: datetime | None, coarsest: str = "month") -> list[tuple[str, str, str]]:
    """Cover the local range [start, end) with (grain, first key, key after last) pieces.

    Whole months come from the month grain, leftover whole days from the day grain and
    leftover hours from the hour grain, so a year is ~12 month rows per key instead of ~9000
    hour rows.  ``coarsest`` caps the grain (a day series cannot use month rows).
    """
    s = start or FAR_PAST
    e = end or FAR_FUTURE
    if s >= e:
        return []
    if coarsest == "hour":
        return [("hour", key("hour", s), key("hour", e))]
    parts: list[tuple[str, str, str]] = []
    d0, d1 = _day_ceil(s), _day_floor(e)
    if d0 >= d1:
        return [("hour", key("hour", s), key("hour", e))]
    if s < d0:
        parts.append(("hour", key("hour", s), key("hour", d0)))
    if d1 < e:
        parts.append(("hour", key("hour", d1), key("hour", e)))
    m0, m1 = _month_ceil(d0), _month_floor(d1)
    if coarsest == "day" or m0 >= m1:
        parts.append(("day", key("day", d0), key("day", d1)))
        return parts
    if d0 < m0:
        parts.append(("day", key("day", d0), key("day", m0)))
    if m1 < d1:
        parts.append(("day", key("day", m1), key("day", d1)))
    parts.append(("month", key("month", m0), key("month", m1)))
    return parts
