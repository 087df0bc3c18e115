"""Languages: English, Russian and Persian (right to left), per user or from the browser.

Catalogs are kept as .po files in ``dashboard/translations``; the .mo files are
compiled by ``python -m dashboard.build`` (install/test step), not committed.

This is the server's one home of how numbers, dates and weeks read; its twin in the
browser is ``static/format.js``, which takes the same facts from <html data-*>
(``page_attrs``). The digit rule, on both sides: a locale writes every number in its
own numbering system (``NUMBERING``: Persian in Extended Arabic-Indic digits ۰-۹ with
٫ ٬ ٪, as the browser's Intl does for "fa"; English and Russian in 0-9), never a mix.
Babel keeps Latin digits even for arabext, so ``localise_digits`` finishes its output.
Persian dates are Solar Hijri by default (otklik/dates.py, shared with the hub's alert texts;
Babel has no Persian calendar, the browser's Intl has), Gregorian by the user's choice (``select_calendar``).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_interval, format_skeleton, get_day_names
from babel.numbers import NumberPattern, parse_pattern
from babel.support import NullTranslations, Translations
from flask import Flask, g, request, session
from flask_babel import Babel, format_datetime, get_locale, get_timezone, get_translations, gettext
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from dashboard.accounts import CALENDARS
from dashboard.charts import chart_text
from otklik.dates import DEFAULT_CALENDAR, short_date, solar_hijri, wall_minute
from otklik.digits import NUMBERING, localise_digits
from otklik.times import read_ts_or_none

LANGUAGES = {"en": "English", "ru": "Русский", "fa": "فارسی"}
RTL = {"fa"}
# The first day of the week (0 = Monday): ISO Monday in English and Russian (the chain's
# reports), Saturday in Persian, as the Iranian week runs.
WEEK_START = {"en": 0, "ru": 0, "fa": 5}


def select_locale() -> str:
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return user.language
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


# Words the hub stores as codes, shown in the reader's language (the codes stay in CSV and API).
ROLE_NAMES = {"admin": _l("administrator"), "manager": _l("manager"), "technician": _l("technician")}
FLAG_NAMES = {
    "cooldown": _l("too soon after the previous press"),
    "burst": _l("burst of presses"),
    "hours": _l("outside opening hours"),
    "clock": _l("kiosk clock was wrong"),
    "other": _l("other"),
}
CAMERA_STATES = {"ok": _l("working"), "off": _l("off")}
# A refusal names its field as the request does ("from: ..."): the API keeps that name, a page
# shows the field's label instead (``input_message``).
FIELD_LABELS = {
    "branch": _l("Branch"), "kiosk": _l("Kiosk"), "employee": _l("Employee"), "from": _l("From"), "to": _l("To"),
    "start": _l("Start"), "end": _l("End"), "note": _l("Note"), "id": _l("Id"), "name": _l("Name"),
    "file": _l("File"), "shift": _l("Shift"), "by": _l("Period"), "state": _l("State"), "view": _l("Table"),
    "min_responses": _l("Minimum responses"), "limit": _l("Rows"), "week_start": _l("First day of the week"),
    "action": _l("Action"), "body": _l("Request"), "language": _l("Language"), "calendar": _l("Calendar"),
    "line": _l("Line"), "active": _l("Active"),
    "score": _l("Button"), "reason": _l("Reason"), "q": _l("Search"), "page": _l("Page"),
    "hidden": _l("Include hidden"),
}  # fmt: skip


def input_message(message: str) -> str:
    """A refusal ("from: ...") as a page shows it: the field by its label in the reader's language.

    English pages keep the request's own names (they are English words, and what a URL takes)."""
    if str(get_locale() or "en") == "en":
        return message
    # A roster file's refusal is "line 3: id: ...": the field may stand second.
    parts = message.split(": ", 2)
    return ": ".join(str(FIELD_LABELS.get(p, p)) if i < len(parts) - 1 else p for i, p in enumerate(parts))


