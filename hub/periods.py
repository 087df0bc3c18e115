"""Covering a local period with the coarsest aggregate rows (what a period *is* lives in ``otklik.times``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from otklik.times import FAR_FUTURE, FAR_PAST, HOUR_FMT


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
