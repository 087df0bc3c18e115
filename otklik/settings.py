"""What a kiosk is told: the settings schema, the one opening-hours grammar, and their checks.

The hub checks a push against ``SCHEMA`` before it publishes and the kiosk checks it again
on receipt, with the same code, so both ends agree by construction. A new setting is one
``Setting`` entry in ``SCHEMA`` (its check and whether a button pad applies it) plus the code
on the device that uses it.

Opening hours have one grammar with two spellings of the same ``OpeningHours`` value:

- the human form, for the CLI, the README and branch settings:
  ``"mon-fri 08:00-21:00; sat,sun 10:00-18:00"``, ``"sun closed"``, several spans
  ``"mon 08:00-12:00,13:00-18:00"``, a span past midnight ``"fri 18:00-02:00"`` (Friday until
  24:00 and Saturday from 00:00 to 02:00), a bare ``"08:00-20:00"`` for every day. Days a
  spec does not name are closed; an empty spec means always open. The spelling
  ``"mon-fri=08:00-20:00;sun="`` of older ``otklik config set --hours`` is still read.
- the wire form in a config push: ``{"mon": ["08:00-21:00"], ..., "sun": []}``, every span
  within its day (a span past midnight is split at 24:00), so kiosks that predate overnight
  spans accept it; a day left out is closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otklik import protocol
from otklik.errors import OtklikError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
MAX_LABEL = 40
MAX_LABELS = 8
MAX_COOLDOWN_S = 3600.0
LOCALE_RE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")


class SettingsError(OtklikError, ValueError):
    """A setting that cannot be used: ``field`` names it (``opening_hours.mon``), ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field} {reason}")


# --- opening hours -------------------------------------------------------------------