def role_name(role: str) -> str:
    return str(ROLE_NAMES.get(role, role))


def flag_names(flags: str | None) -> str:
    """A press's stored flags ("burst,hours") as words; an unknown code is shown as it is."""
    return ", ".join(str(FLAG_NAMES.get(f, f)) for f in (flags or "").split(",") if f) or "—"


def camera_state(status: str | None) -> str:
    if not status:
        return "—"
    if status.startswith("unavailable:"):
        # The reason is the device's own error text (a path, an errno): kept as it came.
        return gettext("unavailable: %(reason)s", reason=status.split(":", 1)[1].strip())
    return str(CAMERA_STATES.get(status, status))


def select_calendar(locale: str | None = None) -> str:
    """The calendar dates are shown in: in Persian the user's choice (kept with the account,
    else with the session of someone logged out), else Solar Hijri; Gregorian in the other languages."""
    locale = locale or str(get_locale() or "en")
    if locale not in DEFAULT_CALENDAR:
        return "gregory"
    if g.get("calendar"):
        # A shared fragment rendered again in the background: the calendar of the request that asked for it.
        return str(g.calendar)
    user = g.get("user")
    chosen = user.calendar if user is not None and user.calendar else session.get("calendar")
    return chosen if chosen in CALENDARS else DEFAULT_CALENDAR[locale]


def weekdays(locale: str) -> list[tuple[int, str]]:
    """(weekday 0 = Monday, short name) in the order ``locale``'s week runs."""
    names = get_day_names("abbreviated", locale=locale)
    first = WEEK_START.get(locale, 0)
    return [((first + i) % 7, names[(first + i) % 7]) for i in range(7)]


def fmt_dt(value: Any, zone: tzinfo | str | None = None, style: str = "short") -> str:
    """A stored moment (UTC) as the wall clock of ``zone`` showed it, in the reader's calendar
    and digits; the one way a page shows a moment. Templates say whose clock: ``ts | dt(branch)``
    (``_dt_filter``): a press, a kiosk's last sign of life, an alert are each in their branch's time."""
    moment = read_ts_or_none(value)
    if moment is None:
        return "—"
    where = zone if isinstance(zone, tzinfo) else ZoneInfo(zone) if zone else get_timezone()
    # Keyed by what the result depends on; the same last-seen times are shown
    # to every manager on every refresh, and Babel takes 80 us for each.
    locale = str(get_locale() or "en")
    return _format_dt(moment, style, locale, where, select_calendar(locale))


def branch_zone(branch: str | None) -> tzinfo | None:
    """The time zone of ``branch`` (None: none named)."""
    if not branch:
        return None
    from dashboard import figures, fleet
    from dashboard.store import get_db

    # Every branch's at the first ask of a request (or of a fragment's rendering), in one look-up:
    # a fleet table asks for each of its 300 kiosks twice, and each cache look-up reads the change
    # token (a stat and two PRAGMAs); after a commit each branch's was a stale value of its own,
    # starting a refresh thread of its own (50 for the fleet table), a tenth of its rendering.
    zones: dict[str, tzinfo] | None = g.get("branch_zones")
    if zones is None:
        db = get_db()
        zones = g.branch_zones = dict(figures.zones(db, fleet.all_branches(db)))
    found = zones.get(branch)
    if found is None:
        found = zones[branch] = figures.zone(get_db(), branch)
    return found


def _dt_filter(value: Any, branch: str | None = None, style: str = "short") -> str:
    return fmt_dt(value, branch_zone(branch), style)


def fmt_days(last: Any, days: int = 1) -> str:
    """The ``days`` local dates ending on ``last`` (an ISO date), e.g. "Nov 25 – Dec 1", or one date.

    Every "which days does this figure cover" label on a page comes from here, so a calendar
    of the locale's own (Solar Hijri in Persian) changes them all at once.
    """
    try:
        end = date.fromisoformat(str(last)[:10])
    except ValueError:
        return "—"
    locale = str(get_locale() or "en")
    return _format_days(end, days, locale, select_calendar(locale))


