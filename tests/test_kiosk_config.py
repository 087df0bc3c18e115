"""The kiosk's TOML config: every kind of mistake stops with the field's name and the reason."""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from kiosk.cli import kiosk as kiosk_command
from kiosk.config import _SECTIONS, Config, ConfigError, config_from_dict, load_config
from kiosk.outbox import Outbox

BASE = """\
[broker]
url = "mqtt://127.0.0.1:1883"
{broker}
[kiosk]
branch = "b1"
id = "k1"
data_dir = "data"
{kiosk}
[buttons]
{buttons}
[leds]
{leds}
{rest}
"""


def write(tmp_path: Path, broker: str = "", kiosk: str = "", buttons: str = "", leds: str = "", rest: str = "") -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(BASE.format(broker=broker, kiosk=kiosk, buttons=buttons, leds=leds, rest=rest))
    return path


def test_a_minimal_file_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    assert config.kiosk.branch == "b1" and config.kiosk.id == "k1"
    assert config.kiosk.data_dir == tmp_path / "data"  # relative to the config file
    assert config.kiosk.cooldown_s == 5.0 and config.kiosk.heartbeat_s == 30.0
    assert config.buttons.pins == (5, 6, 13, 19) and config.buttons.scores == (1, 2, 3, 4)
    assert config.buttons.debounce_ms == 50
    assert (config.leds.thanks, config.leds.status) == (20, 21)
    assert config.broker.mqtt_version == "5"
    assert config.camera is None
    assert config.outbox_path.parent == tmp_path / "data"


