"""Any table a page shows, as a CSV file: the same rows, filters and permissions as the page."""

from __future__ import annotations

import json
from typing import Any

from babel.numbers import get_decimal_symbol
from flask import Response
from flask_babel import get_locale
from flask_babel import gettext as _

from dashboard import access, figures, fleet, reasons
from dashboard.accounts import User
from dashboard.errors import InputError
from hub import alert_text
from hub.exports import CsvDialect, csv_text
from hub.store import Database

EXPORTABLE = (
    "overview", "fleet", "employees", "series", "heatmap", "flagged", "alerts", "roster", "shifts", "reasons",
    "comments",
)  # fmt: skip


def table(db: Database, user: User, view: str, args: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of ``view``, flat (one CSV line each)."""
    if view not in EXPORTABLE:
        raise InputError(_("view: '%(value)s' is not one of %(list)s", value=view, list=", ".join(EXPORTABLE)))
    if view == "fleet":
        return fleet.fleet(db, access.fleet_branches(user, args.get("branch") or None))
    if view == "roster":
        return figures.roster(db, access.roster_branches(user))
    if view in ("series", "heatmap", "flagged"):
        branch = access.branch(user, args.get("branch"))
        if view == "series":
            return [figures.flat(r) for r in figures.series(db, branch, args)]
        if view == "heatmap":
            return [figures.flat(r) for r in figures.heatmap(db, branch, args)]
        return figures.flagged(db, branch, args)
    if view in ("reasons", "comments"):
        return _answers(db, user, view, args)
    names = access.score_branches(db, user, args.get("branch") if view in ("employees", "shifts") else None)
    if view == "employees":
        return figures.ranking(db, names, args)
    if view == "alerts":
        return [_alert_line(a) for a in figures.alerts(db, names, args.get("state", "all"))]
    if view == "shifts":
        return figures.shifts(db, names, args)
    return [
        {
            "branch": r["branch"],
            "date": r.get("date"),
            **{f"today_{k}": v for k, v in figures.flat(r["today"]).items()},
            **{f"week_{k}": v for k, v in figures.flat(r["last_7_days"]).items()},
            "trend": r.get("trend"),
            "response_rate": r.get("response_rate"),
            "open_alerts": r.get("open_alerts"),
        }
        for r in figures.overview(db, names)
    ]


def _answers(db: Database, user: User, view: str, args: dict[str, str]) -> list[dict[str, Any]]:
    """The reasons table flat, or every comment matching the filters (not one page of them)."""
    from dashboard import reasons_views

    if view == "reasons":
        return reasons.reason_rows(reasons_views.reason_figure(db, user, args))
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        found = reasons_views.comment_page(db, user, {**args, "page": str(page), "limit": "500"})
        rows += found["rows"]
        if page >= found["pages"]:
            return rows
        page += 1


def _alert_line(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as one CSV line: its text as the page shows it, nested fields as JSON (not Python's repr)."""
    line = {k: json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, dict | list) else v
            for k, v in alert.items()}  # fmt: skip
    line["text"] = alert_text.render(alert, str(get_locale() or "en"))
    return line


def csv_response(rows: list[dict[str, Any]], filename: str, excel: bool = False) -> Response:
    """A CSV download; ``excel``: the variant Excel on Windows opens right (hub.exports.CsvDialect)."""
    dialect = CsvDialect.excel(get_decimal_symbol(str(get_locale() or "en"))) if excel else CsvDialect()
    return Response(
        csv_text(rows, dialect),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
