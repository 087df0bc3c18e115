"""The roster: employees and their shifts, and attribution kept right when it changes.

Shift times are stored as UTC event-style timestamps so they compare directly with
``events.ts``; callers give local wall-clock times of the shift's branch (or aware
datetimes).  A shift's ``kiosk`` is the kiosk (or desk pad / counter id) it covers; ''
covers every kiosk of the branch.  Adding, changing or removing a shift re-attributes the
presses in the old and new time spans in the same transaction.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlite_utils import Database

from hub import aggregates, branches
from otklik.protocol import EMPLOYEE_RE, ProtocolError, check_id, format_ts


class RosterError(ValueError):
    """A roster change that cannot be made; the text names the field and the reason."""


@dataclass
class Shift:
    id: int
    employee: str
    branch: str
    kiosk: str
    start: str
    end: str
    note: str = ""


def _check_branch(what: str, value: str, allow_empty: bool = False) -> str:
    if allow_empty and value == "":
        return value
    try:
        return check_id(what, value)
    except ProtocolError as err:
        raise RosterError(str(err)) from None


def _check_employee(value: str) -> str:
    if not isinstance(value, str) or not EMPLOYEE_RE.match(value):
        raise RosterError(f"employee id {value!r} must be 1-64 letters, digits, '.', '-' or '_'")
    return value


def to_utc(db: Database, branch: str, value: str | datetime, what: str) -> str:
    """A shift bound as a UTC timestamp; naive values are the branch's local time."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RosterError(f"{what} {value!r} is not a time like 2026-11-22 09:00") from None
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=branches.get(db, branch).zone)
    return format_ts(moment)


# --- employees -----------------------------------------------------------------


def add_employee(db: Database, employee: str, branch: str, name: str = "", active: bool = True) -> dict[str, Any]:
    """Add an employee or update their name/branch/active flag."""
    _check_employee(employee)
    _check_branch("branch", branch)
    with db.atomic():
        db.execute(
            "INSERT INTO employees (id, name, branch, active) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
            "SET name = excluded.name, branch = excluded.branch, active = excluded.active",
            [employee, name, branch, int(active)],
        )
    return get_employee(db, employee)


def get_employee(db: Database, employee: str) -> dict[str, Any]:
    row = db.execute("SELECT id, name, branch, active FROM employees WHERE id = ?", [employee]).fetchone()
    if row is None:
        raise RosterError(f"employee {employee!r} is not on the roster; add them with `otklik roster add-employee`")
    return {"id": row[0], "name": row[1], "branch": row[2], "active": bool(row[3])}


def list_employees(db: Database, branch: str | None = None) -> list[dict[str, Any]]:
    sql, params = "SELECT id, name, branch, active FROM employees", []
    if branch:
        sql, params = sql + " WHERE branch = ?", [branch]
    return [
        {"id": r[0], "name": r[1], "branch": r[2], "active": bool(r[3])}
        for r in db.execute(sql + " ORDER BY branch, id", params)
    ]


def employee_names(db: Database) -> dict[str, str]:
    return dict(db.execute("SELECT id, name FROM employees").fetchall())


# --- shifts --------------------------------------------------------------------


def add_shift(
    db: Database,
    employee: str,
    branch: str,
    start: str | datetime,
    end: str | datetime,
    kiosk: str = "",
    note: str = "",
) -> Shift:
    """Add a shift and re-attribute the presses it covers; returns the stored shift."""
    _check_employee(employee)
    _check_branch("branch", branch)
    _check_branch("kiosk", kiosk, allow_empty=True)
    s, e = to_utc(db, branch, start, "start"), to_utc(db, branch, end, "end")
    if e <= s:
        raise RosterError(f"shift end {end} must be after its start {start}")
    with db.atomic():
        cursor = db.execute(
            'INSERT INTO shifts (employee, branch, kiosk, start, "end", note) VALUES (?, ?, ?, ?, ?, ?)',
            [employee, branch, kiosk, s, e, note],
        )
        aggregates.reattribute(db, branch, kiosk, s, e)
        assert cursor.lastrowid is not None  # sqlite3 sets it on every INSERT that succeeds
        return get_shift(db, cursor.lastrowid)


def get_shift(db: Database, shift_id: int) -> Shift:
    row = db.execute(
        'SELECT id, employee, branch, kiosk, start, "end", note FROM shifts WHERE id = ?', [shift_id]
    ).fetchone()
    if row is None:
        raise RosterError(f"shift {shift_id} does not exist; see `otklik roster shifts`")
    return Shift(*row)