def test_the_full_contract_example_loads(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret-value\n")
    (tmp_path / "ca.crt").write_text("not checked here")
    path = tmp_path / "kiosk.toml"
    path.write_text(
        """
[broker]
url = "mqtts://hub.local:8883"
username = "k-b1-k1"
password_file = "secret"
ca_file = "ca.crt"
mqtt_version = "3.1.1"

[kiosk]
branch = "b1"
id = "k1"
employee = "e17"
data_dir = "/var/lib/otklik"
cooldown_s = 2.5
heartbeat_s = 10

[buttons]
pins = [5, 6, 13, 19]
labels = ["Very unhappy", "Unhappy", "Happy", "Very happy"]
debounce_ms = 30

[leds]
thanks = 20
status = 21

[camera]
source = "picamera"
interval_s = 60
"""
    )
    config = load_config(path)
    assert config.broker.password == "s3cret-value"  # read from the file, trailing newline gone
    assert config.broker.broker().tls and config.broker.broker().port == 8883
    assert config.kiosk.employee == "e17" and config.kiosk.cooldown_s == 2.5
    assert config.camera == {"source": "picamera", "interval_s": 60}
    assert "s3cret" not in repr(config) and "s3cret" not in repr(config.broker.broker())


@pytest.mark.parametrize(
    ("parts", "field", "reason"),
    [
        ({"buttons": "pins = [5, 6, 6, 19]"}, "buttons.pins[2]", "already used by buttons.pins[1]"),
        ({"buttons": 'pins = [5, 6, "13", 19]'}, "buttons.pins[2]", "must be a BCM pin number"),
        ({"buttons": "pins = [5, 6, 40, 19]"}, "buttons.pins[2]", "out of range 0..27"),
        ({"buttons": "pins = []"}, "buttons.pins", "needs 1 to 4 pins"),
        ({"buttons": "pins = [5, 6]"}, "buttons.scores", "required with 2 pins"),
        ({"buttons": "pins = [5, 6]\nscores = [1, 1]"}, "buttons.scores[1]", "already on another button"),
        ({"buttons": 'labels = ["a", "b"]'}, "buttons.labels", "has 2 entries"),
        ({"buttons": "debounce_ms = 5000"}, "buttons.debounce_ms", "out of range"),
        ({"buttons": "debounce_ms = 0.5"}, "buttons.debounce_ms", "must be an integer"),
        ({"leds": "thanks = 5"}, "leds.thanks", "already used by buttons.pins[0]"),
        ({"leds": "status = true"}, "leds.status", "must be a BCM pin number"),
        ({"kiosk": "cooldwn_s = 3"}, "kiosk.cooldwn_s", "did you mean 'cooldown_s'"),
        ({"buttons": "pin = [1, 2, 3, 4]"}, "buttons.pin", "did you mean 'pins'"),
        ({"rest": "[butons]\npins = [1]"}, "butons", "did you mean 'buttons'"),
        ({"kiosk": "cooldown_s = -1"}, "kiosk.cooldown_s", "out of range"),
        ({"kiosk": 'cooldown_s = "5"'}, "kiosk.cooldown_s", "must be a number"),
        ({"kiosk": "heartbeat_s = 0"}, "kiosk.heartbeat_s", "out of range"),
        ({"kiosk": 'employee = "e 17"'}, "kiosk.employee", "must be 1-64"),
        ({"broker": 'mqtt_version = "4"'}, "broker.mqtt_version", "must be"),
        ({"broker": 'password = "x"'}, "broker.username", "no username"),
        ({"broker": 'username = "u"\npassword = "x"\npassword_file = "p"'}, "broker.password_file", "not both"),
        ({"broker": 'username = "u"\npassword_file = "missing"'}, "broker.password_file", "cannot read"),
        ({"broker": 'ca_file = "missing.crt"'}, "broker.ca_file", "does not exist"),
        ({"broker": "port = 1883"}, "broker.port", "unknown key"),
    ],
)
def test_a_bad_field_is_named_with_the_reason(tmp_path: Path, parts: dict[str, str], field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, **parts))
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert field in str(caught.value) and str(tmp_path / "kiosk.toml") in str(caught.value)


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ('[broker]\nurl = "mqtt://h"\n', "kiosk", "missing required table"),
        ('[kiosk]\nbranch = "b1"\nid = "k1"\n', "broker", "missing required table"),
        ('[broker]\n[kiosk]\nbranch = "b1"\nid = "k1"\n', "broker.url", "missing required field"),
        ('[broker]\nurl = "mqtt://h"\n[kiosk]\nid = "k1"\n', "kiosk.branch", "missing required field"),
        ('[broker]\nurl = "http://h"\n[kiosk]\nbranch = "b1"\nid = "k1"\n', "broker.url", "mqtt://"),
        ('[broker]\nurl = "mqtt://u:pw@h"\n[kiosk]\nbranch = "b1"\nid = "k1"\n', "broker.url", "password"),
        ('[broker]\nurl = "mqtt://h"\n[kiosk]\nbranch = "Shop 1"\nid = "k1"\n', "kiosk.branch", "not a valid id"),
        ('[broker]\nurl = "mqtt://h"\nkiosk = 3\n[kiosk]\nbranch = "b1"\nid = "k1"\n', "broker.kiosk", "unknown key"),
        ("broker = 3\n", "broker", "must be a table"),
        ("[broker\n", "(file)", "not valid TOML"),
    ],
)
def test_structural_mistakes_are_named(tmp_path: Path, text: str, field: str, reason: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.field, reason in caught.value.reason) == (field, True), caught.value


def test_a_password_never_shows_in_an_error_or_repr(tmp_path: Path) -> None:
    path = write(tmp_path, broker='username = "u"\npassword = "hunter2-secret"')
    config = load_config(path)
    assert config.broker.password == "hunter2-secret"
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.broker.broker())


def test_the_cli_turns_a_config_error_into_a_message_naming_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, buttons="pins = [5, 6, 6, 19]")
    result = CliRunner().invoke(kiosk_command, ["--config", str(path)])
    assert result.exit_code == 1
    assert "buttons.pins[2]" in result.output and "already used" in result.output
    assert "Traceback" not in result.output