@lru_cache(maxsize=4096)
def _format_days(end: date, days: int, locale: str, calendar: str) -> str:
    first = end - timedelta(days=days - 1)
    if locale in DEFAULT_CALENDAR:
        # "day month" as _persian_date writes it, in the reader's calendar, without the year.
        def day_month(day: date) -> str:
            return " ".join(_persian_date(day, "medium", calendar).split(" ")[:2])

        text = day_month(end) if days <= 1 else f"{day_month(first)} تا {day_month(end)}"
        return localise_digits(text, locale)
    if days <= 1:
        return format_skeleton("MMMd", end, locale=locale)
    return format_interval(first, end, "MMMd", locale=locale)


@lru_cache(maxsize=8192)
def _format_dt(moment: datetime, style: str, locale: str, zone: tzinfo, calendar: str) -> str:
    local = moment.astimezone(zone)
    if locale in DEFAULT_CALENDAR:
        # Composed as format.js composes it (Babel's Persian pattern differs from Intl's in its marks).
        text = f"{_persian_date(local.date(), style, calendar)}، {local:%H:%M}"
    else:
        # Browsers disagree on the narrow space before "AM" (Chromium writes a plain one): one form for both.
        text = babel_format_datetime(local, style, tzinfo=zone, locale=locale).replace(" ", " ")
    return localise_digits(text, locale)


def _persian_date(day: date, style: str, calendar: str) -> str:
    # As the browser's Intl writes "fa-u-ca-persian" / "fa-u-ca-gregory": 1405/9/11 (short).
    if calendar == "persian":
        year, month, number, name = solar_hijri(day)
    else:
        year, month, number = day.year, day.month, day.day
        name = format_datetime(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), "MMMM", rebase=False)
    return f"{year}/{month}/{number}" if style == "short" else f"{number} {name} {year}"


def fmt_local(value: Any, locale: str | None = None) -> str:
    """A branch-local wall time ("2026-12-01 09:00", no zone) in the reader's calendar and digits."""
    if not value:
        return "—"
    locale = locale or str(get_locale() or "en")
    moment = datetime.fromisoformat(str(value))
    # As the CSV import takes it (outside Persian), so what is read here can be typed there.
    return wall_minute(moment, locale, select_calendar(locale))


def date_field(value: Any, locale: str | None = None) -> dict[str, str]:
    """How a date filter's input shows ``value`` (an ISO date, or what the reader typed).

    The browser's own date input where it can show the reader's calendar (Gregorian);
    in Persian with Solar Hijri a text input holding the Jalali date in Persian digits
    (``1405/9/10``), which ``filters.parse_date`` reads back, as no browser's date
    picker has that calendar."""
    locale = locale or str(get_locale() or "en")
    text = str(value or "")
    if select_calendar(locale) != "persian":
        # ``lang``: a browser that follows it (Firefox) shows the page's format, not the system's.
        return {"type": "date", "value": text, "lang": locale}
    with contextlib.suppress(ValueError):
        text = short_date(date.fromisoformat(text), "en", "persian")  # Latin digits: localised below
    return {"type": "text", "value": localise_digits(text, locale), "placeholder": localise_digits("1405/9/10", locale)}


def datetime_field(value: Any, locale: str | None = None) -> dict[str, str]:
    """How a shift's start or end input shows ``value`` (a branch-local "2026-12-01 09:00", or what
    the reader typed), as ``date_field`` does a date: the browser's own picker where it can show the
    reader's calendar; in Persian with Solar Hijri a text input holding ``1405/9/10 09:00`` in
    Persian digits, which ``filters.local_minute`` reads back."""
    locale = locale or str(get_locale() or "en")
    text = str(value or "").strip()
    if select_calendar(locale) != "persian":
        return {"type": "datetime-local", "value": text.replace(" ", "T"), "lang": locale}
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(text)
        text = f"{short_date(moment.date(), 'en', 'persian')} {moment:%H:%M}"  # Latin digits: localised below
    placeholder = localise_digits("1405/9/10 09:00", locale)
    return {"type": "text", "value": localise_digits(text, locale), "placeholder": placeholder}


