"""The phone channel's QR codes: signed, revocable tokens naming a branch and a kiosk.

A code's URL is ``<dashboard>/q/<token>``. The token is the only thing in it: an
itsdangerous signature over ``{"i": id, "b": branch, "k": kiosk}``, so nobody can make a
code for another kiosk, and nothing secret travels (the key stays in its private file).
Every use looks the id up in ``qr_tokens``: a revoked code stops working at once, and a
code printed before a kiosk was renamed still names what it was printed for.

The key lives in a private file (``OTKLIK_QR_KEY_FILE``, default ``<hub db>.qr-key``, 0600;
a PostgreSQL hub has no file to put it beside, so there the variable is required),
made on first use by whichever of the CLI and the dashboard comes first. It is never
printed or logged; anyone who can read it can make codes, like anyone who can write the
hub's database can make presses.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from hub.provisioning import ProvisionError
from hub.provisioning.registry import now
from hub.store import Database, is_url
from otklik import config, protocol
from otklik.errors import OtklikError
from otklik.private_files import read_or_create_secret

SALT = "otklik-phone-qr"
# The kiosk id of a branch's code that names no kiosk: its ratings count for the branch.
BRANCH_KIOSK = "phone"
# The path in the dashboard the code opens (dashboard/phone.py serves it).
PATH = "/q/"


class BadToken(OtklikError):
    """A token that is not ours, was changed, or was revoked (one error for all: nothing to probe)."""


@dataclass(frozen=True)
class QrToken:
    id: str
    branch: str
    kiosk: str
    created_at: str
    revoked_at: str | None = None
    note: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def key_path(hub_db: str | Path) -> Path:
    named = config.get("OTKLIK_QR_KEY_FILE")
    if named:
        return Path(named)
    if is_url(str(hub_db)):
        # "<url>.qr-key" would be a file named after the URL, its password included, under the working folder.
        raise OtklikError(
            "a PostgreSQL hub keeps its QR signing key in the file OTKLIK_QR_KEY_FILE names, and it is not set",
            field="OTKLIK_QR_KEY_FILE",
            hint="set OTKLIK_QR_KEY_FILE=/var/lib/otklik/qr-key (a private file, made on first use)",
        )
    return Path(f"{hub_db}.qr-key")


def signing_key(hub_db: str | Path) -> str:
    """The key that signs this hub's codes (made on first use)."""
    return read_or_create_secret(key_path(hub_db))


def _serializer(key: str) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=SALT)


def create(db: Database, key: str, branch: str, kiosk: str | None = None, note: str | None = None
           ) -> tuple[QrToken, str]:  # fmt: skip
    """A new code for ``branch`` (and ``kiosk``, else the branch's own): its row and its signed token."""
    for name, value in (("branch", branch), ("kiosk", kiosk or BRANCH_KIOSK)):
        try:
            protocol.check_id(name, value)
        except protocol.ProtocolError as err:
            raise ProvisionError(str(err), field=f"--{name}") from None
    token = QrToken(secrets.token_urlsafe(9), branch, kiosk or BRANCH_KIOSK, now(), note=note)
    with db.conn:
        db.execute(
            "INSERT INTO qr_tokens (id, branch, kiosk, created_at, revoked_at, note) "
            "VALUES (:id, :branch, :kiosk, :created_at, :revoked_at, :note)",
            token.as_dict(),
        )
    return token, _serializer(key).dumps({"i": token.id, "b": token.branch, "k": token.kiosk})


def verify(db: Database, key: str, signed: str) -> QrToken:
    """The live code a token names; BadToken when it is forged, altered or revoked."""
    if len(signed) > 200:
        raise BadToken("token too long")
    try:
        body = _serializer(key).loads(signed)
    except BadSignature:
        raise BadToken("bad signature") from None
    if not isinstance(body, dict):
        raise BadToken("not a token")
    row = db.execute(
        "SELECT id, branch, kiosk, created_at, revoked_at, note FROM qr_tokens WHERE id = ?", [body.get("i")]
    ).fetchone()
    if row is None:
        raise BadToken("unknown token")
    token = QrToken(*row)
    if (token.branch, token.kiosk) != (body.get("b"), body.get("k")) or not token.active:
        raise BadToken("revoked")
    return token


def revoke(db: Database, token_id: str) -> QrToken:
    with db.conn:
        cursor = db.execute(
            "UPDATE qr_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now(), token_id]
        )
    row = db.execute(
        "SELECT id, branch, kiosk, created_at, revoked_at, note FROM qr_tokens WHERE id = ?", [token_id]
    ).fetchone()
    if row is None:
        raise ProvisionError(f"no QR code with id {token_id!r}", hint="see `otklik provision qr list`")
    if cursor.rowcount == 0:
        raise ProvisionError(f"QR code {token_id!r} was already revoked at {row[4]}")
    return QrToken(*row)


def list_tokens(db: Database, *, branch: str | None = None, show_all: bool = False) -> list[QrToken]:
    where = ["1 = 1"]
    params: list[Any] = []
    if branch:
        where.append("branch = ?")
        params.append(branch)
    if not show_all:
        where.append("revoked_at IS NULL")
    rows = db.execute(
        "SELECT id, branch, kiosk, created_at, revoked_at, note FROM qr_tokens "
        f"WHERE {' AND '.join(where)} ORDER BY branch, kiosk, created_at",
        params,
    ).fetchall()
    return [QrToken(*r) for r in rows]


def url(base: str, signed: str) -> str:
    """What the code holds: the dashboard's public address and the token, nothing else."""
    if not base.startswith(("https://", "http://")):
        raise ProvisionError(
            f"--url {base!r} must start with https:// (the dashboard's address as a phone reaches it)", field="--url"
        )
    return base.rstrip("/") + PATH + signed
