"""Config push, kiosk side: settings the hub publishes retained on ``otklik/v1/<b>/<k>/config``.

The payload (protocol.CONFIG) is ``{"v": 1, "version": N, "labels": [...],
"cooldown_s": 5.0, "opening_hours": {"mon": ["08:00-20:00"], ...},
"employee": "e17" | null, "locale": "ru"}``; every setting is optional, an
absent one keeps the kiosk's own config file value. A push is checked whole
before anything changes: a bad one is refused with the field and the reason,
and the kiosk keeps running on what it had. The applied version is kept in
the data dir, so a kiosk that restarts while the hub is away still reports
(and runs with) what it last applied.

This module also holds the settings schema the hub checks against before it
publishes, so both ends agree by construction.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from otklik import protocol
from otklik.errors import OtklikError

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_LABEL = 40
MAX_COOLDOWN_S = 3600.0
LOCALE_RE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")
SPAN_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
SETTING_NAMES = ("labels", "cooldown_s", "opening_hours", "employee", "locale")


class ConfigPushError(OtklikError, ValueError):
    """A pushed config the kiosk refuses: ``field`` names the setting, the text says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"config {field}: {reason}")


@dataclass(frozen=True)
class RemoteSettings:
    version: int
    labels: tuple[str, ...] | None = None
    cooldown_s: float | None = None
    opening_hours: dict[str, tuple[str, ...]] | None = None
    employee: str | None = None
    locale: str | None = None
    # Settings this kiosk does not know yet (a newer hub): kept, not applied.
    extra: dict[str, Any] = field(default_factory=dict)
    # Whether the push named these at all (an absent employee differs from "no employee").
    present: frozenset[str] = frozenset()

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"v": protocol.VERSION, "version": self.version}
        for name in SETTING_NAMES:
            if name in self.present:
                value = getattr(self, name)
                if name == "labels" and value is not None:
                    value = list(value)
                if name == "opening_hours" and value is not None:
                    value = {d: list(s) for d, s in value.items()}
                body[name] = value
        body.update(self.extra)
        return body


def parse_settings(version: int, settings: Mapping[str, Any]) -> RemoteSettings:
    """Check every setting; raises ConfigPushError naming the first bad one."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigPushError("version", f"must be an integer of at least 1, got {version!r}")
    values: dict[str, Any] = {}
    if "labels" in settings and settings["labels"] is not None:
        values["labels"] = _labels(settings["labels"])
    if "cooldown_s" in settings and settings["cooldown_s"] is not None:
        values["cooldown_s"] = _cooldown(settings["cooldown_s"])
    if "opening_hours" in settings and settings["opening_hours"] is not None:
        values["opening_hours"] = _hours(settings["opening_hours"])
    if "employee" in settings and settings["employee"] is not None:
        emp = settings["employee"]
        if not isinstance(emp, str) or not protocol.EMPLOYEE_RE.match(emp):
            raise ConfigPushError("employee", f"{emp!r} must be 1-64 letters, digits, '.', '-' or '_' (or null)")
        values["employee"] = emp
    if "locale" in settings and settings["locale"] is not None:
        loc = settings["locale"]
        if not isinstance(loc, str) or not LOCALE_RE.match(loc):
            raise ConfigPushError("locale", f"{loc!r} must be a language tag such as 'ru' or 'en-GB'")
        values["locale"] = loc
    extra = {k: v for k, v in settings.items() if k not in SETTING_NAMES and k not in ("v", "version")}
    present = frozenset(k for k in SETTING_NAMES if k in settings)
    return RemoteSettings(version=version, extra=extra, present=present, **values)


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 8:
        raise ConfigPushError("labels", f"must be a list of 1-8 strings, got {value!r}")
    for i, label in enumerate(value):
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise ConfigPushError(f"labels[{i}]", f"{label!r} must be a non-empty string of at most {MAX_LABEL}")
    return tuple(value)


def _cooldown(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_COOLDOWN_S:
        raise ConfigPushError("cooldown_s", f"{value!r} must be a number of seconds from 0 to {MAX_COOLDOWN_S:g}")
    return float(value)


def _hours(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ConfigPushError("opening_hours", f"must be an object of weekday -> spans, got {value!r}")
    out: dict[str, tuple[str, ...]] = {}
    for day, spans in value.items():
        if day not in DAYS:
            raise ConfigPushError(f"opening_hours.{day}", f"is not a weekday; use {', '.join(DAYS)}")
        if not isinstance(spans, list):
            raise ConfigPushError(f"opening_hours.{day}", 'must be a list like ["08:00-20:00"] ([] = closed)')
        for span in spans:
            m = SPAN_RE.match(span) if isinstance(span, str) else None
            if not m or (m.group(3), m.group(4)) <= (m.group(1), m.group(2)) or (m[3] == "24" and m[4] != "00"):
                raise ConfigPushError(f"opening_hours.{day}", f"{span!r} must be HH:MM-HH:MM with the end later")
        out[day] = tuple(spans)
    return out


def parse_hours_spec(spec: str) -> dict[str, list[str]]:
    """A technician's short form: ``08:00-20:00`` (every day) or ``mon-fri=08:00-20:00;sat=10:00-16:00;sun=``."""
    spec = spec.strip()
    if "=" not in spec:
        hours = {d: [spec] for d in DAYS}
    else:
        hours = {d: [] for d in DAYS}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            days, _, spans = part.partition("=")
            first, _, last = days.strip().partition("-")
            if first not in DAYS or (last and last not in DAYS):
                raise ConfigPushError("opening_hours", f"{days!r} must be a weekday or a range like mon-fri")
            chosen = DAYS[DAYS.index(first) : DAYS.index(last or first) + 1]
            for day in chosen:
                hours[day] = [s.strip() for s in spans.split(",") if s.strip()]
    _hours(hours)
    return hours


