"""The roster: employees and their shifts, and attribution kept right when it changes.

Shift times are stored as UTC event-style timestamps so they compare directly with
``events.ts``; callers give local wall-clock times of the shift's branch (or aware
datetimes).  A shift's ``kiosk`` is the kiosk (or desk pad / counter id) it covers; ''
covers every kiosk of the branch.  Adding, changing or removing a shift re-attributes the
presses in the old and new time spans in the same transaction.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from hub import aggregates, branches
from hub.store import Database
from otklik.errors import OtklikError
from otklik.protocol import EMPLOYEE_RE, ProtocolError, check_id
from otklik.times import FAR_FUTURE, FAR_PAST, format_ts


class RosterError(OtklikError, ValueError):
    """A roster change that cannot be made; the text names the field and the reason.

    ``template`` and ``params`` keep the message apart from its values, so the dashboard can
    show it translated (``template % params`` is the English text).
    """

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        self.line: int | None = None  # the CSV line, for an import
        super().__init__(template % params if params else template)


@dataclass
class Shift:
    id: int
    employee: str
    branch: str
    kiosk: str
    start: str
    end: str
    note: str = ""


class NotYours(RosterError):
    """The actor may not change this. Worded the same whether or not it exists, so a manager
    cannot tell another branch's ids from ids nobody has."""


# Who is changing the roster: the branches they may change, or None for every branch (an
# admin; the CLI runs on the hub with its database file and acts as admin).
Actor = frozenset[str] | None
ADMIN: Actor = None

# Longer than a day is a mistyped date, not a shift: it would silently take over a day's presses.
MAX_SHIFT_HOURS = 24
MAX_NOTE = 500
MAX_NAME = 200


def _own(actor: Actor, branch: str) -> str:
    if actor is not None and branch not in actor:
        raise NotYours("branch: '%(value)s' is not one of yours", value=branch)
    return branch


def _check_branch(what: str, value: str, allow_empty: bool = False) -> str:
    if allow_empty and value == "":
        return value
    try:
        return check_id(what, value)
    except ProtocolError as err:
        raise RosterError(str(err)) from None


def _check_employee(value: str) -> str:
    if not isinstance(value, str) or not EMPLOYEE_RE.match(value):
        raise RosterError("employee id %(value)r must be 1-64 letters, digits, '.', '-' or '_'", value=value)
    return value


def _moment(db: Database, branch: str, value: str | datetime, what: str) -> datetime:
    """An aware time; a naive one (a string or a datetime) is the branch's local wall-clock time."""
    if not isinstance(value, datetime):
        text = str(value or "").strip()
        if not text:
            raise RosterError("%(field)s: give a time like 2026-11-22 09:00", field=what)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RosterError(
                "%(field)s: '%(value)s' is not a time like 2026-11-22 09:00", field=what, value=text
            ) from None
    else:
        moment = value
    if not FAR_PAST <= moment.replace(tzinfo=None) < FAR_FUTURE:
        raise RosterError(
            "%(field)s: '%(value)s' is outside the years %(first)s-%(last)s",
            field=what, value=str(value), first=FAR_PAST.year, last=FAR_FUTURE.year - 1,
        )  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=branches.get(db, branch).zone)


def to_utc(db: Database, branch: str, value: str | datetime, what: str) -> str:
    """A shift bound as a UTC timestamp; naive values are the branch's local time."""
    return format_ts(_moment(db, branch, value, what))


# --- employees -----------------------------------------------------------------


def add_employee(
    db: Database, employee: str, branch: str, name: str = "", active: bool = True, *, actor: Actor
) -> dict[str, Any]:
    """Add an employee or update their name/branch/active flag: the one way any path writes one.

    ``actor`` must be allowed both the new branch and, for someone already on the roster,
    the branch they are in now: moving someone out of a branch is a change to that branch.
    """
    employee, branch, name = (str(v or "").strip() for v in (employee, branch, name))
    if not employee:
        raise RosterError("id: give the employee an id (e.g. e17)")
    _check_employee(employee)
    if not branch:
        raise RosterError("branch: choose the employee's branch")
    _check_branch("branch", branch)
    if len(name) > MAX_NAME:
        raise RosterError("name: keep it under %(n)s characters", n=MAX_NAME)
    with db.atomic():
        _own(actor, branch)
        existing = _find_employee(db, employee)
        if existing is not None and actor is not None and existing["branch"] not in actor:
            raise NotYours("id: '%(value)s' is taken by an employee you cannot change; choose another", value=employee)
        db.execute(
            "INSERT INTO employees (id, name, branch, active) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
            "SET name = excluded.name, branch = excluded.branch, active = excluded.active",
            [employee, name, branch, int(active)],
        )
    return get_employee(db, employee)


