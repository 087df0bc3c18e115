"""What the dashboard changes: alert actions and the roster, each checked before it is stored.

The form, the JSON API and the CSV import all come through here. Who may change
a roster row and the rules of its fields are hub.roster's (the CLI shares them);
this module checks the shape of what a browser or client sent, and turns
hub.roster's refusals into the dashboard's (translated) answers.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, TypeVar

from flask_babel import gettext as _

from dashboard import access, figures, filters
from dashboard.accounts import User
from dashboard.errors import InputError, NotFound
from hub import alerts as hub_alerts
from hub import roster as hub_roster
from hub.store import Database

T = TypeVar("T")
SHIFT_FIELDS = ("employee", "branch", "kiosk", "start", "end", "note")
MAX_NOTE = 2000
MAX_CSV_BYTES = 2_000_000


def alert_action(db: Database, user: User, alert_id: int, action: str, note: str) -> dict[str, Any]:
    """Acknowledge or resolve one of the user's branches' alerts (resolving says how)."""
    access.scores(user)
    if action not in ("ack", "resolve"):
        raise InputError(_("action: '%(value)s' is not ack or resolve", value=action))
    access.alert(db, user, filters.row_id(alert_id, "alert_id"))
    if not isinstance(note, str):
        raise InputError(_("%(field)s: must be text", field="note"))
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InputError(_("note: keep it under %(n)s characters", n=MAX_NOTE))
    if action == "resolve" and not note:
        raise InputError(_("note: say how the alert was resolved"))
    try:
        if action == "ack":
            result = hub_alerts.acknowledge(db, alert_id, who=user.username, note=note)
        else:
            result = hub_alerts.resolve(db, alert_id, who=user.username, note=note)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return result if isinstance(result, dict) else {"id": alert_id, "action": action}


def _roster_write(change: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one of hub.roster's writes; its refusals become the dashboard's answers, translated."""
    try:
        return change(*args, **kwargs)
    except hub_roster.NotYours as exc:
        raise NotFound(_roster_message(exc)) from None
    except hub_roster.RosterError as exc:
        raise InputError(_roster_message(exc)) from None


def _roster_message(exc: hub_roster.RosterError) -> str:
    reason = _(exc.template, **exc.params)
    return reason if exc.line is None else _("line %(line)s: %(reason)s", line=exc.line, reason=reason)


def _text_fields(form: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if form.get(name) is not None and not isinstance(form[name], str):
            raise InputError(_("%(field)s: must be text", field=name))


def editable_shift(db: Database, user: User, shift_id: int) -> dict[str, Any]:
    """The shift the form is to change; 404 if unknown or of a branch the user may not change."""
    actor = access.roster_actor(user)
    return figures.shift_row(db, _roster_write(hub_roster.own_shift, db, shift_id, actor))


def save_shift(db: Database, user: User, form: dict[str, Any], shift_id: int | None = None) -> dict[str, Any]:
    """Add a shift, or change shift ``shift_id`` (a field left out of a change keeps its value)."""
    actor = access.roster_actor(user)
    _text_fields(form, SHIFT_FIELDS)
    given = {k: form[k] for k in SHIFT_FIELDS if form.get(k) is not None}
    for bound in ("start", "end"):  # a Persian page's Solar Hijri text field (i18n.datetime_field)
        if given.get(bound):
            given[bound] = filters.local_minute(given[bound], bound)
    if shift_id is None:
        fields = {k: "" for k in SHIFT_FIELDS} | given
        stored = _roster_write(hub_roster.add_shift, db, **fields, actor=actor)
    else:
        filters.row_id(shift_id, "shift_id")
        stored = _roster_write(hub_roster.update_shift, db, shift_id, **given, actor=actor)
    return figures.shift_row(db, stored)


def delete_shift(db: Database, user: User, shift_id: int) -> dict[str, Any]:
    """Delete a shift; the presses it covered go back to whoever else was on shift, or nobody."""
    filters.row_id(shift_id, "shift_id")
    return figures.shift_row(db, _roster_write(hub_roster.remove_shift, db, shift_id, actor=access.roster_actor(user)))


def save_employee(db: Database, user: User, form: dict[str, Any]) -> dict[str, Any]:
    actor = access.roster_actor(user)
    _text_fields(form, ("id", "name", "branch"))
    active = str(form.get("active", "1")).lower() not in ("0", "false", "no", "off", "")
    return _roster_write(
        hub_roster.add_employee, db, form.get("id", ""), form.get("branch", ""), form.get("name", ""), active,
        actor=actor,
    )  # fmt: skip


def import_roster(db: Database, user: User, data: bytes | None) -> int:
    """Employees and shifts from a CSV file (None: no file chosen), all rows or none; the number of rows stored."""
    actor = access.roster_actor(user)
    if data is None:
        raise InputError(_("file: choose a CSV file to import"))
    if len(data) > MAX_CSV_BYTES:
        raise InputError(_("file: the CSV is larger than 2 MB"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(_("file: the CSV is not UTF-8 text")) from None
    try:
        counts = hub_roster.import_csv(db, io.StringIO(text, newline=""), actor=actor)
    except hub_roster.RosterError as exc:
        # The whole file is refused, whichever row and why (another branch's too): a 400 with the line and reason.
        raise InputError(_roster_message(exc)) from None
    return sum(counts.values())
