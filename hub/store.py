"""The hub's store: a SQLite file (the embedded default) or PostgreSQL, chosen by the database's name.

``--db /var/lib/otklik/hub.db`` (or ``OTKLIK_DB``) is SQLite through sqlite-utils, as it always was;
``--db postgresql://user@host/otklik`` is PostgreSQL through psycopg 3.

Why an adapter and not SQLAlchemy Core: every reader and writer of the hub already speaks a small
subset of sqlite-utils and sqlite3 (``db.execute(sql, params)``, ``db.query``, ``with db.conn:``,
``db.conn.executemany``, savepoints, ``db[table].exists()/rows_where/upsert/update``) over ~140
hand-written statements that are already in the SQL both engines share (``ON CONFLICT ... DO UPDATE``
with ``excluded``, ``RETURNING``, ``COALESCE``, ``substr``). ``PgDatabase`` offers exactly that subset
over a psycopg connection, so the queries stay the SQL they are, in one place each, and the SQLite path
is untouched — rewriting them as Core expressions would have rewritten every query of the hub and the
dashboard for no gain on either engine. What differs is translated once, here:

- placeholders: ``?`` and ``:name`` become ``%s`` and ``%(name)s`` (a literal ``%`` becomes ``%%``);
  quoted text is left alone; SQLite's scalar ``max(a, b)`` / ``min(a, b)`` become GREATEST / LEAST;
- DDL: ``INTEGER PRIMARY KEY`` becomes an identity column, ``REAL`` double precision (PostgreSQL's
  REAL is 4 bytes), ``BLOB`` bytea, ``WITHOUT ROWID`` is dropped;
- transactions behave as Python's sqlite3 does: a write (or a savepoint) outside a transaction opens
  one, ``commit()`` / ``with db.conn:`` ends it, reads outside one do not hold a snapshot open;
- values: ``bool`` is stored as 0/1 (the schema's INTEGER flags), ``numeric`` results (``avg``,
  ``round``) come back as float as SQLite's do.

Statements are bound client-side (psycopg's ``ClientCursor``): a parameter then takes its type from
where it stands, as in SQLite (``? IS NULL OR branch = ?`` with None works), instead of the server
refusing a parameter whose type it cannot infer.

Concurrency (several hubs on one PostgreSQL): de-duplication is by unique id with ``ON CONFLICT DO
NOTHING`` and every aggregate is a single-statement upsert adding to the stored row, so two writers
never lose each other's counts; migrations run under an advisory lock (``hub.db``).

The dashboard's own accounts file (dashboard/accounts.py) stays SQLite: it belongs to one dashboard
machine, not to the chain's shared store.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlite_utils

from otklik.errors import OtklikError

if TYPE_CHECKING:
    import psycopg

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | Path) -> bool:
    """True when ``target`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def is_sqlite(db: Database) -> bool:
    return isinstance(db, sqlite_utils.Database)


def redacted(target: str | Path) -> str:
    """``target`` fit for messages and logs: a URL's password (``user:pw@`` or ``password=``) becomes ``***``."""
    shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", str(target))
    return re.sub(r"([?&]password=)[^&]*", r"\1***", shown)


class StoreUnavailable(OtklikError):
    """The PostgreSQL driver is not installed, or the server refused the connection."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as err:  # the postgres extra is optional: a kiosk or a SQLite hub needs none of it
        raise StoreUnavailable(
            "a postgresql:// database needs psycopg", field="--db", hint='pip install "otklik[postgres]"'
        ) from err
    return psycopg


def errors() -> tuple[type[Exception], ...]:
    """The exception classes a store raises (sqlite3.Error, and psycopg.Error when psycopg is installed)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


def integrity_errors() -> tuple[type[Exception], ...]:
    """A constraint said no (unique, check, not null), on either store."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def is_environmental_pg(err: BaseException) -> bool:
    """For a psycopg error: True when the server or the connection failed, not the statement's data.

    Data and constraint errors (22xxx, 23xxx) and programming errors (42xxx) are the message's (or
    our code's) problem; anything else (connection lost, disk full, out of memory, serialization
    failure, deadlock, shutdown) is the environment's, and the caller retries the whole batch.
    """
    sqlstate = getattr(err, "sqlstate", None)
    return sqlstate is None or sqlstate[:2] not in ("22", "23", "42", "2B", "44")


# --- SQL translation ------------------------------------------------------------------------------

# A quoted string or identifier, or one of the tokens to translate.
_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|(\?)|(?<!:):([A-Za-z_]\w*)|(%)""")


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite-style placeholders to psycopg's; a literal ``%`` is escaped; DDL spelled for PostgreSQL."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):  # quoted: no placeholders inside, but its % is still psycopg's to read
            return m.group(1).replace("%", "%%")
        if m.group(2):
            return "%s"
        if m.group(3):
            return f"%({m.group(3)})s"
        return "%%"

    return ddl(_scalar_min_max(_TOKENS.sub(sub, sql)))


_MIN_MAX = re.compile(r"\b(MAX|MIN)\s*\(", re.IGNORECASE)


def _scalar_min_max(sql: str) -> str:
    """SQLite's scalar ``max(a, b)`` / ``min(a, b)`` (two or more arguments) as GREATEST / LEAST.

    (One difference stays: GREATEST ignores a NULL argument where SQLite's max returns NULL.)
    """
    out, pos = [], 0
    for m in _MIN_MAX.finditer(sql):
        depth, i, comma = 1, m.end(), False
        while i < len(sql) and depth:
            ch = sql[i]
            depth += {"(": 1, ")": -1}.get(ch, 0)
            comma = comma or (ch == "," and depth == 1)
            i += 1
        if comma:
            out.append(sql[pos : m.start()] + ("GREATEST(" if m.group(1).upper() == "MAX" else "LEAST("))
            pos = m.end()
    return "".join(out) + sql[pos:]


@functools.lru_cache(maxsize=256)
def ddl(sql: str) -> str:
    """SQLite's column types and table options as PostgreSQL spells them (only in CREATE/ALTER)."""
    if not re.search(r"\b(CREATE|ALTER)\s+TABLE\b", sql, re.IGNORECASE):
        return sql
    sql = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql, flags=re.I)
    sql = re.sub(r"\)\s*WITHOUT ROWID", ")", sql, flags=re.I)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql, flags=re.I)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql, flags=re.I)


def _opens_transaction(sql: str) -> bool:
    # As Python's sqlite3 (legacy transaction control): writes open a transaction, reads and DDL do
    # not. A savepoint must be inside one on PostgreSQL (SQLite opens one for it).
    word = sql.lstrip()[:9].upper()
    return word.startswith(("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT"))


# --- PostgreSQL ------------------------------------------------------------------------------------


class PgCursor:
    """The part of a sqlite3 cursor the hub uses: fetchone, fetchall, iteration, rowcount."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection with sqlite3.Connection's transaction behaviour (see the module docstring)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def _begin_for(self, sql: str) -> None:
        if not self.in_transaction and _opens_transaction(sql):
            self.raw.execute("BEGIN")

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> PgCursor:
        self._begin_for(sql)
        cursor = self.raw.cursor()
        # Always bound (even with no parameters), so the escaped ``%%`` of translate() reads as ``%``.
        cursor.execute(translate(sql), params if isinstance(params, Mapping) else list(params))
        return PgCursor(cursor)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> PgCursor:
        rows = list(rows)
        self._begin_for(sql)
        cursor = self.raw.cursor()
        if rows:
            cursor.executemany(translate(sql), rows)
        return PgCursor(cursor)

    def executescript(self, script: str) -> None:
        # Several statements, no parameters: sent as they stand (only the DDL respelled).
        self.raw.execute(ddl(script).encode())

    def begin(self) -> None:
        """Open a transaction now (for DDL, which does not open one by itself)."""
        if not self.in_transaction:
            self.raw.execute("BEGIN")

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()


class PgTable:
    """The part of sqlite_utils.Table the hub uses, over PostgreSQL."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db = db
        self.name = name

    def exists(self) -> bool:
        return bool(self.db.execute("SELECT to_regclass(?) IS NOT NULL", [self.name]).fetchone()[0])

    @property
    def pks(self) -> list[str]:
        rows = self.db.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(?) AND i.indisprimary"
            " ORDER BY array_position(i.indkey, a.attnum)",
            [self.name],
        ).fetchall()
        return [r[0] for r in rows]

    @property
    def count(self) -> int:
        return int(self.db.execute(f'SELECT count(*) FROM "{self.name}"').fetchone()[0])

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.rows_where()

    def get(self, pk_values: Any) -> dict[str, Any]:
        values = list(pk_values) if isinstance(pk_values, list | tuple) else [pk_values]
        where = " AND ".join(f"{k} = ?" for k in self.pks)
        found = list(self.rows_where(where, values))
        if not found:
            raise sqlite_utils.db.NotFoundError(f"{self.name} {pk_values!r}")
        return found[0]

    def rows_where(
        self,
        where: str | None = None,
        where_args: Sequence[Any] | Mapping[str, Any] | None = None,
        order_by: str | None = None,
        select: str = "*",
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        sql = f'SELECT {select} FROM "{self.name}"'
        if where is not None:
            sql += f" WHERE {where}"
        if order_by is not None:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.query(sql, where_args or ())

    def insert(self, record: Mapping[str, Any]) -> PgTable:
        cols = list(record)
        with self.db.conn:
            self.db.execute(
                f'INSERT INTO "{self.name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                [record[c] for c in cols],
            )
        return self

    def upsert(self, record: Mapping[str, Any], pk: str | Sequence[str] | None = None) -> PgTable:
        keys = [pk] if isinstance(pk, str) else list(pk or self.pks)
        cols = list(record)
        rest = [c for c in cols if c not in keys]
        action = f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rest)}" if rest else "DO NOTHING"
        with self.db.conn:
            self.db.execute(
                f'INSERT INTO "{self.name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})'
                f" ON CONFLICT ({', '.join(keys)}) {action}",
                [record[c] for c in cols],
            )
        return self

    def update(self, pk_values: Any, updates: Mapping[str, Any]) -> PgTable:
        keys = self.pks
        values = list(pk_values) if isinstance(pk_values, list | tuple) else [pk_values]
        sets = ", ".join(f"{c} = ?" for c in updates)
        where = " AND ".join(f"{k} = ?" for k in keys)
        with self.db.conn:
            cursor = self.db.execute(f'UPDATE "{self.name}" SET {sets} WHERE {where}', [*updates.values(), *values])
        if cursor.rowcount == 0:
            raise sqlite_utils.db.NotFoundError(f"{self.name} {pk_values!r}")
        return self


class PgDatabase:
    """The part of sqlite_utils.Database the hub uses, over one psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self.conn = PgConnection(conn)
        self.url = url
        # The psycopg_pool pool the connection was borrowed from (the dashboard's), to give it back to.
        self.pool: Any = None

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> PgCursor:
        """As sqlite-utils' execute: inside a transaction it joins it, outside one a write commits at once."""
        if self.conn.in_transaction:
            return self.conn.execute(sql, params)
        cursor = self.conn.raw.cursor()
        cursor.execute(translate(sql), params if isinstance(params, Mapping) else list(params))
        return PgCursor(cursor)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """As sqlite-utils' atomic(): a transaction, or a savepoint inside one."""
        if self.conn.in_transaction:
            name = f"atomic_{secrets.token_hex(8)}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            self.conn.execute(f"RELEASE SAVEPOINT {name}")
        else:
            self.conn.begin()
            try:
                yield self
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def executescript(self, script: str) -> None:
        self.conn.executescript(script)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d.name for d in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(names, row, strict=True))

    def table(self, name: str) -> PgTable:
        return PgTable(self, name)

    def __getitem__(self, name: str) -> PgTable:
        return PgTable(self, name)

    def table_names(self) -> list[str]:
        rows = self.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


# What every reader and writer of the hub's tables takes.
Database = sqlite_utils.Database | PgDatabase


def adapted(conn: psycopg.Connection[Any]) -> None:
    from psycopg.adapt import Dumper, Loader

    class BoolAsInt(Dumper):
        oid = conn.adapters.types["int4"].oid

        def dump(self, obj: Any) -> bytes:
            return b"1" if obj else b"0"

    class NumericAsFloat(Loader):
        def load(self, data: Any) -> float:
            return float(bytes(data))

    conn.adapters.register_dumper(bool, BoolAsInt)
    conn.adapters.register_loader("numeric", NumericAsFloat)


def connect_pg(url: str) -> PgDatabase:
    """A connection to the PostgreSQL database at ``url`` (no migrations)."""
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor)
    except psycopg.OperationalError as err:
        raise StoreUnavailable(f"cannot connect to {redacted(url)}: {err}".strip(), field="--db") from err
    adapted(conn)
    return PgDatabase(conn, url)
