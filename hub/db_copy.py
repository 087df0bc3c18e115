"""Moving a store's SQLite hub database into PostgreSQL (``otklik db copy``), for a store joining the chain layout.

What it does, in order:

1. The source must be a SQLite hub database at this code's schema (``otklik db migrate`` it first
   otherwise); one written by a newer otklik is refused. It is only read (``query_only``).
2. The destination is migrated to the current schema by the path every hub takes (``hub.db.migrate``).
3. The tables to copy are the destination's, from PostgreSQL's catalog (minus the migration record),
   and must be the source's tables with the same columns: a table a later migration adds is copied
   without anyone listing it. They go in foreign-key order (creation order where none binds them).
4. The source is read inside one read transaction: a hub still writing to it cannot tear the copy,
   which is the database as it was at that moment.
5. The destination is written in one transaction that first locks every hub table (readers wait)
   and refuses a table holding any row; rows go in by ``COPY ... FROM STDIN``, each table's indexes
   dropped before and built again after (as pg_restore does); then
   every identity counter is moved past the copied ids, and each table's row count and per-column
   sums (integers; lengths of text and bytes; floats to 1e-9) are compared on both sides. Only then
   does it commit: a failure, Ctrl-C or SIGKILL anywhere before leaves the destination without a hub
   row (the schema stays), and running the command again works. The tables are analyzed after.

The destination URL is only ever shown through ``hub.store.redacted``.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hub import db as hub_db
from hub.store import PgDatabase, StoreUnavailable, connect_pg, errors, is_url, redacted
from otklik import config
from otklik.errors import OtklikError

log = logging.getLogger(__name__)

# Rows read from SQLite (and handed to COPY) at a time; progress is reported after each.
BATCH = 10_000
_SQLITE_BOOKKEEPING = {"_sqlite_migrations"}  # sqlite-utils' record of applied migrations
_PG_BOOKKEEPING = {hub_db.PG_MIGRATIONS_TABLE}

Progress = Callable[[str, int, int], None]  # (table, rows copied so far, rows in the table)


class CopyRefused(OtklikError):
    """The copy cannot start: the source or the destination is not what it must be."""


class CopyFailed(OtklikError):
    """The copy started and stopped: nothing of it was committed."""


@dataclass
class TableCopied:
    table: str
    rows: int
    seconds: float
    sums: int  # column sums compared on both sides (besides the row count)


@dataclass
class Copied:
    source: str
    dest: str  # redacted
    migrations_applied: list[str]
    tables: list[TableCopied] = field(default_factory=list)
    seconds: float = 0.0
    # The source changed while it was read (a hub still running): rows stored after the snapshot are not in DEST.
    source_changed: bool = False

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rows": self.rows, "verified": True}


def copy_to_pg(source: str | Path, dest: str, *, progress: Progress | None = None) -> Copied:
    """Copy the SQLite hub database ``source`` into the empty (or new) PostgreSQL hub database ``dest``."""
    started = time.monotonic()
    src = _open_source(source)
    shown = redacted(dest)
    try:
        if not is_url(dest):
            raise CopyRefused(
                f"the destination {dest} is not a postgresql:// URL",
                hint="to copy a SQLite file to another file, stop the hub and use `sqlite3 SOURCE '.backup DEST'`",
            )
        try:
            pg = connect_pg(dest)
        except StoreUnavailable as err:  # said of --db elsewhere; here of DEST
            raise CopyRefused(str(err), hint=err.hint or "check DEST's host, port, user and PGPASSFILE") from None
        try:
            # Before migrating too: a copy refused leaves an existing database as it was.
            _refuse_non_empty(pg, list(_pg_columns(pg)), shown)
            try:
                applied = hub_db.migrate(dest)
            except errors() as err:
                raise CopyFailed(f"migrating {shown} failed: {_pg_text(err)}") from None
            result = Copied(str(source), shown, applied)
            _copy(src, pg, result, progress)
        finally:
            pg.close()
        result.seconds = time.monotonic() - started
        return result
    finally:
        src.close()


# --- the source ----------------------------------------------------------------------------------


def _open_source(source: str | Path) -> sqlite3.Connection:
    if is_url(str(source)):
        raise CopyRefused(
            f"the source {redacted(source)} is a URL: it must be the store's SQLite file",
            hint="give the hub's SQLite file first, e.g. `otklik db copy /var/lib/otklik/hub.db postgresql://...`",
        )
    path = Path(source)
    if not path.is_file():
        raise CopyRefused(f"no SQLite hub database at {path}", hint="give the file the hub's OTKLIK_DB names")
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA query_only = 1")  # this command never writes the store's file
        _check_source_schema(conn, path)
    except sqlite3.DatabaseError as err:
        conn.close()
        raise CopyRefused(f"{path} is not a readable SQLite database: {err}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check_source_schema(conn: sqlite3.Connection, path: Path) -> None:
    known = {(s.name, m.name) for s in hub_db._migration_sets() for m in s._migrations}
    has_record = conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone()
    applied = (
        set(conn.execute("SELECT migration_set, name FROM _sqlite_migrations").fetchall()) if has_record else set()
    )
    if not applied:
        raise CopyRefused(f"{path} is not a hub database (no migrations recorded)",
                          hint="give the file the hub's OTKLIK_DB names")  # fmt: skip
    newer = sorted(f"{s}:{n}" for s, n in applied - known)
    if newer:
        raise CopyRefused(
            f"{path} was migrated by a newer otklik ({', '.join(newer[:3])}{' ...' if len(newer) > 3 else ''})",
            hint="install the hub's version of otklik where you run the copy",
        )
    missing = known - applied
    if missing:
        raise CopyRefused(
            f"{path} lacks {len(missing)} migrations of this version",
            hint=f"stop the hub, run `otklik db migrate --db {path}`, then copy",
        )


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    """The source's tables in creation order."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
    ).fetchall()
    return [r[0] for r in rows if r[0] not in _SQLITE_BOOKKEEPING]


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")').fetchall()]