def test_the_cli_reports_a_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(kiosk_command, ["--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1 and "cannot read the config file" in result.output


# --- values that pass a type check and break later (issue 11) -----------------------------------------------------

LONG_NAME = "c" * 300  # one file name over Linux's 255-byte NAME_MAX


@pytest.mark.parametrize(
    ("parts", "field", "reason"),
    [
        # urlsplit raises a bare ValueError on an unclosed IPv6 bracket.
        ({"broker": 'url = "mqtt://[::1"'}, "broker.url", "is not a valid URL"),
        ({"broker": 'url = "mqtt://hub\\u0000.local"'}, "broker.url", "control characters"),
        # open() raises ValueError on a NUL, not OSError.
        ({"broker": 'username = "u"\npassword_file = "pass\\u0000word"'}, "broker.password_file", "NUL"),
        ({"broker": f'username = "u"\npassword_file = "{LONG_NAME}"'}, "broker.password_file", "255"),
        # is_file() lets ENAMETOOLONG through as an OSError.
        ({"broker": f'url = "mqtts://hub.local"\nca_file = "{LONG_NAME}"'}, "broker.ca_file", "255"),
        ({"broker": 'url = "mqtts://hub.local"\nca_file = "ca\\u0000.crt"'}, "broker.ca_file", "NUL"),
        # Passed every check, then crashed in the outbox's mkdir().
        ({"kiosk": 'data_dir = "data\\u0000dir"'}, "kiosk.data_dir", "NUL"),
        ({"kiosk": f'data_dir = "{LONG_NAME}"'}, "kiosk.data_dir", "255"),
        ({"kiosk": f'data_dir = "{"d/" * 2000}"'}, "kiosk.data_dir", "bytes long"),
    ],
)
def test_a_value_the_os_would_refuse_is_named_in_the_config(
    tmp_path: Path, parts: dict[str, str], field: str, reason: str
) -> None:
    # BASE sets data_dir and url already; TOML refuses a key twice, so drop the base's line.
    path = write(tmp_path, **parts)
    text = path.read_text()
    if "data_dir" in parts.get("kiosk", ""):
        text = text.replace('data_dir = "data"\n', "", 1)
    if "url" in parts.get("broker", ""):
        text = text.replace('url = "mqtt://127.0.0.1:1883"\n', "", 1)
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.field, reason in caught.value.reason) == (field, True), caught.value


@pytest.mark.parametrize("nest", ["[" * 3000 + "]" * 3000, "{a = " * 3000 + "1" + "}" * 3000])
def test_deeply_nested_toml_is_a_config_error_not_a_recursion_error(tmp_path: Path, nest: str) -> None:
    path = write(tmp_path, rest=f"[camera]\nx = {nest}")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.field == "(file)" and "nested too deeply" in caught.value.reason


@pytest.mark.parametrize(
    ("data_dir", "reason"),
    [
        ("da\\u0000ta", "NUL"),  # passed every check, then crashed in the outbox's mkdir()
        # Only the disk can tell this one: a file where the folder should be (root ignores permissions).
        ("occupied/data", "Not a directory"),
    ],
)
def test_the_cli_names_a_data_dir_it_cannot_use(tmp_path: Path, data_dir: str, reason: str) -> None:
    (tmp_path / "occupied").write_text("")
    path = write(tmp_path)
    path.write_text(path.read_text().replace('data_dir = "data"', f'data_dir = "{data_dir}"'))
    result = CliRunner().invoke(kiosk_command, ["--config", str(path), "--simulate"])
    assert result.exit_code == 1, result.output
    assert "kiosk.data_dir" in result.output and reason in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


# --- fuzzing the loader --------------------------------------------------------------------------------------------
# A valid config with one to three of its fields twisted, replaced, removed or added. Only ConfigError may
# escape, naming a field the config has or needs; a config that loads must also open its outbox, so the
# checks cannot let through a path that mkdir() or SQLite refuses later.

VALID: dict[str, dict[str, Any]] = {
    "broker": {"url": "mqtts://127.0.0.1:8883", "username": "u", "password_file": "secret", "ca_file": "ca.crt",
               "mqtt_version": "5"},
    "kiosk": {"branch": "b1", "id": "k1", "employee": "e1", "data_dir": "data", "cooldown_s": 5, "heartbeat_s": 30},
    "buttons": {"pins": [5, 6, 13, 19], "scores": [1, 2, 3, 4], "labels": ["a", "b", "c", "d"], "debounce_ms": 50},
    "leds": {"thanks": 20, "status": 21},
    "camera": {"source": "auto"},
}  # fmt: skip
STRING_FIELDS = [(s, k) for s, table in VALID.items() for k, v in table.items() if isinstance(v, str)]
FIELDS = [(s, k) for s, keys in _SECTIONS.items() for k in keys]
REQUIRED_SECTIONS = ("broker", "kiosk")
KEYS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
# Each broke the loader once, or is the edge of a check.
TWISTS = ["\0", "[", "]", "\n", " ", "@", ":99999", "c" * 300, "d/" * 2100, "..", "/", "\udc80", "\ud800"]


def _values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = text | st.integers() | st.integers(-3, 30) | st.booleans() | st.floats() | st.datetimes() | st.dates()
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=3),
                        max_leaves=6)  # fmt: skip


