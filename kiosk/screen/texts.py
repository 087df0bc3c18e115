"""The touch page's own words in each language a kiosk may show (the questions come from the push)."""

from __future__ import annotations

from otklik.settings import LANGUAGES

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "How was your visit?",
        "scores": "Very unhappy|Unhappy|Happy|Very happy",
        "thanks": "Thank you!",
        "thanks_more": "Your answer helps us do better.",
        "skip": "Skip",
        "send": "Send",
        "comment": "Anything to add? (optional)",
        "comment_hint": "Please leave out names and phone numbers.",
        "offline": "Saved on this kiosk",
        "keys": "qwertyuiop|asdfghjkl|zxcvbnm,.",
        "space": "space",
        "backspace": "Delete",
    },
    "ru": {
        "title": "Как прошёл ваш визит?",
        "scores": "Очень плохо|Плохо|Хорошо|Отлично",
        "thanks": "Спасибо!",
        "thanks_more": "Ваш ответ помогает нам стать лучше.",
        "skip": "Пропустить",
        "send": "Отправить",
        "comment": "Хотите что-то добавить? (необязательно)",
        "comment_hint": "Пожалуйста, не указывайте имена и телефоны.",
        "offline": "Сохранено на этом терминале",
        "keys": "йцукенгшщзхъ|фывапролджэ|ячсмитьбю.,",
        "space": "пробел",
        "backspace": "Стереть",
    },
    "fa": {
        "title": "بازدید شما چطور بود؟",
        "scores": "خیلی ناراضی|ناراضی|راضی|خیلی راضی",
        "thanks": "سپاسگزاریم!",
        "thanks_more": "پاسخ شما به ما کمک می‌کند بهتر شویم.",
        "skip": "رد کردن",
        "send": "ارسال",
        "comment": "چیزی برای افزودن دارید؟ (اختیاری)",
        "comment_hint": "لطفاً نام و شماره تلفن ننویسید.",
        "offline": "روی این دستگاه ذخیره شد",
        # The Persian standard layout's letters; the zero-width non-joiner last, as on a phone.
        "keys": "ضصثقفغعهخحجچ|شسیبلاتنمکگ|ظطزرذدپوژ.\u200c",
        "space": "فاصله",
        "backspace": "پاک کردن",
    },
}
assert set(TEXTS) == set(LANGUAGES) and all(TEXTS[lang].keys() == TEXTS["en"].keys() for lang in LANGUAGES)
