"""The kiosk's TOML config: every kind of mistake stops with the field's name and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk.cli import kiosk as kiosk_command
from kiosk.config import ConfigError, load_config

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


def test_the_cli_names_a_data_dir_that_mkdir_would_crash_on(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text().replace('data_dir = "data"', 'data_dir = "da\\u0000ta"'))
    result = CliRunner().invoke(kiosk_command, ["--config", str(path), "--simulate"])
    assert result.exit_code == 1, result.output
    assert "kiosk.data_dir" in result.output and "NUL" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
