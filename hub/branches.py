"""Per-branch settings: time zone, misuse rules and alert rules.

A branch without a row gets the defaults, which are chosen to flag nothing an honest busy
store produces: no opening hours means always open, and the burst rule needs more than 10
presses on one kiosk within 10 seconds (a press every 2 s stays well clear of it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.alert_text import LANGUAGES
from hub.store import Database
from otklik.protocol import CHANNEL_PHONE
from otklik.settings import PHONE_TOGETHER, SCHEMA, OpeningHours, SettingsError, zone
from otklik.times import now_ts


@dataclass
class BranchSettings:
    branch: str
    timezone: str = "UTC"
    # Misuse rules.
    burst_max: int = 10  # more than this many presses ...
    burst_window_s: float = 10.0  # ... on one kiosk within this many seconds is a burst
    hours: str = ""  # opening hours in otklik.settings' human form; empty = always open
    hours_grace_min: int = 15  # presses this close to opening/closing time are still "open"
    # Alert rules.
    unhappy_share_pct: float = 50.0  # buttons 1+2 at or above this share ...
    unhappy_window_min: int = 15  # ... within this many minutes ...
    unhappy_min_responses: int = 4  # ... with at least this many responses
    day_index_below: float | None = 40.0  # today's index below this (None = rule off) ...
    day_min_responses: int = 20  # ... once today has this many responses
    offline_after_min: float = 10.0  # kiosk silent or offline longer than this
    backlog_above: int = 100  # kiosk outbox deeper than this
    # Statistical rules (hub.alerts): the recent window against the same hour of the week before.
    change_window_min: int = 60  # the recent window compared with the baseline ...
    change_weeks: int = 8  # ... of the same hours of the week over this many past weeks
    change_min_responses: int = 6  # no verdict on fewer presses in the window
    change_alpha: float = 0.001  # chance of a change this large by luck at most this (0 = rule off)
    positive_alerts: bool = False  # also alert on an unusually good hour (very happy share)
    silent_after_min: float = 45.0  # an online kiosk with no press this long ... (0 = rule off)
    silent_expected_min: float = 10.0  # ... where its past weeks had at least this many presses then
    silent_visitors_min: int = 15  # ... or its camera counted this many visitors meanwhile
    auto_resolve_min: float = 30.0  # resolve an alert whose condition has been gone this long (0 = never)
    alert_language: str = "en"  # language of this branch's MQTT alert messages and e-mails (en, ru, fa)
    # Phone (QR code) ratings counted with the kiosks' presses, or kept out of the scores and shown apart.
    phone_ratings: str = PHONE_TOGETHER
    extra: dict[str, Any] = field(default_factory=dict)

    def in_scores(self, channel: str) -> bool:
        """Whether a press made on ``channel`` counts in the branch's aggregates (and so in every score)."""
        return channel != CHANNEL_PHONE or self.phone_ratings == PHONE_TOGETHER

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)

    def opening_hours(self) -> OpeningHours | None:
        """None: always open."""
        return OpeningHours.parse(self.hours)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_TUNABLE = {f.name: f for f in fields(BranchSettings) if f.name not in ("branch", "timezone", "extra")}


def is_open(settings: BranchSettings, local: datetime) -> bool:
    """Whether a local wall-clock moment falls in opening hours, with the grace margin."""
    hours = settings.opening_hours()
    return hours is None or hours.is_open(local, settings.hours_grace_min)


def get(db: Database, branch: str) -> BranchSettings:
    row = None
    if db["branch_settings"].exists():
        row = db.execute("SELECT timezone, settings FROM branch_settings WHERE branch = ?", [branch]).fetchone()
    if row is None:
        return BranchSettings(branch)
    stored = json.loads(row[1] or "{}")
    known = {k: v for k, v in stored.items() if k in _TUNABLE}
    extra = {k: v for k, v in stored.items() if k not in _TUNABLE}
    return BranchSettings(branch, timezone=row[0], **known, extra=extra)


def timezones(db: Database, names: Sequence[str]) -> dict[str, str]:
    """Each branch's ``get(db, branch).timezone``, in one query (the overview asks for 50 branches'
    at each recomputation, and ``get`` costs two queries and a JSON parse each)."""
    found: dict[str, str] = {}
    if names and db["branch_settings"].exists():
        marks = ", ".join("?" * len(names))
        sql = f"SELECT branch, timezone FROM branch_settings WHERE branch IN ({marks})"
        found = {b: tz for b, tz in db.execute(sql, list(names)).fetchall()}
    return {b: found.get(b, BranchSettings(b).timezone) for b in names}


def update(db: Database, branch: str, **changes: Any) -> BranchSettings:
    """Change some settings of a branch (validated) and return the result.

    A changed time zone moves every local period of the branch, so the caller must rebuild
    the branch's aggregates (``hub.aggregates.rebuild(db, branch)``); the CLI does.
    """
    current = get(db, branch)
    for name, value in changes.items():
        if name == "timezone":
            zone(value)
            current.timezone = value
        elif name in _TUNABLE:
            setattr(current, name, _coerce(name, value))
        else:
            raise SettingsError(repr(name), f"is not a branch setting; known: timezone, {', '.join(_TUNABLE)}")
    OpeningHours.parse(current.hours)
    stored = {k: getattr(current, k) for k in _TUNABLE}
    stored.update(current.extra)
    db.execute(
        "INSERT INTO branch_settings (branch, timezone, settings, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(branch) DO UPDATE SET timezone = excluded.timezone, settings = excluded.settings, "
        "updated_at = excluded.updated_at",
        [branch, current.timezone, json.dumps(stored, sort_keys=True), now_ts()],
    )
    db.conn.commit()
    return current


def _coerce(name: str, value: Any) -> Any:
    if name == "hours":
        return str(value or "")
    if name in SCHEMA and SCHEMA[name].hub_only:
        return SCHEMA[name].check(value)
    if name == "alert_language":
        if value not in LANGUAGES:
            raise SettingsError("alert_language", f"must be one of {', '.join(LANGUAGES)}, got {value!r}")
        return value
    if _TUNABLE[name].type in ("bool", bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"must be on or off, got {value!r}")
    if value is None or (isinstance(value, str) and value.lower() in ("", "off", "none")):
        if name == "day_index_below":
            return None
        raise SettingsError(name, "needs a value")
    kind = int if _TUNABLE[name].type in ("int", int) else float
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SettingsError(name, f"must be a {'whole ' if kind is int else ''}number, got {value!r}") from None
    if number < 0:
        raise SettingsError(name, f"must not be negative, got {value!r}")
    return number


# Every table that names a branch: it exists once it has settings, a kiosk that spoke, someone on
# its roster or a counted press. Scores, alerts, exports and the dashboard all ask here.
_BRANCH_TABLES = ("branch_settings", "kiosks", "employees", "agg_month")


def known_branches(db: Database) -> list[str]:
    """Every branch the hub knows of, sorted."""
    names: set[str] = set()
    for table in _BRANCH_TABLES:
        if db[table].exists():
            names.update(r[0] for r in db.execute(f"SELECT DISTINCT branch FROM {table}"))
    return sorted(names)


def known_kiosks(db: Database, branch: str) -> list[str]:
    """Every kiosk of a branch: in the registry (it has spoken) or with a counted press, sorted."""
    found: set[str] = set()
    for table in ("kiosks", "agg_month"):
        if db[table].exists():
            found.update(r[0] for r in db.execute(f"SELECT DISTINCT kiosk FROM {table} WHERE branch = ?", [branch]))
    return sorted(found)
