"""Which calendar a language writes its dates in, and a local moment's short text in it.

The one home of Solar Hijri dates for every text the project writes: the dashboard
(dashboard/i18n.py, its pages and filters) and the hub's alert texts (hub/alert_text.py:
e-mail, MQTT, webhooks). Persian dates are Solar Hijri (``jdatetime``; Babel has no Persian
calendar), as the browser's Intl writes "fa-u-ca-persian"; English and Russian Gregorian.
"""

from __future__ import annotations

from datetime import date, datetime

import jdatetime

from otklik.digits import localise_digits

# Each language's default calendar, by CLDR name (a dashboard user may choose another).
DEFAULT_CALENDAR = {"fa": "persian"}


def calendar_of(language: str) -> str:
    """The calendar a reader of ``language`` gets when nobody chose one: Solar Hijri in Persian."""
    return DEFAULT_CALENDAR.get(language, "gregory")


def solar_hijri(day: date) -> tuple[int, int, int, str]:
    """(year, month, day, Persian month name) of a Gregorian ``day``."""
    j = jdatetime.date.fromgregorian(date=day)
    return j.year, j.month, j.day, jdatetime.date.j_months_fa[j.month - 1]


def short_date(day: date, language: str, calendar: str | None = None) -> str:
    """``day`` as a date filter and a wall time write it: 1405/9/11 (Solar Hijri) or 2026-12-02,
    in ``language``'s digits."""
    if (calendar or calendar_of(language)) == "persian":
        year, month, number, _ = solar_hijri(day)
        text = f"{year}/{month}/{number}"
    elif language in DEFAULT_CALENDAR:
        # Persian with Gregorian chosen: the same year/month/day shape, as Intl writes "fa-u-ca-gregory".
        text = f"{day.year}/{day.month}/{day.day}"
    else:
        text = day.isoformat()
    return localise_digits(text, language)


def wall_minute(moment: datetime, language: str, calendar: str | None = None) -> str:
    """A wall-clock moment (already in the branch's zone) to the minute, in ``language``'s calendar
    and digits: "1405/9/11، 09:00" in Persian, "2026-12-02 09:00" otherwise (as the CSV import takes it)."""
    day = short_date(moment.date(), language, calendar)
    if language in DEFAULT_CALENDAR:
        return localise_digits(f"{day}، {moment:%H:%M}", language)
    return f"{day} {moment:%H:%M}"