# --- the destination -----------------------------------------------------------------------------


def _pg_columns(pg: PgDatabase) -> dict[str, dict[str, str]]:
    """Every hub table of the destination's schema (oldest first): column -> type, in column order."""
    rows = pg.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY c.oid, a.attnum"  # tables in the order they were made
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        if table not in _PG_BOOKKEEPING:
            tables.setdefault(table, {})[column] = kind
    return tables


def _pg_dependencies(pg: PgDatabase) -> dict[str, set[str]]:
    """table -> the tables its foreign keys point at (in the destination's schema)."""
    rows = pg.execute(
        "SELECT c.relname, r.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE k.contype = 'f' AND n.nspname = current_schema()"
    ).fetchall()
    deps: dict[str, set[str]] = {}
    for table, target in rows:
        if table != target:
            deps.setdefault(table, set()).add(target)
    return deps


def dependency_order(tables: Sequence[str], deps: dict[str, set[str]]) -> list[str]:
    """``tables`` with every table after the ones it references; otherwise in the order given."""
    done: list[str] = []
    left = list(tables)
    while left:
        ready = next((t for t in left if deps.get(t, set()) <= set(done) | (deps.get(t, set()) - set(tables))), None)
        if ready is None:  # a cycle: only deferrable constraints could hold it; keep the given order
            ready = left[0]
        left.remove(ready)
        done.append(ready)
    return done


def _plan(src: sqlite3.Connection, pg: PgDatabase, shown: str) -> list[tuple[str, list[str], dict[str, str]]]:
    """(table, columns, destination types) in copy order, after checking both sides hold the same tables."""
    dest = _pg_columns(pg)
    source = _sqlite_tables(src)
    only_source = [t for t in source if t not in dest]
    only_dest = sorted(set(dest) - set(source))
    if only_source or only_dest:
        parts = []
        if only_source:
            parts.append(f"only the source has {', '.join(only_source)}")
        if only_dest:
            parts.append(f"only {shown} has {', '.join(only_dest)}")
        raise CopyRefused(
            f"the two databases hold different tables: {'; '.join(parts)}",
            hint="copy into a database of its own: one made for the hub, holding nothing else",
        )
    plan = []
    for table in dependency_order(source, _pg_dependencies(pg)):
        columns = _sqlite_columns(src, table)
        if set(columns) != set(dest[table]):
            raise CopyRefused(
                f"table {table} has columns {', '.join(sorted(set(columns) ^ set(dest[table])))} on one side only",
                hint="copy into a database of its own, made for the hub and migrated by this version",
            )
        plan.append((table, columns, dest[table]))
    return plan


