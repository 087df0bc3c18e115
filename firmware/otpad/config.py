"""The pad's settings: ``config.json`` (written by ``otklik provision``) plus the hub's config pushes.

A bad config.json stops the pad with a message naming the field (it cannot
work without one). A bad push is refused whole with the field and reason and
the pad keeps what it had, like the kiosk. The last applied push is kept on
flash so a pad that reboots while the hub is away still runs with (and
attributes presses to) the employee it was last bound to.
"""

import json

from otpad import store

ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
EMPLOYEE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
MAX_LABEL = 40
MAX_COOLDOWN_S = 3600.0
PUSHED = ("labels", "cooldown_s", "employee")


class ConfigError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__("config %s: %s" % (field, reason))
        self.field = field
        self.reason = reason


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)  # a tuple: MicroPython has no X | Y here


def check_id(field: str, value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 32 or value[0] in "_-":
        raise ConfigError(field, "%r must be 1-32 lowercase letters, digits, '-' or '_'" % (value,))
    for ch in value:
        if ch not in ID_CHARS:
            raise ConfigError(field, "%r must be 1-32 lowercase letters, digits, '-' or '_'" % (value,))
    return value


def check_employee(field: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or value[0] in "_.-":
        raise ConfigError(field, "%r must be 1-64 letters, digits, '.', '-' or '_' (or null)" % (value,))
    for ch in value:
        if ch not in EMPLOYEE_CHARS:
            raise ConfigError(field, "%r must be 1-64 letters, digits, '.', '-' or '_' (or null)" % (value,))
    return value


def check_cooldown(value: object) -> float:
    if not _is_number(value) or not 0 <= value <= MAX_COOLDOWN_S:  # type: ignore[operator]
        raise ConfigError("cooldown_s", "%r must be a number of seconds from 0 to %d" % (value, MAX_COOLDOWN_S))
    return float(value)  # type: ignore[arg-type]


def check_labels(value: object) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 8:
        raise ConfigError("labels", "must be a list of 1-8 strings, got %r" % (value,))
    for i, label in enumerate(value):
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise ConfigError("labels[%d]" % i, "%r must be a non-empty string of at most %d" % (label, MAX_LABEL))
    return list(value)


def _section(raw: dict, name: str) -> dict:
    value = raw.get(name)
    if not isinstance(value, dict):
        raise ConfigError(name, "must be an object, got %r" % (type(value).__name__,))
    return value


def _int(section: dict, prefix: str, name: str, default: int | None, low: int, high: int) -> int:
    value = section.get(name, default)
    if not _is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise ConfigError(prefix + name, "%r must be an integer from %d to %d" % (value, low, high))
    return value  # type: ignore[return-value]


def _str(section: dict, prefix: str, name: str, default: str | None = None) -> str:
    value = section.get(name, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ConfigError(prefix + name, "is required (a string)" if value is None else "must be a string")
    return value


def _pin(field: str, value: object) -> int | str:
    # rp2 names the Pico W's on-board LED "LED"; ESP32 pins are numbers.
    if _is_int(value) and 0 <= value <= 64:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    if isinstance(value, str) and 0 < len(value) <= 16:
        return value
    raise ConfigError(field, "%r must be a GPIO number or a pin name such as 'LED'" % (value,))


class PadConfig:
    def __init__(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise ConfigError("config.json", "must be a JSON object")
        wifi = _section(raw, "wifi")
        self.wifi_ssid = _str(wifi, "wifi.", "ssid")
        self.wifi_password = _str(wifi, "wifi.", "password", "")
        broker = _section(raw, "broker")
        self.broker_host = _str(broker, "broker.", "host")
        self.broker_ssl = broker.get("ssl", False) is True
        self.broker_port = _int(broker, "broker.", "port", 8883 if self.broker_ssl else 1883, 1, 65535)
        self.broker_user = broker.get("username")
        self.broker_password = broker.get("password")
        if self.broker_user is not None and not isinstance(self.broker_user, str):
            raise ConfigError("broker.username", "must be a string")
        if self.broker_password is not None and not isinstance(self.broker_password, str):
            raise ConfigError("broker.password", "must be a string")
        self.keepalive_s = _int(broker, "broker.", "keepalive_s", 60, 5, 3600)
        self.branch = check_id("branch", raw.get("branch"))
        self.device = check_id("device", raw.get("device"))
        self.file_employee = check_employee("employee", raw.get("employee"))
        pins = _section(raw, "pins")
        buttons = pins.get("buttons")
        if not isinstance(buttons, list) or len(buttons) != 4:
            raise ConfigError("pins.buttons", "must list 4 pins, for scores 1..4, got %r" % (buttons,))
        self.button_pins = [_pin("pins.buttons[%d]" % i, p) for i, p in enumerate(buttons)]
        self.thanks_pin = _pin("pins.thanks", pins.get("thanks"))
        self.status_pin = _pin("pins.status", pins.get("status", "LED"))
        # Buttons wired to GND with the internal pull-up read 0 when pressed.
        self.active_low = pins.get("active_low", True) is not False
        self.file_cooldown_s = check_cooldown(raw.get("cooldown_s", 5.0))
        self.file_labels = check_labels(raw.get("labels", ["Very unhappy", "Unhappy", "Happy", "Very happy"]))
        self.debounce_ms = _int(raw, "", "debounce_ms", 50, 0, 1000)
        self.heartbeat_s = _int(raw, "", "heartbeat_s", 60, 5, 3600)
        self.buffer_capacity = _int(raw, "", "buffer_capacity", 500, 1, 5000)
        # Keep presses until the hub's receipt; false only for a hub too old to send receipts.
        self.receipts = raw.get("receipts", True) is not False
        self.resend_s = _int(raw, "", "resend_s", 30, 1, 3600)
        self.thanks_ms = _int(raw, "", "thanks_ms", 1500, 0, 10000)
        ntp = raw.get("ntp_host")
        self.ntp_host = ntp if isinstance(ntp, str) and ntp else None
        # What the hub pushed last (version 0 = nothing yet).
        self.config_version = 0
        self.pushed: dict = {}

    def __repr__(self) -> str:
        # Never the passwords: this ends up on the serial console.
        return "PadConfig(%s/%s, broker %s:%d as %s, employee %s)" % (
            self.branch, self.device, self.broker_host, self.broker_port, self.broker_user, self.employee,
        )  # fmt: skip

    # The effective values: a pushed setting wins over config.json; one the
    # push leaves out falls back to the file.
    @property
    def employee(self) -> str | None:
        return self.pushed.get("employee", self.file_employee)

    @property
    def cooldown_s(self) -> float:
        return self.pushed.get("cooldown_s", self.file_cooldown_s)

    @property
    def labels(self) -> list[str]:
        return self.pushed.get("labels", self.file_labels)

    def apply_push(self, body: object) -> bool:
        """A config message's JSON body; True when it changed something.

        Raises ConfigError (nothing applied) for a bad push. A version not
        newer than the applied one is the retained copy of what the pad runs:
        ignored.
        """
        if not isinstance(body, dict):
            raise ConfigError("config push", "must be a JSON object")
        if body.get("v") != 1:
            raise ConfigError("v", "%r is not protocol version 1" % (body.get("v"),))
        version = body.get("version")
        if not _is_int(version) or version < 1:  # type: ignore[operator]
            raise ConfigError("version", "must be an integer of at least 1, got %r" % (version,))
        if version <= self.config_version:  # type: ignore[operator]
            return False
        pushed: dict = {}
        if body.get("labels") is not None:
            pushed["labels"] = check_labels(body["labels"])
        if body.get("cooldown_s") is not None:
            pushed["cooldown_s"] = check_cooldown(body["cooldown_s"])
        if "employee" in body:  # null unbinds the pad
            pushed["employee"] = check_employee("employee", body["employee"])
        self.pushed = pushed
        self.config_version = version  # type: ignore[assignment]
        return True

    def save_push(self, path: str) -> None:
        store.write_json(path, {"version": self.config_version, "settings": self.pushed})

    def load_push(self, path: str) -> None:
        saved = store.read_json(path)
        if not isinstance(saved, dict):
            return
        try:
            body = dict(saved.get("settings") or {})
            body["v"] = 1
            body["version"] = saved.get("version")
            self.apply_push(body)
        except ConfigError as err:
            print("otpad: ignoring saved config push:", err)


def load(path: str) -> PadConfig:
    try:
        with open(path) as f:
            raw = json.loads(f.read())
    except OSError:
        raise ConfigError(path, "cannot be read; copy it to the pad (see firmware/README.md)") from None
    except ValueError:
        raise ConfigError(path, "is not valid JSON") from None
    return PadConfig(raw)
