"""Calendar arithmetic for protocol timestamps, without time.mktime/gmtime.

The ports disagree on the epoch (2000 on older ESP32 builds, 1970 on rp2) and
CPython's mktime is local time, so the pad does its own proleptic-Gregorian
day counting and always speaks Unix-epoch milliseconds.
"""


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def rtc_to_ms(dt: tuple) -> int:
    """machine.RTC().datetime() tuple -> Unix epoch ms.

    The tuple is (year, month, day, weekday, hours, minutes, seconds, subseconds);
    subseconds are port-specific (0 on rp2), so they are ignored.
    """
    days = days_from_civil(dt[0], dt[1], dt[2])
    return ((days * 24 + dt[4]) * 60 + dt[5]) * 60000 + dt[6] * 1000


def format_ts(epoch_ms: int) -> str:
    """Unix epoch ms -> ``2026-11-22T11:24:46.123Z`` (protocol v1's format)."""
    seconds, ms = divmod(int(epoch_ms), 1000)
    days, rest = divmod(seconds, 86400)
    year, month, day = civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (year, month, day, hour, minute, second, ms)
