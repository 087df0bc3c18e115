"""Numbers in the user's locale, and JSON as Flask's own provider would write it (only faster)."""

from __future__ import annotations

import importlib.util
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from flask import Flask, render_template_string, session

VALUES = [0, 7, 42.25, 999.95, 1234, 12345.678, 1_000_000, -3.5, 0.05, 2.675]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_number_filters_write_what_babel_writes(app: Flask, language: str) -> None:
    # Percentages by the locale's own pattern ("78 %" in Russian), as the browser's Intl writes them.
    template = "{% for v in values %}{{ v | num }}|{{ v | num(1) }}|{{ v | pct }};{% endfor %}{{ none | num }}"
    expected = "".join(
        f"{format_decimal(v, '#,##0', locale=language)}|{format_decimal(v, '#,##0.0', locale=language)}|"
        f"{format_percent(v, locale=language)};"
        for v in VALUES
    )
    with app.test_request_context(headers={"Accept-Language": language}):
        # Twice: the second answer comes from the memo and must be the same.
        for _ in range(2):
            assert render_template_string(template, values=VALUES) == expected + "—"


def test_persian_numbers_are_written_in_persian_digits_only(app: Flask) -> None:
    # The digit rule (dashboard/i18n.py): Persian pages never mix 0-9 with ۰-۹; the browser's
    # Intl("fa") writes the same (tests/dashboard/test_dashboard_layout.py compares the two).
    template = "{{ 12345.678 | num(1) }}|{{ 0.784 | pct }}|{{ -3.5 | num(1) }}|{{ 1000000 | num }}"
    with app.test_request_context(headers={"Accept-Language": "fa"}):
        assert render_template_string(template) == "۱۲٬۳۴۵٫۷|۷۸٪|\u200e−۳٫۵|۱٬۰۰۰٬۰۰۰"


def test_a_memoised_number_is_not_served_in_another_language(app: Flask) -> None:
    seen = {}
    for language in ("ru", "en", "fa", "ru"):
        with app.test_request_context(headers={"Accept-Language": language}):
            seen.setdefault(language, set()).add(render_template_string("{{ 12345.5 | num(1) }}"))
    assert seen == {"ru": {"12\xa0345,5"}, "en": {"12,345.5"}, "fa": {"۱۲٬۳۴۵٫۵"}}


def test_json_responses_keep_keys_sorted_text_readable_and_dates_iso(app: Flask) -> None:
    with app.test_request_context():
        response = app.json.response({"b": 1, "a": "Ольга", "day": date(2026, 11, 22), 3: None})
    text = response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert text == '{"3":null,"a":"Ольга","b":1,"day":"2026-11-22"}'
    assert json.loads(text)["a"] == "Ольга"
    assert json.loads(app.json.dumps({"z": 1, "a": 2})) == {"a": 2, "z": 1}


def test_times_are_written_as_babel_writes_them_in_each_language(app: Flask) -> None:
    from flask_babel import format_datetime

    stamps = ["2026-11-22T09:05:00Z", "2026-01-31T23:59:59.500000Z"]
    for language in ("ru", "en", "ru"):
        with app.test_request_context(headers={"Accept-Language": language}):
            shown = render_template_string("{% for t in stamps %}{{ t | dt }};{% endfor %}{{ '' | dt }}", stamps=stamps)
            # Babel's narrow space before AM/PM is a plain one, as Chromium's Intl writes it.
            expected = "".join(f"{format_datetime(datetime.fromisoformat(t), 'short')};" for t in stamps)
            expected = expected.replace("\u202f", " ")
            assert shown == expected + "—"


def test_persian_dates_are_solar_hijri_unless_the_user_chose_gregorian(app: Flask) -> None:
    stamps = ["2026-11-22T09:05:00Z", "2026-03-21T00:30:00Z"]  # 1 Azar 1405; Nowruz, 1 Farvardin 1405
    template = "{% for t in stamps %}{{ t | dt }};{% endfor %}"
    with app.test_request_context(headers={"Accept-Language": "fa"}):
        assert render_template_string(template, stamps=stamps) == "۱۴۰۵/۹/۱، ۰۹:۰۵;۱۴۰۵/۱/۱، ۰۰:۳۰;"
        session["calendar"] = "gregory"
        assert render_template_string(template, stamps=stamps) == "۲۰۲۶/۱۱/۲۲، ۰۹:۰۵;۲۰۲۶/۳/۲۱، ۰۰:۳۰;"


def test_templates_translate_in_the_language_of_each_request(app: Flask) -> None:
    template = "{{ _('Overview') }}"
    shown = {}
    for language in ("fa", "ru", "en"):
        with app.test_request_context(headers={"Accept-Language": language}):
            shown[language] = render_template_string(template)
    assert shown["en"] == "Overview" and len(set(shown.values())) == 3


def test_every_message_in_the_code_has_russian_and_persian(tmp_path: Path) -> None:
    # A message added without a translation shows up in English on a Russian page;
    # dashboard/translations/make_catalogs.py holds the translations.
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("make_catalogs", root / "dashboard/translations/make_catalogs.py")
    make_catalogs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_catalogs)
    pot = tmp_path / "messages.pot"
    make_catalogs.extract(pot)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    assert len(wanted) > 100
    for language in ("ru", "fa"):
        with (root / "dashboard" / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
            done = {m.id for m in read_po(f) if m.id and m.string}
        assert not wanted - done, f"{language}: untranslated {sorted(wanted - done)}"