Span = tuple[int, int]  # [open, close) in minutes of the local day, 0 <= open < close <= 1440


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (0 = Monday) the sorted, non-overlapping spans the branch is open."""

    days: tuple[tuple[Span, ...], ...]

    @classmethod
    def from_table(cls, table: Mapping[int, list[Span]]) -> OpeningHours:
        return cls(tuple(_merge(table.get(d, [])) for d in range(7)))

    @classmethod
    def parse(cls, spec: str, field: str = "hours") -> OpeningHours | None:
        """The human form; None for an empty spec (always open)."""
        return _parse_cached(spec or "", field)

    @classmethod
    def from_wire(cls, value: Any, field: str = "opening_hours") -> OpeningHours:
        if not isinstance(value, dict):
            raise SettingsError(
                field, f'must be an object of weekday -> spans like {{"mon": ["08:00-20:00"]}}, got {value!r}'
            )
        table: dict[int, list[Span]] = {}
        for day, spans in value.items():
            where = f"{field}.{day}"
            if day not in DAYS:
                raise SettingsError(where, f"is not a weekday; use {', '.join(DAYS)}")
            if not isinstance(spans, list):
                raise SettingsError(where, 'must be a list like ["08:00-20:00"] ([] = closed)')
            for span in spans:
                start, end = _span(where, span) if isinstance(span, str) else (0, -1)
                if end <= start:
                    raise SettingsError(
                        where,
                        f"{span!r} must be HH:MM-HH:MM with the end later (a span past midnight is split at 24:00)",
                    )
                table.setdefault(DAYS.index(day), []).append((start, end))
        return cls.from_table(table)

    def to_wire(self) -> dict[str, list[str]]:
        return {DAYS[d]: [f"{_hhmm(a)}-{_hhmm(b)}" for a, b in spans] for d, spans in enumerate(self.days)}

    def to_spec(self) -> str:
        """The human form; days with the same spans are listed together."""
        parts: list[str] = []
        for spans in dict.fromkeys(self.days):  # distinct, in weekday order of first appearance
            days = ",".join(DAYS[d] for d, s in enumerate(self.days) if s == spans)
            text = ",".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in spans) or "closed"
            parts.append(f"{days} {text}")
        return "; ".join(parts)

    def table(self) -> dict[int, list[Span]]:
        return {d: list(spans) for d, spans in enumerate(self.days)}

    def is_open(self, local: datetime, grace_min: float = 0) -> bool:
        """Whether a local wall-clock moment is within the hours, widened by ``grace_min`` each side."""
        minute = local.hour * 60 + local.minute + local.second / 60
        day = local.weekday()
        for d, offset in ((day, 0), ((day - 1) % 7, DAY_MINUTES), ((day + 1) % 7, -DAY_MINUTES)):
            for start, end in self.days[d]:
                if start - grace_min <= minute + offset <= end + grace_min:
                    return True
        return False

    def minutes_to_change(self, local: datetime) -> float:
        """Minutes from ``local`` until ``is_open`` (no grace) next changes; at most a week."""
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
        day = local.weekday()
        edges = sorted(
            d_off * DAY_MINUTES + edge - minute
            for d_off in range(8)
            for start, end in self.days[(day + d_off) % 7]
            for edge in (start, end)
        )
        return next((e for e in edges if e > 0), 7 * DAY_MINUTES)


def parse_hours(spec: str) -> dict[int, list[Span]] | None:
    """The human form as ``{weekday (0=Mon): [(open_minute, close_minute), ...]}``; None = always open."""
    hours = OpeningHours.parse(spec)
    return None if hours is None else hours.table()


def wire_hours(spec: str, field: str = "hours") -> dict[str, list[str]] | None:
    """The human form as a config push carries it; None (always open) for an empty spec."""
    hours = OpeningHours.parse(spec, field)
    return None if hours is None else hours.to_wire()


_SPAN_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_DAYS_RE = r"[a-z]+(?:\s*[-,]\s*[a-z]+)*"
_PART_RE = re.compile(rf"^(?P<days>{_DAYS_RE})\s*(?:=\s*|\s+)(?P<spans>.*)$")


@lru_cache(maxsize=256)
def _parse_cached(spec: str, field: str) -> OpeningHours | None:
    text = spec.strip().lower()
    if not text:
        return None
    if text[0].isdigit():  # "08:00-20:00": every day
        text = f"mon-sun {text}"
    table: dict[int, list[Span]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        m = _PART_RE.match(part)
        if not m:
            raise SettingsError(field, f"{part!r} is not like 'mon-fri 08:00-21:00' or 'sun closed'")
        days = _days(field, m["days"])
        spans = m["spans"].strip()
        if spans in ("closed", ""):  # "" is the old "sun=" spelling
            for d in days:
                table.setdefault(d, [])
            continue
        for span in (s.strip() for s in spans.split(",")):
            start, end = _span(field, span)
            for d in days:
                if end > start:
                    table.setdefault(d, []).append((start, end))
                else:  # past midnight (equal ends: open around the clock from that minute)
                    table.setdefault(d, []).append((start, DAY_MINUTES))
                    if end:
                        table.setdefault((d + 1) % 7, []).append((0, end))
    return OpeningHours.from_table(table)


def _days(field: str, text: str) -> list[int]:
    found: list[int] = []
    for item in (i.strip() for i in text.split(",")):
        first, _, last = (x.strip() for x in item.partition("-"))
        a, b = _day(field, first), _day(field, last or first)
        found += [(a + i) % 7 for i in range((b - a) % 7 + 1)]  # "sat-mon" wraps over the week's end
    return found


def _day(field: str, name: str) -> int:
    if name not in DAYS:
        raise SettingsError(field, f"{name!r} is not a weekday; use {', '.join(DAYS)}")
    return DAYS.index(name)


def _span(field: str, text: str) -> Span:
    m = _SPAN_RE.match(text)
    if not m:
        raise SettingsError(field, f"{text!r} is not a time span like 08:00-21:00")
    h1, m1, h2, m2 = map(int, m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start > DAY_MINUTES or end > DAY_MINUTES:
        raise SettingsError(field, f"{text!r} has an impossible time (00:00 to 24:00)")
    return start, end


def _merge(spans: list[Span]) -> tuple[Span, ...]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@lru_cache(maxsize=256)
def zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(field, f"{name!r} is not a known IANA zone (e.g. 'Europe/Moscow')") from None


# --- the schema of a config push -----------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting a kiosk can be told.

    ``check`` turns the wire value into what the device uses (raising SettingsError naming
    the field); ``wire`` turns that back. ``null_is_value``: a pushed null means something
    (employee: unbind) instead of "back to the device's own config file". ``pad``: the
    MicroPython button pad applies it too (firmware/otpad/config.py PUSHED).
    """

    name: str
    check: Callable[[Any], Any]
    help: str
    wire: Callable[[Any], Any] = lambda value: value
    null_is_value: bool = False
    pad: bool = False
    # Still checked when received (an older hub sends it) but no longer stored or pushed by this hub.
    retired: str | None = None
    # The branch's, read by the hub itself (``otklik branch set``): checked here, never pushed to a kiosk.
    hub_only: bool = False


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LABELS:
        raise SettingsError("labels", f"must be a list of 1-{MAX_LABELS} strings, got {value!r}")
    for i, label in enumerate(value):
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise SettingsError(f"labels[{i}]", f"{label!r} must be a non-empty string of at most {MAX_LABEL}")
    return tuple(value)


