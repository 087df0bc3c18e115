"""The kiosk's TOML config file, checked field by field into frozen dataclasses.

A technician edits this file by hand on a Pi, so every mistake must stop the
kiosk with the field's full name and a reason they can act on, e.g.
``buttons.pins[2]: pin 6 is already used by buttons.pins[1]``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otklik import protocol
from otklik.errors import OtklikError
from otklik.mqtt import Broker, BrokerURLError, parse_broker_url
from otklik.settings import LANGUAGES, MAX_COOLDOWN_S, SCHEMA, SettingsError

DEFAULT_PINS = (5, 6, 13, 19)
DEFAULT_LABELS = ("Very unhappy", "Unhappy", "Happy", "Very happy")
# BCM GPIO numbers on the Raspberry Pi's 40-pin header.
MAX_BCM_PIN = 27
# Linux's NAME_MAX and PATH_MAX: a longer name passes a string check and fails later in open() or mkdir().
NAME_MAX = 255
PATH_MAX = 4096
# Room under data_dir for the outbox's own names: "/outbox-<32>-<32>.sqlite-journal" and the like.
OUTBOX_NAME_ROOM = 100


class ConfigError(OtklikError, ValueError):
    """A config file that cannot run a kiosk: ``field`` is the dotted name, ``reason`` says why."""

    field: str

    def __init__(self, field: str, reason: str, *, source: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {reason}")


@dataclass(frozen=True)
class BrokerConfig:
    url: str
    username: str | None = None
    # Read from password_file when that is set; never shown by repr().
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    mqtt_version: str = "5"

    def broker(self) -> Broker:
        return parse_broker_url(
            self.url,
            username=self.username,
            password=self.password,
            ca_file=self.ca_file,
            mqtt_version=self.mqtt_version,
        )


@dataclass(frozen=True)
class KioskConfig:
    branch: str
    id: str
    employee: str | None = None
    data_dir: Path = Path("/var/lib/otklik")
    cooldown_s: float = 5.0
    heartbeat_s: float = 30.0
    # Keep each press until the hub's receipt; false only for a hub too old to send them.
    receipts: bool = True
    resend_s: float = 30.0
    resend_max_s: float = 600.0


@dataclass(frozen=True)
class ButtonsConfig:
    pins: tuple[int, ...] = DEFAULT_PINS
    labels: tuple[str, ...] = DEFAULT_LABELS
    # scores[i] is the score button pins[i] records.
    scores: tuple[int, ...] = protocol.SCORES
    debounce_ms: int = 50


@dataclass(frozen=True)
class LedsConfig:
    thanks: int | None = 20
    status: int | None = 21


@dataclass(frozen=True)
class ScreenConfig:
    """The touch page (kiosk/screen), served on loopback only for the Pi's own Chromium."""

    port: int = 8765
    language: str = "en"  # the branch's language: one of otklik.settings.LANGUAGES
    idle_s: float = 20.0  # back to the smileys after this long without a tap
    thanks_s: float = 4.0  # how long the thank-you stays

    @property
    def url(self) -> str:
        """Where the Pi's Chromium opens the page (deploy/pi/setup-kiosk.sh writes it for its unit)."""
        return f"http://127.0.0.1:{self.port}/"


@dataclass(frozen=True)
class Config:
    broker: BrokerConfig
    kiosk: KioskConfig
    buttons: ButtonsConfig = ButtonsConfig()
    leds: LedsConfig = LedsConfig()
    screen: ScreenConfig | None = None  # None: no touch screen (buttons only)
    # Parsed by kiosk/camera; passed through untouched.
    camera: dict[str, Any] | None = None
    source: str | None = None

    @property
    def outbox_path(self) -> Path:
        return self.kiosk.data_dir / f"outbox-{self.kiosk.branch}-{self.kiosk.id}.sqlite"


# --- loading -----------------------------------------------------------------

_SECTIONS: dict[str, tuple[str, ...]] = {
    "broker": ("url", "username", "password", "password_file", "ca_file", "mqtt_version"),
    "kiosk": (
        "branch",
        "id",
        "employee",
        "data_dir",
        "cooldown_s",
        "heartbeat_s",
        "receipts",
        "resend_s",
        "resend_max_s",
    ),
    "buttons": ("pins", "labels", "scores", "debounce_ms"),
    "leds": ("thanks", "status"),
    "screen": ("port", "language", "idle_s", "thanks_s"),
    "camera": (),  # free-form, checked by kiosk/camera
}


