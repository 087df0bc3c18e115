"""Which digits a language writes its numbers in: the one rule for every text the project shows.

Persian in Extended Arabic-Indic digits ۰-۹ (with ٪), as the browser's Intl writes "fa";
English and Russian in 0-9. Never a mix within a language. The dashboard (dashboard/i18n.py,
and its twin static/format.js) and the hub's alert texts (hub/alert_text.py: e-mail, MQTT,
webhooks) take the rule from here.
"""

from __future__ import annotations

# The numbering system of each language (CLDR names, as Intl's "-u-nu-" takes them).
NUMBERING = {"en": "latn", "ru": "latn", "fa": "arabext"}
_NATIVE = {"arabext": str.maketrans("0123456789%", "۰۱۲۳۴۵۶۷۸۹٪")}


def localise_digits(text: str, language: str) -> str:
    """``text`` with its Latin digits (and %) in ``language``'s own; unchanged where those are Latin."""
    table = _NATIVE.get(NUMBERING.get(language, "latn"))
    return text.translate(table) if table else text
