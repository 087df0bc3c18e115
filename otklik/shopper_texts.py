"""What a shopper reads, in each language a kiosk or a phone may show: one set of words for the
kiosk's touch page (kiosk/screen), the phone page (dashboard/phone.py) and the printed QR sheet
(hub/provisioning/qr_sheet.py). The follow-up questions come from the settings push.

``{n}`` in a text is a number the page fills in, in the language's own digits.
"""

from __future__ import annotations

from pathlib import Path

from otklik.settings import LANGUAGES

# The markup both pages share (the smileys, the follow-up, the thank-you): Jinja macros in shopper.html.
TEMPLATES = Path(__file__).parent / "templates"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "phone_title": "Your feedback",
        "privacy": "Anonymous: we keep your answer, not who you are. No sign-in, no app; a cookie on this phone only "
        "stops a second answer within a few minutes.",
        "again_in": "You have already answered here. Thank you! You can answer again in {n} min.",
        "too_many": "Too many answers from this network just now. Please try again in {n} min.",
        "too_fast": "Too many requests. Please wait a moment and try again.",
        "too_long": "That is too long to send. Please shorten it.",
        "bad_code": "This code is not valid any more. Please scan the code at the kiosk again.",
        "failed": "Sorry, that did not go through. Please try again.",
        "sheet_title": "How was your visit?",
        "sheet_hint": "Scan with your phone's camera: four faces, one tap. No app, no sign-in, anonymous.",
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
        "phone_title": "Ваш отзыв",
        "privacy": "Анонимно: мы храним ваш ответ, а не то, кто вы. Без входа и приложений; куки на этом телефоне "
        "лишь не даёт ответить второй раз за несколько минут.",
        "again_in": "Вы уже ответили здесь. Спасибо! Снова ответить можно через {n} мин.",
        "too_many": "Слишком много ответов из этой сети. Попробуйте через {n} мин.",
        "too_fast": "Слишком много запросов. Подождите немного и попробуйте снова.",
        "too_long": "Слишком длинно для отправки. Пожалуйста, сократите.",
        "bad_code": "Этот код больше не действует. Отсканируйте код у терминала ещё раз.",
        "failed": "Не удалось отправить. Попробуйте ещё раз.",
        "sheet_title": "Как прошёл ваш визит?",
        "sheet_hint": "Наведите камеру телефона: четыре смайлика, одно касание. Без приложения и входа, анонимно.",
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
        "phone_title": "نظر شما",
        "privacy": "ناشناس: ما پاسخ شما را نگه می‌داریم، نه هویت شما را. بدون ورود و بدون برنامه؛ یک کوکی روی همین "
        "گوشی فقط جلوی پاسخ دوباره در چند دقیقه را می‌گیرد.",
        "again_in": "شما اینجا پاسخ داده‌اید. سپاسگزاریم! {n} دقیقهٔ دیگر می‌توانید دوباره پاسخ دهید.",
        "too_many": "پاسخ‌های زیادی از این شبکه رسیده است. لطفاً {n} دقیقهٔ دیگر دوباره امتحان کنید.",
        "too_fast": "درخواست‌ها زیاد است. لطفاً کمی صبر کنید و دوباره امتحان کنید.",
        "too_long": "این متن برای ارسال بیش از حد طولانی است. لطفاً کوتاه‌ترش کنید.",
        "bad_code": "این کد دیگر معتبر نیست. لطفاً کد روی دستگاه را دوباره اسکن کنید.",
        "failed": "متأسفیم، ارسال نشد. لطفاً دوباره امتحان کنید.",
        "sheet_title": "بازدید شما چطور بود؟",
        "sheet_hint": "با دوربین گوشی اسکن کنید: چهار چهره، یک لمس. بدون برنامه، بدون ورود، ناشناس.",
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