def update_shift(db: Database, shift_id: int, **changes: Any) -> Shift:
    """Correct a shift (employee, kiosk, start, end, note) after the fact; presses follow."""
    old = get_shift(db, shift_id)
    new = Shift(**{**old.__dict__})
    for name, value in changes.items():
        if value is None:
            continue
        if name == "employee":
            new.employee = _check_employee(value)
        elif name == "kiosk":
            new.kiosk = _check_branch("kiosk", value, allow_empty=True)
        elif name in ("start", "end"):
            setattr(new, name, to_utc(db, old.branch, value, name))
        elif name == "note":
            new.note = str(value)
        else:
            raise RosterError(f"{name!r} is not a shift field that can change (employee, kiosk, start, end, note)")
    if new.end <= new.start:
        raise RosterError(f"shift end {new.end} must be after its start {new.start}")
    with db.atomic():
        db.execute(
            'UPDATE shifts SET employee = ?, kiosk = ?, start = ?, "end" = ?, note = ? WHERE id = ?',
            [new.employee, new.kiosk, new.start, new.end, new.note, shift_id],
        )
        _reattribute_spans(db, old, new)
    return new


def remove_shift(db: Database, shift_id: int) -> Shift:
    old = get_shift(db, shift_id)
    with db.atomic():
        db.execute("DELETE FROM shifts WHERE id = ?", [shift_id])
        aggregates.reattribute(db, old.branch, old.kiosk, old.start, old.end)
    return old


def _reattribute_spans(db: Database, old: Shift, new: Shift) -> None:
    if old.kiosk == new.kiosk and old.start < new.end and new.start < old.end:
        aggregates.reattribute(db, old.branch, old.kiosk, min(old.start, new.start), max(old.end, new.end))
    else:
        aggregates.reattribute(db, old.branch, old.kiosk, old.start, old.end)
        aggregates.reattribute(db, new.branch, new.kiosk, new.start, new.end)


def list_shifts(
    db: Database,
    branch: str | None = None,
    employee: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> list[Shift]:
    """Shifts, optionally of one branch/employee and overlapping [start, end) (UTC timestamps)."""
    where, params = [], []
    for column, value in (("branch", branch), ("employee", employee)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if end:
        where.append("start < ?")
        params.append(end)
    if start:
        where.append('"end" > ?')
        params.append(start)
    sql = 'SELECT id, employee, branch, kiosk, start, "end", note FROM shifts'
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [Shift(*r) for r in db.execute(sql + " ORDER BY branch, start, id", params)]


# --- CSV import ------------------------------------------------------------------

EMPLOYEE_COLUMNS = ("id", "name", "branch")
SHIFT_COLUMNS = ("employee", "branch", "kiosk", "start", "end")


def import_csv(db: Database, handle: IO[str]) -> dict[str, int]:
    """Import employees (columns id,name,branch[,active]) or shifts (employee,branch,kiosk,start,end[,note]).

    The header decides which.  All rows or none: a bad row raises RosterError naming its line.
    """
    reader = csv.DictReader(handle)
    header = {h.strip().lower() for h in reader.fieldnames or []}
    if set(SHIFT_COLUMNS) <= header:
        kind = "shifts"
    elif set(EMPLOYEE_COLUMNS) <= header:
        kind = "employees"
    else:
        raise RosterError(
            f"CSV header {sorted(header)} is neither employees ({', '.join(EMPLOYEE_COLUMNS)}) "
            f"nor shifts ({', '.join(SHIFT_COLUMNS)})"
        )
    count = 0
    with db.atomic():
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            try:
                if kind == "employees":
                    active = row.get("active", "1").lower() not in ("0", "false", "no")
                    add_employee(db, row["id"], row["branch"], row.get("name", ""), active)
                else:
                    add_shift(db, row["employee"], row["branch"], row["start"], row["end"], row.get("kiosk", ""),
                              row.get("note", ""))  # fmt: skip
            except RosterError as err:
                raise RosterError(f"line {line}: {err}") from None
            count += 1
    return {kind: count}


def import_rows(db: Database, rows: Iterable[dict[str, Any]]) -> int:
    """Add shifts from dicts (the dashboard's form); same rules as the CSV import."""
    n = 0
    with db.atomic():
        for row in rows:
            add_shift(db, row["employee"], row["branch"], row["start"], row["end"], row.get("kiosk", ""))
            n += 1
    return n