def _find_employee(db: Database, employee: str) -> dict[str, Any] | None:
    row = db.execute("SELECT id, name, branch, active FROM employees WHERE id = ?", [employee]).fetchone()
    return None if row is None else {"id": row[0], "name": row[1], "branch": row[2], "active": bool(row[3])}


def get_employee(db: Database, employee: str) -> dict[str, Any]:
    found = _find_employee(db, employee)
    if found is None:
        raise RosterError(
            "employee %(value)r is not on the roster; add them with `otklik roster add-employee`", value=employee
        )
    return found


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
    *,
    actor: Actor,
) -> Shift:
    """Add a shift and re-attribute the presses it covers: the one way any path adds one."""
    branch = str(branch or "").strip()
    if not branch:
        raise RosterError("branch: choose the shift's branch")
    _check_branch("branch", branch)
    with db.atomic():
        _own(actor, branch)
        new = _checked(db, Shift(0, str(employee or "").strip(), branch, str(kiosk or "").strip(), "", "", ""),
                       None, start=start, end=end, note=note)  # fmt: skip
        cursor = db.execute(
            'INSERT INTO shifts (employee, branch, kiosk, start, "end", note) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
            [new.employee, branch, new.kiosk, new.start, new.end, new.note],
        )
        shift_id = cursor.fetchone()[0]
        aggregates.reattribute(db, branch, new.kiosk, new.start, new.end)
        return get_shift(db, shift_id)


def get_shift(db: Database, shift_id: int) -> Shift:
    row = None
    if isinstance(shift_id, int) and 0 < shift_id < 2**63:
        row = db.execute(
            'SELECT id, employee, branch, kiosk, start, "end", note FROM shifts WHERE id = ?', [shift_id]
        ).fetchone()
    if row is None:
        raise RosterError("shift %(id)s does not exist", id=shift_id)
    return Shift(*row)


def own_shift(db: Database, shift_id: int, actor: Actor) -> Shift:
    """The shift if the actor may see and change it; another branch's answers as if it did not exist."""
    try:
        found = get_shift(db, shift_id)
        _own(actor, found.branch)
    except RosterError:
        raise NotYours("shift %(id)s does not exist", id=shift_id) from None
    return found


SHIFT_CHANGES = ("employee", "kiosk", "start", "end", "note")


def update_shift(db: Database, shift_id: int, *, actor: Actor, **changes: Any) -> Shift:
    """Correct a shift (employee, kiosk, start, end, note) after the fact; presses follow.

    A change left out or None keeps its value; ``branch`` may be given but not changed.
    """
    given = {k: v for k, v in changes.items() if v is not None}
    with db.atomic():
        old = own_shift(db, shift_id, actor)
        if given.pop("branch", old.branch) != old.branch:
            raise RosterError("branch: a shift stays in its branch; delete it and add a new one there")
        for name in given:
            if name not in SHIFT_CHANGES:
                raise RosterError(
                    "%(name)r is not a shift field that can change (%(fields)s)",
                    name=name,
                    fields=", ".join(SHIFT_CHANGES),
                )
        changed = Shift(
            **{**old.__dict__, **{k: str(v).strip() for k, v in given.items() if k in ("employee", "kiosk")}}
        )
        new = _checked(db, changed, old, start=given.get("start", old.start), end=given.get("end", old.end),
                       note=given.get("note", old.note))  # fmt: skip
        db.execute(
            'UPDATE shifts SET employee = ?, kiosk = ?, start = ?, "end" = ?, note = ? WHERE id = ?',
            [new.employee, new.kiosk, new.start, new.end, new.note, old.id],
        )
        _reattribute_spans(db, old, new)
    return new


def remove_shift(db: Database, shift_id: int, *, actor: Actor) -> Shift:
    with db.atomic():
        old = own_shift(db, shift_id, actor)
        db.execute("DELETE FROM shifts WHERE id = ?", [old.id])
        aggregates.reattribute(db, old.branch, old.kiosk, old.start, old.end)
    return old