def page_attrs(locale: str) -> Markup:
    """<html>'s data-* for static/format.js: the same locale facts the server formats by."""
    attrs = {
        "data-numbering": NUMBERING.get(locale, "latn"),
        "data-calendar": select_calendar(locale),
        "data-week-start": str(WEEK_START.get(locale, 0)),
        # The zone a script writes moments in (format.js): the branch's on a page of one branch
        # (views set ``g.page_zone``), else the reader's own (empty: the browser's).
        "data-timezone": g.get("page_zone") or "",
        "data-words": _words_json(locale),
    }
    return Markup(" ".join(f'{name}="{escape(value)}"' for name, value in attrs.items()))


@lru_cache(maxsize=8)
def _words_json(locale: str) -> str:
    # The same in every page of a language (``locale`` is the request's): translated and encoded once
    # per process, not on each page (it was a tenth of a cached page's time).
    return json.dumps(script_words(), ensure_ascii=False)


def script_words() -> dict[str, str]:
    """The few words scripts write themselves (format.js ``t(key)``), in the reader's language."""
    return {
        "index": gettext("Index"),
        "responses": gettext("Responses"),
        # %s is filled in by format.js (a date, a time).
        "week_of": gettext("week of %(day)s", day="%s"),
        "updated": gettext("updated %(time)s", time="%s"),
        # A chart or heat map whose figures the API did not give (static/charts.js).
        "load_failed": gettext(
            "These figures could not be loaded (error %(code)s). Reload the page to try again.", code="%s"
        ),
        "load_refused": gettext("Your session has ended: reload the page to log in again."),
        # Legends, axis titles and the heat map's key (static/charts.js).
        "charts": chart_text(),
    }


@lru_cache(maxsize=16)
def _pattern(fmt: str) -> NumberPattern:
    # Babel parses the pattern on every call otherwise.
    return parse_pattern(fmt)


@lru_cache(maxsize=8192)
def format_number(value: float, fmt: str, locale: str) -> str:
    """``value`` in ``locale`` by the CLDR pattern ``fmt``, memoised.

    A 50-branch overview formats 300 numbers; Babel takes about 25 us each and
    most of them (counts, indices, percentages) repeat, so the page spent more
    time formatting than everything else together.
    """
    numbering = NUMBERING.get(locale, "latn")
    text = localise_digits(_pattern(fmt).apply(value, Locale.parse(locale), numbering_system=numbering), locale)
    # Persian's minus is CLDR's "‎−" (as Intl writes it), which Babel leaves as "-".
    return "‎−" + text[1:] if numbering == "arabext" and text.startswith("-") else text


def _locale_name(context: Context) -> str:
    # The page's context already holds the locale (see _locale below); asking
    # flask_babel.get_locale() for every number cost another 6 us each.
    return context.get("locale") or str(get_locale() or "en")


def fmt_num(value: Any, digits: int = 0, locale: str | None = None) -> str:
    if value is None:
        return "—"
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return format_number(value, fmt, locale or str(get_locale() or "en"))


def fmt_pct(value: Any, locale: str | None = None) -> str:
    """A share 0..1 as a percentage in the user's locale."""
    locale = locale or str(get_locale() or "en")
    return "—" if value is None else format_number(value, _percent_pattern(locale), locale)


@lru_cache(maxsize=8)
def _percent_pattern(locale: str) -> str:
    # The locale's own ("78 %" in Russian), as Intl's style "percent" writes it in the browser.
    return str(Locale.parse(locale).percent_formats[None].pattern)


