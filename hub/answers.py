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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    """Presses of ``branch`` answered in [since, until) per reason: each press once, by its latest reason."""
    rows = db.execute(
        f"WITH latest AS ({_LATEST_REASON}) SELECT reason, count(*) FROM latest WHERE ts < :hi GROUP BY reason",
        {"branch": branch, "lo": since, "hi": until},
    ).fetchall()
    return dict(rows)


# --- reads for the dashboard and the alerts ---------------------------------------------

UNHAPPY_SCORES = (1, 2)
# A press's reason is that of its latest answer naming one (a later comment-only answer keeps it).
_LATEST_REASON = """
    SELECT rating_id, reason, ts FROM (
        SELECT rating_id, reason, ts, row_number() OVER (PARTITION BY rating_id ORDER BY ts DESC, id DESC) AS n
        FROM answers WHERE branch = :branch AND reason IS NOT NULL AND ts >= :lo
    ) ranked WHERE n = 1
"""


def reason_labels(db: Database, branch: str) -> dict[str, dict[str, str]]:
    """Reason id -> its text per language, as the branch's kiosks ask it now (hub.config_push's settings).

    A kiosk's settings hold only their latest version: an option whose text changed reads as it
    does now, and one no kiosk asks any more is missing here (the caller shows its id). Where two
    kiosks word one id differently, the kiosk changed most recently wins.
    """
    if not db["kiosk_settings"].exists():
        return {}
    labels: dict[str, dict[str, str]] = {}
    rows = db.execute(
        "SELECT settings FROM kiosk_settings WHERE branch = ? ORDER BY updated_at, kiosk", [branch]
    ).fetchall()
    for (text,) in rows:
        for question in json.loads(text or "{}").get("followup") or []:
            for option in question.get("options") or []:
                labels[option["id"]] = dict(option["text"])
    return labels


def unhappy_reasons(db: Database, branch: str, lo: str, hi: str) -> list[dict[str, Any]]:
    """The unflagged unhappy presses (scores 1-2) of ``branch`` made in [lo, hi), each with its reason.

    One row per press: ``id``, ``kiosk``, ``ts``, ``score``, ``employee`` (the one the event names;
    shift attribution is the caller's), ``reason`` (None: unanswered, or answered with a comment only).
    """
    rows = db.execute(
        f"""
        WITH latest AS ({_LATEST_REASON})
        SELECT e.id, e.kiosk, e.ts, e.score, e.employee, latest.reason
        FROM events e LEFT JOIN latest ON latest.rating_id = e.id
        WHERE e.branch = :branch AND e.ts >= :lo AND e.ts < :hi AND e.flags = ''
          AND e.score IN ({", ".join(map(str, UNHAPPY_SCORES))})
        ORDER BY e.ts
        """,
        {"branch": branch, "lo": lo, "hi": hi},
    ).fetchall()
    return [dict(zip(("id", "kiosk", "ts", "score", "employee", "reason"), r, strict=True)) for r in rows]


def top_reason(db: Database, branch: str, kiosks: Sequence[str], lo: str, hi: str) -> tuple[str, int, int] | None:
    """(reason, its presses, answered presses) behind the unhappy presses of ``kiosks`` in (lo, hi]; None
    when none of them was answered with a reason, or when two reasons tie for the most."""
    marks = {f"k{i}": kiosk for i, kiosk in enumerate(kiosks)}
    rows = db.execute(
        f"""
        WITH latest AS ({_LATEST_REASON})
        SELECT latest.reason, count(*) FROM events e JOIN latest ON latest.rating_id = e.id
        WHERE e.branch = :branch AND e.kiosk IN ({", ".join(":" + k for k in marks)})
          AND e.ts > :lo AND e.ts <= :hi AND e.flags = ''
          AND e.score IN ({", ".join(map(str, UNHAPPY_SCORES))})
        GROUP BY latest.reason ORDER BY count(*) DESC, latest.reason
        """,
        {"branch": branch, "lo": lo, "hi": hi, **marks},
    ).fetchall()
    if not rows or (len(rows) > 1 and rows[1][1] == rows[0][1]):
        return None
    return rows[0][0], rows[0][1], sum(n for _, n in rows)


@dataclass(frozen=True)
class CommentFilter:
    """What the comments list is narrowed to; every field already checked (dashboard.filters)."""

    branches: tuple[str, ...]
    bounds: Mapping[str, tuple[str, str]]  # branch -> its local period as UTC bounds [lo, hi)
    score: int | None = None
    reason: str | None = None
    search: str = ""
    hidden: bool = False  # include hidden comments (an admin's choice)


def _comment_where(f: CommentFilter) -> tuple[str, list[Any]]:
    if not f.branches:
        return "0", []
    parts = [" OR ".join("(a.branch = ? AND a.ts >= ? AND a.ts < ?)" for _ in f.branches)]
    params: list[Any] = [v for b in f.branches for v in (b, *f.bounds[b])]
    parts.append("a.comment IS NOT NULL")
    if not f.hidden:
        parts.append("a.hidden_at IS NULL")
    if f.score is not None:
        parts.append("e.score = ?")
        params.append(f.score)
    if f.reason is not None:
        parts.append("a.reason = ?")
        params.append(f.reason)
    if f.search:
        # LIKE with the pattern's own wildcards escaped: a search for "100%" finds "100%", not everything.
        parts.append("a.comment LIKE ? ESCAPE '\\'")
        escaped = f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    return " AND ".join(f"({p})" for p in parts), params


_COMMENT_COLUMNS = ("id", "rating_id", "branch", "kiosk", "ts", "score", "reason", "comment", "hidden_at", "hidden_by")


def comments(db: Database, f: CommentFilter, *, limit: int, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, the page of them newest first). ``score`` is None while the press has not arrived."""
    where, params = _comment_where(f)
    join = "FROM answers a LEFT JOIN events e ON e.id = a.rating_id"
    total = db.execute(f"SELECT count(*) {join} WHERE {where}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT a.id, a.rating_id, a.branch, a.kiosk, a.ts, e.score, a.reason, a.comment, a.hidden_at, a.hidden_by "
        f"{join} WHERE {where} ORDER BY a.ts DESC, a.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return total, [dict(zip(_COMMENT_COLUMNS, r, strict=True)) for r in rows]