def _refuse_non_empty(pg: PgDatabase, tables: Sequence[str], shown: str) -> None:
    held = []
    for table in tables:
        n = pg.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        if n:
            held.append(f"{table} ({n:,} row{'' if n == 1 else 's'})")
    if held:
        more = f" and {len(held) - 3} more tables" if len(held) > 3 else ""
        raise CopyRefused(
            f"{shown} already holds data: {', '.join(held[:3])}{more}",
            hint="copy into a new, empty database (`createdb --owner otklik otklik_new`); "
            "if it holds a copy you mean to redo, drop and create it again first",
        )


# --- the copy ------------------------------------------------------------------------------------


def _copy(src: sqlite3.Connection, pg: PgDatabase, result: Copied, progress: Progress | None) -> None:
    shown = result.dest
    # The snapshot: from the first read on, this connection sees the file as it was then.
    src.execute("BEGIN")
    version = src.execute("PRAGMA data_version").fetchone()[0]
    try:
        plan = _plan(src, pg, shown)
        counts = {t: src.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t, _, _ in plan}
        raw = pg.conn.raw
        table = "(locking)"
        try:
            with raw.transaction():
                names = ", ".join(f'"{t}"' for t, _, _ in plan)
                # No hub, second copy or reader gets in until this commits (the indexes are dropped
                # meanwhile): taken at once, so no lock is ever upgraded half-way.
                raw.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                _refuse_non_empty(pg, [t for t, _, _ in plan], shown)
                referenced = {target for targets in _pg_dependencies(pg).values() for target in targets}
                for table, columns, _ in plan:
                    began = time.monotonic()
                    # As pg_restore does: rows first, then each index built once from them, rather
                    # than four indexes of events kept up to date row by row (1.2-1.7x faster for
                    # 0.3-1 M events here: tests/bench/bench_db_copy.py --compare).
                    rebuild = [] if table in referenced else _drop_indexes(raw, table)
                    copied = _copy_table(src, raw, table, columns, counts[table], progress)
                    for statement in rebuild:
                        raw.execute(statement)
                    result.tables.append(TableCopied(table, copied, time.monotonic() - began, 0))
                table = "(identity counters)"
                _reset_identities(src, raw)
                table = "(verification)"
                for done, (name, columns, types) in zip(result.tables, plan, strict=True):
                    table = name
                    done.sums = _verify(src, raw, name, columns, types, shown)
        except errors() as err:
            raise CopyFailed(
                f"the copy into {shown} failed at {table}: {_pg_text(err)}",
                hint="nothing of the copy was committed; fix the cause and run the same command again",
            ) from None
    finally:
        src.execute("ROLLBACK")
    # Another connection committed to the source since the snapshot was taken: a hub still running.
    result.source_changed = src.execute("PRAGMA data_version").fetchone()[0] != version
    # The planner's statistics now, not at autovacuum's next round: the first dashboard queries on a
    # million copied presses would otherwise be planned for empty tables (pg_restore's advice too).
    try:
        pg.conn.raw.execute("ANALYZE " + ", ".join(f'"{t.table}"' for t in result.tables))
    except errors():  # the copy is committed; autovacuum analyzes the tables in a while all the same
        log.warning("ANALYZE after the copy into %s failed", shown, exc_info=True)


def _copy_table(src: sqlite3.Connection, raw: Any, table: str, columns: list[str], total: int,
                progress: Progress | None) -> int:  # fmt: skip
    quoted = ", ".join(f'"{c}"' for c in columns)
    cursor = src.execute(f'SELECT {quoted} FROM "{table}"')
    copied = 0
    with raw.cursor() as pg_cursor, pg_cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                copy.write_row(row)
            copied += len(rows)
            if progress:
                progress(table, copied, total)
    if progress and not copied:
        progress(table, 0, total)
    return copied


def _drop_indexes(raw: Any, table: str) -> list[str]:
    """Drop ``table``'s indexes (primary key and unique constraints included); the statements that make them again."""
    rows = raw.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), k.conname, pg_get_constraintdef(k.oid) "
        "FROM pg_index i LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
        "AND k.contype IN ('p', 'u', 'x') WHERE i.indrelid = to_regclass(quote_ident(%s)) ORDER BY 1",
        [table],
    ).fetchall()
    rebuild = []
    for index, index_sql, constraint, constraint_sql in rows:
        if constraint:
            raw.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
            rebuild.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {constraint_sql}')
        else:
            raw.execute(f"DROP INDEX {index}")
            rebuild.append(index_sql)
    return rebuild