@pass_context
def _num_filter(context: Context, value: Any, digits: int = 0) -> str:
    return fmt_num(value, digits, _locale_name(context))


@pass_context
def _pct_filter(context: Context, value: Any) -> str:
    return fmt_pct(value, _locale_name(context))


@pass_context
def _digits_filter(context: Context, value: Any) -> str:
    return localise_digits(str(value), _locale_name(context))


@pass_context
def _alert_text_filter(context: Context, alert: dict[str, Any]) -> Markup:
    # Alert texts live with the hub (hub.alert_text), shared with its e-mails and MQTT messages;
    # the page writes their numbers and times as every other figure on it.
    from hub import alert_text

    locale = _locale_name(context)

    def show(name: str, value: Any) -> str:
        if name == "chance" and isinstance(value, str):
            # Stored as the hub wrote it ("2e-06"); a reader wants the number.
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return (
                fmt_dt(value, branch_zone(alert["branch"])) if name == "since" else localise_digits(str(value), locale)
            )
        if name == "chance" and 0 < value < 0.001:
            # A chance of 2e-06 is "less than one in a thousand" to a reader.
            return "< " + fmt_num(0.001, 3, locale)
        # As many decimals as the hub kept (a share 33.3, a chance 0.002), at most three.
        decimals = 0 if float(value).is_integer() else min(3, len(repr(float(value)).split(".")[1]))
        return fmt_num(value, decimals, locale)

    text = escape(alert_text.render(alert, locale, show))
    # The branch and kiosk are ids in Latin script: isolated, or an RTL line reorders them.
    where = escape(alert["branch"] + (f"/{alert['kiosk']}" if alert.get("kiosk") else ""))
    return Markup(text.replace(where, Markup(f'<bdi class="id">{where}</bdi>'), 1))


@pass_context
def _alert_state_filter(context: Context, alert: dict[str, Any]) -> str:
    from hub import alert_text

    return alert_text.state(alert["state"], _locale_name(context)) + _alert_done_filter(context, alert)


@pass_context
def _alert_done_filter(context: Context, alert: dict[str, Any]) -> str:
    """ ": what was done" after a resolved alert's state (the auto-resolver's as a sentence), else nothing."""
    from hub import alert_text

    done = (
        alert_text.resolved_by(alert, _locale_name(context))
        if alert.get("resolved_by") == "auto"
        else alert.get("resolve_note")
    )
    return f": {done}" if done else ""


def _translations() -> Translations | NullTranslations:
    # flask_babel finds the request's catalog through a chain of lookups on g
    # for every message (6 us); a fleet page translates over a hundred.
    found = g.get("_otklik_translations")
    if found is None:
        found = g._otklik_translations = get_translations()
    return found


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.filters.update(dt=_dt_filter, local_dt=fmt_local, days=fmt_days, num=_num_filter, pct=_pct_filter)
    app.jinja_env.filters.update(digits=_digits_filter, flag_names=flag_names, camera_state=camera_state)
    app.jinja_env.globals.update(role_name=role_name, date_field=date_field, datetime_field=datetime_field)
    app.jinja_env.filters.update(
        alert_text=_alert_text_filter, alert_state=_alert_state_filter, alert_done=_alert_done_filter
    )

    @app.context_processor
    def _locale() -> dict[str, Any]:
        locale = str(get_locale() or "en")
        return {
            "locale": locale,
            "text_dir": "rtl" if locale in RTL else "ltr",
            "languages": LANGUAGES,
            "page_attrs": page_attrs(locale),
            "week_start": WEEK_START.get(locale, 0),
            "calendar": select_calendar(locale),
            "calendars": CALENDARS if locale in DEFAULT_CALENDAR else (),
            # Between the parts of a figure's line ("Index, last 7 days (...), n = 12"): Persian's own comma.
            "comma": "، " if locale == "fa" else ", ",
        }
