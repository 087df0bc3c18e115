"""Why shoppers were unhappy, as plain data: the reasons behind unhappy presses and the comments.

The pages, the JSON API and the CSV export read these (as ``dashboard.figures`` is read), on
the branches :mod:`dashboard.access` allowed. The answers themselves and their masking are
the hub's (``hub.answers``); the words of a reason are the follow-up settings the branch's
kiosks ask now (``hub.answers.reason_labels``), in the reader's language. A reason no kiosk
asks any more is shown by its id and marked so; one whose words changed reads as it does now.

"This week against last week" is each branch's own: the 7 local days ending on its today
(``dashboard.figures.today``) against the 7 before, or any ``from``/``to`` period against the
period of the same length before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _

from dashboard import figures, filters
from dashboard.errors import InputError
from hub import aggregates
from hub import answers as hub_answers
from hub import branches as hub_branches
from hub import roster as hub_roster
from hub.store import Database
from otklik import protocol
from otklik.times import local_keys, utc_range

GROUPS = ("branch", "kiosk", "employee", "hour")
WEEK_DAYS = 7
TOP_REASONS = 6  # the chart's reasons; the table has every one
COMMENT_DAYS = 30  # the comments' period when ?from= is not given
COMMENTS_PAGE = 25
MAX_SEARCH = 100


# --- the filters of these views (refused with the field's name, as dashboard.filters does) ---


def group_by(args: dict[str, str]) -> str:
    value = args.get("by") or "branch"
    if value not in GROUPS:
        raise InputError(_("by: '%(value)s' is not one of %(list)s", value=value, list=", ".join(GROUPS)))
    return value


def score(args: dict[str, str]) -> int | None:
    raw = args.get("score") or ""
    if not raw:
        return None
    if raw not in {str(s) for s in protocol.SCORES}:
        raise InputError(_("score: '%(value)s' is not a button 1 to 4", value=raw))
    return int(raw)


def reason(args: dict[str, str]) -> str | None:
    raw = args.get("reason") or ""
    if not raw:
        return None
    try:
        return protocol.check_id("reason", raw)
    except protocol.ProtocolError:
        raise InputError(_("reason: '%(value)s' is not a reason id", value=raw[:40])) from None


def search(args: dict[str, str]) -> str:
    text = (args.get("q") or "").strip()
    if len(text) > MAX_SEARCH:
        raise InputError(_("q: search for at most %(n)s characters", n=MAX_SEARCH))
    return text


def page(args: dict[str, str]) -> int:
    raw = args.get("page") or "1"
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100000:
        raise InputError(_("page: '%(value)s' is not a page number", value=raw[:20]))
    return int(raw)


def hidden(args: dict[str, str], is_admin: bool) -> bool:
    raw = args.get("hidden") or ""
    if raw not in ("", "0", "1"):
        raise InputError(_("hidden: use 1 to include hidden comments, or leave it out"))
    if raw == "1" and not is_admin:
        raise InputError(_("hidden: only an administrator sees hidden comments"))
    return raw == "1"


# --- reason words ----------------------------------------------------------------------


def label(labels: dict[str, dict[str, str]], reason_id: str, lang: str) -> tuple[str, bool]:
    """(the words of ``reason_id`` in ``lang``, whether a kiosk still asks it)."""
    words = labels.get(reason_id)
    if not words:
        return reason_id, False
    return words.get(lang) or words.get("en") or reason_id, True


def labels_of(db: Database, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Every reason's words across the branches; the first branch that asks it words it."""
    found: dict[str, dict[str, str]] = {}
    for name in names:
        for key, words in hub_answers.reason_labels(db, name).items():
            found.setdefault(key, words)
    return found


def reason_options(db: Database, names: Sequence[str], lang: str) -> list[tuple[str, str]]:
    """(id, words) of every reason the branches' kiosks ask, for a filter's choices."""
    labels = labels_of(db, names)
    return sorted(((key, label(labels, key, lang)[0]) for key in labels), key=lambda o: o[1])


# --- reasons behind unhappy presses ------------------------------------------------------


def weeks(args: dict[str, str], today: date) -> tuple[date, date, date]:
    """(previous start, this start, this end exclusive) of a branch: this period and the one before it."""
    start, end = filters.period(args, WEEK_DAYS, today)
    stop = end + timedelta(days=1)
    return start - (stop - start), start, stop


