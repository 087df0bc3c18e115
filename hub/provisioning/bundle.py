"""What a technician carries to a new device: its config file, password, CA, bootstrap line and QR code.

The bootstrap line is one shell command holding everything a Pi needs (config,
password, CA certificate) in one token, so a technician can paste it or scan it
from the QR code instead of copying files. It contains the password: the output
folder and the QR code are secrets, and are written readable by their owner only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from hub.provisioning import ProvisionError

TOKEN_PREFIX = "otk1:"
TOKEN_RE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]+")
ETC_DIR = "/etc/otklik"
DATA_DIR = "/var/lib/otklik"
PASSWORD_NAME = "mqtt-password"
CA_NAME = "ca.crt"
CONFIG_NAME = "kiosk.toml"
SETUP_SCRIPT = "setup-kiosk.sh"


@dataclass
class KioskSpec:
    branch: str
    kiosk: str
    username: str
    broker_url: str
    employee: str | None = None
    labels: list[str] | None = None
    pins: list[int] | None = None
    cooldown_s: float = 5.0
    heartbeat_s: float = 30.0
    camera: dict[str, Any] | None = field(default=None)


def kiosk_config(spec: KioskSpec, *, etc_dir: str = ETC_DIR, with_ca: bool = True) -> dict[str, Any]:
    """The kiosk's TOML config (contracts.md's format) as a dict."""
    broker: dict[str, Any] = {
        "url": spec.broker_url,
        "username": spec.username,
        "password_file": f"{etc_dir}/{PASSWORD_NAME}",
    }
    if with_ca and spec.broker_url.startswith("mqtts://"):
        broker["ca_file"] = f"{etc_dir}/{CA_NAME}"
    broker["mqtt_version"] = "5"  # MQTT 5: a publish the ACL refuses comes back refused, not silently dropped
    kiosk: dict[str, Any] = {"branch": spec.branch, "id": spec.kiosk}
    if spec.employee:
        kiosk["employee"] = spec.employee
    kiosk |= {"data_dir": DATA_DIR, "cooldown_s": float(spec.cooldown_s), "heartbeat_s": spec.heartbeat_s}
    buttons: dict[str, Any] = {}
    if spec.pins:
        buttons["pins"] = list(spec.pins)
    if spec.labels:
        buttons["labels"] = list(spec.labels)
    config: dict[str, Any] = {"broker": broker, "kiosk": kiosk}
    if buttons:
        config["buttons"] = buttons
    if spec.camera:
        config["camera"] = spec.camera
    return config


def make_token(config: dict[str, Any], password: str, ca_pem: str | None) -> str:
    body = json.dumps({"config": config, "password": password, "ca": ca_pem}, separators=(",", ":"))
    packed = zlib.compress(body.encode(), 9)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def read_token(token: str) -> tuple[dict[str, Any], str, str | None]:
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise ProvisionError(f"a bootstrap token starts with {TOKEN_PREFIX!r}", hint="copy the whole line")
    raw = token.removeprefix(TOKEN_PREFIX)
    try:
        body = json.loads(zlib.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))))
        return body["config"], body["password"], body.get("ca")
    except (ValueError, KeyError, zlib.error, TypeError):
        raise ProvisionError("the bootstrap token is damaged", hint="copy it again, all of it") from None


def bootstrap_line(token: str) -> str:
    # The token decodes to the kiosk's password: it travels on stdin, never in an
    # argv that `ps` shows. printf is a shell builtin, so no process carries it either.
    return f"printf '%s\\n' '{token}' | sudo sh {SETUP_SCRIPT} --bootstrap -"


def find_token(text: str) -> str:
    """The token in what was pasted or piped: the bare token, or the whole bootstrap line."""
    found = TOKEN_RE.search(text)
    if not found:
        raise ProvisionError(f"no bootstrap token (starting {TOKEN_PREFIX!r}) in the input", hint="copy the whole line")
    return found.group(0)


def write_secret(path: Path, data: str | bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, 0o600)  # also when the file was already there with looser bits


def write_kiosk_bundle(out: Path, config: dict[str, Any], password: str, ca_pem: str | None) -> dict[str, Path]:
    """Write the ready-to-copy files into ``out``; returns them by name."""
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    token = make_token(config, password, ca_pem)
    line = bootstrap_line(token)
    files = {
        "config": out / CONFIG_NAME,
        "password": out / PASSWORD_NAME,
        "bootstrap": out / "bootstrap.txt",
        "qr": out / "bootstrap.png",
    }
    files["config"].write_text(_toml_header(config) + tomli_w.dumps(config))
    write_secret(files["password"], password + "\n")
    if ca_pem:
        files["ca"] = out / CA_NAME
        files["ca"].write_text(ca_pem)
    write_secret(files["bootstrap"], line + "\n")
    write_secret(files["qr"], qr_png(line))
    return files


def _toml_header(config: dict[str, Any]) -> str:
    k = config["kiosk"]
    return (
        f"# Otklik kiosk {k['branch']}/{k['id']}, written by `otklik provision kiosk`.\n"
        f"# Copy to {ETC_DIR}/{CONFIG_NAME} with {PASSWORD_NAME} (mode 0600) and {CA_NAME} next to it,\n"
        f"# or run the line in bootstrap.txt on the Pi.\n"
    )


def unpack_token(token: str, etc_dir: Path) -> Path:
    """On the device: write config, password and CA from a bootstrap token; returns the config path."""
    config, password, ca_pem = read_token(token)
    etc_dir.mkdir(parents=True, exist_ok=True)
    broker = config.setdefault("broker", {})
    broker["password_file"] = str(etc_dir / PASSWORD_NAME)
    write_secret(etc_dir / PASSWORD_NAME, password + "\n")
    if ca_pem:
        (etc_dir / CA_NAME).write_text(ca_pem)
        broker["ca_file"] = str(etc_dir / CA_NAME)
    path = etc_dir / CONFIG_NAME
    path.write_text(_toml_header(config) + tomli_w.dumps(config))
    return path


def qr(text: str) -> Any:
    import segno  # only the technician's machine needs it

    return segno.make(text, error="l", micro=False)


def qr_png(text: str) -> bytes:
    import io

    buf = io.BytesIO()
    qr(text).save(buf, kind="png", scale=4, border=4)
    return buf.getvalue()


def qr_terminal(text: str) -> str:
    import io

    buf = io.StringIO()
    qr(text).terminal(out=buf, compact=True)
    return buf.getvalue()


def read_config_file(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())
