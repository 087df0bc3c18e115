"""Alert texts in the reader's language: an alert is stored as its rule (the kind) and parameters,
and rendered here for the dashboard page, e-mail, webhooks and the MQTT payload's ``message``.

This is the one home of alert wording in every language, so the page, the e-mail and the
MQTT message cannot drift apart.  An alert stored before parameters existed keeps its
stored English ``message``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, date, tzinfo
from typing import Any

from otklik.dates import short_date, wall_minute
from otklik.digits import localise_digits
from otklik.times import read_ts_or_none

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


def plain(lang: str = "en", zone: tzinfo = UTC) -> Show:
    """How an e-mail, a webhook or an MQTT message writes a parameter: numbers in ``lang``'s digits
    (otklik.digits: Persian ones in Persian, as every Persian text of the project), a moment
    (``MOMENTS``) as the branch's wall clock showed it (``zone``) in ``lang``'s calendar
    (otklik.dates: Solar Hijri in Persian), a day (``DAYS``) likewise."""
    lang = language(lang)

    def show(name: str, value: Any) -> str:
        moment = read_ts_or_none(value) if name in MOMENTS else None
        if moment is not None:
            return wall_minute(moment.astimezone(zone), lang)
        if name in DAYS and isinstance(value, str):
            with contextlib.suppress(ValueError):
                return short_date(date.fromisoformat(value), lang)
        if value is None:
            text = "—"
        elif name == "p_value" and isinstance(value, float):
            text = f"{value:.2g}"  # a chance: its first figures, not a rounding to 0.0
        elif isinstance(value, float):
            text = f"{value:.1f}".removesuffix(".0")
        else:
            text = str(KIOSK_STATES.get(str(value), {}).get(lang, value)) if name == "state" else str(value)
        return localise_digits(text, lang)

    return show


def render_kind(kind: str, params: dict[str, Any], lang: str = "en", show: Show | None = None) -> str:
    """One text by kind; a missing parameter shows as '?' rather than failing a delivery."""
    texts = TEXTS[kind]
    template = texts.get(language(lang), texts["en"])
    write = show or plain(lang)
    return template.format_map(_Missing({k: v if k == "where" else write(k, v) for k, v in params.items()}))


def render(alert: dict[str, Any], lang: str = "en", show: Show | None = None, zone: tzinfo = UTC) -> str:
    """The alert's message in ``lang`` (en, ru, fa), each parameter written by ``show`` (by
    default ``plain``: the language's digits, moments in ``zone``, the branch's)."""
    show = show or plain(lang, zone)
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


# {command_id}: the id inside a command to type, in the digits a shell takes. The state is said
# once, after "State:": "Тревога 5 (открыта) открыта ..." said it twice.
EMAIL = {
    "en": "Alert {id}, raised {opened_at}. State: {state}.\nAcknowledge: otklik alerts ack {command_id} --by NAME",
    "ru": "Тревога {id} от {opened_at}. Состояние: {state}.\nПринять: otklik alerts ack {command_id} --by ИМЯ",
    "fa": "هشدار {id} از {opened_at}. وضعیت: {state}.\nپذیرش: otklik alerts ack {command_id} --by NAME",
}

# The e-mail's details (an alert's ``details``, which programs read as JSON from MQTT and webhooks),
# one "label: value" line each; a key without a label here shows as its name.
DETAIL_LABELS: dict[str, dict[str, str]] = {
    "responses": {"en": "Presses", "ru": "Нажатий", "fa": "فشارها"},
    "unhappy": {"en": "Unhappy presses", "ru": "Недовольных нажатий", "fa": "فشارهای ناراضی"},
    "happy": {"en": "Very happy presses", "ru": "Очень довольных нажатий", "fa": "فشارهای بسیار راضی"},
    "window_min": {"en": "Window, min", "ru": "Окно, мин", "fa": "بازه، دقیقه"},
    "date": {"en": "Day", "ru": "День", "fa": "روز"},
    "state": {"en": "Kiosk state", "ru": "Состояние киоска", "fa": "وضعیت کیوسک"},
    "last_seen": {"en": "Last heard from", "ru": "Последний сигнал", "fa": "آخرین سیگنال"},
    "state_at": {"en": "State since", "ru": "Состояние с", "fa": "وضعیت از"},
    "outbox_depth": {"en": "Presses waiting", "ru": "Нажатий ждут отправки", "fa": "فشارهای در صف"},
    "baseline_responses": {"en": "Presses in past weeks", "ru": "Нажатий в прошлые недели",
                           "fa": "فشارها در هفته‌های گذشته"},
    "baseline_unhappy": {"en": "Unhappy in past weeks", "ru": "Недовольных в прошлые недели",
                         "fa": "ناراضی در هفته‌های گذشته"},
    "baseline_happy": {"en": "Very happy in past weeks", "ru": "Очень довольных в прошлые недели",
                       "fa": "بسیار راضی در هفته‌های گذشته"},
    "p_value": {"en": "Chance", "ru": "Вероятность случайности", "fa": "احتمال تصادف"},
    "weeks": {"en": "Weeks compared", "ru": "Недель для сравнения", "fa": "هفته‌های مقایسه"},
    "last_press": {"en": "Last press", "ru": "Последнее нажатие", "fa": "آخرین فشار"},
    "expected": {"en": "Presses expected", "ru": "Ожидалось нажатий", "fa": "فشارهای مورد انتظار"},
    "visitors": {"en": "Visitors counted", "ru": "Посетителей насчитано", "fa": "بازدیدکنندگان شمرده‌شده"},
}  # fmt: skip
DETAILS_TITLE = {"en": "Details", "ru": "Подробности", "fa": "جزئیات"}
# Which details are moments (written in the branch's clock and the reader's calendar) and days.
MOMENTS = frozenset({"since", "last_seen", "state_at", "last_press"})
DAYS = frozenset({"date"})
# A kiosk's state as stored (hub/ingest.py: status messages), in words.
KIOSK_STATES: dict[str, dict[str, str]] = {
    "online": {"en": "online", "ru": "в сети", "fa": "آنلاین"},
    "offline": {"en": "offline", "ru": "не в сети", "fa": "آفلاین"},
}


def details_lines(alert: dict[str, Any], lang: str = "en", zone: tzinfo = UTC) -> list[str]:
    """The alert's details as "label: value" lines in ``lang`` (its digits, its calendar, the branch's clock)."""
    lang = language(lang)
    show = plain(lang, zone)
    details = alert.get("details") or {}
    return [f"{DETAIL_LABELS.get(key, {}).get(lang, key)}: {show(key, value)}" for key, value in details.items()]


def email_body(alert: dict[str, Any], lang: str = "en", zone: tzinfo = UTC) -> str:
    """The e-mail's text: the message, when the alert opened by the branch's clock (``zone``, named)
    in the reader's calendar, its state, then its details as lines."""
    lang = language(lang)
    opened = read_ts_or_none(alert["opened_at"])
    named = localise_digits(getattr(zone, "key", str(zone)), lang)
    when = f"{wall_minute(opened.astimezone(zone), lang)} ({named})" if opened else str(alert["opened_at"])
    facts = EMAIL[lang].format(id=localise_digits(str(alert["id"]), lang), command_id=alert["id"],
                               state=state(alert["state"], lang), opened_at=when)  # fmt: skip
    lines = details_lines(alert, lang, zone)
    details = f"\n\n{DETAILS_TITLE[lang]}:\n" + "\n".join(f"- {line}" for line in lines) if lines else ""
    return f"{render(alert, lang, zone=zone)}\n\n{facts}{details}\n"
