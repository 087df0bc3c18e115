"""Regenerate the .po catalogs from the templates and code plus the translations below.

Run after adding a message: ``python dashboard/translations/make_catalogs.py``.
(Plain pybabel works too: ``pybabel extract -F dashboard/babel.cfg -k _l -o messages.pot .``
then ``pybabel update``; this script keeps the translations in one reviewable place.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
T = {
    # msgid: (ru, fa)
    "Wrong username or password.": ("Неверное имя пользователя или пароль.", "نام کاربری یا گذرواژه نادرست است."),
    "No such employee in this branch.": ("В этом филиале нет такого сотрудника.", "چنین کارمندی در این شعبه نیست."),
    "Alert updated.": ("Оповещение обновлено.", "هشدار به‌روز شد."),
    "Saved.": ("Сохранено.", "ذخیره شد."),
    "Bad request": ("Неверный запрос", "درخواست نادرست"),
    "file: choose a CSV file to import": (
        "file: выберите CSV-файл для импорта",
        "file: یک فایل CSV برای ورود انتخاب کنید",
    ),
    "Imported %(n)s rows.": ("Импортировано строк: %(n)s.", "%(n)s ردیف وارد شد."),
    "language: choose one of %(list)s": (
        "language: выберите один из: %(list)s",
        "language: یکی از %(list)s را انتخاب کنید",
    ),
    "The form has expired or did not come from this site; reload the page and try again.": (
        "Форма устарела или отправлена не с этого сайта; обновите страницу и попробуйте снова.",
        "فرم منقضی شده یا از این سایت نیامده است؛ صفحه را دوباره بارگذاری کنید و دوباره امتحان کنید.",
    ),
    "Username": ("Имя пользователя", "نام کاربری"),
    "Password": ("Пароль", "گذرواژه"),
    "Branch": ("Филиал", "شعبه"),
    "Kiosk": ("Киоск", "کیوسک"),
    "State": ("Состояние", "وضعیت"),
    "Last seen": ("Последний сигнал", "آخرین بازدید"),
    "Version": ("Версия", "نسخه"),
    "Outbox backlog": ("Очередь отправки", "صف ارسال"),
    "Refused": ("Отклонено", "ردشده"),
    "Camera": ("Камера", "دوربین"),
    "Config version": ("Версия настроек", "نسخه پیکربندی"),
    "Sequence gaps": ("Пропуски", "شکاف‌های توالی"),
    "online": ("в сети", "برخط"),
    "offline": ("не в сети", "برون‌خط"),
    "unknown": ("неизвестно", "نامشخص"),
    "No kiosk has reported yet.": ("Ни один киоск ещё не выходил на связь.", "هنوز هیچ کیوسکی گزارش نداده است."),
    "Rank": ("Место", "رتبه"),
    "Employee": ("Сотрудник", "کارمند"),
    "Responses": ("Ответы", "پاسخ‌ها"),
    "Index": ("Индекс", "شاخص"),
    "Adjusted index": ("Скорректированный индекс", "شاخص تعدیل‌شده"),
    "Positive share (95%% interval)": ("Доля довольных (95%% интервал)", "سهم مثبت (بازه ۹۵%%)"),
    "Nobody has enough responses in this period yet.": (
        "Ни у кого пока нет достаточного числа ответов за этот период.",
        "هنوز هیچ‌کس در این دوره پاسخ کافی ندارد.",
    ),
    "Alerts": ("Оповещения", "هشدارها"),
    "Open": ("Открытые", "باز"),
    "Resolved": ("Решённые", "حل‌شده"),
    "All": ("Все", "همه"),
    "Export CSV": ("Экспорт CSV", "خروجی CSV"),
    "Opened": ("Открыто", "زمان باز شدن"),
    "Alert": ("Оповещение", "هشدار"),
    "Acknowledge": ("Принять", "تأیید"),
    "What was done": ("Что сделано", "چه کاری انجام شد"),
    "Resolve": ("Решить", "حل"),
    "No alerts.": ("Оповещений нет.", "هشداری نیست."),
    "Overview": ("Обзор", "نمای کلی"),
    "Employees": ("Сотрудники", "کارمندان"),
    "Roster": ("Штат", "فهرست کارکنان"),
    "Fleet": ("Киоски", "ناوگان"),
    "Language": ("Язык", "زبان"),
    "Change": ("Сменить", "تغییر"),
    "Log out": ("Выйти", "خروج"),
    "Log in": ("Войти", "ورود"),
    "Index, last 7 days": ("Индекс за 7 дней", "شاخص، ۷ روز گذشته"),
    "Satisfaction index, last 7 days": ("Индекс удовлетворённости за 7 дней", "شاخص رضایت، ۷ روز گذشته"),
    "Responses today": ("Ответов сегодня", "پاسخ‌های امروز"),
    "Index today": ("Индекс сегодня", "شاخص امروز"),
    "Responses this week": ("Ответов за неделю", "پاسخ‌های این هفته"),
    "Response rate": ("Доля откликнувшихся", "نرخ پاسخ"),
    "Open alerts": ("Открытые оповещения", "هشدارهای باز"),
    "No branch to show yet.": ("Пока нет филиалов для показа.", "هنوز شعبه‌ای برای نمایش نیست."),
    "Index and responses over time": ("Индекс и ответы во времени", "شاخص و پاسخ‌ها در طول زمان"),
    "Day": ("День", "روز"),
    "Week": ("Неделя", "هفته"),
    "Month": ("Месяц", "ماه"),
    "Hour × weekday": ("Час × день недели", "ساعت × روز هفته"),
    "Mon": ("Пн", "دوشنبه"),
    "Tue": ("Вт", "سه‌شنبه"),
    "Wed": ("Ср", "چهارشنبه"),
    "Thu": ("Чт", "پنجشنبه"),
    "Fri": ("Пт", "جمعه"),
    "Sat": ("Сб", "شنبه"),
    "Sun": ("Вс", "یکشنبه"),
    "Kiosks": ("Киоски", "کیوسک‌ها"),
    "Flagged presses": ("Отмеченные нажатия", "فشارهای علامت‌خورده"),
    "Time": ("Время", "زمان"),
    "Button": ("Кнопка", "دکمه"),
    "Reason": ("Причина", "دلیل"),
    "No flagged presses in the last 30 days.": (
        "За последние 30 дней отмеченных нажатий нет.",
        "در ۳۰ روز گذشته فشار علامت‌خورده‌ای نبوده است.",
    ),
    "Positive share": ("Доля довольных", "سهم مثبت"),
    "Trend by week": ("Динамика по неделям", "روند هفتگی"),
    "From": ("С", "از"),
    "To": ("По", "تا"),
    "Show": ("Показать", "نمایش"),
    "Only employees with at least %(n)s responses in the period are ranked; the adjusted index pulls small "
    "samples toward the average.": (
        "В рейтинг попадают сотрудники, у которых за период не меньше %(n)s ответов; скорректированный индекс "
        "притягивает малые выборки к среднему.",
        "فقط کارمندانی که در این دوره دست‌کم %(n)s پاسخ دارند رتبه می‌گیرند؛ شاخص تعدیل‌شده نمونه‌های کوچک را "
        "به سوی میانگین می‌کشد.",
    ),
    "Export shifts CSV": ("Экспорт смен CSV", "خروجی CSV شیفت‌ها"),
    "Id": ("Код", "شناسه"),
    "Name": ("Имя", "نام"),
    "Active": ("Активен", "فعال"),
    "yes": ("да", "بله"),
    "no": ("нет", "خیر"),
    "Nobody on the roster yet.": ("В штате пока никого нет.", "هنوز کسی در فهرست نیست."),
    "Add or change an employee": ("Добавить или изменить сотрудника", "افزودن یا تغییر کارمند"),
    "Save": ("Сохранить", "ذخیره"),
    "Import CSV": ("Импорт CSV", "ورود CSV"),
    "Import": ("Импортировать", "ورود"),
    "Employees: id,name,branch[,active]. Shifts: employee,branch,kiosk,start,end[,note] in the branch's local time.": (
        "Сотрудники: id,name,branch[,active]. Смены: employee,branch,kiosk,start,end[,note] по местному времени "
        "филиала.",
        "کارمندان: id,name,branch[,active]. شیفت‌ها: employee,branch,kiosk,start,end[,note] به وقت محلی شعبه.",
    ),
    # The roster's shifts: page, flashes and the field messages of dashboard.writes.save_shift.
    "Shifts": ("Смены", "شیفت‌ها"),
    "All branches": ("Все филиалы", "همهٔ شعبه‌ها"),
    "Times are in each branch's local time.": (
        "Время указано по местному времени каждого филиала.",
        "زمان‌ها به وقت محلی هر شعبه است.",
    ),
    "Start": ("Начало", "شروع"),
    "End": ("Конец", "پایان"),
    "Note": ("Примечание", "یادداشت"),
    "every kiosk": ("все киоски", "همهٔ کیوسک‌ها"),
    "Edit": ("Изменить", "ویرایش"),
    "Delete": ("Удалить", "حذف"),
    "Delete this shift?": ("Удалить эту смену?", "این شیفت حذف شود؟"),
    "No shifts in this period.": ("За этот период смен нет.", "در این دوره شیفتی نیست."),
    "Edit shift %(id)s": ("Изменить смену %(id)s", "ویرایش شیفت %(id)s"),
    "Add a shift": ("Добавить смену", "افزودن شیفت"),
    "In the branch's local time; leave the kiosk empty to cover every kiosk of the branch.": (
        "По местному времени филиала; оставьте киоск пустым, чтобы смена охватывала все киоски филиала.",
        "به وقت محلی شعبه؛ برای پوشش همهٔ کیوسک‌های شعبه، کیوسک را خالی بگذارید.",
    ),
    "Cancel": ("Отмена", "لغو"),
    "Shift deleted.": ("Смена удалена.", "شیفت حذف شد."),
    "shift %(id)s does not exist": ("смены %(id)s не существует", "شیفت %(id)s وجود ندارد"),
    "shift: '%(value)s' is not a shift id": (
        "shift: '%(value)s' — не номер смены",
        "shift: '%(value)s' شناسهٔ شیفت نیست",
    ),
    "end: the shift must end after it starts": (
        "end: смена должна заканчиваться позже, чем начинается",
        "end: پایان شیفت باید بعد از شروع آن باشد",
    ),
    "end: a shift cannot be longer than %(hours)s hours": (
        "end: смена не может длиться дольше %(hours)s часов",
        "end: شیفت نمی‌تواند بیش از %(hours)s ساعت باشد",
    ),
    "note: keep it under %(n)s characters": ("note: не больше %(n)s символов", "note: کمتر از %(n)s نویسه بنویسید"),
    "branch: choose the shift's branch": ("branch: выберите филиал смены", "branch: شعبهٔ شیفت را انتخاب کنید"),
    "branch: a shift stays in its branch; delete it and add a new one there": (
        "branch: смена остаётся в своём филиале; удалите её и добавьте новую в нужном филиале",
        "branch: شیفت در شعبهٔ خودش می‌ماند؛ آن را حذف کنید و در شعبهٔ دیگر شیفت تازه‌ای بیفزایید",
    ),
    "branch: '%(value)s' is not a known branch": (
        "branch: филиал '%(value)s' неизвестен",
        "branch: '%(value)s' شعبهٔ شناخته‌شده‌ای نیست",
    ),
    "employee: choose an employee": ("employee: выберите сотрудника", "employee: یک کارمند انتخاب کنید"),
    "employee: '%(value)s' is not on the roster; add them first": (
        "employee: '%(value)s' нет в штате; сначала добавьте сотрудника",
        "employee: '%(value)s' در فهرست کارکنان نیست؛ ابتدا او را اضافه کنید",
    ),
    "employee: %(value)s works at %(home)s, not %(branch)s": (
        "employee: %(value)s работает в филиале %(home)s, а не %(branch)s",
        "employee: %(value)s در شعبهٔ %(home)s کار می‌کند، نه %(branch)s",
    ),
    "kiosk: '%(value)s' is not a kiosk of %(branch)s (known: %(known)s); leave it empty for all of them": (
        "kiosk: '%(value)s' — не киоск филиала %(branch)s (известные: %(known)s); оставьте поле пустым, "
        "чтобы охватить все",
        "kiosk: '%(value)s' کیوسکِ شعبهٔ %(branch)s نیست (شناخته‌شده‌ها: %(known)s)؛ برای پوشش همهٔ کیوسک‌ها خالی بگذارید",
    ),
    "%(field)s: give a time like 2026-11-22 09:00": (
        "%(field)s: укажите время, например 2026-11-22 09:00",
        "%(field)s: زمانی مانند 2026-11-22 09:00 وارد کنید",
    ),
    "%(field)s: '%(value)s' is not a time like 2026-11-22 09:00": (
        "%(field)s: '%(value)s' — не время вида 2026-11-22 09:00",
        "%(field)s: '%(value)s' زمانی مانند 2026-11-22 09:00 نیست",
    ),
    # secdash: ownership on every roster write (hub.roster's refusals), 404 for what a user may not see, bad input.
    "Not found.": ("Не найдено.", "پیدا نشد."),
    "branch '%(value)s' not found": ("филиал '%(value)s' не найден", "شعبهٔ '%(value)s' پیدا نشد"),
    "branch: '%(value)s' is not one of yours": (
        "branch: филиал '%(value)s' не из ваших",
        "branch: شعبهٔ '%(value)s' از شعبه‌های شما نیست",
    ),
    "%(field)s: %(value)s is not an id": ("%(field)s: %(value)s — не номер", "%(field)s: %(value)s شناسه نیست"),
    "%(field)s: must be text": ("%(field)s: должно быть текстом", "%(field)s: باید متن باشد"),
    "%(field)s: '%(value)s' is outside the years %(first)s-%(last)s": (
        "%(field)s: '%(value)s' вне лет %(first)s-%(last)s",
        "%(field)s: '%(value)s' بیرون از سال‌های %(first)s-%(last)s است",
    ),
    "employee id %(value)r must be 1-64 letters, digits, '.', '-' or '_'": (
        "код сотрудника %(value)r: 1-64 буквы, цифры, '.', '-' или '_'",
        "شناسهٔ کارمند %(value)r باید ۱ تا ۶۴ حرف، رقم، '.'، '-' یا '_' باشد",
    ),
    "id: give the employee an id (e.g. e17)": (
        "id: укажите код сотрудника (например, e17)",
        "id: برای کارمند یک شناسه بگذارید (مثلاً e17)",
    ),
    "branch: choose the employee's branch": (
        "branch: выберите филиал сотрудника",
        "branch: شعبهٔ کارمند را انتخاب کنید",
    ),
    "name: keep it under %(n)s characters": ("name: не больше %(n)s символов", "name: کمتر از %(n)s نویسه بنویسید"),
    "id: '%(value)s' is taken by an employee you cannot change; choose another": (
        "id: код '%(value)s' занят сотрудником, которого вы не можете менять; выберите другой",
        "id: شناسهٔ '%(value)s' از آنِ کارمندی است که نمی‌توانید تغییرش دهید؛ شناسهٔ دیگری برگزینید",
    ),
    "employee %(value)r is not on the roster; add them with `otklik roster add-employee`": (
        "сотрудника %(value)r нет в штате; добавьте его командой `otklik roster add-employee`",
        "کارمند %(value)r در فهرست نیست؛ با `otklik roster add-employee` او را بیفزایید",
    ),
    "%(name)r is not a shift field that can change (%(fields)s)": (
        "%(name)r — не поле смены, которое можно менять (%(fields)s)",
        "%(name)r فیلدی از شیفت نیست که بتوان تغییرش داد (%(fields)s)",
    ),
    "employee: '%(value)s' is not on the roster of %(branch)s": (
        "employee: '%(value)s' нет в штате филиала %(branch)s",
        "employee: '%(value)s' در فهرست کارکنان شعبهٔ %(branch)s نیست",
    ),
    "CSV header %(header)s is neither employees (%(employees)s) nor shifts (%(shifts)s)": (
        "заголовок CSV %(header)s — ни сотрудники (%(employees)s), ни смены (%(shifts)s)",
        "سرستون CSV %(header)s نه کارمندان (%(employees)s) است و نه شیفت‌ها (%(shifts)s)",
    ),
    "the row has %(n)s more fields than the header": (
        "в строке на %(n)s полей больше, чем в заголовке",
        "این سطر %(n)s فیلد بیش از سرستون دارد",
    ),
    "line %(line)s: %(reason)s": ("строка %(line)s: %(reason)s", "سطر %(line)s: %(reason)s"),
    "Too many failed log-ins: try again in %(n)s seconds.": (
        "Слишком много неудачных попыток входа: попробуйте снова через %(n)s с.",
        "تلاش‌های ناموفق ورود بیش از حد است: %(n)s ثانیهٔ دیگر دوباره امتحان کنید.",
    ),
    # Receipts (issue 11): presses a kiosk has sent and keeps until the hub confirms them.
    "Awaiting receipt": ("Ждут квитанции", "در انتظار رسید"),
    "oldest %(age)s s": ("старейшей %(age)s с", "قدیمی‌ترین %(age)s ثانیه"),
    # hub service: a kiosk's outbox figure that is no longer current (fleet)
    "last reported %(depth)s at %(time)s": (
        "последнее значение %(depth)s на %(time)s",
        "آخرین گزارش %(depth)s در %(time)s",
    ),
}


def extract(pot: Path) -> None:
    """Every message in the templates and code into ``pot`` (a gettext template)."""
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "dashboard/babel.cfg", "-k", "_l",
         "-k", "RosterError", "-k", "NotYours",
         "--no-location", "-o", str(pot), "."],
        cwd=HERE.parent.parent, check=True, capture_output=True,
    )  # fmt: skip


def main() -> None:
    pot = HERE / "messages.pot"
    extract(pot)
    with pot.open("rb") as f:
        template = read_po(f)
    for column, lang in enumerate(("ru", "fa")):
        with pot.open("rb") as f:
            catalog = read_po(f, locale=lang)
        missing = []
        for message in catalog:
            if message.id:
                # T holds singular messages only: a plural's id is a tuple, and it is reported missing.
                message.string = T.get(message.id, ("", ""))[column] if isinstance(message.id, str) else ""
                if not message.string:
                    missing.append(message.id)
        out = HERE / lang / "LC_MESSAGES" / "messages.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as f:
            write_po(f, catalog, width=120)
        print(f"{out}: {len(template) - len(missing)} translated, missing: {missing}")
    pot.unlink()


if __name__ == "__main__":
    main()
