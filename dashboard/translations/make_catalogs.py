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
        "file: یک فایل CSV برای وارد کردن انتخاب کنید",
    ),
    "Imported %(n)s rows.": ("Импортировано строк: %(n)s.", "%(n)s ردیف وارد شد."),
    "%(field)s: choose one of %(list)s": (
        "%(field)s: выберите один из: %(list)s",
        "%(field)s: یکی از %(list)s را انتخاب کنید",
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
    "Import CSV": ("Импорт CSV", "وارد کردن CSV"),
    "Import": ("Импортировать", "وارد کردن"),
    "Employees: id,name,branch[,active]. Shifts: employee,branch,kiosk,start,end[,note] in the branch's local time.": (
        "Сотрудники: id,name,branch[,active]. Смены: employee,branch,kiosk,start,end[,note] по местному времени "
        "филиала.",
        "کارمندان: id,name,branch[,active]. شیفت‌ها: employee,branch,kiosk,start,end[,note] به وقت محلی شعبه.",
    ),
    # The roster's shifts: page, flashes and the field messages of dashboard.writes.save_shift.
    "Shifts": ("Смены", "شیفت‌ها"),
    "All branches": ("Все филиалы", "همهٔ شعبه‌ها"),
    # The phone card's line (phone engineer's wording, kept here so regenerating keeps it).
    "Phone ratings (QR code), last 7 days, counted apart": (
        "Оценки с телефонов, последние 7 дней, отдельно",
        "امتیازهای تلفن همراه، ۷ روز گذشته، جداگانه",
    ),
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
    # Live pages (static/live.js, _live_status.html): the quiet cue and the lost-stream notice.
    "Updated %(time)s": ("Обновлено в %(time)s", "به‌روزشده در %(time)s"),
    "Live updates lost, reconnecting… Figures as of %(time)s.": (
        "Связь для обновлений потеряна, переподключаемся… Данные на %(time)s.",
        "اتصال به‌روزرسانی زنده قطع شد، در حال اتصال دوباره… ارقام تا %(time)s.",
    ),
    "Your session has ended: reload the page to log in again.": (
        "Сеанс завершён: обновите страницу, чтобы войти снова.",
        "نشست شما پایان یافت: برای ورود دوباره صفحه را بارگذاری کنید.",
    ),
    # Charts, cards with their context, the funnel plot, downloads (the "charts" work, issue 14).
    "Very unhappy": ("Очень недоволен", "خیلی ناراضی"),
    "Unhappy": ("Недоволен", "ناراضی"),
    "Happy": ("Доволен", "راضی"),
    "Very happy": ("Очень доволен", "خیلی راضی"),
    "Index (0–100)": ("Индекс (0–100)", "شاخص (۰ تا ۱۰۰)"),
    "Responses (n)": ("Число ответов", "شمار پاسخ‌ها"),
    "n = %(n)s": ("ответов: %(n)s", "%(n)s پاسخ"),
    "Positive share, %": ("Доля довольных, %", "سهم مثبت، ٪"),
    "Limits: 95%": ("Границы: 95%", "حدود: ۹۵٪"),
    "Limits: 99.8%": ("Границы: 99,8%", "حدود: ۹۹٫۸٪"),
    "Above the outer limits (99.8%)": ("Выше внешних границ (99,8%)", "بالاتر از حدود بیرونی (۹۹٫۸٪)"),
    "Below the outer limits (99.8%)": ("Ниже внешних границ (99,8%)", "پایین‌تر از حدود بیرونی (۹۹٫۸٪)"),
    "Within the limits": ("В пределах границ", "درون حدود"),
    "Responses by hour and weekday, in the branch's local time": (
        "Ответы по часам и дням недели, по местному времени филиала",
        "پاسخ‌ها بر پایهٔ ساعت و روز هفته، به وقت محلی شعبه",
    ),
    "Colour: index": ("Цвет: индекс", "رنگ: شاخص"),
    "Number in a cell: responses": ("Число в клетке: ответы", "عدد هر خانه: پاسخ‌ها"),
    "%(day)s %(hour)s:00 — index %(index)s, %(n)s responses": (
        "%(day)s %(hour)s:00 — индекс %(index)s, ответов: %(n)s",
        "%(day)s ساعت %(hour)s — شاخص %(index)s، %(n)s پاسخ",
    ),
    "acknowledged %(time)s by %(who)s": ("принята %(time)s, кто: %(who)s", "پذیرفته در %(time)s توسط %(who)s"),
    "resolved %(time)s": ("закрыта %(time)s", "حل‌شده در %(time)s"),
    "Times are in the branch's local time (%(zone)s).": (
        "Время — местное время филиала (%(zone)s).",
        "زمان‌ها به وقت محلی شعبه‌اند (%(zone)s).",
    ),
    "Show all 24 hours": ("Показать все 24 часа", "نمایش هر ۲۴ ساعت"),
    "Show all 24 hours, not only the opening hours": (
        "Показать все 24 часа, не только часы работы",
        "نمایش هر ۲۴ ساعت، نه فقط ساعات کاری",
    ),
    "Shown: the opening hours, and any other hour with presses.": (
        "Показаны часы работы и другие часы, в которые были нажатия.",
        "نمایش: ساعات کاری، و هر ساعت دیگری که در آن فشاری بوده است.",
    ),
    "%(day)s %(hour)s:00 — closed": ("%(day)s %(hour)s:00 — закрыто", "%(day)s ساعت %(hour)s — بسته"),
    "Hatched: closed": ("Штриховка: закрыто", "هاشور: بسته"),
    "Responses, last 7 days": ("Ответы за последние 7 дней", "پاسخ‌ها، ۷ روز اخیر"),
    "Response rate, last 7 days": ("Доля откликнувшихся за 7 дней", "نرخ پاسخ، ۷ روز اخیر"),
    "Positive": ("Довольных", "مثبت"),
    "95%% interval": ("95%% интервал", "بازهٔ ۹۵%%"),
    "vs the 7 days before": ("к предыдущим 7 дням", "نسبت به ۷ روز پیش از آن"),
    "Index per day, last 14 days": ("Индекс по дням за 14 дней", "شاخص روزانه، ۱۴ روز اخیر"),
    "%(n)s offline": ("не в сети: %(n)s", "%(n)s برون‌خط"),
    "%(n)s of %(total)s online": ("в сети %(n)s из %(total)s", "%(n)s از %(total)s برخط"),
    "good": ("хорошо", "خوب"),
    "watch": ("под наблюдением", "زیر نظر"),
    "needs attention": ("требует внимания", "نیازمند توجه"),
    "Positive %(share)s, 95%% interval %(low)s–%(high)s": (
        "Довольных %(share)s, 95%% интервал %(low)s–%(high)s",
        "مثبت %(share)s، بازهٔ ۹۵%% از %(low)s تا %(high)s",
    ),
    "Today (%(day)s): %(n)s": ("Сегодня (%(day)s): %(n)s", "امروز (%(day)s): %(n)s"),
    "last 30 days": ("последние 30 дней", "۳۰ روز اخیر"),
    "Positive share against number of responses, with 95%% and 99.8%% limits around the mean": (
        "Доля довольных в зависимости от числа ответов, с границами 95%% и 99,8%% вокруг среднего",
        "سهم مثبت در برابر شمار پاسخ‌ها، با حدود ۹۵%% و ۹۹٫۸%% پیرامون میانگین",
    ),
    "Each point is an employee. Inside the funnel a difference from the mean can be chance; only points outside "
    "the outer lines (99.8%%) say something about the person. Small samples get wide limits, so nobody is judged "
    "on a few presses.": (
        "Каждая точка — сотрудник. Внутри воронки отличие от среднего может быть случайным; о человеке говорят "
        "только точки за внешними линиями (99,8%%). У малых выборок границы шире, поэтому никого не судят "
        "по нескольким нажатиям.",
        "هر نقطه یک کارمند است. درون قیف، تفاوت با میانگین می‌تواند اتفاقی باشد؛ تنها نقطه‌های بیرون از خطوط "
        "بیرونی (۹۹٫۸%%) چیزی دربارهٔ آن فرد می‌گویند. نمونه‌های کوچک حدود پهن‌تری دارند، پس هیچ‌کس با چند فشار "
        "داوری نمی‌شود.",
    ),
    "not enough responses yet (n = %(n)s)": ("пока мало ответов (всего %(n)s)", "هنوز پاسخ کافی نیست (%(n)s پاسخ)"),
    "Period: %(period)s (last %(days)s days), in the branch's local time.": (
        "Период: %(period)s (последние %(days)s дн.), по местному времени филиала.",
        "دوره: %(period)s (%(days)s روز اخیر)، به وقت محلی شعبه.",
    ),
    "The index is shown once there are %(min)s responses; so far it is %(index)s, which a few presses can still "
    "move a lot.": (
        "Индекс показывается с %(min)s ответов; пока он %(index)s, и несколько нажатий ещё сильно его сдвинут.",
        "شاخص از %(min)s پاسخ به بعد نشان داده می‌شود؛ اکنون %(index)s است و چند فشار هنوز آن را بسیار جابه‌جا می‌کند.",
    ),
    "never configured": ("не настраивался", "هرگز پیکربندی نشده"),
    "for Excel": ("для Excel", "برای Excel"),
    "CSV with a byte-order mark and the separators Excel on Windows expects": (
        "CSV с меткой порядка байтов и разделителями, которых ждёт Excel в Windows",
        "CSV با نشانهٔ ترتیب بایت و جداکننده‌هایی که Excel در ویندوز انتظار دارد",
    ),
    # Codes the hub stores, as words (dashboard/i18n.py ROLE_NAMES, FLAG_NAMES, CAMERA_STATES).
    "administrator": ("администратор", "مدیر سامانه"),
    "manager": ("менеджер", "مدیر شعبه"),
    "technician": ("техник", "تکنسین"),
    "too soon after the previous press": ("слишком скоро после предыдущего нажатия", "خیلی زود پس از فشار قبلی"),
    "burst of presses": ("серия нажатий подряд", "رگبار فشارها"),
    "outside opening hours": ("вне часов работы", "بیرون از ساعات کاری"),
    "kiosk clock was wrong": ("часы киоска шли неверно", "ساعت کیوسک نادرست بود"),
    "other": ("другое", "سایر"),
    "working": ("работает", "فعال"),
    "off": ("выключена", "خاموش"),
    "unavailable: %(reason)s": ("недоступна: %(reason)s", "در دسترس نیست: %(reason)s"),
    # Words scripts write (dashboard/i18n.py script_words).
    "week of %(day)s": ("неделя с %(day)s", "هفتهٔ %(day)s"),
    "updated %(time)s": ("обновлено в %(time)s", "به‌روزرسانی %(time)s"),
    "Calendar": ("Календарь", "تقویم"),
    "Solar Hijri": ("солнечная хиджра", "هجری شمسی"),
    "Gregorian": ("григорианский", "میلادی"),
    # Refusals of the dashboard's own checks (dashboard/filters.py, writes.py, access.py, exports.py, api.py).
    # The "field:" prefix stays as the request names it; a page shows the field's label (i18n.input_message).
    "branch: choose a branch": ("branch: выберите филиал", "branch: یک شعبه انتخاب کنید"),
    'body: not JSON; send an object like {"note": "..."} or nothing': (
        'body: это не JSON; отправьте объект вида {"note": "..."} или ничего',
        'body: JSON نیست؛ شیئی مانند {"note": "..."} بفرستید یا هیچ',
    ),
    'body: send a JSON object like {"note": "..."} or nothing': (
        'body: отправьте JSON-объект вида {"note": "..."} или ничего',
        'body: یک شیء JSON مانند {"note": "..."} بفرستید یا هیچ',
    ),
    "body: send a JSON object with employee, branch, kiosk, start, end, note": (
        "body: отправьте JSON-объект с полями employee, branch, kiosk, start, end, note",
        "body: یک شیء JSON با employee، branch، kiosk، start، end، note بفرستید",
    ),
    "view: '%(value)s' is not one of %(list)s": (
        "view: «%(value)s» — не одна из таблиц: %(list)s",
        "view: «%(value)s» یکی از %(list)s نیست",
    ),
    "%(field)s: '%(value)s' is not a date (year-month-day, or year/month/day in the Solar Hijri calendar)": (
        "%(field)s: «%(value)s» — не дата (год-месяц-день, или год/месяц/день по солнечной хиджре)",
        "%(field)s: «%(value)s» تاریخ نیست (سال/ماه/روز به تقویم هجری شمسی، یا سال-ماه-روز میلادی)",
    ),
    "Mean of all your branches": ("Среднее по всем вашим филиалам", "میانگین همهٔ شعبه‌های شما"),
    "These figures could not be loaded (error %(code)s). Reload the page to try again.": (
        "Эти данные не загрузились (ошибка %(code)s). Обновите страницу, чтобы попробовать снова.",
        "این ارقام بارگذاری نشد (خطای %(code)s). برای تلاش دوباره صفحه را بارگذاری کنید.",
    ),
    "Solar Hijri date: year/month/day": ("Дата по солнечной хиджре: год/месяц/день", "تاریخ هجری شمسی: سال/ماه/روز"),
    "Solar Hijri date and time: year/month/day hour:minute": (
        "Дата и время по солнечной хиджре: год/месяц/день час:минута",
        "تاریخ و ساعت هجری شمسی: سال/ماه/روز ساعت:دقیقه",
    ),
    "%(field)s: '%(value)s' is not a time (year/month/day hour:minute in the Solar Hijri calendar)": (
        "%(field)s: «%(value)s» — не время (год/месяц/день час:минута по солнечной хиджре)",
        "%(field)s: «%(value)s» زمان نیست (سال/ماه/روز ساعت:دقیقه به تقویم هجری شمسی)",
    ),
    "from: the start date is after the end date": (
        "from: дата начала позже даты конца",
        "from: تاریخ شروع پس از تاریخ پایان است",
    ),
    "from: the period is longer than ten years": ("from: период длиннее десяти лет", "from: بازه از ده سال بیشتر است"),
    "by: '%(value)s' is not one of %(list)s": (
        "by: «%(value)s» — не одно из: %(list)s",
        "by: «%(value)s» یکی از %(list)s نیست",
    ),
    "week_start: '%(value)s' is not a weekday 0 (Monday) to 6 (Sunday)": (
        "week_start: «%(value)s» — не день недели от 0 (понедельник) до 6 (воскресенье)",
        "week_start: «%(value)s» روز هفته از ۰ (دوشنبه) تا ۶ (یکشنبه) نیست",
    ),
    "min_responses: '%(value)s' is not a whole number": (
        "min_responses: «%(value)s» — не целое число",
        "min_responses: «%(value)s» عدد صحیح نیست",
    ),
    "min_responses: use a number between 0 and 100000": (
        "min_responses: укажите число от 0 до 100000",
        "min_responses: عددی بین ۰ و ۱۰۰۰۰۰ بنویسید",
    ),
    "limit: use a whole number between 1 and %(most)s": (
        "limit: укажите целое число от 1 до %(most)s",
        "limit: عدد صحیحی بین ۱ و %(most)s بنویسید",
    ),
    "state: '%(value)s' is not one of %(list)s": (
        "state: «%(value)s» — не одно из: %(list)s",
        "state: «%(value)s» یکی از %(list)s نیست",
    ),
    "action: '%(value)s' is not ack or resolve": (
        "action: «%(value)s» — не ack и не resolve",
        "action: «%(value)s» نه ack است نه resolve",
    ),
    "note: say how the alert was resolved": ("note: напишите, как решили проблему", "note: بنویسید هشدار چگونه حل شد"),
    "file: the CSV is larger than 2 MB": ("file: CSV-файл больше 2 МБ", "file: فایل CSV بزرگ‌تر از ۲ مگابایت است"),
    "file: the CSV is not UTF-8 text": ("file: CSV-файл не в кодировке UTF-8", "file: فایل CSV متن UTF-8 نیست"),
    # Field labels (dashboard/i18n.py FIELD_LABELS) not shown elsewhere.
    "File": ("Файл", "فایل"),
    "Shift": ("Смена", "شیفت"),
    "Period": ("Период", "دوره"),
    "Table": ("Таблица", "جدول"),
    "Minimum responses": ("Минимум ответов", "حداقل پاسخ‌ها"),
    "Rows": ("Строки", "ردیف‌ها"),
    "First day of the week": ("Первый день недели", "نخستین روز هفته"),
    "Action": ("Действие", "اقدام"),
    "Request": ("Запрос", "درخواست"),
    "Line": ("Строка", "سطر"),
    # Error pages (dashboard/errors.py STATUS_NAMES, STATUS_TEXTS).
    "Not logged in": ("Вход не выполнен", "وارد نشده‌اید"),
    "Not allowed": ("Нет доступа", "دسترسی ندارید"),
    "Not found": ("Не найдено", "پیدا نشد"),
    "Not allowed this way": ("Так нельзя", "این‌گونه مجاز نیست"),
    "Too large": ("Слишком большой запрос", "بیش از حد بزرگ"),
    "Too many requests": ("Слишком много запросов", "درخواست‌های بیش از حد"),
    "Server error": ("Ошибка сервера", "خطای سرور"),
    "Log in to see this page.": ("Войдите, чтобы увидеть эту страницу.", "برای دیدن این صفحه وارد شوید."),
    "Your role does not give access to this page.": (
        "Ваша роль не даёт доступа к этой странице.",
        "نقش شما به این صفحه دسترسی نمی‌دهد.",
    ),
    "There is no such page, or it is not yours to see. Check the address or go back to the overview.": (
        "Такой страницы нет, или она вам недоступна. Проверьте адрес или вернитесь к обзору.",
        "چنین صفحه‌ای نیست یا دیدنش برای شما نیست. نشانی را بررسی کنید یا به نمای کلی برگردید.",
    ),
    "This address does not take that kind of request.": (
        "Этот адрес не принимает такой запрос.",
        "این نشانی چنین درخواستی را نمی‌پذیرد.",
    ),
    "What was sent is too large.": ("Отправлено слишком много данных.", "آنچه فرستاده شد بیش از حد بزرگ است."),
    "Too many requests in a short time; wait a moment and try again.": (
        "Слишком много запросов за короткое время; подождите и попробуйте снова.",
        "درخواست‌های زیادی در زمان کوتاه؛ کمی صبر کنید و دوباره امتحان کنید.",
    ),
    "Something went wrong on the server; the error has been logged.": (
        "На сервере что-то пошло не так; ошибка записана в журнал.",
        "در سرور مشکلی پیش آمد؛ خطا ثبت شد.",
    ),
    # The reasons and comments views (dashboard/reasons*.py, templates/reasons.html, comments.html).
    "Reasons": ("Причины", "دلیل‌ها"),
    "Comments": ("Комментарии", "نظرها"),
    "Reasons for unhappy presses": ("Причины недовольства", "دلیل‌های نارضایتی"),
    "This period: %(this)s; against the one before: %(before)s": (
        "Этот период: %(this)s; в сравнении с предыдущим: %(before)s",
        "این دوره: %(this)s؛ در برابر دورهٔ پیش از آن: %(before)s",
    ),
    "Unhappy: buttons 1 and 2; each press counts once, by the last reason its shopper chose.": (
        "Недовольные — кнопки 1 и 2; каждое нажатие считается один раз, по последней выбранной причине.",
        "ناراضی: دکمه‌های ۱ و ۲؛ هر فشار یک بار شمرده می‌شود، با آخرین دلیلی که خریدار برگزید.",
    ),
    "Group by": ("Группировать по", "گروه‌بندی بر اساس"),
    "Hour": ("Час", "ساعت"),
    "All my branches": ("Все мои филиалы", "همهٔ شعبه‌های من"),
    "Top reasons": ("Главные причины", "دلیل‌های اصلی"),
    "Unhappy presses per reason, this period against the one before": (
        "Недовольные нажатия по причинам, этот период против предыдущего",
        "فشارهای ناراضی به تفکیک دلیل، این دوره در برابر دورهٔ پیش",
    ),
    "No unhappy press in this period was answered with a reason.": (
        "Ни на одно недовольное нажатие за этот период не указали причину.",
        "برای هیچ فشار ناراضی در این دوره دلیلی گفته نشد.",
    ),
    "This period, n": ("Этот период", "این دوره"),
    "Period before, n": ("Предыдущий период", "دورهٔ پیش"),
    "Unhappy presses, n": ("Недовольные нажатия", "فشارهای ناراضی"),
    "Said why, n": ("Назвали причину", "دلیل گفتند"),
    "This period": ("Этот период", "این دوره"),
    "Period before": ("Предыдущий период", "دورهٔ پیش"),
    "%(unhappy)s unhappy, %(said)s said why": (
        "недовольных: %(unhappy)s, назвали причину: %(said)s",
        "%(unhappy)s ناراضی، %(said)s نفر دلیل گفتند",
    ),
    "nobody said why": ("никто не назвал причину", "کسی دلیل نگفت"),
    "No unhappy presses in this period.": ("За этот период недовольных нажатий нет.", "در این دوره فشار ناراضی نبود."),
    "Read the comments": ("Читать комментарии", "خواندن نظرها"),
    "%(from)s:00–%(to)s:00": ("%(from)s:00–%(to)s:00", "%(from)s:۰۰–%(to)s:۰۰"),
    "No one on shift": ("Никто не на смене", "کسی در نوبت نبود"),
    "no longer asked": ("больше не спрашивают", "دیگر پرسیده نمی‌شود"),
    "%(n)s found": ("найдено: %(n)s", "%(n)s مورد"),
    "Any": ("Любая", "همه"),
    "Search": ("Поиск", "جستجو"),
    "Include hidden": ("Показать скрытые", "نمایش پنهان‌شده‌ها"),
    "Phone numbers and e-mail addresses were masked before the comments were stored. "
    "A hidden comment is kept, with who hid it and when.": (
        "Номера телефонов и адреса почты скрыты ещё до сохранения комментариев. "
        "Скрытый комментарий сохраняется, с тем, кто и когда его скрыл.",
        "شماره‌های تلفن و نشانی‌های ایمیل پیش از ذخیرهٔ نظرها پوشانده شده‌اند. "
        "نظر پنهان‌شده نگه داشته می‌شود، همراه با اینکه چه کسی و کی آن را پنهان کرد.",
    ),
    "When": ("Когда", "زمان"),
    "Where": ("Где", "مکان"),
    "Comment": ("Комментарий", "نظر"),
    "press not arrived yet": ("нажатие ещё не пришло", "فشار هنوز نرسیده"),
    "Hidden by %(who)s, %(when)s": ("Скрыл(а) %(who)s, %(when)s", "پنهان‌شده توسط %(who)s، %(when)s"),
    "Hide": ("Скрыть", "پنهان کردن"),
    "No comments match.": ("Подходящих комментариев нет.", "نظری پیدا نشد."),
    "Pages": ("Страницы", "صفحه‌ها"),
    "Newer": ("Новее", "جدیدتر"),
    "Older": ("Старее", "قدیمی‌تر"),
    "Page %(page)s of %(pages)s": ("Страница %(page)s из %(pages)s", "صفحهٔ %(page)s از %(pages)s"),
    "Page": ("Страница", "صفحه"),
    "Comment hidden.": ("Комментарий скрыт.", "نظر پنهان شد."),
    "[phone number]": ("[телефон]", "[شمارهٔ تلفن]"),
    "[e-mail address]": ("[почта]", "[ایمیل]"),
    "comment '%(value)s' not found": ("комментарий «%(value)s» не найден", "نظر «%(value)s» پیدا نشد"),
    "score: '%(value)s' is not a button 1 to 4": (
        "score: «%(value)s» — не кнопка от 1 до 4",
        "score: «%(value)s» دکمه‌ای از ۱ تا ۴ نیست",
    ),
    "reason: '%(value)s' is not a reason id": (
        "reason: «%(value)s» — не код причины",
        "reason: «%(value)s» شناسهٔ دلیل نیست",
    ),
    "q: search for at most %(n)s characters": (
        "q: искать можно не больше %(n)s символов",
        "q: حداکثر %(n)s نویسه جستجو کنید",
    ),
    "page: '%(value)s' is not a page number": (
        "page: «%(value)s» — не номер страницы",
        "page: «%(value)s» شمارهٔ صفحه نیست",
    ),
    "hidden: use 1 to include hidden comments, or leave it out": (
        "hidden: укажите 1, чтобы показать скрытые, или не указывайте",
        "hidden: برای نمایش نظرهای پنهان ۱ بگذارید، یا آن را نگذارید",
    ),
    "hidden: only an administrator sees hidden comments": (
        "hidden: скрытые комментарии видит только администратор",
        "hidden: فقط مدیر سامانه نظرهای پنهان را می‌بیند",
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
