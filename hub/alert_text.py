"""Alert texts in the reader's language: an alert is stored as its rule (the kind) and parameters,
and rendered here for the dashboard page, e-mail, webhooks and the MQTT payload's ``message``.

This is the one home of alert wording in every language, so the page, the e-mail and the
MQTT message cannot drift apart.  An alert stored before parameters existed keeps its
stored English ``message``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# How a reader sees one parameter's value (name, value) -> text: the dashboard passes its own,
# which writes numbers in the reader's digits and timestamps in their calendar.
Show = Callable[[str, Any], str]

LANGUAGES = ("en", "ru", "fa")

# {placeholders} are filled from the alert's params (and branch, kiosk); numbers arrive pre-formatted.
TEXTS: dict[str, dict[str, str]] = {
    "unhappy_share": {
        "en": "{where}: {share}% unhappy ({unhappy} of {responses} presses) in the last {window_min} min "
        "(limit {limit}%)",
        "ru": "{where}: {share}% недовольных ({unhappy} из {responses} нажатий) за последние {window_min} мин "
        "(порог {limit}%)",
        "fa": "{where}: {share}٪ ناراضی ({unhappy} از {responses} فشار) در {window_min} دقیقهٔ گذشته (حد {limit}٪)",
    },
    "day_index": {
        "en": "{where}: today's index is {index} over {responses} presses (alert below {limit})",
        "ru": "{where}: индекс за сегодня {index} по {responses} нажатиям (тревога ниже {limit})",
        "fa": "{where}: شاخص امروز {index} از {responses} فشار است (هشدار زیر {limit})",
    },
    "kiosk_offline": {
        "en": "{where}: offline since {since} (more than {limit_min} min)",
        "ru": "{where}: не в сети с {since} (дольше {limit_min} мин)",
        "fa": "{where}: از {since} آفلاین است (بیش از {limit_min} دقیقه)",
    },
    "kiosk_silent_heartbeat": {
        "en": "{where}: no heartbeat since {since} (more than {limit_min} min)",
        "ru": "{where}: нет сигнала с {since} (дольше {limit_min} мин)",
        "fa": "{where}: از {since} هیچ سیگنالی نرسیده است (بیش از {limit_min} دقیقه)",
    },
    "backlog": {
        "en": "{where}: {depth} presses waiting in the outbox (limit {limit})",
        "ru": "{where}: {depth} нажатий ждут отправки (порог {limit})",
        "fa": "{where}: {depth} فشار در صف ارسال مانده است (حد {limit})",
    },
    "unhappy_change": {
        "en": "{where}: {share}% unhappy ({unhappy} of {responses}) in the last {window_min} min, "
        "usually {baseline}% at this hour (chance {chance})",
        "ru": "{where}: {share}% недовольных ({unhappy} из {responses}) за последние {window_min} мин, "
        "обычно в этот час {baseline}% (вероятность случайности {chance})",
        "fa": "{where}: {share}٪ ناراضی ({unhappy} از {responses}) در {window_min} دقیقهٔ گذشته؛ "
        "معمولاً در این ساعت {baseline}٪ (احتمال تصادف {chance})",
    },
    "good_hour": {
        "en": "{where}: an unusually good hour: {share}% very happy ({happy} of {responses}) in the last "
        "{window_min} min, usually {baseline}%",
        "ru": "{where}: необычно хороший час: {share}% очень довольных ({happy} из {responses}) за последние "
        "{window_min} мин, обычно {baseline}%",
        "fa": "{where}: ساعتی غیرعادی خوب: {share}٪ بسیار راضی ({happy} از {responses}) در {window_min} "
        "دقیقهٔ گذشته؛ معمولاً {baseline}٪",
    },
    "kiosk_silent": {
        "en": "{where}: online but no press for {silent_min} min during opening hours ({reason})",
        "ru": "{where}: в сети, но ни одного нажатия {silent_min} мин в часы работы ({reason})",
        "fa": "{where}: آنلاین است ولی {silent_min} دقیقه در ساعات کاری هیچ فشاری نداشته ({reason})",
    },
    "silent_expected": {
        "en": "about {expected} presses expected by this time of the week",
        "ru": "обычно к этому времени недели около {expected} нажатий",
        "fa": "معمولاً در این زمان هفته حدود {expected} فشار",
    },
    "silent_visitors": {
        "en": "the camera counted {visitors} visitors meanwhile",
        "ru": "камера насчитала за это время {visitors} посетителей",
        "fa": "دوربین در این مدت {visitors} بازدیدکننده شمرده است",
    },
    # Added to an unhappy-share alert when shoppers answered the follow-up question.
    "mostly": {
        "en": "; mostly “{reason}” ({n} of {answered} who said why)",
        "ru": "; чаще всего «{reason}» ({n} из {answered} назвавших причину)",
        "fa": "؛ بیشتر «{reason}» ({n} از {answered} نفری که دلیل را گفتند)",
    },
}

STATES: dict[str, dict[str, str]] = {
    "open": {"en": "open", "ru": "открыта", "fa": "باز"},
    "acknowledged": {"en": "acknowledged", "ru": "принята", "fa": "پذیرفته شده"},
    "resolved": {"en": "resolved", "ru": "закрыта", "fa": "حل شده"},
}

AUTO = {"en": "automatically: condition cleared", "ru": "автоматически: условие больше не выполняется",
        "fa": "خودکار: شرط برطرف شد"}  # fmt: skip


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def language(name: str | None) -> str:
    """A supported language code from e.g. 'ru', 'ru_RU', 'fa-IR'; English otherwise."""
    code = (name or "en").replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else "en"


def _num(_name: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".removesuffix(".0")
    return str(value)


def render_kind(kind: str, params: dict[str, Any], lang: str = "en", show: Show = _num) -> str:
    """One text by kind; a missing parameter shows as '?' rather than failing a delivery."""
    texts = TEXTS[kind]
    template = texts.get(language(lang), texts["en"])
    return template.format_map(_Missing({k: v if k == "where" else show(k, v) for k, v in params.items()}))


def render(alert: dict[str, Any], lang: str = "en", show: Show = _num) -> str:
    """The alert's message in ``lang`` (en, ru, fa), each parameter written by ``show``."""
    params = dict(alert.get("params") or {})
    kind = params.pop("text", None) or alert.get("rule")
    if not alert.get("params") or kind not in TEXTS:
        return str(alert.get("message") or "")
    where = alert["branch"] + (f"/{alert['kiosk']}" if alert.get("kiosk") else "")
    if "reason" in params and isinstance(params["reason"], dict):
        reason = dict(params["reason"])
        params["reason"] = render_kind(reason.pop("text"), reason, lang, show)
    mostly = params.pop("mostly", None)
    text = render_kind(kind, {"where": where, **params}, lang, lambda k, v: v if k == "reason" else show(k, v))
    if isinstance(mostly, dict):
        text += _mostly(mostly, lang, show)
    return text


