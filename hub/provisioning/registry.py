"""The credential registry: one row per MQTT user, kept in the hub database.

Only password hashes are stored. The plain password exists in memory while a
bundle is written, and then only in the technician's output folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils.migrations import Migrations

from hub.db import open_db
from hub.provisioning import ProvisionError
from hub.provisioning.passwords import hash_password, new_password
from hub.store import Database
from otklik import protocol, times

MIGRATIONS = Migrations("otklik-provisioning")
migrations = MIGRATIONS  # the name hub.db.open_db looks for

ROLE_KIOSK = "kiosk"
ROLE_PAD = "pad"  # a firmware button pad: a kiosk to the broker, with its own kind of bundle
ROLE_HUB = "hub"
ROLE_DASHBOARD = "dashboard"
ROLE_ADMIN = "admin"
ROLE_BRIDGE = "bridge"  # a store broker's uplink to the central broker: one per branch
DEVICE_ROLES = (ROLE_KIOSK, ROLE_PAD)
SERVICE_ROLES = (ROLE_HUB, ROLE_DASHBOARD, ROLE_ADMIN)

# Mosquitto's password file splits on ':'; keep usernames to a boring alphabet.
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@MIGRATIONS()
def m001_credentials(db: Database) -> None:
    # SQL rather than table.create(): the same statement makes the table on PostgreSQL (hub.store).
    db.execute(
        """
        CREATE TABLE credentials (
            username TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            branch TEXT,
            kiosk TEXT,
            pw_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            rotated_at TEXT,
            revoked_at TEXT,
            note TEXT
        )
        """
    )
    # One live device per (branch, kiosk): two would speak for the same kiosk.
    db.execute(
        "CREATE UNIQUE INDEX idx_credentials_device ON credentials(branch, kiosk) "
        "WHERE branch IS NOT NULL AND revoked_at IS NULL"
    )


@MIGRATIONS()
def m002_kiosk_settings(db: Database) -> None:
    # The settings the hub pushes to each kiosk (hub/config_push.py). version only
    # goes up; published_version says what the broker holds retained.
    db.execute(
        """
        CREATE TABLE kiosk_settings (
            branch TEXT,
            kiosk TEXT,
            version INTEGER NOT NULL,
            settings TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            published_version INTEGER,
            published_at TEXT,
            PRIMARY KEY (branch, kiosk)
        )
        """
    )


@MIGRATIONS()
def m003_qr_tokens(db: Database) -> None:
    # The phone channel's QR codes (hub/provisioning/qr.py): the signed token names its id, and
    # the id is looked up here on every use, so a revoked code stops working at once.
    db.execute(
        "CREATE TABLE qr_tokens (id TEXT PRIMARY KEY, branch TEXT NOT NULL, kiosk TEXT NOT NULL, "
        "created_at TEXT NOT NULL, revoked_at TEXT, note TEXT)"
    )


@dataclass(frozen=True)
class Credential:
    username: str
    role: str
    branch: str | None
    kiosk: str | None
    pw_hash: str
    created_at: str
    rotated_at: str | None
    revoked_at: str | None
    note: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def open_hub_db(path: str | Path) -> Database:
    """The hub database with every migration set applied, ours included (hub.db lists this module's)."""
    return open_db(path)


def device_username(branch: str, kiosk: str) -> str:
    return f"k-{branch}-{kiosk}"


def bridge_username(branch: str) -> str:
    return f"bridge-{branch}"


def service_username(role: str, name: str | None = None) -> str:
    if role == ROLE_ADMIN:
        return f"admin-{name or 'admin'}"
    return f"otklik-{role}" + (f"-{name}" if name else "")


def numbered_names(role: str, count: int) -> list[str | None]:
    """The ``name``s of ``count`` users of one role: none for the first (otklik-hub), then 2, 3, ... (otklik-hub-2)."""
    if role == ROLE_ADMIN:
        raise ProvisionError("admins are people: give each one --name", field="--count")
    if count < 1:
        raise ProvisionError(f"--count {count} must be at least 1", field="--count")
    return [None, *(str(n) for n in range(2, count + 1))]


def now() -> str:
    return times.format_ts(datetime.now(UTC))


def get(db: Database, username: str) -> Credential | None:
    rows = list(db["credentials"].rows_where("username = ?", [username]))
    return Credential(**rows[0]) if rows else None


def get_device(db: Database, branch: str, kiosk: str) -> Credential | None:
    rows = list(db["credentials"].rows_where("branch = ? AND kiosk = ? AND revoked_at IS NULL", [branch, kiosk]))
    return Credential(**rows[0]) if rows else None


def all_credentials(db: Database, *, active_only: bool = True) -> list[Credential]:
    where = "revoked_at IS NULL" if active_only else None
    return [Credential(**r) for r in db["credentials"].rows_where(where, order_by="role, username")]


def add_device(
    db: Database, branch: str, kiosk: str, *, role: str = ROLE_KIOSK, note: str | None = None
) -> tuple[Credential, str]:
    """Register a kiosk or pad; returns its record and its new plain password."""
    try:
        protocol.check_id("branch", branch)
        protocol.check_id("kiosk", kiosk)
    except protocol.ProtocolError as err:
        raise ProvisionError(str(err)) from None
    if role not in DEVICE_ROLES:
        raise ProvisionError(f"role {role!r} is not a device role ({', '.join(DEVICE_ROLES)})")
    existing = get_device(db, branch, kiosk)
    if existing:
        raise ProvisionError(
            f"branch {branch!r} kiosk {kiosk!r} is already provisioned as {existing.username!r}",
            hint="use `otklik provision rotate` for new credentials, or revoke it first",
        )
    return _add(db, device_username(branch, kiosk), role, branch, kiosk, note)


def add_service(db: Database, role: str, *, name: str | None = None, note: str | None = None) -> tuple[Credential, str]:
    if role not in SERVICE_ROLES:
        raise ProvisionError(f"role {role!r} is not a service role ({', '.join(SERVICE_ROLES)})")
    username = service_username(role, name)
    if get(db, username) and get(db, username).active:  # type: ignore[union-attr]
        raise ProvisionError(
            f"{role} user {username!r} already exists", hint="use `otklik provision rotate` for a new password"
        )
    return _add(db, username, role, None, None, note)


def add_bridge(db: Database, branch: str, *, note: str | None = None) -> tuple[Credential, str]:
    """Register a store broker's bridge for ``branch``; returns its record and its new plain password.

    Its row has the branch and no kiosk: the central ACL lets it speak for every
    kiosk of that branch and no other.
    """
    try:
        protocol.check_id("branch", branch)
    except protocol.ProtocolError as err:
        raise ProvisionError(str(err)) from None
    username = bridge_username(branch)
    existing = get(db, username)
    if existing and existing.active:
        # Its password lives only in the store's mosquitto.conf: a second one would
        # silently lock out the store broker that is running with the first.
        raise ProvisionError(
            f"branch {branch!r} already has a store bridge ({username!r})",
            hint=f"--users-only rewrites the store's passwd and acl; for a new bridge password "
            f"`otklik provision revoke --user {username}` first",
        )
    return _add(db, username, ROLE_BRIDGE, branch, None, note)


def _add(
    db: Database, username: str, role: str, branch: str | None, kiosk: str | None, note: str | None
) -> tuple[Credential, str]:
    if not USERNAME_RE.match(username):
        raise ProvisionError(f"username {username!r} must be 1-64 lowercase letters, digits, '.', '-' or '_'")
    old = get(db, username)
    if old and old.active:
        # k-a-b-c is both branch "a-b" kiosk "c" and branch "a" kiosk "b-c".
        raise ProvisionError(
            f"username {username!r} is already used by {old.role} {old.branch or ''}/{old.kiosk or ''}",
            hint="pick a kiosk id that does not collide, or revoke the other one first",
        )
    password = new_password()
    record: dict[str, Any] = {
        "username": username,
        "role": role,
        "branch": branch,
        "kiosk": kiosk,
        "pw_hash": hash_password(password),
        "created_at": now(),
        "rotated_at": None,
        "revoked_at": None,
        "note": note,
    }
    # A revoked username can be provisioned again: the old row is replaced, not resurrected.
    db.table("credentials").upsert(record, pk="username")
    return Credential(**record), password


def rotate(db: Database, username: str) -> tuple[Credential, str]:
    cred = _active(db, username)
    password = new_password()
    db.table("credentials").update(username, {"pw_hash": hash_password(password), "rotated_at": now()})
    return get(db, cred.username), password  # type: ignore[return-value]


def revoke(db: Database, username: str) -> Credential:
    _active(db, username)
    db.table("credentials").update(username, {"revoked_at": now()})
    return get(db, username)  # type: ignore[return-value]


def _active(db: Database, username: str) -> Credential:
    cred = get(db, username)
    if cred is None:
        raise ProvisionError(f"no MQTT user {username!r}", hint="`otklik provision list` shows who exists")
    if not cred.active:
        raise ProvisionError(f"MQTT user {username!r} was revoked at {cred.revoked_at}")
    return cred


def resolve(db: Database, *, username: str | None, branch: str | None, kiosk: str | None) -> str:
    """A username from either --user or --branch/--kiosk."""
    if username:
        return username
    if branch and kiosk:
        cred = get_device(db, branch, kiosk)
        if cred is None:
            raise ProvisionError(f"branch {branch!r} kiosk {kiosk!r} has no active credentials")
        return cred.username
    raise ProvisionError("name the MQTT user: --user NAME, or --branch B --kiosk K")
