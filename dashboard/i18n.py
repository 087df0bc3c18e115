"""Languages: English, Russian and Persian (right to left), per user or from the browser.

Catalogs are kept as .po files in ``dashboard/translations``; the .mo files are
compiled by ``python -m dashboard.build`` (install/test step), not committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from babel.numbers import NumberPattern, parse_pattern
from flask import Flask, g, request, session
from flask_babel import Babel, format_datetime, get_locale

LANGUAGES = {"en": "English", "ru": "Русский", "fa": "فارسی"}
RTL = {"fa"}


def select_locale() -> str:
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return user.language
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def parse_ts(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fmt_dt(value: Any, style: str = "short") -> str:
    moment = parse_ts(value)
    return format_datetime(moment, style) if moment else "—"


@lru_cache(maxsize=16)
def _pattern(fmt: str) -> NumberPattern:
    # Babel parses the pattern on every call otherwise: a 50-branch page formats hundreds of numbers.
    return parse_pattern(fmt)


def fmt_num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return _pattern(fmt).apply(value, get_locale())


def fmt_pct(value: Any) -> str:
    """A share 0..1 as a percentage in the user's locale."""
    return "—" if value is None else _pattern("#,##0%").apply(value, get_locale())


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(dt=fmt_dt, num=fmt_num, pct=fmt_pct)

    @app.context_processor
    def _locale() -> dict[str, Any]:
        locale = str(get_locale() or "en")
        return {"locale": locale, "text_dir": "rtl" if locale in RTL else "ltr", "languages": LANGUAGES}