def _mostly(mostly: dict[str, Any], lang: str, show: Show) -> str:
    """The reason behind an alert, in the reader's words; its id where the stored words lack the language."""
    labels = mostly.get("label") or {}
    reason = labels.get(language(lang)) or str(mostly.get("reason") or "?")
    return render_kind(
        "mostly", {"reason": reason, "n": mostly.get("n"), "answered": mostly.get("answered")}, lang, show
    )


def state(name: str, lang: str = "en") -> str:
    labels = STATES.get(name)
    return labels.get(language(lang), name) if labels else name


def resolved_by(alert: dict[str, Any], lang: str = "en") -> str:
    """Who resolved it; 'auto' is shown as a sentence in the reader's language."""
    who = alert.get("resolved_by") or ""
    return AUTO[language(lang)] if who == "auto" else who


EMAIL = {
    "en": "Alert {id} ({state}) opened {opened_at}.\nAcknowledge: otklik alerts ack {id} --by NAME",
    "ru": "Тревога {id} ({state}) открыта {opened_at}.\nПринять: otklik alerts ack {id} --by ИМЯ",
    "fa": "هشدار {id} ({state}) در {opened_at} باز شد.\nپذیرش: otklik alerts ack {id} --by NAME",
}


def email_body(alert: dict[str, Any], lang: str = "en") -> str:
    lang = language(lang)
    facts = EMAIL[lang].format(id=alert["id"], state=state(alert["state"], lang), opened_at=alert["opened_at"])
    return f"{render(alert, lang)}\n\n{facts}\n"