def load_config(path: str | Path) -> Config:
    """Read and check a TOML config file; raises ConfigError naming the field."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_bytes()
    except OSError as err:
        raise ConfigError("(file)", f"cannot read the config file: {err.strerror or err}", source=source) from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("(file)", "is not UTF-8 text", source=source) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("(file)", f"is not valid TOML: {err}", source=source) from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        raise ConfigError("(file)", "is nested too deeply to be a kiosk config", source=source) from None
    return config_from_dict(data, base_dir=path.parent, source=source)


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None, source: str | None = None) -> Config:
    """Check a parsed config (the TOML's tables as dicts). Relative paths are taken from base_dir."""
    try:
        return _Parser(base_dir or Path.cwd()).config(data, source)
    except ConfigError as err:
        if source and not err.source:
            raise ConfigError(err.field, err.reason, source=source) from None
        raise


def simple_config(
    *,
    broker_url: str,
    branch: str,
    kiosk: str,
    data_dir: str | Path,
    cooldown_s: float = 5.0,
    heartbeat_s: float = 30.0,
    mqtt_version: str = "5",
    username: str | None = None,
    password: str | None = None,
    employee: str | None = None,
) -> Config:
    """A checked config for a kiosk with the default pins, for ``--simulate`` and tests."""
    section: dict[str, Any] = {
        "branch": branch,
        "id": kiosk,
        "data_dir": str(data_dir),
        "cooldown_s": cooldown_s,
        "heartbeat_s": heartbeat_s,
    }
    if employee:
        section["employee"] = employee
    broker: dict[str, Any] = {"url": broker_url, "mqtt_version": mqtt_version}
    if username:
        broker["username"] = username
    if password:
        broker["password"] = password
    return config_from_dict({"broker": broker, "kiosk": section})


class _Parser:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    def config(self, data: Mapping[str, Any], source: str | None) -> Config:
        _known_keys("", data, tuple(_SECTIONS))
        for name in _SECTIONS:
            if name in data and not isinstance(data[name], dict):
                raise ConfigError(name, f"must be a table ([{name}]), got {_type(data[name])}")
        if "broker" not in data:
            raise ConfigError("broker", "missing required table [broker]")
        if "kiosk" not in data:
            raise ConfigError("kiosk", "missing required table [kiosk]")
        buttons = self.buttons(data.get("buttons", {}))
        leds = self.leds(data.get("leds", {}))
        _check_pins_distinct(buttons, leds)
        camera = data.get("camera")
        return Config(
            broker=self.broker(data["broker"]),
            kiosk=self.kiosk(data["kiosk"]),
            buttons=buttons,
            leds=leds,
            camera=dict(camera) if camera is not None else None,
            screen=self.screen(data["screen"]) if "screen" in data else None,
            source=source,
        )

    def screen(self, t: Mapping[str, Any]) -> ScreenConfig:
        _known_keys("screen", t, _SECTIONS["screen"])
        port = _get(t, "screen", "port", int, default=ScreenConfig.port)
        if not 1024 <= port <= 65535:
            raise ConfigError("screen.port", f"{port} must be a port from 1024 to 65535")
        language = _get(t, "screen", "language", str, default=ScreenConfig.language)
        if language not in LANGUAGES:
            raise ConfigError("screen.language", f"{language!r} must be one of {', '.join(LANGUAGES)}")
        idle = _number(t, "screen", "idle_s", default=ScreenConfig.idle_s, low=3, high=600)
        thanks = _number(t, "screen", "thanks_s", default=ScreenConfig.thanks_s, low=1, high=60)
        return ScreenConfig(port, language, idle, thanks)

    def broker(self, t: Mapping[str, Any]) -> BrokerConfig:
        _known_keys("broker", t, _SECTIONS["broker"])
        url = _get(t, "broker", "url", str, required=True)
        username = _get(t, "broker", "username", str)
        password = _get(t, "broker", "password", str)
        password_file = _get(t, "broker", "password_file", str)
        ca_file = _get(t, "broker", "ca_file", str)
        mqtt_version = _get(t, "broker", "mqtt_version", str, default="5")
        if password is not None and password_file is not None:
            raise ConfigError("broker.password_file", "set either password or password_file, not both")
        if password_file is not None:
            password = self._read_password(password_file)
        if ca_file is not None:
            ca_path = self._path("broker.ca_file", ca_file)
            try:
                found = ca_path.is_file()
            except OSError as err:
                raise ConfigError("broker.ca_file", f"cannot read {str(ca_path)!r}: {err.strerror or err}") from None
            if not found:
                raise ConfigError("broker.ca_file", f"file {str(ca_path)!r} does not exist")
            ca_file = str(ca_path)
        if mqtt_version not in ("5", "3.1.1"):
            raise ConfigError("broker.mqtt_version", f'{mqtt_version!r} must be "5" or "3.1.1"')
        if password and not username:
            raise ConfigError("broker.username", "a password is set but no username")
        result = BrokerConfig(url, username, password, ca_file, mqtt_version)
        try:
            broker = result.broker()
        except BrokerURLError as err:
            raise ConfigError("broker.url", str(err)) from None
        if broker.ca_file and not broker.tls:
            raise ConfigError("broker.ca_file", "is only used with an mqtts:// URL")
        return result

    def _path(self, name: str, value: str, *, room: int = 0) -> Path:
        """``value`` taken from the config file's folder, refused here if the OS could never open it.

        ``room`` is what the kiosk appends to the path later, counted against PATH_MAX now.
        """
        if "\0" in value:
            raise ConfigError(name, f"{_shorten(value)} contains a NUL character")
        path = self.base_dir / value
        try:
            raw = os.fsencode(path)
        except UnicodeEncodeError:
            raise ConfigError(name, f"{_shorten(value)} cannot be written as a file name") from None
        if len(raw) + room >= PATH_MAX:
            raise ConfigError(name, f"path is {len(raw)} bytes long; the limit is {PATH_MAX - 1 - room}")
        longest = max(raw.split(b"/"), key=len)
        if len(longest) > NAME_MAX:
            raise ConfigError(name, f"has a {len(longest)}-byte file or folder name; the limit is {NAME_MAX}")
        return path

    def _read_password(self, name: str) -> str:
        path = self._path("broker.password_file", name)
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError("broker.password_file", f"cannot read {str(path)!r}: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise ConfigError("broker.password_file", f"{str(path)!r} is not UTF-8 text") from None
        if not secret:
            raise ConfigError("broker.password_file", f"{str(path)!r} is empty")
        return secret

    def kiosk(self, t: Mapping[str, Any]) -> KioskConfig:
        _known_keys("kiosk", t, _SECTIONS["kiosk"])
        branch = _get(t, "kiosk", "branch", str, required=True)
        kiosk_id = _get(t, "kiosk", "id", str, required=True)
        for name, value in (("branch", branch), ("id", kiosk_id)):
            if not protocol.ID_RE.match(value):
                raise ConfigError(
                    f"kiosk.{name}",
                    f"{value!r} is not a valid id: use 1-32 lowercase letters, digits, '-' or '_', "
                    "starting with a letter or digit",
                )
        employee = _get(t, "kiosk", "employee", str)
        try:
            SCHEMA["employee"].check(employee)  # the same rule as a pushed employee
        except SettingsError as err:
            raise ConfigError("kiosk.employee", err.reason) from None
        data_dir = _get(t, "kiosk", "data_dir", str, default="/var/lib/otklik")
        if not data_dir:
            raise ConfigError("kiosk.data_dir", "must not be empty")
        data_path = self._path("kiosk.data_dir", data_dir, room=OUTBOX_NAME_ROOM)
        cooldown = _number(t, "kiosk", "cooldown_s", default=5.0, low=0, high=MAX_COOLDOWN_S)
        heartbeat = _number(t, "kiosk", "heartbeat_s", default=30.0, low=1, high=3600)
        receipts = _get(t, "kiosk", "receipts", bool, default=True)
        resend = _number(t, "kiosk", "resend_s", default=30.0, low=1, high=86400)
        resend_max = _number(t, "kiosk", "resend_max_s", default=600.0, low=resend, high=86400)
        return KioskConfig(branch, kiosk_id, employee, data_path, cooldown, heartbeat, receipts, resend, resend_max)

    def buttons(self, t: Mapping[str, Any]) -> ButtonsConfig:
        _known_keys("buttons", t, _SECTIONS["buttons"])
        pins = tuple(_pin_list(t, "buttons", "pins", default=DEFAULT_PINS))
        if not 1 <= len(pins) <= 4:
            raise ConfigError("buttons.pins", f"needs 1 to 4 pins (one per score), got {len(pins)}")
        default_scores = protocol.SCORES if len(pins) == 4 else None
        scores_raw = _get(t, "buttons", "scores", list, default=default_scores)
        if scores_raw is None:
            raise ConfigError("buttons.scores", f"required with {len(pins)} pins: give the score (1..4) of each pin")
        scores = tuple(scores_raw)
        if len(scores) != len(pins):
            raise ConfigError("buttons.scores", f"has {len(scores)} entries but buttons.pins has {len(pins)}")
        for i, score in enumerate(scores):
            if not isinstance(score, int) or isinstance(score, bool) or score not in protocol.SCORES:
                raise ConfigError(f"buttons.scores[{i}]", f"{score!r} must be a score 1..4")
            if score in scores[:i]:
                raise ConfigError(f"buttons.scores[{i}]", f"score {score} is already on another button")
        labels_default = tuple(DEFAULT_LABELS[s - 1] for s in scores)
        labels = tuple(_get(t, "buttons", "labels", list, default=labels_default))
        if len(labels) != len(pins):
            raise ConfigError("buttons.labels", f"has {len(labels)} entries but buttons.pins has {len(pins)}")
        for i, label in enumerate(labels):
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"buttons.labels[{i}]", f"must be a non-empty string, got {_type(label)}")
        debounce = _get(t, "buttons", "debounce_ms", int, default=50)
        if not 0 <= debounce <= 1000:
            raise ConfigError("buttons.debounce_ms", f"{debounce} is out of range 0..1000")
        return ButtonsConfig(pins, labels, scores, debounce)

    def leds(self, t: Mapping[str, Any]) -> LedsConfig:
        _known_keys("leds", t, _SECTIONS["leds"])
        values = {}
        for name in ("thanks", "status"):
            values[name] = _pin(t.get(name, LedsConfig.__dataclass_fields__[name].default), f"leds.{name}")
        return LedsConfig(**values)


def _check_pins_distinct(buttons: ButtonsConfig, leds: LedsConfig) -> None:
    used: dict[int, str] = {}
    named = [(f"buttons.pins[{i}]", p) for i, p in enumerate(buttons.pins)]
    named += [(f"leds.{n}", getattr(leds, n)) for n in ("thanks", "status")]
    for name, pin in named:
        if pin is None:
            continue
        if pin in used:
            raise ConfigError(name, f"pin {pin} is already used by {used[pin]}")
        used[pin] = name


def _known_keys(prefix: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key in known:
            continue
        name = f"{prefix}.{key}" if prefix else key
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
        raise ConfigError(name, f"unknown key{hint}")


def _get(
    t: Mapping[str, Any], section: str, key: str, kind: type, *, required: bool = False, default: Any = None
) -> Any:
    name = f"{section}.{key}"
    if key not in t:
        if required:
            raise ConfigError(name, "missing required field")
        return default
    value = t[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(name, f"must be {_kind_name(kind)}, got {_type(value)} {value!r}")
    return value


def _number(t: Mapping[str, Any], section: str, key: str, *, default: float, low: float, high: float) -> float:
    name = f"{section}.{key}"
    value = t.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(name, f"must be a number, got {_type(value)} {value!r}")
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is out of range {low:g}..{high:g}")
    return float(value)


def _pin_list(t: Mapping[str, Any], section: str, key: str, default: tuple[int, ...]) -> list[int]:
    raw = _get(t, section, key, list, default=list(default))
    return [_pin(p, f"{section}.{key}[{i}]") for i, p in enumerate(raw)]


def _pin(value: Any, name: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(name, f"must be a BCM pin number (integer), got {_type(value)} {value!r}")
    if not 0 <= value <= MAX_BCM_PIN:
        raise ConfigError(name, f"pin {value} is out of range 0..{MAX_BCM_PIN} (BCM numbering)")
    return value


_KIND_NAMES: dict[type, str] = {str: "a string", int: "an integer", list: "a list", float: "a number"}


def _kind_name(kind: type) -> str:
    return _KIND_NAMES.get(kind, kind.__name__)


def _shorten(value: str, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 4]}...{shown[-1]}"


def _type(value: Any) -> str:
    names: dict[type, str] = {dict: "table", list: "list", str: "string", bool: "boolean", int: "integer"}
    return names.get(type(value), type(value).__name__)