def _cooldown(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_COOLDOWN_S:
        raise SettingsError("cooldown_s", f"{value!r} must be a number of seconds from 0 to {MAX_COOLDOWN_S:g}")
    return float(value)


def _employee(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not protocol.EMPLOYEE_RE.match(value):
        raise SettingsError("employee", f"{value!r} must be 1-64 letters, digits, '.', '-' or '_' (or null)")
    return value


def _locale(value: Any) -> str:
    if not isinstance(value, str) or not LOCALE_RE.match(value):
        raise SettingsError("locale", f"{value!r} must be a language tag such as 'ru' or 'en-GB'")
    return value


def _timezone(value: Any) -> str:
    if not isinstance(value, str):
        raise SettingsError("timezone", f"must be an IANA zone name such as 'Europe/Moscow', got {value!r}")
    zone(value)
    return value


# --- follow-up questions ---------------------------------------------------------------

# Every text a shopper reads is given in each language a kiosk may show (the branch's, or the phone's).
LANGUAGES = ("en", "ru", "fa")
MAX_OPTIONS = 6
MAX_QUESTION_CHARS = 120
MAX_OPTION_CHARS = 40


@dataclass(frozen=True)
class Option:
    id: str
    text: Mapping[str, str]


@dataclass(frozen=True)
class Question:
    """Asked after a press of one of ``scores``; the shopper picks one of ``options`` (or walks away)."""

    id: str
    scores: tuple[int, ...]
    text: Mapping[str, str]
    options: tuple[Option, ...]
    comment: bool = False  # whether an optional comment box follows the options


@dataclass(frozen=True)
class FollowUp:
    """The follow-up questions of one kiosk: at most one per score, so a press knows what to ask."""

    questions: tuple[Question, ...]

    def for_score(self, score: int) -> Question | None:
        return next((q for q in self.questions if score in q.scores), None)

    def reason(self, score: int, reason: str) -> Option | None:
        """The option ``reason`` of the question asked after ``score``, if there is one."""
        question = self.for_score(score)
        return next((o for o in question.options if o.id == reason), None) if question else None

    def to_wire(self) -> list[dict[str, Any]]:
        return [
            {
                "id": q.id, "scores": list(q.scores), "text": dict(q.text), "comment": q.comment,
                "options": [{"id": o.id, "text": dict(o.text)} for o in q.options],
            }
            for q in self.questions
        ]  # fmt: skip

    @classmethod
    def from_wire(cls, value: Any, field: str = "followup") -> FollowUp:
        if not isinstance(value, list) or len(value) > len(protocol.SCORES):
            raise SettingsError(field, f"must be a list of at most {len(protocol.SCORES)} questions, got {value!r}")
        questions: list[Question] = []
        asked: dict[int, str] = {}
        for i, item in enumerate(value):
            question = _question(f"{field}[{i}]", item)
            for score in question.scores:
                if score in asked:
                    raise SettingsError(
                        f"{field}[{i}].scores", f"score {score} already has the question {asked[score]!r}"
                    )
                asked[score] = question.id
            questions.append(question)
        return cls(tuple(questions))


def _question(field: str, value: Any) -> Question:
    if not isinstance(value, dict):
        raise SettingsError(field, f'must be an object with "id", "scores", "text" and "options", got {value!r}')
    unknown = set(value) - {"id", "scores", "text", "options", "comment"}
    if unknown:
        raise SettingsError(f"{field}.{sorted(unknown)[0]}", "is not a field of a question")
    scores = value.get("scores")
    if (
        not isinstance(scores, list)
        or not scores
        or any(type(s) is not int or s not in protocol.SCORES for s in scores)
        or len(set(scores)) != len(scores)
    ):
        raise SettingsError(f"{field}.scores", f"must be a list of distinct scores from 1 to 4, got {scores!r}")
    options = value.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS:
        raise SettingsError(f"{field}.options", f"must be a list of 1-{MAX_OPTIONS} options, got {options!r}")
    parsed: list[Option] = []
    for j, option in enumerate(options):
        where = f"{field}.options[{j}]"
        if not isinstance(option, dict) or set(option) != {"id", "text"}:
            raise SettingsError(where, f'must be an object with exactly "id" and "text", got {option!r}')
        text = _texts(f"{where}.text", option["text"], MAX_OPTION_CHARS)
        parsed.append(Option(_reason_id(f"{where}.id", option["id"]), text))
        if parsed[-1].id in (o.id for o in parsed[:-1]):
            raise SettingsError(f"{where}.id", f"{parsed[-1].id!r} is the id of an earlier option")
    comment = value.get("comment", False)
    if type(comment) is not bool:
        raise SettingsError(f"{field}.comment", f"must be true or false, got {comment!r}")
    return Question(
        id=_reason_id(f"{field}.id", value.get("id")),
        scores=tuple(sorted(scores)),
        text=_texts(f"{field}.text", value.get("text"), MAX_QUESTION_CHARS),
        options=tuple(parsed),
        comment=comment,
    )


def _reason_id(field: str, value: Any) -> str:
    try:
        return protocol.check_id("id", value)
    except protocol.ProtocolError:
        raise SettingsError(field, f"{value!r} must be 1-32 lowercase letters, digits, '-' or '_'") from None


def _texts(field: str, value: Any, limit: int) -> Mapping[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGUAGES):
        raise SettingsError(field, f"must give the text in exactly {', '.join(LANGUAGES)}, got {value!r}")
    for language in LANGUAGES:
        text = value[language]
        if not isinstance(text, str) or not text.strip() or len(text) > limit or not protocol.is_text(text):
            raise SettingsError(f"{field}.{language}", f"{text!r} must be 1-{limit} printable characters on one line")
    return {language: value[language] for language in LANGUAGES}


# --- phone ratings ---------------------------------------------------------------------

# A branch's phone (QR code) ratings count with its kiosks' presses, or are kept out of the
# kiosks', employees' and branch's scores and shown apart (hub.branches, hub.aggregates).
PHONE_TOGETHER, PHONE_SEPARATE = "together", "separate"
PHONE_RATINGS = (PHONE_TOGETHER, PHONE_SEPARATE)


def check_phone_ratings(value: Any) -> str:
    if value not in PHONE_RATINGS:
        raise SettingsError("phone_ratings", f"must be {' or '.join(map(repr, PHONE_RATINGS))}, got {value!r}")
    return str(value)


SCHEMA: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("labels", _labels, "button names, in pin order; the kiosk logs each press by its name",
                wire=list, pad=True),
        Setting("cooldown_s", _cooldown, "a repeat press within this many seconds is flagged cooldown", pad=True),
        Setting("employee", _employee, "the employee the kiosk's presses go to (null unbinds)",
                null_is_value=True, pad=True),
        Setting("opening_hours", OpeningHours.from_wire, "the branch's hours: the kiosk sleeps outside them",
                wire=OpeningHours.to_wire),
        Setting("timezone", _timezone, "the branch's zone, in which the kiosk reads its opening hours"),
        Setting("followup", FollowUp.from_wire, "the questions the touch screen asks after a press, per score",
                wire=FollowUp.to_wire),
        Setting("phone_ratings", check_phone_ratings,
                "whether the branch's phone (QR) ratings count with its kiosks' presses or are shown apart",
                hub_only=True),
        Setting("locale", _locale, "the kiosk's language",
                retired="a kiosk shows no text of its own; push labels in the store's language instead"),
    )
}  # fmt: skip
SETTING_NAMES = tuple(name for name, s in SCHEMA.items() if not s.retired and not s.hub_only)
PAD_SETTINGS = tuple(name for name, s in SCHEMA.items() if s.pad)
# Set from the branch's settings (hub.branches), not per kiosk.
BRANCH_SETTINGS = ("opening_hours", "timezone")


