"""Languages: English, Russian and Persian (right to left), per user or from the browser.

Catalogs are kept as .po files in ``dashboard/translations``; the .mo files are
compiled by ``python -m dashboard.build`` (install/test step), not committed.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.numbers import NumberPattern, parse_pattern
from babel.support import NullTranslations, Translations
from flask import Flask, g, request, session
from flask_babel import Babel, format_datetime, get_locale, get_timezone, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context

from otklik.times import read_ts_or_none

LANGUAGES = {"en": "English", "ru": "Русский", "fa": "فارسی"}
RTL = {"fa"}


def select_locale() -> str:
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return user.language
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def fmt_dt(value: Any, style: str = "short") -> str:
    moment = read_ts_or_none(value)
    if moment is None:
        return "—"
    # Keyed by what the result depends on; the same last-seen times are shown
    # to every manager on every refresh, and Babel takes 80 us for each.
    return _format_dt(moment, style, str(get_locale() or "en"), str(get_timezone()))


@lru_cache(maxsize=8192)
def _format_dt(moment: datetime, style: str, _locale: str, _timezone: str) -> str:
    return format_datetime(moment, style)


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
    return _pattern(fmt).apply(value, Locale.parse(locale))


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
    return "—" if value is None else format_number(value, "#,##0%", locale or str(get_locale() or "en"))


@pass_context
def _num_filter(context: Context, value: Any, digits: int = 0) -> str:
    return fmt_num(value, digits, _locale_name(context))


@pass_context
def _pct_filter(context: Context, value: Any) -> str:
    return fmt_pct(value, _locale_name(context))


@pass_context
def _alert_text_filter(context: Context, alert: dict[str, Any]) -> str:
    # Alert texts live with the hub (hub.alert_text), shared with its e-mails and MQTT messages.
    from hub import alert_text

    return alert_text.render(alert, _locale_name(context))


@pass_context
def _alert_state_filter(context: Context, alert: dict[str, Any]) -> str:
    from hub import alert_text

    locale = _locale_name(context)
    done = alert_text.resolved_by(alert, locale) if alert.get("resolved_by") == "auto" else alert.get("resolve_note")
    return alert_text.state(alert["state"], locale) + (f": {done}" if done else "")


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
    app.jinja_env.filters.update(dt=fmt_dt, num=_num_filter, pct=_pct_filter)
    app.jinja_env.filters.update(alert_text=_alert_text_filter, alert_state=_alert_state_filter)

    @app.context_processor
    def _locale() -> dict[str, Any]:
        locale = str(get_locale() or "en")
        return {"locale": locale, "text_dir": "rtl" if locale in RTL else "ltr", "languages": LANGUAGES}