def _reset_identities(src: sqlite3.Connection, raw: Any) -> None:
    """Every identity (or serial) column's next value past the largest id copied, as SQLite would go on.

    A table with AUTOINCREMENT keeps its high-water mark in sqlite_sequence (ids of deleted rows are
    never reused there); it is honoured too.
    """
    marks: dict[str, int] = {}
    if src.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        marks = dict(src.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    rows = raw.execute(
        "SELECT c.relname, a.attname, pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
    ).fetchall()
    for table, column, sequence in rows:
        if sequence is None:
            continue
        top = raw.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()[0]
        top = max(top or 0, int(marks.get(table) or 0))
        # is_called false with 1: the next id is 1, as in a table that never had a row.
        # (A literal boolean: this connection dumps bool as 0/1, for the schema's INTEGER flags.)
        raw.execute(f"SELECT setval(%s::regclass, %s, {'true' if top > 0 else 'false'})", [sequence, max(top, 1)])


_INTEGER = {"integer", "bigint", "smallint"}
_LENGTH = {"text", "bytea"}


def _verify(src: sqlite3.Connection, raw: Any, table: str, columns: list[str], types: dict[str, str],
            shown: str) -> int:  # fmt: skip
    """Row counts and per-column sums equal on both sides; the number of sums compared."""
    checks: list[tuple[str, str, str]] = [("rows", "count(*)", "count(*)")]  # (what, SQLite, PostgreSQL)
    for column in columns:
        kind = types[column]
        if kind in _INTEGER:
            checks.append((f"sum({column})", f'sum("{column}")', f'sum("{column}")::text'))
        elif kind == "double precision":
            checks.append((f"sum({column})", f'total("{column}")', f'coalesce(sum("{column}"), 0)'))
        elif kind in _LENGTH:
            checks.append((f"length({column})", f'sum(length("{column}"))', f'sum(length("{column}"))::text'))
    ours = src.execute(f'SELECT {", ".join(c[1] for c in checks)} FROM "{table}"').fetchone()
    theirs = raw.execute(f'SELECT {", ".join(c[2] for c in checks)} FROM "{table}"').fetchone()
    for (what, _, _), a, b in zip(checks, ours, theirs, strict=True):
        same = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) if isinstance(a, float) else (
            (None if a is None else int(a)) == (None if b is None else int(b)))  # fmt: skip
        if not same:
            raise CopyFailed(
                f"table {table} differs after the copy: {what} is {a} in the source, {b} in {shown}",
                hint="nothing of the copy was committed; report this with both values",
            )
    return len(checks) - 1


def next_steps(source: str | Path, dest_shown: str, done: Copied) -> list[str]:
    """What to do after the copy, naming this store's files: the switch, and the two files that stay."""
    out = []
    if done.source_changed:
        out.append(
            f"warning: {source} changed while it was copied (is a hub still running on it?): what it stored after "
            "the snapshot is not in the copy; stop it, and copy again into a new database"
        )
    out.append(f"next: set OTKLIK_DB={dest_shown} for the hub and the dashboard (the real URL, "
               "its password in PGPASSFILE), then start them")  # fmt: skip
    path = Path(source)
    accounts = Path(config.default_auth_db(path))
    if not config.get("OTKLIK_AUTH_DB") and accounts.exists():
        out.append(f"the dashboard's accounts stay in SQLite: set OTKLIK_AUTH_DB={accounts} "
                   "(with a URL in OTKLIK_DB the default is no longer beside the hub's file)")  # fmt: skip
    qr_key = Path(f"{path}.qr-key")
    if not config.get("OTKLIK_QR_KEY_FILE") and qr_key.exists():
        out.append(f"phone QR codes already printed are signed with {qr_key}: set OTKLIK_QR_KEY_FILE={qr_key} "
                   "so they keep working")  # fmt: skip
    return out


def _pg_text(err: BaseException) -> str:
    """A database error's first line (psycopg's text never holds the connection's password)."""
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
