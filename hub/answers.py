"""Answers to the follow-up: stored once, comments masked before they are stored, hidden by a manager.

An answer is a message of its own (``otklik.protocol.Answer``), never a column of its press:
it is de-duplicated on its own id, kept even when its rating has not arrived yet (the two
travel separately and may be re-sent in any order), and counted per rating, so an answer
can never add a press. A kiosk may send more than one answer for a press (the reason the
moment it is tapped, then the reason with the comment): the latest by ``ts`` is the press's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import datetime

from hub.store import Database
from otklik import protocol, times
from otklik.errors import OtklikError
from otklik.protocol import Answer

# Masks are plain tokens in no language, so a page can show them as they are or translate them.
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
_EMAIL_RE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# Any script's digits (\d is Unicode here: Persian ۰-۹ and Arabic-Indic ٠-٩ too), with the
# separators people type between them. Seven digits or more is a phone number as far as
# privacy goes: a local number is seven, and a long order number masked costs less than a
# shopper's or an employee's number shown on a page.
_PHONE_RE = re.compile(r"\+?\d[\d\s().\-‐-―]{5,}\d")
PHONE_MIN_DIGITS = 7


class AnswerNotFound(OtklikError, LookupError):
    """No answer by that id in the branches the caller may see (the same for both, so ids are not probed)."""


def mask(comment: str) -> str:
    """The comment with e-mail addresses and phone numbers replaced, cut to the protocol's limit."""
    text = _EMAIL_RE.sub(EMAIL_MASK, comment)
    text = _PHONE_RE.sub(lambda m: PHONE_MASK if _digits(m.group()) >= PHONE_MIN_DIGITS else m.group(), text)
    return text[: protocol.MAX_COMMENT_CHARS]


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def store(db: Database, answer: Answer, received: str) -> tuple[bool, str | None]:
    """Insert one validated answer inside the caller's transaction: (stored now, why it conflicts).

    ``(False, None)``: the same answer is already stored (a re-send; confirm it again).
    ``(False, reason)``: another answer holds that id; the first one stands.
    """
    comment = mask(answer.comment) if answer.comment else None
    row = {
        "id": answer.id,
        "rating_id": answer.rating,
        "branch": answer.branch,
        "kiosk": answer.kiosk,
        "ts": times.format_ts(answer.ts),
        "reason": answer.reason,
        "comment": comment,
        "received_at": received,
        "extra": json.dumps(answer.extra, sort_keys=True) if answer.extra else None,
    }
    cursor = db.execute(
        """
        INSERT INTO answers (id, rating_id, branch, kiosk, ts, reason, comment, received_at, extra)
        VALUES (:id, :rating_id, :branch, :kiosk, :ts, :reason, :comment, :received_at, :extra)
        ON CONFLICT (id) DO NOTHING
        """,
        row,
    )
    if cursor.rowcount == 1:
        return True, None
    stored = db.execute(
        "SELECT rating_id, branch, kiosk, reason, comment FROM answers WHERE id = ?", [answer.id]
    ).fetchone()
    if stored != (answer.rating, answer.branch, answer.kiosk, answer.reason, comment):
        return False, f"duplicate answer id {answer.id} with content different from the stored answer"
    return False, None


def hide(db: Database, answer_id: str, *, by: str, at: datetime, branches: Collection[str] | None) -> None:
    """Mark a comment hidden (kept, with who and when). ``branches``: those ``by`` manages (None: all).

    Hiding an already hidden answer keeps the first who and when.
    """
    row = db.execute("SELECT branch FROM answers WHERE id = ?", [answer_id]).fetchone()
    if row is None or (branches is not None and row[0] not in branches):
        raise AnswerNotFound(answer_id)
    with db.conn:
        db.execute(
            "UPDATE answers SET hidden_at = ?, hidden_by = ? WHERE id = ? AND hidden_at IS NULL",
            [times.format_ts(at), by, answer_id],
        )


def reason_counts(db: Database, branch: str, since: str, until: str) -> dict[str, int]:
    """Presses of ``branch`` answered in [since, until) per reason: each press once, by its latest answer."""
    rows = db.execute(
        """
        SELECT reason, count(*) FROM (
            SELECT rating_id, reason, row_number() OVER (PARTITION BY rating_id ORDER BY ts DESC, id DESC) AS n
            FROM answers WHERE branch = ? AND ts >= ? AND ts < ?
        ) latest WHERE n = 1 AND reason IS NOT NULL GROUP BY reason
        """,
        [branch, since, until],
    ).fetchall()
    return dict(rows)