@dataclass(frozen=True)
class KioskSettings:
    """A checked config push: ``values`` holds what the push named (an absent setting keeps the
    device's own config file value; a null one is present only where ``null_is_value``)."""

    version: int
    values: Mapping[str, Any] = field(default_factory=dict)
    # Settings this side does not know (a newer hub, or one retired here): kept, not applied.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name in SCHEMA:
            return self.values.get(name)
        raise AttributeError(name)

    @property
    def present(self) -> frozenset[str]:
        return frozenset(self.values)

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"v": protocol.VERSION, "version": self.version}
        for name, value in self.values.items():
            body[name] = None if value is None else SCHEMA[name].wire(value)
        body.update(self.extra)
        return body


def parse_settings(version: Any, settings: Mapping[str, Any]) -> KioskSettings:
    """Check every setting of a push; raises SettingsError naming the first bad one."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SettingsError("version", f"must be an integer of at least 1, got {version!r}")
    values: dict[str, Any] = {}
    for name, setting in SCHEMA.items():
        if name not in settings:
            continue
        value = settings[name]
        if value is not None:
            values[name] = setting.check(value)
        elif setting.null_is_value:
            values[name] = None
    extra = {k: v for k, v in settings.items() if k not in SCHEMA and k not in ("v", "version")}
    return KioskSettings(version, values, extra)


def check_changes(changes: Mapping[str, Any]) -> None:
    """Refuse a change to a setting that is not in the schema, naming the known ones."""
    for name in changes:
        if name not in SETTING_NAMES:
            retired = SCHEMA[name].retired if name in SCHEMA else None
            hub_only = name in SCHEMA and SCHEMA[name].hub_only
            why = (
                f"is no longer pushed: {retired}" if retired
                else f"is the branch's, never pushed: otklik branch set BRANCH --set {name}=..." if hub_only
                else "is an unknown setting"
            )  # fmt: skip
            raise SettingsError(name, f"{why}; settings are {', '.join(SETTING_NAMES)}")