def reasons(db: Database, names: Sequence[str], args: dict[str, str], lang: str) -> dict[str, Any]:
    """The reasons behind the branches' unhappy presses, this period against the one before, by ``?by=``.

    ``reasons``: every reason named, most named this period first (the chart takes the first
    ``TOP_REASONS``); ``groups``: per branch, kiosk, employee or local hour, its unhappy presses,
    how many of them said why, and its reasons; ``rows``: the same flat, one line per group and
    reason (the CSV export).
    """
    by = group_by(args)
    labels = labels_of(db, names)
    people = hub_roster.employee_names(db) if by == "employee" else {}
    # group -> [unhappy now, said why now, unhappy before, said why before]; (group, reason) -> [now, before]
    totals: dict[Any, list[int]] = {}
    counts: dict[tuple[Any, str], list[int]] = {}
    overall: Counter[str] = Counter()
    before: Counter[str] = Counter()
    period: tuple[date, date, date] | None = None
    for name in names:
        zone = hub_branches.get(db, name).zone
        first, middle, stop = weeks(args, figures.today(db, name))
        period = max(period or (first, middle, stop), (first, middle, stop), key=lambda p: p[2])
        split = utc_range(zone, middle, None)[0]
        presses = hub_answers.unhappy_reasons(db, name, *utc_range(zone, first, stop))
        attributed = (
            aggregates.attribute_batch(db, [(name, p["kiosk"], p["ts"], p["employee"]) for p in presses])
            if by == "employee"
            else [("", "")] * len(presses)
        )
        for press, (employee, _source) in zip(presses, attributed, strict=True):
            now = press["ts"] >= split
            group = _group(by, name, press, employee, zone)
            total = totals.setdefault(group, [0, 0, 0, 0])
            total[0 if now else 2] += 1
            if press["reason"] is None:
                continue
            total[1 if now else 3] += 1
            counts.setdefault((group, press["reason"]), [0, 0])[0 if now else 1] += 1
            (overall if now else before)[press["reason"]] += 1

    def reason_row(key: str, n: int, previous: int) -> dict[str, Any]:
        words, asked = label(labels, key, lang)
        return {"reason": key, "label": words, "asked": asked, "n": n, "previous": previous}

    named = sorted(set(overall) | set(before), key=lambda k: (-overall[k], -before[k], k))
    groups = []
    for group, (n, said, n0, said0) in sorted(totals.items(), key=lambda t: (-t[1][0], str(t[0]))):
        mine = sorted(
            ((k, c) for (g, k), c in counts.items() if g == group), key=lambda kc: (-kc[1][0], -kc[1][1], kc[0])
        )
        groups.append({
            **_group_fields(by, group, people), "unhappy": n, "answered": said, "previous_unhappy": n0,
            "previous_answered": said0, "reasons": [reason_row(k, c[0], c[1]) for k, c in mine],
        })  # fmt: skip
    previous, start, stop = period or (date.min, date.min, date.min)
    return {
        "by": by,
        "from": start.isoformat() if period else None,
        "to": (stop - timedelta(days=1)).isoformat() if period else None,
        "previous_from": previous.isoformat() if period else None,
        "previous_to": (start - timedelta(days=1)).isoformat() if period else None,
        "days": (stop - start).days if period else WEEK_DAYS,
        "reasons": [reason_row(k, overall[k], before[k]) for k in named],
        "groups": groups,
    }


def _group(by: str, branch: str, press: dict[str, Any], employee: str, zone: Any) -> Any:
    if by == "branch":
        return branch
    if by == "kiosk":
        return (branch, press["kiosk"])
    if by == "employee":
        return (branch, employee)
    return local_keys(press["ts"], zone)[4]


def _group_fields(by: str, group: Any, people: dict[str, str]) -> dict[str, Any]:
    if by == "branch":
        return {"branch": group}
    if by == "kiosk":
        return {"branch": group[0], "kiosk": group[1]}
    if by == "employee":
        return {"branch": group[0], "employee": group[1], "name": people.get(group[1], "")}
    return {"hour": group}


def reason_rows(figure: dict[str, Any]) -> list[dict[str, Any]]:
    """The figure flat, one line per group and reason (a group nobody said why in has one line)."""
    lines = []
    for group in figure["groups"]:
        head = {k: v for k, v in group.items() if k != "reasons"}
        for row in group["reasons"] or [{"reason": None, "label": None, "asked": None, "n": 0, "previous": 0}]:
            lines.append({**head, "from": figure["from"], "to": figure["to"], **row})
    return lines


# --- comments ------------------------------------------------------------------------------


def comments(db: Database, names: Sequence[str], args: dict[str, str], lang: str, *, is_admin: bool) -> dict[str, Any]:
    """One page of the comments in the branches' period (each branch's own local days), newest first."""
    bounds = {}
    for name in names:
        start, end = filters.period(args, COMMENT_DAYS, figures.today(db, name))
        bounds[name] = utc_range(hub_branches.get(db, name).zone, start, end + timedelta(days=1))
    wanted = hub_answers.CommentFilter(
        branches=tuple(names), bounds=bounds, score=score(args), reason=reason(args), search=search(args),
        hidden=hidden(args, is_admin),
    )  # fmt: skip
    number = page(args)
    per_page = filters.limit(args, str(COMMENTS_PAGE), 500)
    total, rows = hub_answers.comments(db, wanted, limit=per_page, offset=(number - 1) * per_page)
    labels = labels_of(db, names)
    for row in rows:
        row["label"], row["asked"] = label(labels, row["reason"], lang) if row["reason"] else (None, None)
    return {"total": total, "page": number, "pages": max(1, -(-total // per_page)), "per_page": per_page, "rows": rows}