def _checked(db: Database, new: Shift, old: Shift | None, *, start: Any, end: Any, note: Any) -> Shift:
    """``new`` with its times in UTC, or RosterError naming the first bad field: the rules every path shares.

    Employee and kiosk are checked against the roster and the kiosk registry only when they
    change: a shift recorded before someone moved branch must still be correctable.
    """
    if old is None or new.employee != old.employee:
        _check_shift_employee(db, new.branch, new.employee)
    if new.kiosk and (old is None or new.kiosk != old.kiosk):
        _check_branch("kiosk", new.kiosk)
        known = branches.known_kiosks(db, new.branch)
        if new.kiosk not in known:
            raise RosterError(
                "kiosk: '%(value)s' is not a kiosk of %(branch)s (known: %(known)s); leave it empty for all of them",
                value=new.kiosk, branch=new.branch, known=", ".join(known) or "-",
            )  # fmt: skip
    first = _moment(db, new.branch, start, "start")
    last = _moment(db, new.branch, end, "end")
    if last <= first:
        raise RosterError("end: the shift must end after it starts")
    if last - first > timedelta(hours=MAX_SHIFT_HOURS):
        raise RosterError("end: a shift cannot be longer than %(hours)s hours", hours=MAX_SHIFT_HOURS)
    if not isinstance(note, str):
        raise RosterError("%(field)s: must be text", field="note")
    if len(note) > MAX_NOTE:
        raise RosterError("note: keep it under %(n)s characters", n=MAX_NOTE)
    return Shift(new.id, new.employee, new.branch, new.kiosk, format_ts(first), format_ts(last), note.strip())


def _check_shift_employee(db: Database, branch: str, employee: str) -> None:
    # A typo here would not fail later: the shift would silently credit presses to an id nobody has.
    # Someone unknown and someone of another branch get the same answer: which branch they are in is not
    # the actor's to learn.
    if not employee:
        raise RosterError("employee: choose an employee")
    found = _find_employee(db, employee) if EMPLOYEE_RE.match(employee) else None
    if found is None or found["branch"] != branch:
        raise RosterError("employee: '%(value)s' is not on the roster of %(branch)s", value=employee, branch=branch)


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


def import_csv(db: Database, handle: IO[str], *, actor: Actor) -> dict[str, int]:
    """Import employees (columns id,name,branch[,active]) or shifts (employee,branch,kiosk,start,end[,note]).

    The header decides which.  Each row goes through ``add_employee`` / ``add_shift``, so the
    actor's branches and the field rules are the form's and the API's.  All rows or none: a bad
    row raises RosterError naming its line.
    """
    reader = csv.DictReader(handle)
    header = {h.strip().lower() for h in reader.fieldnames or []}
    if set(SHIFT_COLUMNS) <= header:
        kind = "shifts"
    elif set(EMPLOYEE_COLUMNS) <= header:
        kind = "employees"
    else:
        raise RosterError(
            "CSV header %(header)s is neither employees (%(employees)s) nor shifts (%(shifts)s)",
            header=sorted(header), employees=", ".join(EMPLOYEE_COLUMNS), shifts=", ".join(SHIFT_COLUMNS),
        )  # fmt: skip
    count = 0
    with db.atomic():
        for raw in reader:
            line = reader.line_num
            error = _import_row(db, kind, raw, actor)
            if error is not None:
                error.line = line
                error.args = (f"line {line}: {error}",)
                raise error
            count += 1
    return {kind: count}


def _import_row(db: Database, kind: str, raw: dict[str | None, Any], actor: Actor) -> RosterError | None:
    if None in raw:
        # DictReader puts the cells beyond the header under None: a shifted column, not data to guess at.
        return RosterError("the row has %(n)s more fields than the header", n=len(raw[None]))
    row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
    try:
        if kind == "employees":
            active = row.get("active", "1").lower() not in ("0", "false", "no")
            add_employee(db, row["id"], row["branch"], row.get("name", ""), active, actor=actor)
        else:
            add_shift(db, row["employee"], row["branch"], row["start"], row["end"], row.get("kiosk", ""),
                      row.get("note", ""), actor=actor)  # fmt: skip
    except RosterError as err:
        return err
    return None
