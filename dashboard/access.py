"""Who may see what: the dashboard's one permission layer.

Every route (pages, JSON API, CSV export, the live stream) asks here once,
before it reads anything, and passes on only the branches it was given; the
reads in ``dashboard.figures`` take branch names and check nothing. A refusal
is :class:`~dashboard.errors.Forbidden` (403: a technician asking for figures)
or :class:`~dashboard.errors.NotFound` (404, worded as for something that does
not exist, so another branch's names and ids cannot be told from unknown ones).
Who may *change* the roster is hub.roster's rule; :func:`roster_actor` says for whom.
"""

from __future__ import annotations

from flask_babel import gettext as _

from dashboard import fleet
from dashboard.accounts import User
from dashboard.errors import Forbidden, InputError, NotFound
from hub.store import Database


def visible_branches(db: Database, user: User) -> list[str]:
    """The branches the user looks after: a manager's own, everyone else's all of them."""
    if user.role == "manager":
        return list(user.branches)
    return fleet.all_branches(db)


def scores(user: User) -> None:
    """Feedback figures are for admins and managers; technicians see the fleet only."""
    if not user.sees_scores:
        raise Forbidden()


def branch(user: User, name: str | None) -> str:
    """``name`` if the user may read its figures."""
    scores(user)
    if not name:
        raise InputError(_("branch: choose a branch"))
    if not user.can_see_branch(name):
        raise NotFound(_("branch '%(value)s' not found", value=name))
    return name


def score_branches(db: Database, user: User, name: str | None = None) -> list[str]:
    """The branches whose figures to read: ``name`` alone if given (and allowed), else all the user's."""
    if name:
        return [branch(user, name)]
    scores(user)
    return visible_branches(db, user)


def fleet_branches(user: User, name: str | None = None) -> list[str] | None:
    """The branches whose kiosks to list (None: every kiosk, for admins and technicians)."""
    if name:
        if user.role == "manager" and name not in user.branches:
            raise NotFound(_("branch '%(value)s' not found", value=name))
        return [name]
    return list(user.branches) if user.role == "manager" else None


def roster_branches(user: User) -> list[str] | None:
    """The branches whose roster to list (None: the whole roster, for admins)."""
    scores(user)
    return list(user.branches) if user.role == "manager" else None


def roster_actor(user: User) -> frozenset[str] | None:
    """The branches whose roster the user may change (None: all of them), as hub.roster's writes take it."""
    scores(user)
    return None if user.is_admin else frozenset(user.branches)


def alert(db: Database, user: User, alert_id: int) -> int:
    """``alert_id`` if it exists and is of one of the user's branches."""
    scores(user)
    row = db.execute("SELECT branch FROM alerts WHERE id = ?", [alert_id]).fetchone() if db["alerts"].exists() else None
    if row is None or not user.can_see_branch(row[0]):
        raise NotFound(f"alert {alert_id} does not exist")
    return alert_id
