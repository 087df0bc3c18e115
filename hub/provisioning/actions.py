"""What ``otklik provision`` does, as functions: register, write the files a device or service
needs, and bring the broker's passwd and acl up to date.

Each function changes the registry in one transaction, writes its files and then syncs the
broker (``sync_broker``), so the broker never lags the registry by more than one reload.
``hub.provisioning.cli`` only parses options and prints what these return.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub import config_push
from hub.provisioning import ProvisionError, broker_files, bundle, certs, registry
from hub.provisioning.pad import pad_config
from hub.store import Database
from otklik.mqtt import BrokerURLError, parse_broker_url

DEFAULT_PUBLIC_URL = "mqtts://hub.local:8883"


@dataclass
class Issued:
    """A credential just made or rotated, and the files written for it (by name)."""

    credential: registry.Credential
    files: dict[str, Path] = field(default_factory=dict)


def sync_broker(db: Database, broker_dir: Path, reload_how: str, group: int | None) -> str:
    """Rewrite the broker's passwd and acl from the registry and tell the broker to reread them."""
    broker_files.write_auth_files(broker_dir, registry.all_credentials(db), group=group)
    return (
        f"broker: wrote {broker_dir / broker_files.PASSWD} and {broker_dir / broker_files.ACL}; "
        + broker_files.reload_broker(reload_how)
    )


def ca_pem(broker_dir: Path) -> str | None:
    ca = broker_dir / broker_files.CERTS / "ca.crt"
    return ca.read_text() if ca.exists() else None


def parse_pins(buttons: str | None) -> list[int] | None:
    if not buttons:
        return None
    try:
        return [int(p) for p in buttons.split(",")]
    except ValueError:
        raise ProvisionError(f"{buttons!r} must be comma-separated pin numbers", field="--buttons") from None


def add_kiosk(
    db: Database,
    *,
    branch: str,
    kiosk: str,
    out: Path,
    broker_dir: Path,
    broker_url: str = DEFAULT_PUBLIC_URL,
    labels: list[str] | None = None,
    pins: list[int] | None = None,
    employee: str | None = None,
    cooldown_s: float = 5.0,
    pad: bool = False,
    wifi_ssid: str | None = None,
    wifi_password: str | None = None,
) -> Issued:
    """Register a kiosk (or a firmware pad) and write its bundle into ``out``.

    Files: ``config`` (and ``password``, ``bootstrap``, ``qr``, ``ca``) for a kiosk, ``config``
    (config.json, password inside) for a pad.
    """
    try:
        parse_broker_url(broker_url)
    except BrokerURLError as err:
        err.field = "--broker-url"
        raise
    if labels and len(labels) != len(pins or (1, 2, 3, 4)):
        raise ProvisionError(f"{len(labels)} labels for {len(pins or (1, 2, 3, 4))} buttons", field="--label")
    with db.conn:
        cred, password = registry.add_device(db, branch, kiosk, role=registry.ROLE_PAD if pad else registry.ROLE_KIOSK)
        # The provisioned settings are config version 1, so the fleet page and
        # later pushes start from what the kiosk was given.
        initial: dict[str, Any] = {"cooldown_s": cooldown_s}
        if labels:
            initial["labels"] = list(labels)
        if employee:
            initial["employee"] = employee
        if not pad:  # the firmware does not sleep
            initial.update(config_push.branch_settings(db, branch))
        config_push.set_settings(db, branch, kiosk, initial)
    ca = ca_pem(broker_dir)
    if pad:
        cfg = pad_config(
            branch=branch, kiosk=kiosk, username=cred.username, password=password, broker_url=broker_url,
            employee=employee, ca_pem=ca, pins=pins, wifi_ssid=wifi_ssid, wifi_password=wifi_password,
            settings=initial,
        )  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        os.chmod(out, 0o700)
        files = {"config": out / "config.json"}
        bundle.write_secret(files["config"], json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
        return Issued(cred, files)
    spec = bundle.KioskSpec(
        branch=branch, kiosk=kiosk, username=cred.username, broker_url=broker_url,
        employee=employee, labels=list(labels or []) or None, pins=pins, cooldown_s=cooldown_s,
    )  # fmt: skip
    return Issued(cred, bundle.write_kiosk_bundle(out, bundle.kiosk_config(spec, with_ca=bool(ca)), password, ca))


def write_service_password(out: Path, username: str, password: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{username}.password"
    bundle.write_secret(path, password + "\n")
    return path


def add_service(db: Database, role: str, *, name: str | None, out: Path) -> Issued:
    """Credentials for the hub, the dashboard or an admin; the password goes to OUT/<user>.password (0600)."""
    with db.conn:
        cred, password = registry.add_service(db, role, name=name)
    return Issued(cred, {"password": write_service_password(out, cred.username, password)})


def add_services(db: Database, role: str, *, count: int, out: Path) -> list[Issued]:
    """``count`` users of one role with the same access (otklik-hub, otklik-hub-2, ...), for several hubs.

    The broker makes each user's client id its username, so N hubs need N users. Those
    that already exist are kept as they are (their password files are not rewritten);
    only the missing ones are made, all in one transaction.
    """
    names = registry.numbered_names(role, count)
    with db.conn:
        made = [registry.add_service(db, role, name=name) for name in names
                if not ((c := registry.get(db, registry.service_username(role, name))) and c.active)]  # fmt: skip
    return [Issued(cred, {"password": write_service_password(out, cred.username, pw)}) for cred, pw in made]


def revoke(db: Database, *, username: str | None, branch: str | None, kiosk: str | None) -> registry.Credential:
    with db.conn:
        return registry.revoke(db, registry.resolve(db, username=username, branch=branch, kiosk=kiosk))


def rotate(
    db: Database,
    *,
    username: str | None,
    branch: str | None,
    kiosk: str | None,
    out: Path,
    broker_dir: Path,
    broker_url: str = DEFAULT_PUBLIC_URL,
) -> Issued:
    """A new password; a kiosk gets a new bundle (from its saved settings), a service a new password file."""
    name = registry.resolve(db, username=username, branch=branch, kiosk=kiosk)
    if (found := registry.get(db, name)) and found.role == registry.ROLE_BRIDGE:
        raise ProvisionError(
            f"{name} is a store bridge: its password lives in the store's mosquitto.conf",
            hint=f"revoke it, then run `otklik provision store --branch {found.branch} ...` again",
        )
    with db.conn:
        cred, password = registry.rotate(db, name)
    if cred.role not in registry.DEVICE_ROLES:
        return Issued(cred, {"password": write_service_password(out, cred.username, password)})
    assert cred.branch and cred.kiosk
    _, settings = config_push.get_settings(db, cred.branch, cred.kiosk)
    ca = ca_pem(broker_dir)
    spec = bundle.KioskSpec(
        branch=cred.branch, kiosk=cred.kiosk, username=cred.username, broker_url=broker_url,
        employee=settings.get("employee"), labels=settings.get("labels"),
        cooldown_s=settings.get("cooldown_s", 5.0),
    )  # fmt: skip
    return Issued(cred, bundle.write_kiosk_bundle(out, bundle.kiosk_config(spec, with_ca=bool(ca)), password, ca))


def make_certificates(broker_dir: Path, hosts: list[str], *, force: bool, server_only: bool, gid: int | None) -> Path:
    """A CA (unless ``server_only``) and the broker's server certificate in BROKER_DIR/certs."""
    certs_dir = broker_dir / broker_files.CERTS
    if not server_only:
        certs.make_ca(certs_dir, force=force)
    return certs.make_server_cert(certs_dir, hosts, broker_gid=gid)
