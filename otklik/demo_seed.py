"""A retail chain's history for the demo, written through the hub's own ingest path.

``seed(db, days=90, seed=1)`` gives a database that looks like a chain that has
been running for months: five branches in five time zones (Tehran's staff names
in Persian script, an airport shop open around the clock), kiosks at the exits
and tills, desk pads that name their employee, a roster with morning and
evening shifts, camera windows on some exit kiosks, daily and weekly rhythms,
a branch having a bad week right now, a relief cashier with too few responses
to be ranked, a child hammering the buttons, shoppers pressing twice, a night
cleaner, a till that lost its network for two hours, and one kiosk that was
unplugged three days ago.

Every rating, camera window, heartbeat and status is built with
``otklik.protocol`` as the kiosk builds it (its id, its ``seq``, its cooldown
flag) and stored by ``hub.ingest.handle_batch`` with a realistic receive time,
in receive order, in batches of up to 500 as the hub service stores them: the
tables are the ones the hub would have written, misuse flags, shift
attribution and aggregates included. Then the alert rules
(``hub.alerts.evaluate``) are run over the bad week and at the end, so the
alert page has a history and open alerts.

The same ``seed`` and ``now`` give the same tables, so tests and benchmarks
can use it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub import alerts, answers, branches, config_push, ingest, roster
from hub.store import Database
from otklik import protocol, times
from otklik.settings import parse_hours

KIOSK_VERSION = "0.1.0"
BATCH = 500  # the hub service's batch_max
COOLDOWN_S = 5.0  # the kiosks' default: a repeat within this is flagged "cooldown" by the kiosk
CAMERA_WINDOW_S = 600  # the seeded cameras report every 10 minutes (the live default is 60 s)
SILENT_DAYS = 3  # the unplugged kiosk's last press was this many days before "now"
BAD_WEEK_DAYS = 7


@dataclass(frozen=True)
class KioskPlan:
    branch: str
    kiosk: str
    kind: str  # "exit", "till" or "desk" (a button pad on a desk, naming its employee)
    per_day: float  # presses on an average weekday
    camera: bool = False
    employee: str | None = None  # a desk pad's employee
    touch: bool = False  # a touch screen: the follow-up question after 1 and 2, and a comment box


@dataclass(frozen=True)
class BranchPlan:
    name: str
    timezone: str
    hours: str  # hub.branches opening hours; "" = always open
    mood: float  # share of happy presses (buttons 3 and 4) on a normal day
    staff: tuple[tuple[str, str], ...]  # (employee id, name); the first ones work the tills
    kiosks: tuple[KioskPlan, ...]
    weekend: tuple[int, ...] = (5, 6)  # busiest days (0 = Monday)


def _k(branch: str, kiosk: str, kind: str, per_day: float, **kw: Any) -> KioskPlan:
    return KioskPlan(branch, kiosk, kind, per_day, **kw)


CHAIN: tuple[BranchPlan, ...] = (
    BranchPlan(
        "central", "Europe/Moscow", "mon-sun 08:00-22:00", 0.74,
        (("c-anna", "Анна Смирнова"), ("c-igor", "Игорь Петров"), ("c-maria", "Мария Козлова"),
         ("c-dmitry", "Дмитрий Волков"), ("c-pavel", "Павел Орлов"), ("c-olga", "Ольга Новикова")),
        (_k("central", "exit-1", "exit", 120, camera=True, touch=True), _k("central", "till-1", "till", 70),
         _k("central", "till-2", "till", 60), _k("central", "desk-1", "desk", 22, employee="c-pavel")),
    ),
    BranchPlan(
        "north", "Asia/Yekaterinburg", "mon-sat 09:00-21:00; sun 10:00-19:00", 0.79,
        (("n-elena", "Елена Соколова"), ("n-sergey", "Сергей Морозов"), ("n-irina", "Ирина Лебедева"),
         ("n-artem", "Артём Зайцев")),
        (_k("north", "exit-1", "exit", 90, camera=True, touch=True), _k("north", "till-1", "till", 55),
         _k("north", "desk-1", "desk", 18, employee="n-artem")),
    ),
    BranchPlan(
        "riverside", "Europe/Kaliningrad", "mon-sat 08:00-21:00; sun 09:00-20:00", 0.70,
        (("r-nikita", "Никита Павлов"), ("r-vera", "Вера Фёдорова"), ("r-oleg", "Олег Никитин"),
         ("r-yulia", "Юлия Егорова")),
        (_k("riverside", "exit-1", "exit", 110, touch=True), _k("riverside", "till-1", "till", 65),
         _k("riverside", "till-2", "till", 55)),
    ),
    BranchPlan(
        "tehran", "Asia/Tehran", "sat-wed 09:00-21:00; thu 09:00-15:00; fri closed", 0.81,
        (("t-sara", "سارا احمدی"), ("t-ali", "علی رضایی"), ("t-maryam", "مریم حسینی"),
         ("t-reza", "رضا کریمی")),
        (_k("tehran", "exit-1", "exit", 100, camera=True, touch=True), _k("tehran", "till-1", "till", 60)),
        weekend=(3, 5),  # Thursday evening and Saturday, the first day of the week, are busiest
    ),
    BranchPlan(
        "airport", "Asia/Vladivostok", "", 0.68,  # airside shop, open around the clock
        (("a-timur", "Тимур Алиев"), ("a-kate", "Екатерина Белова"), ("a-roman", "Роман Исаев")),
        (_k("airport", "exit-1", "exit", 130, touch=True), _k("airport", "till-1", "till", 70)),
        weekend=(4, 6),
    ),
)  # fmt: skip

SILENT = ("north", "till-1")  # unplugged: no press, heartbeat or status since SILENT_DAYS ago
BAD_WEEK = "riverside"  # new manager, half the staff off sick: the last BAD_WEEK_DAYS are bad
NEW_HIRE = "c-olga"  # one two-hour relief shift: too few responses to be ranked
BURST_KIOSK = ("central", "exit-1")  # a child hammers the buttons here 12 days ago
OUTAGE_KIOSK = ("riverside", "till-1")  # lost its network for two hours 40 days ago
CLEANER_KIOSK = ("central", "exit-1")  # presses at 22:40, after closing, now and then
# Pushed to Tehran's kiosks (hub.config_push): Persian button labels.
TEHRAN_KIOSK_SETTINGS = {"labels": ["خیلی بد", "بد", "خوب", "عالی"]}
# The touch screens' follow-up (otklik.settings.FollowUp), asked after buttons 1 and 2.
REASONS = {
    "queue": {"en": "Long queue", "ru": "Долгая очередь", "fa": "صف طولانی"},
    "staff": {"en": "Staff attitude", "ru": "Отношение персонала", "fa": "برخورد کارکنان"},
    "price": {"en": "Prices", "ru": "Цены", "fa": "قیمت‌ها"},
    "stock": {"en": "Out of stock", "ru": "Нет нужного товара", "fa": "کالا موجود نبود"},
    "clean": {"en": "Cleanliness", "ru": "Чистота", "fa": "نظافت"},
    "other": {"en": "Something else", "ru": "Другое", "fa": "چیز دیگر"},
}
FOLLOWUP = [{
    "id": "why", "scores": [1, 2], "comment": True,
    "text": {"en": "What went wrong?", "ru": "Что пошло не так?", "fa": "چه چیزی خوب نبود؟"},
    "options": [{"id": key, "text": text} for key, text in REASONS.items()],
}]  # fmt: skip
# Asked at central until RETIRED_DAYS ago, then dropped from the question: its answers stay, shown by id.
RETIRED_REASON = ("central", "parking")
RETIRED_DAYS = 10
ANSWER_SHARE = 0.45  # of unhappy presses on a touch screen, how many say why
COMMENT_SHARE = 0.3  # of those, how many also type a comment
# Reasons' weights by branch (the bad week is about the queue).
REASON_WEIGHTS = {"queue": 3, "staff": 2, "price": 2, "stock": 2, "clean": 1, "other": 1}
BAD_WEEK_WEIGHTS = {"queue": 9, "staff": 3, "price": 1, "stock": 1, "clean": 1, "other": 1}
# What shoppers type, in the branch's language; one gives a phone number, masked before it is stored.
COMMENTS = {
    "ru": {
        "queue": ["Одна касса на всю очередь", "Ждал двадцать минут", "Откройте вторую кассу!"],
        "staff": ["Кассир даже не поздоровался", "Грубо ответили на вопрос"],
        "price": ["Цена на полке и на кассе разная", "Дорого"],
        "stock": ["Опять нет молока", "Не нашёл хлеб"],
        "clean": ["Грязно у входа"],
        "other": ["Перезвоните мне: +7 912 345-67-89", "Неудобная парковка"],
        "parking": ["Негде оставить машину"],
    },
    "fa": {
        "queue": ["فقط یک صندوق باز بود", "بیست دقیقه در صف ماندم"],
        "staff": ["صندوق‌دار بی‌حوصله بود"],
        "price": ["قیمت قفسه با صندوق فرق داشت"],
        "stock": ["شیر تمام شده بود"],
        "clean": ["کف فروشگاه کثیف بود"],
        "other": ["با من تماس بگیرید: ۰۹۱۲ ۳۴۵ ۶۷۸۹"],
    },
}
BRANCH_LANGUAGE = {"tehran": "fa"}  # the others write Russian
WEEKDAY_LOAD = (0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.1)  # Monday..Sunday, before the branch's own weekend


def kiosks() -> list[KioskPlan]:
    return [k for b in CHAIN for k in b.kiosks]


def live_kiosks(n_branches: int | None = None, per_branch: int | None = None) -> list[KioskPlan]:
    """The kiosks the demo runs live: every one of the chain except the unplugged one."""
    out: list[KioskPlan] = []
    for b in CHAIN[:n_branches]:
        out.extend(k for k in b.kiosks[:per_branch] if (k.branch, k.kiosk) != SILENT)
    return out


@dataclass
class Summary:
    days: int
    ratings: int
    reactions: int
    messages: int
    stored: int
    rejected: int
    shifts: int
    alerts_open: int
    alerts_resolved: int


class _Kiosk:
    """What one kiosk keeps between presses: its seq counter and the time of its last press."""

    def __init__(self, plan: KioskPlan, rng: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.seq = 0
        self.last_press: datetime | None = None

    def press(self, ts: datetime, score: int, received: datetime) -> tuple[str, bytes, datetime]:
        self.seq += 1
        # The kiosk's rule: a press within the cooldown of the previous one is kept, flagged.
        repeat = self.last_press is not None and (ts - self.last_press).total_seconds() < COOLDOWN_S
        self.last_press = ts
        body = protocol.rating_payload(
            branch=self.plan.branch, kiosk=self.plan.kiosk, id=f"{self.rng.getrandbits(128):032x}", seq=self.seq,
            ts=times.format_ts(ts), score=score, employee=self.plan.employee,
            flags=["cooldown"] if repeat else None, channel="touch" if self.plan.touch else "buttons",
        )  # fmt: skip
        return protocol.topic(self.plan.branch, self.plan.kiosk, protocol.RATING), protocol.encode(body), received


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation; Knuth's loop underflows for large means
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def hour_weight(hour: float) -> float:
    """Footfall by local hour: a lunchtime peak and a bigger after-work one."""
    return 0.35 + 0.9 * math.exp(-(((hour - 12.8) / 1.7) ** 2)) + 1.2 * math.exp(-(((hour - 18.2) / 1.9) ** 2))


def _score(rng: random.Random, happy: float) -> int:
    if rng.random() < happy:
        return 4 if rng.random() < 0.6 else 3
    return 2 if rng.random() < 0.55 else 1


def _weekday_load(plan: BranchPlan, weekday: int) -> float:
    if plan.weekend == (5, 6):
        return WEEKDAY_LOAD[weekday]
    return 1.3 if weekday in plan.weekend else 0.95


class _Chain:
    def __init__(self, db: Database, days: int, seed: int, now: datetime) -> None:
        self.db, self.days, self.now = db, days, now
        self.rng = random.Random(seed)
        # Answers draw from their own stream: the presses stay what they were before answers existed.
        self.answer_rng = random.Random(seed * 7919 + 1)
        self.answers = 0
        self.first_day = (now - timedelta(days=days)).date()
        self.silent_at = now - timedelta(days=SILENT_DAYS)
        self.kiosks = {(k.branch, k.kiosk): _Kiosk(k, self.rng) for k in kiosks()}
        self.staff_mood = {e: self.rng.uniform(-0.09, 0.09) for b in CHAIN for e, _ in b.staff}
        self.staff_mood[NEW_HIRE] = -0.15
        # (branch, kiosk, local date of the start) -> [(start, end, employee)]: looked up per press
        self.shifts: dict[tuple[str, str, date], list[tuple[datetime, datetime, str]]] = {}
        self.messages: list[tuple[str, bytes, datetime]] = []
        self.ratings = self.reactions = 0

    # --- roster ------------------------------------------------------------------

    def roster(self) -> int:
        """Employees, and two shifts a day on every till; returns the shifts added."""
        count = 0
        for b in CHAIN:
            branches.update(self.db, b.name, timezone=b.timezone, hours=b.hours)
            for employee, name in b.staff:
                roster.add_employee(self.db, employee, b.name, name, actor=roster.ADMIN)
        with self.db.atomic():
            for b in CHAIN:
                tills = [k for k in b.kiosks if k.kind == "till"]
                cashiers = [e for e, _ in b.staff if e != NEW_HIRE and not any(k.employee == e for k in b.kiosks)]
                for day in self._days():
                    spans = self._open_spans(b, day)
                    if not spans:
                        continue
                    opens, closes = spans[0][0], spans[-1][1]
                    middle = opens + (closes - opens) / 2
                    for t, till in enumerate(tills):
                        for part, (start, end) in enumerate(((opens, middle), (middle, closes))):
                            who = cashiers[(day.toordinal() + 2 * t + part * 3) % len(cashiers)]
                            count += self._shift(b, till.kiosk, who, start, end)
            # The relief cashier covered one lunchtime, yesterday.
            b = CHAIN[0]
            yesterday = (self.now.astimezone(branches.zone(b.timezone)) - timedelta(days=1)).date()
            zone = branches.zone(b.timezone)
            start = datetime.combine(yesterday, time(12), zone)
            count += self._shift(b, "till-2", NEW_HIRE, start, start + timedelta(hours=2))
        return count

    def _shift(self, b: BranchPlan, kiosk: str, who: str, start: datetime, end: datetime) -> int:
        roster.add_shift(self.db, who, b.name, start, end, kiosk=kiosk, actor=roster.ADMIN)
        self.shifts.setdefault((b.name, kiosk, start.date()), []).append((start, end, who))
        return 1

    def on_shift(self, branch: str, kiosk: str, ts: datetime) -> str | None:
        # The one that started last wins, as hub.aggregates.Shifts.attribute decides.
        day = ts.astimezone(branches.zone(next(b.timezone for b in CHAIN if b.name == branch))).date()
        found = [(s, who) for s, e, who in self.shifts.get((branch, kiosk, day), []) if s <= ts < e]
        return max(found)[1] if found else None

    def _days(self) -> Iterator[date]:
        for i in range(self.days + 2):  # local days can start before the UTC first day
            yield self.first_day - timedelta(days=1) + timedelta(days=i)

    def _open_spans(self, b: BranchPlan, day: date) -> list[tuple[datetime, datetime]]:
        zone = branches.zone(b.timezone)
        table = parse_hours(b.hours)
        minutes = [(0, 24 * 60)] if table is None else sorted(table[day.weekday()])
        midnight = datetime.combine(day, time(0), zone)
        return [(midnight + timedelta(minutes=s), midnight + timedelta(minutes=e)) for s, e in minutes]

    # --- presses -------------------------------------------------------------------

    def history(self) -> None:
        start = self.now - timedelta(days=self.days)
        for b in CHAIN:
            for day in self._days():
                for opens, closes in self._open_spans(b, day):
                    self._span(b, day, opens, closes, start)
        self._burst(start)
        self._outage()

    def _span(self, b: BranchPlan, day: date, opens: datetime, closes: datetime, start: datetime) -> None:
        load = _weekday_load(b, day.weekday())
        hour = opens
        while hour < closes:
            end = min(hour + timedelta(hours=1), closes)
            local_h = hour.hour + hour.minute / 60 + (end - hour).total_seconds() / 7200
            weight = hour_weight(local_h) if b.hours else hour_weight(local_h) * 0.5 + 0.1  # the night is quiet
            share = (end - hour).total_seconds() / 3600
            for plan in b.kiosks:
                until = self.silent_at if (plan.branch, plan.kiosk) == SILENT else self.now
                lam = plan.per_day * load * weight * share / 11.0
                times = sorted(
                    hour + timedelta(seconds=self.rng.uniform(0, (end - hour).total_seconds()))
                    for _ in range(_poisson(self.rng, lam))
                )
                for ts in times:
                    if start <= ts < until:
                        self._rating(b, plan, ts)
                        if self.rng.random() < 0.02:  # the same shopper presses again, 1-4 s later
                            self._rating(b, plan, ts + timedelta(seconds=self.rng.uniform(1, 4)))
                if plan.camera:
                    self._camera(b, plan, hour, end, lam, start)
            hour = end
        if (b.name, "exit-1") == CLEANER_KIOSK and self.rng.random() < 0.15:
            ts = closes + timedelta(minutes=40)
            if start <= ts < self.now:
                self._rating(b, self.kiosks[CLEANER_KIOSK].plan, ts)

    def _happy(self, b: BranchPlan, plan: KioskPlan, ts: datetime) -> float:
        happy = b.mood - 0.05 * max(0.0, hour_weight(ts.astimezone(branches.zone(b.timezone)).hour) - 1.2)
        employee = plan.employee or (self.on_shift(b.name, plan.kiosk, ts) if plan.kind == "till" else None)
        if employee:
            happy += self.staff_mood[employee]
        if b.name == BAD_WEEK and ts > self.now - timedelta(days=BAD_WEEK_DAYS):
            happy = 0.27
        return min(0.97, max(0.05, happy))

    def _rating(self, b: BranchPlan, plan: KioskPlan, ts: datetime, score: int | None = None) -> None:
        kiosk = self.kiosks[(plan.branch, plan.kiosk)]
        received = ts + timedelta(milliseconds=self.rng.uniform(40, 600))
        organic = score is None
        score = score or _score(self.rng, self._happy(b, plan, ts))
        message = kiosk.press(ts, score, received)
        self.messages.append(message)
        self.ratings += 1
        if organic and plan.touch and score <= 2 and self.answer_rng.random() < ANSWER_SHARE:
            self._answer(b, plan, json.loads(message[1])["id"], ts)

    def _answer(self, b: BranchPlan, plan: KioskPlan, rating_id: str, pressed: datetime) -> None:
        """The follow-up answered a few seconds after the press; sometimes with a comment typed after it."""
        rng = self.answer_rng
        weights = dict(BAD_WEEK_WEIGHTS if b.name == BAD_WEEK and pressed > self.now - timedelta(days=BAD_WEEK_DAYS)
                       else REASON_WEIGHTS)  # fmt: skip
        if b.name == RETIRED_REASON[0] and pressed < self.now - timedelta(days=RETIRED_DAYS):
            weights[RETIRED_REASON[1]] = 3
        reason = rng.choices(list(weights), list(weights.values()))[0]
        typed = COMMENTS[BRANCH_LANGUAGE.get(b.name, "ru")].get(reason)
        comment = rng.choice(typed) if typed and rng.random() < COMMENT_SHARE else None
        ts = pressed + timedelta(seconds=rng.uniform(3, 9) + (rng.uniform(15, 40) if comment else 0))
        body = protocol.answer_payload(
            branch=plan.branch, kiosk=plan.kiosk, id=f"an{rng.getrandbits(120):030x}", rating=rating_id,
            ts=times.format_ts(ts), reason=reason, comment=comment,
        )  # fmt: skip
        topic = protocol.topic(plan.branch, plan.kiosk, protocol.ANSWER)
        self.messages.append((topic, protocol.encode(body), ts + timedelta(milliseconds=rng.uniform(40, 600))))
        self.answers += 1

    def _camera(
        self, b: BranchPlan, plan: KioskPlan, hour: datetime, end: datetime, lam: float, start: datetime
    ) -> None:
        """Camera windows over one hour: about one visitor in nine presses a button."""
        window = hour
        windows = max(1, round((end - hour).total_seconds() / CAMERA_WINDOW_S))
        for _ in range(windows):
            length = min(CAMERA_WINDOW_S, (end - window).total_seconds())
            window_end = window + timedelta(seconds=length)
            if length > 0 and start <= window and window_end < self.now:
                visitors = _poisson(self.rng, lam / windows * self.rng.uniform(7.5, 10.5))
                smiling = sum(self.rng.random() < b.mood * 0.5 for _ in range(visitors))
                fps = round(self.rng.uniform(9.2, 10.4), 2)
                body = {
                    "v": protocol.VERSION, "branch": plan.branch, "kiosk": plan.kiosk,
                    "id": f"rx{self.rng.getrandbits(128):032x}", "window_start": times.format_ts(window),
                    "window_s": float(length), "visitors": visitors, "smiling": smiling,
                    "frames": int(fps * length), "fps": fps, "detector": "blazeface",
                }  # fmt: skip
                received = window_end + timedelta(milliseconds=self.rng.uniform(50, 400))
                topic = protocol.topic(plan.branch, plan.kiosk, protocol.REACTION)
                self.messages.append((topic, protocol.encode(body), received))
                self.reactions += 1
            window = window_end

    def _burst(self, start: datetime) -> None:
        """A child at the exit: 30 presses in about 12 seconds, on whatever button is nearest."""
        b = next(x for x in CHAIN if x.name == BURST_KIOSK[0])
        day = (self.now - timedelta(days=12)).astimezone(branches.zone(b.timezone)).date()
        ts = datetime.combine(day, time(16, 20, 5), branches.zone(b.timezone))
        if not start <= ts < self.now - timedelta(minutes=1):
            return
        plan = self.kiosks[BURST_KIOSK].plan
        for _ in range(30):
            ts += timedelta(seconds=self.rng.uniform(0.25, 0.55))
            self._rating(b, plan, ts, score=self.rng.choice((4, 4, 1, 3)))

    def _outage(self) -> None:
        """Two hours without network: the till kept every press and sent them all when it came back."""
        b = next(x for x in CHAIN if x.name == OUTAGE_KIOSK[0])
        zone = branches.zone(b.timezone)
        day = (self.now - timedelta(days=40)).astimezone(zone).date()
        down = datetime.combine(day, time(11), zone)
        back = down + timedelta(hours=2)
        topic = protocol.topic(*OUTAGE_KIOSK, protocol.RATING)
        waiting = 0
        for i, (t, payload, received) in enumerate(self.messages):
            if t == topic and down <= received < back:
                waiting += 1  # sent in outbox order, a few milliseconds apart
                self.messages[i] = (t, payload, back + timedelta(seconds=2, milliseconds=5 * waiting))
        self.messages.append(self._status(OUTAGE_KIOSK, "offline", down + timedelta(seconds=45)))
        self.messages.append(self._status(OUTAGE_KIOSK, "online", back))

    # --- kiosk health --------------------------------------------------------------

    def _status(self, where: tuple[str, str], state: str, at: datetime) -> tuple[str, bytes, datetime]:
        body = protocol.status_payload(*where, state, with_ts=False)
        body["ts"] = times.format_ts(at)
        return protocol.topic(*where, protocol.STATUS), protocol.encode(body), at

    def _heartbeat(self, kiosk: _Kiosk, at: datetime, boot: datetime) -> tuple[str, bytes, datetime]:
        plan = kiosk.plan
        extra = {"camera": "ok"} if plan.camera else {}
        body = protocol.heartbeat_payload(
            branch=plan.branch, kiosk=plan.kiosk, uptime_s=(at - boot).total_seconds(), version=KIOSK_VERSION,
            outbox_depth=0, last_seq_sent=kiosk.seq, **extra,
        )  # fmt: skip
        body["ts"] = times.format_ts(at)
        return protocol.topic(plan.branch, plan.kiosk, protocol.HEARTBEAT), protocol.encode(body), at

    def health(self) -> None:
        """Each kiosk's status and last heartbeat as the registry would have them (ratings are in order by now)."""
        boot = self.now - timedelta(days=self.rng.randint(8, 30))
        for key, kiosk in self.kiosks.items():
            if key == SILENT:
                self.messages.append(self._heartbeat(kiosk, self.silent_at + timedelta(seconds=20), boot))
                # Its last will, sent by the broker when the keepalive ran out after the cable went.
                self.messages.append(self._status(key, "offline", self.silent_at + timedelta(seconds=45)))
            else:
                self.messages.append(self._status(key, "online", boot))
                self.messages.append(self._heartbeat(kiosk, self.now - timedelta(seconds=5), boot))

    def install(self) -> None:
        """Every kiosk comes online once before its history: a shift may only name a kiosk the hub has heard from."""
        start = self.now - timedelta(days=self.days, hours=1)
        ingest.handle_batch(self.db, [self._status(key, "online", start) for key in self.kiosks])

    # --- storing -------------------------------------------------------------------

    def ingest(self, progress: Callable[[str], None] | None) -> tuple[int, int]:
        self.messages.sort(key=lambda m: m[2])
        counts = {ingest.STORED: 0, ingest.REJECTED: 0}
        step = max(BATCH, len(self.messages) // 10 // BATCH * BATCH)
        for i in range(0, len(self.messages), BATCH):
            for outcome in ingest.handle_batch(self.db, self.messages[i : i + BATCH]):
                if outcome.result in counts:
                    counts[outcome.result] += 1
            done = min(i + BATCH, len(self.messages))
            if progress and (done % step == 0 or done == len(self.messages)):
                progress(f"stored {done:,} of {len(self.messages):,} messages through the hub's ingest")
        return counts[ingest.STORED], counts[ingest.REJECTED]

    def alerts(self) -> tuple[int, int]:
        """Run the alert rules hour by hour over the bad week, as the hub's evaluation would have.

        A manager resolved each alert the next morning with a note, so the
        rule could fire again; the last ones are still open. Then the rules run
        once at "now" over every branch (the unplugged kiosk).
        """
        b = next(x for x in CHAIN if x.name == BAD_WEEK)
        moment = self.now - timedelta(days=BAD_WEEK_DAYS)
        moment = moment.replace(minute=0, second=0, microsecond=0)
        while moment < self.now:
            for alert in alerts.list_alerts(self.db, branch=b.name, state="open"):
                if times.read_ts(alert["opened_at"]) < moment - timedelta(hours=18):
                    alerts.resolve(self.db, alert["id"], "manager", "talked it through with the shift lead",
                                   now=moment)  # fmt: skip
            alerts.evaluate(self.db, now=moment, only=[b.name])
            moment += timedelta(hours=1)
        alerts.evaluate(self.db, now=self.now)
        live = len(alerts.list_alerts(self.db, state="live", limit=10_000))
        resolved = len(alerts.list_alerts(self.db, state="resolved", limit=10_000))
        return live, resolved


def seed(
    db: Database,
    *,
    days: int = 90,
    seed: int = 1,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Write ``days`` of the chain's history up to ``now`` into an empty hub database."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if db["events"].exists() and db.execute("SELECT count(*) FROM events").fetchone()[0]:
        raise ValueError("the database already has events; seed a new file")
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    chain = _Chain(db, days, seed, moment)
    chain.install()
    shifts = chain.roster()
    for plan in next(b for b in CHAIN if b.name == "tehran").kiosks:
        config_push.set_settings(db, plan.branch, plan.kiosk, TEHRAN_KIOSK_SETTINGS)
    for plan in kiosks():
        if plan.touch:
            config_push.set_settings(db, plan.branch, plan.kiosk, {"followup": FOLLOWUP})
    chain.history()
    chain.health()
    if progress:
        progress(f"{days} days: {chain.ratings:,} presses and {chain.reactions:,} camera windows from "
                 f"{len(chain.kiosks)} kiosks in {len(CHAIN)} branches, {shifts:,} shifts")  # fmt: skip
    stored, rejected = chain.ingest(progress)
    # A manager hid two rude comments the day after: kept, marked with who and when.
    for (answer_id,) in db.execute(
        "SELECT id FROM answers WHERE branch = 'central' AND reason = 'staff' AND comment IS NOT NULL "
        "ORDER BY ts LIMIT 2"
    ).fetchall():
        answers.hide(db, answer_id, by="manager", at=moment - timedelta(days=1), branches=None)
    live, resolved = chain.alerts()
    return Summary(days, chain.ratings, chain.reactions, len(chain.messages), stored, rejected, shifts, live, resolved)
