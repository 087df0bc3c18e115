"""What a query string or a path may say, read into values or refused with the field's name.

Pages, the API and CSV export share these, so ``?from=`` means the same and is
refused the same everywhere; each refusal is an :class:`~dashboard.errors.InputError`
(400) whose text starts with the field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import jdatetime
from flask import current_app
from flask_babel import gettext as _

from dashboard.errors import InputError
from hub.scores import DEFAULT_MIN_RESPONSES
from otklik.times import FAR_FUTURE, FAR_PAST, last_days

GRAINS = ("day", "week", "month")
# Days a series covers when ?from= is not given, by grain.
GRAIN_DAYS = {"day": 30, "week": 7 * 26, "month": 366}
ALERT_STATES = ("live", "open", "acknowledged", "resolved", "all")
SHIFT_DAYS_BACK = 7
SHIFT_DAYS_AHEAD = 14

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# A Solar Hijri date as a Persian page shows and takes it: 1405/9/11 (in any digits).
_JALALI = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})\Z")
_JALALI_MINUTE = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})[ T]+([0-9]{1,2}):([0-9]{2})\Z")
_TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "0123456789" * 2)


def now() -> datetime:
    """This moment by the app's ``CLOCK`` (the system's, unless a test sets the time)."""
    moment: datetime = current_app.config["CLOCK"]()
    return moment


def parse_date(value: str | None, field: str) -> date | None:
    """A date as 2026-12-01 (Gregorian, ISO) or 1405/9/10 (Solar Hijri, as Persian pages show
    and take dates: Persian or Latin digits); refused naming ``field``."""
    if value in (None, ""):
        return None
    try:
        jalali = _JALALI.match(str(value).strip().translate(_TO_ASCII))
        if jalali:
            day = jdatetime.date(*map(int, jalali.groups())).togregorian()
        # Only 2026-01-31: fromisoformat also takes 20260131 and 2026-W05-6, which the API does not promise.
        elif not _DATE.match(value):  # type: ignore[arg-type]
            raise ValueError(value)
        else:
            day = date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            _("%(field)s: '%(value)s' is not a date (year-month-day, or year/month/day in the Solar Hijri calendar)",
              field=field, value=value)
        ) from None  # fmt: skip
    # Periods reach a day or a week past their ends; near year 1 or 9999 that is no date at all.
    if not FAR_PAST.date() <= day < FAR_FUTURE.date():
        raise InputError(
            _("%(field)s: '%(value)s' is outside the years %(first)s-%(last)s", field=field, value=value,
              first=FAR_PAST.year, last=FAR_FUTURE.year - 1)
        )  # fmt: skip
    return day


def local_minute(value: str, field: str) -> str:
    """A shift's start or end as typed: 1405/9/10 09:00 (Solar Hijri, as a Persian page shows it;
    Persian or Latin digits) becomes the branch-local ``2026-12-01 09:00`` the roster takes; any
    other text goes on as it is (hub.roster refuses a wrong one, naming ``field``)."""
    text = str(value).strip().translate(_TO_ASCII)
    if "/" not in text:
        return text
    found = _JALALI_MINUTE.match(text)
    try:
        if not found:
            raise ValueError(text)
        year, month, day, hour, minute = map(int, found.groups())
        moment = datetime.combine(jdatetime.date(year, month, day).togregorian(), time(hour, minute))
    except ValueError:
        raise InputError(
            _("%(field)s: '%(value)s' is not a time (year/month/day hour:minute in the Solar Hijri calendar)",
              field=field, value=value)
        ) from None  # fmt: skip
    return f"{moment:%Y-%m-%d %H:%M}"


def period(args: dict[str, str], default_days: int, today: date) -> tuple[date, date]:
    """[from, to] inclusive local dates from ?from=&to=, default the ``default_days`` ending ``today``.

    ``today`` is the branch's own date (``otklik.times.local_today``), never the server's or UTC's.
    """
    end = parse_date(args.get("to"), "to") or today
    start = parse_date(args.get("from"), "from") or last_days(end, default_days)[0]
    if start > end:
        raise InputError(_("from: the start date is after the end date"))
    if (end - start).days > 3660:
        raise InputError(_("from: the period is longer than ten years"))
    return start, end


def shift_period(args: dict[str, str], today: date) -> tuple[date, date]:
    """[from, to] local dates of the shifts shown: by default a week back and two weeks ahead."""
    start = parse_date(args.get("from"), "from")
    end = parse_date(args.get("to"), "to")
    span = timedelta(days=SHIFT_DAYS_BACK + SHIFT_DAYS_AHEAD)
    if start is None:
        start = end - span if end else today - timedelta(days=SHIFT_DAYS_BACK)
    if end is None:
        end = start + span
    # period() holds the checks every page shares (order, length).
    return period({"from": start.isoformat(), "to": end.isoformat()}, 1, today)


def grain(args: dict[str, str]) -> str:
    value = args.get("by", "day")
    if value not in GRAINS:
        raise InputError(_("by: '%(value)s' is not one of %(list)s", value=value, list=", ".join(GRAINS)))
    return value


def first_weekday(args: dict[str, str]) -> int:
    """``week_start``: the day weeks begin on, 0 = Monday (ISO, the default) .. 6 = Sunday."""
    raw = args.get("week_start", "0") or "0"
    if raw not in {str(d) for d in range(7)}:
        raise InputError(_("week_start: '%(value)s' is not a weekday 0 (Monday) to 6 (Sunday)", value=raw))
    return int(raw)


def min_responses(args: dict[str, str]) -> int:
    raw = args.get("min_responses")
    if raw in (None, ""):
        return DEFAULT_MIN_RESPONSES
    if not (raw.isascii() and raw.strip().lstrip("-").isdigit()):  # type: ignore[union-attr]
        raise InputError(_("min_responses: '%(value)s' is not a whole number", value=raw))
    value = int(raw)  # type: ignore[arg-type]
    if not 0 <= value <= 100000:
        raise InputError(_("min_responses: use a number between 0 and 100000"))
    return value


def limit(args: dict[str, str], default: str = "100", most: int = 5000) -> int:
    raw = args.get("limit", default)
    # isdigit() alone lets '²' through to int().
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise InputError(_("limit: use a whole number between 1 and %(most)s", most=most))
    return int(raw)


def alert_state(value: str) -> str:
    if value not in ALERT_STATES:
        raise InputError(_("state: '%(value)s' is not one of %(list)s", value=value, list=", ".join(ALERT_STATES)))
    return value


def row_id(value: int, field: str) -> int:
    """A row id from a path: SQLite's integers end at 2**63 - 1, and a bigger one is a typo, not a 500."""
    if not 0 < value < 2**63:
        raise InputError(_("%(field)s: %(value)s is not an id", field=field, value=value))
    return value


def shift_id(raw: Any) -> int:
    """A shift id from a form or query string."""
    text = str(raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InputError(_("shift: '%(value)s' is not a shift id", value=text))
    return int(text)
