"""Dashboard accounts: users, roles, branch grants, API tokens and log-in throttling.

These tables live in the dashboard's own SQLite file (see ``dashboard.store``),
never in the hub's database: log-in bookkeeping must not take the write lock
the hub's ingest needs, and password hashes should not travel with every copy
of the events database someone makes for analysis.

Library first, click and Flask on top: every function takes a
``sqlite_utils.Database`` and raises ``AccountError`` with a message that names
the field and the reason.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlite_utils
from sqlite_utils.migrations import Migrations
from werkzeug.security import check_password_hash, generate_password_hash

from otklik.errors import OtklikError
from otklik.private_files import create_private
from otklik.protocol import ID_RE
from otklik.times import format_ts

ROLES = ("admin", "manager", "technician")
LANGUAGES = ("en", "ru", "fa")
# Calendars a user may have dates in (Intl's "-u-ca-" names); dashboard/i18n.py applies them.
CALENDARS = ("gregory", "persian")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,63}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "otk_"

# Log-in throttling, per account and per client address: FREE_FAILURES failed log-ins
# are checked at once; after that each attempt waits twice as long as the one before
# (1 s, 2 s, 4 s ... up to MAX_DELAY_S) from the latest one. A typo costs a second, not a
# quarter of an hour, while a guesser gets about four tries an hour once at the cap. A
# key that has been quiet for FORGET_AFTER_S starts over.
FREE_FAILURES = 5
MAX_DELAY_S = 900.0
FORGET_AFTER_S = 24 * 3600.0

# Sessions live on the server (the cookie holds only a random id): log-out, a new
# password or disabling an account ends them there, so a copied cookie is worth nothing
# afterwards. IDLE: a working day, so a manager logs in once a shift and a cookie left on
# the shop's shared PC dies overnight; ABSOLUTE: a week, so even a cookie kept alive by an
# open overview page (or by whoever stole it) must log in again.
SESSION_IDLE_S = 12 * 3600.0
SESSION_ABSOLUTE_S = 7 * 24 * 3600.0
# seen_at is written at most this often: not one write to the accounts file per request.
SESSION_TOUCH_S = 60.0

migrations = Migrations("otklik-dashboard")


@migrations()
def m001_accounts(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'technician')),
            language TEXT,
            created_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1
        )"""
    )
    db.execute(
        """CREATE TABLE branch_grants (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            branch TEXT NOT NULL,
            PRIMARY KEY (user_id, branch)
        )"""
    )
    db.execute(
        """CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            address TEXT NOT NULL,
            at TEXT NOT NULL,
            ok INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX login_attempts_username ON login_attempts(username, at)")
    db.execute("CREATE INDEX login_attempts_address ON login_attempts(address, at)")


@migrations()
def m002_sessions_and_throttle(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            seen_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX sessions_user ON sessions(user_id)")
    db.execute(
        """CREATE TABLE login_throttle (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_at REAL NOT NULL
        )"""
    )
    db.execute("DROP TABLE login_attempts")


@migrations()
def m003_calendar(db: sqlite_utils.Database) -> None:
    # The calendar a Persian reader chose (Solar Hijri or Gregorian), kept with the account so it
    # holds on every device and after the session ends; NULL: the language's default.
    db.execute("ALTER TABLE users ADD COLUMN calendar TEXT")


class AccountError(OtklikError, ValueError):
    """Bad input to an account operation; the text names the field and the reason."""


class Throttled(AccountError):
    """Too many failed log-ins recently; ``retry_after`` is how many seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed log-ins; try again in {self.retry_after} s")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    branches: tuple[str, ...] = ()
    language: str | None = None
    active: bool = True
    calendar: str | None = None
    # Never the hash: a User may end up in a log line or a template.
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_see_branch(self, branch: str) -> bool:
        if self.role == "admin":
            return True
        return self.role == "manager" and branch in self.branches

    @property
    def sees_scores(self) -> bool:
        """Technicians look after the fleet; feedback figures are not theirs to read."""
        return self.role in ("admin", "manager")

    def visible(self, all_branches: list[str]) -> list[str]:
        return [b for b in all_branches if self.can_see_branch(b)]


def _now() -> datetime:
    return datetime.now(UTC)


def open_store(path: str) -> sqlite_utils.Database:
    """The dashboard's own database (password hashes, sessions), created private and migrated on first use."""
    create_private(path)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=ON")
    migrations.apply(db)
    return db


# --- validation ----------------------------------------------------------------


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise AccountError(
            f"username {username!r} is not valid: use 2-64 lowercase letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise AccountError("password is too long: use at most 1024 characters")
    return password


def check_branches(role: str, branches: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    for branch in branches:
        if not isinstance(branch, str) or not ID_RE.match(branch):
            raise AccountError(f"branch {branch!r} is not a valid branch id (lowercase letters, digits, '-', '_')")
    if role == "manager" and not branches:
        raise AccountError("branch: a manager needs at least one branch (--branch B)")
    if role != "manager" and branches:
        raise AccountError(f"branch: only managers are limited to branches; a {role} sees what the role allows")
    return tuple(sorted(set(branches)))


def _check_choice(field: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """One of ``allowed``, or None (empty: the default) for a preference the user may leave unset."""
    if value in (None, ""):
        return None
    if value not in allowed:
        raise AccountError(f"{field} {value!r} is not one of {', '.join(allowed)}")
    return value


def check_calendar(calendar: str | None) -> str | None:
    return _check_choice("calendar", calendar, CALENDARS)


def check_language(language: str | None) -> str | None:
    return _check_choice("language", language, LANGUAGES)


# --- users -----------------------------------------------------------------------


def _row_to_user(db: sqlite_utils.Database, row: dict) -> User:
    branches = tuple(
        r[0] for r in db.execute("SELECT branch FROM branch_grants WHERE user_id = ? ORDER BY branch", [row["id"]])
    )
    return User(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        branches=branches,
        language=row["language"],
        active=bool(row["active"]),
        calendar=row.get("calendar"),
    )


def add_user(
    db: sqlite_utils.Database,
    username: str,
    password: str,
    role: str,
    branches: list[str] | tuple[str, ...] = (),
    language: str | None = None,
) -> User:
    check_username(username)
    check_role(role)
    check_password(password)
    grants = check_branches(role, branches)
    language = check_language(language)
    if get_user(db, username) is not None:
        raise AccountError(f"username {username!r} already exists; use `otklik users change` to modify it")
    with db.conn:
        cursor = db.execute(
            "INSERT INTO users (username, password_hash, role, language, created_at) VALUES (?, ?, ?, ?, ?)",
            [username, generate_password_hash(password), role, language, format_ts(_now())],
        )
        user_id = cursor.lastrowid
        db.conn.executemany("INSERT INTO branch_grants (user_id, branch) VALUES (?, ?)", [(user_id, b) for b in grants])
    user = get_user(db, username)
    assert user is not None
    return user


def get_user(db: sqlite_utils.Database, username: str) -> User | None:
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [username]))
    return _row_to_user(db, rows[0]) if rows else None


def get_user_by_id(db: sqlite_utils.Database, user_id: int) -> User | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    return _row_to_user(db, rows[0]) if rows else None


def list_users(db: sqlite_utils.Database) -> list[User]:
    return [_row_to_user(db, row) for row in db.query("SELECT * FROM users ORDER BY username")]


def change_user(
    db: sqlite_utils.Database,
    username: str,
    *,
    password: str | None = None,
    role: str | None = None,
    branches: list[str] | tuple[str, ...] | None = None,
    language: str | bool | None = False,
    active: bool | None = None,
    calendar: str | bool | None = False,
) -> User:
    """Change what is given; ``language=False`` (``calendar=False``) means "leave it", ``None``
    means "follow the browser" (the language's own calendar)."""
    user = get_user(db, username)
    if user is None:
        raise AccountError(f"username {username!r} does not exist")
    new_role = check_role(role) if role is not None else user.role
    new_branches = branches if branches is not None else (user.branches if new_role == "manager" else ())
    grants = check_branches(new_role, new_branches)
    updates: dict = {"role": new_role}
    if password is not None:
        updates["password_hash"] = generate_password_hash(check_password(password))
    if language is not False:
        updates["language"] = check_language(language)  # type: ignore[arg-type]
    if calendar is not False:
        updates["calendar"] = check_calendar(calendar)  # type: ignore[arg-type]
    if active is not None:
        updates["active"] = 1 if active else 0
    with db.conn:
        sets = ", ".join(f"{k} = ?" for k in updates)
        db.execute(f"UPDATE users SET {sets} WHERE id = ?", [*updates.values(), user.id])
        db.execute("DELETE FROM branch_grants WHERE user_id = ?", [user.id])
        db.conn.executemany("INSERT INTO branch_grants (user_id, branch) VALUES (?, ?)", [(user.id, b) for b in grants])
        if password is not None or active is False or new_role != user.role:
            # Whoever holds an old cookie must prove themselves again; re-enabling revives none.
            db.execute("DELETE FROM sessions WHERE user_id = ?", [user.id])
    changed = get_user(db, username)
    assert changed is not None
    return changed


def remove_user(db: sqlite_utils.Database, username: str) -> None:
    user = get_user(db, username)
    if user is None:
        raise AccountError(f"username {username!r} does not exist")
    with db.conn:
        db.execute("DELETE FROM api_tokens WHERE user_id = ?", [user.id])
        db.execute("DELETE FROM sessions WHERE user_id = ?", [user.id])
        db.execute("DELETE FROM branch_grants WHERE user_id = ?", [user.id])
        db.execute("DELETE FROM users WHERE id = ?", [user.id])


# --- log-in ----------------------------------------------------------------------


def throttle_delay(failures: int) -> float:
    """Seconds an attempt must wait after the latest one, given the failures counted so far."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES), MAX_DELAY_S)


def _reserve_attempt(db: sqlite_utils.Database, keys: list[str], now: float | None) -> None:
    """Count an attempt as failed before its password is checked, or raise Throttled.

    One IMMEDIATE transaction reads and bumps every key, so of 64 guesses sent at once
    only FREE_FAILURES get a password check: the rest find the counter already raised
    (a read, then a write, in two statements let all 64 through).
    """
    conn = db.conn
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    # The clock is read holding the lock: read before it, a thread that waited for the lock
    # would compare an older time with a newer thread's last_at.
    now = time.time() if now is None else now
    try:
        wait = 0.0
        counts: dict[str, int] = {}
        for key in keys:
            row = conn.execute("SELECT failures, last_at FROM login_throttle WHERE key = ?", [key]).fetchone()
            failures = 0 if row is None or now - row[1] > FORGET_AFTER_S else row[0]
            counts[key] = failures
            if row is not None and throttle_delay(failures) > 0:
                wait = max(wait, row[1] + throttle_delay(failures) - now)
        if wait > 0:
            raise Throttled(wait)
        conn.executemany(
            "INSERT INTO login_throttle (key, failures, last_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at",
            [(key, counts[key] + 1, now) for key in keys],
        )
        conn.execute("DELETE FROM login_throttle WHERE last_at < ?", [now - FORGET_AFTER_S])
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def authenticate(
    db: sqlite_utils.Database, username: str, password: str, address: str, now: float | None = None
) -> User | None:
    """The user if the password is right; None if not; Throttled while the account or the address must wait.

    Kept in the accounts database, so the limit holds across gunicorn's workers and threads.
    ``address`` is the client's (the forwarded one only behind a configured trusted proxy).
    """
    username = (username or "").strip().lower()[:64]
    account, client = f"user:{username}", f"address:{address}"
    _reserve_attempt(db, [account, client], now)
    rows = list(db.query("SELECT * FROM users WHERE username = ? AND active = 1", [username]))
    ok = bool(rows) and check_password_hash(rows[0]["password_hash"], password or "")
    if not rows:
        # Spend the same time as a real check so timing does not reveal which usernames exist.
        check_password_hash(_DUMMY_HASH, password or "")
    if not ok:
        return None
    with db.conn:
        # The right password clears the account; the address gives back only the attempt it
        # was charged (one good account must not reset the count of guesses at others).
        db.execute("DELETE FROM login_throttle WHERE key = ?", [account])
        db.execute("UPDATE login_throttle SET failures = max(failures - 1, 0) WHERE key = ?", [client])
    return _row_to_user(db, rows[0])


# --- sessions ----------------------------------------------------------------------


def start_session(db: sqlite_utils.Database, user: User, now: float | None = None) -> str:
    """A new session for the user; the returned id goes in the cookie, only its hash is stored."""
    now = time.time() if now is None else now
    session_id = secrets.token_urlsafe(32)
    with db.conn:
        db.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, seen_at) VALUES (?, ?, ?, ?)",
            [hash_token(session_id), user.id, now, now],
        )
        db.execute(
            "DELETE FROM sessions WHERE created_at < ? OR seen_at < ?",
            [now - SESSION_ABSOLUTE_S, now - SESSION_IDLE_S],
        )
    return session_id


def session_user(db: sqlite_utils.Database, session_id: str, now: float | None = None) -> User | None:
    """The active user of a live session, or None (ended, expired, unknown, or the account disabled)."""
    if not isinstance(session_id, str) or not session_id:
        return None
    now = time.time() if now is None else now
    rows = list(
        db.query(
            "SELECT s.created_at AS session_created, s.seen_at AS session_seen, u.* FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND u.active = 1",
            [hash_token(session_id)],
        )
    )
    if not rows:
        return None
    row = rows[0]
    if now - row["session_created"] > SESSION_ABSOLUTE_S or now - row["session_seen"] > SESSION_IDLE_S:
        end_session(db, session_id)
        return None
    if now - row["session_seen"] > SESSION_TOUCH_S:
        with db.conn:
            db.execute("UPDATE sessions SET seen_at = ? WHERE id_hash = ?", [now, hash_token(session_id)])
    return _row_to_user(db, row)


def end_session(db: sqlite_utils.Database, session_id: str) -> None:
    with db.conn:
        db.execute("DELETE FROM sessions WHERE id_hash = ?", [hash_token(session_id or "")])


_DUMMY_HASH = generate_password_hash("not-a-real-password")


# --- API tokens ------------------------------------------------------------------


def hash_token(token: str) -> str:
    """What the file keys a token (or session id) by, never the token itself."""
    # A token is 32 random bytes: a fast hash is enough, and lookups stay O(1).
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(db: sqlite_utils.Database, username: str, name: str = "api") -> str:
    """A new API token for the user; only its hash is stored, so show it once."""
    user = get_user(db, username)
    if user is None:
        raise AccountError(f"username {username!r} does not exist")
    if not name or len(name) > 64:
        raise AccountError("name: give the token a name of 1-64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.conn:
        db.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
            [user.id, name, hash_token(token), format_ts(_now())],
        )
    return token


def list_tokens(db: sqlite_utils.Database, username: str | None = None) -> list[dict]:
    sql = (
        "SELECT t.id, u.username, t.name, t.created_at, t.last_used_at, t.revoked_at "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id"
    )
    params: list = []
    if username:
        sql += " WHERE u.username = ?"
        params.append(username)
    return list(db.query(sql + " ORDER BY t.id", params))


def revoke_token(db: sqlite_utils.Database, token_id: int) -> None:
    with db.conn:
        cursor = db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [format_ts(_now()), token_id]
        )
    if cursor.rowcount == 0:
        raise AccountError(f"token {token_id} does not exist or is already revoked")


def user_for_token(db: sqlite_utils.Database, token: str) -> User | None:
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    rows = list(
        db.query(
            "SELECT t.id AS token_id, u.* FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.active = 1",
            [hash_token(token)],
        )
    )
    if not rows:
        return None
    return _row_to_user(db, rows[0])


def credential_user(db: sqlite_utils.Database, credential: tuple[str, str] | None) -> User | None:
    """Who a request's credential (``("session", id)`` or ``("token", token)``) still belongs to, if anyone.

    A live stream asks again while it runs: a log-out, a disabled account or a revoked token ends it.
    """
    if credential is None:
        return None
    kind, secret = credential
    return session_user(db, secret) if kind == "session" else user_for_token(db, secret)