def _twisted(value: str, twist: str, at: int) -> str:
    at = at % (len(value) + 1)
    return value[:at] + twist + value[at:]


def _configs(twists: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    text = st.sampled_from(twists) | st.text(max_size=10)
    twist = st.tuples(st.just("twist"), st.sampled_from(STRING_FIELDS), st.sampled_from(twists), st.integers(0, 30))
    put = st.tuples(st.just("set"), st.sampled_from(FIELDS) | st.tuples(st.sampled_from(list(_SECTIONS)), KEYS),
                    _values(text))  # fmt: skip
    drop = st.tuples(st.just("drop"), st.sampled_from(FIELDS) | st.tuples(st.sampled_from(list(_SECTIONS)), st.none()))
    top = st.tuples(st.just("top"), st.sampled_from(list(_SECTIONS)) | KEYS, _values(text))
    return st.lists(twist | twist | put | drop | top, min_size=1, max_size=3).map(_mutated)


def _mutated(changes: list[tuple]) -> dict[str, Any]:
    data: dict[str, Any] = {name: dict(table) for name, table in VALID.items()}
    for kind, *args in changes:
        if kind == "top":
            data[args[0]] = args[1]  # a section that is no table, or a key that is no section
            continue
        (section, key), *rest = args
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        if kind == "twist" and isinstance(table.get(key), str):
            table[key] = _twisted(table[key], *rest)
        elif kind == "set":
            table[key] = rest[0]
        elif kind == "drop":
            if key is None:
                del data[section]
            else:
                table.pop(key, None)
    return data


def _names_a_field(err: ConfigError, data: dict[str, Any]) -> None:
    assert err.field and err.field in str(err), err
    section, *rest = re.split(r"[.\[]", err.field)
    if section == "(file)":
        return
    assert section in data or section in REQUIRED_SECTIONS, err
    if rest:
        table = data.get(section)
        assert isinstance(table, dict), err
        assert rest[0] in table or rest[0] in _SECTIONS[section], err


def _check_loading(load: Callable[[Path], Config], data: dict[str, Any] | None) -> None:
    """``load`` a config in a fresh folder holding the files VALID names; data is what the file says."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ca.crt").write_text("not checked here")
        (root / "secret").write_text("s3cret\n")
        try:
            config = load(root)
        except ConfigError as err:
            if data is None:
                assert err.field == "(file)", err
            else:
                _names_a_field(err, data)
            return
        if os.path.normpath(config.outbox_path).startswith(tmp):  # never create folders outside the test's own
            Outbox(config.outbox_path).close()


# Mostly none, so the fields are reached; sometimes a torn or mistyped byte, or nesting tomllib recurses into.
JUNK = (
    st.just(b"")
    | st.just(b"")
    | st.just(b"")
    | st.binary(min_size=1, max_size=6)
    | st.sampled_from([b"[" * 3000, b"{a=" * 3000])
)
FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@seed(20261201)
@given(data=_configs(TWISTS))
def test_fuzzed_config_tables_raise_only_a_config_error_naming_a_field(data: dict[str, Any]) -> None:
    _check_loading(lambda root: config_from_dict(data, base_dir=root), data)


@FUZZ
@seed(20261202)
# A TOML file cannot hold a lone surrogate.
@given(data=_configs(TWISTS[:-2]), cut=st.integers(0, 400), junk=JUNK)
def test_fuzzed_config_files_raise_only_a_config_error_naming_a_field(
    data: dict[str, Any], cut: int, junk: bytes
) -> None:
    text = tomli_w.dumps(data).encode()
    text = text[:cut] + junk + text[cut:]
    try:
        written = tomllib.loads(text.decode())  # what the file says after the junk went in
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        written = None

    def load(root: Path) -> Config:
        path = root / "kiosk.toml"
        path.write_bytes(text)
        return load_config(path)

    _check_loading(load, written)