class RemoteConfig:
    """Receives config pushes for one kiosk and applies them through ``apply``.

    ``apply(settings)`` changes the running kiosk (labels, cooldown, ...) and
    raises ConfigPushError if this kiosk cannot take them (e.g. 4 labels for 3
    buttons); the version is recorded only after it returned.
    """

    def __init__(
        self,
        branch: str,
        kiosk: str,
        apply: Callable[[RemoteSettings], None],
        *,
        state_path: Path | None = None,
    ) -> None:
        self.topic = protocol.topic(branch, kiosk, protocol.CONFIG)
        self._apply = apply
        self._state_path = state_path
        self._lock = threading.Lock()
        self.applied: RemoteSettings | None = None
        self.last_error: str | None = None
        if state_path and state_path.exists():
            self.applied = self._load(state_path)

    @property
    def version(self) -> int:
        """The applied config version for the heartbeat (0: none pushed yet)."""
        return self.applied.version if self.applied else 0

    def restore(self) -> None:
        """Re-apply the saved settings at start-up, before the broker is reachable."""
        if self.applied:
            self._apply(self.applied)

    def handle(self, topic: str, payload: bytes) -> bool:
        """One message from the config topic; True when a new version was applied. Never raises."""
        if topic != self.topic:
            log.warning("config on %s ignored: this kiosk listens on %s", topic, self.topic)
            return False
        if not payload:
            return False  # the retained config was cleared; keep what we run with
        try:
            msg = protocol.decode(topic, payload)
            assert isinstance(msg, protocol.Config)
            settings = parse_settings(msg.version, msg.settings)
        except (protocol.ProtocolError, ConfigPushError) as err:
            self.last_error = str(err)
            log.error("config push refused: %s", err)
            return False
        with self._lock:
            if settings.version <= self.version:
                return False  # the retained copy of what we already run, redelivered on reconnect
            try:
                self._apply(settings)
            except ConfigPushError as err:
                self.last_error = str(err)
                log.error("config version %d refused: %s", settings.version, err)
                return False
            self.applied = settings
            self.last_error = None
            if self._state_path:
                self._save(self._state_path, settings)
        log.info("config version %d applied", settings.version)
        return True

    @staticmethod
    def _load(path: Path) -> RemoteSettings | None:
        try:
            body = json.loads(path.read_text())
            return parse_settings(body.get("version"), body)
        except (OSError, ValueError) as err:
            log.warning("ignoring saved config %s: %s", path, err)
            return None

    @staticmethod
    def _save(path: Path, settings: RemoteSettings) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings.to_payload()))
        os.replace(tmp, path)


def settings_summary(settings: RemoteSettings) -> dict[str, Any]:
    return {k: v for k, v in asdict(settings).items() if k != "present" and v not in (None, {})}


# --- wiring into a running kiosk.app.Kiosk ---------------------------------

STATE_FILE = "remote-config-{branch}-{kiosk}.json"


def apply_to_kiosk(kiosk: Any, settings: RemoteSettings) -> None:
    """Change a running Kiosk: cooldown at once, employee and labels for the next press.

    The Kiosk's config is a frozen dataclass read on every press, so swapping in
    a new one is atomic for the button thread. Settings the push leaves out go
    back to the config file's values (kept in ``kiosk.file_config``).
    """
    from dataclasses import replace

    base = kiosk.file_config
    labels = settings.labels if settings.labels is not None else base.buttons.labels
    if len(labels) != len(base.buttons.pins):
        raise ConfigPushError("labels", f"{len(labels)} labels for this kiosk's {len(base.buttons.pins)} buttons")
    employee = settings.employee if "employee" in settings.present else base.kiosk.employee
    cooldown = settings.cooldown_s if settings.cooldown_s is not None else base.kiosk.cooldown_s
    kiosk.config = replace(
        base,
        kiosk=replace(base.kiosk, employee=employee, cooldown_s=cooldown),
        buttons=replace(base.buttons, labels=tuple(labels)),
    )
    kiosk.panel.filter.cooldown_s = cooldown
    # Opening hours and locale have no effect on the buttons; kept for what shows them.
    kiosk.remote_settings = settings


def attach(kiosk: Any) -> RemoteConfig:
    """Give a Kiosk (before its publisher starts) config push: apply, persist, report the version."""
    cfg = kiosk.config
    kiosk.file_config = cfg
    kiosk.remote_settings = None
    state = Path(cfg.kiosk.data_dir) / STATE_FILE.format(branch=cfg.kiosk.branch, kiosk=cfg.kiosk.id)
    remote = RemoteConfig(cfg.kiosk.branch, cfg.kiosk.id, lambda s: apply_to_kiosk(kiosk, s), state_path=state)
    try:
        remote.restore()
    except ConfigPushError as err:  # e.g. a saved push for a kiosk that has since lost a button
        log.error("saved config not applied: %s", err)
        remote.applied = None
    kiosk.publisher.on_config = remote.handle
    kiosk.publisher.config_version = lambda: remote.version
    return remote
