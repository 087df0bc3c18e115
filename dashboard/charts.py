"""What the dashboard's charts say and show, prepared on the server for static/charts.js.

``chart_text`` is every word a chart draws (legends, axis titles, the heat map's key), in the
user's language: the script has no catalog of its own (it reaches the page with the other
script words, dashboard/i18n.py ``script_words``). ``funnel_data`` turns the employees of
a ranking into a funnel plot's points and limits (the statistics are hub.funnel's), and
``sparkline`` draws a card's small trend line as SVG points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask
from flask_babel import gettext as _

from dashboard import levels
from hub import funnel


def chart_text() -> dict[str, Any]:
    return {
        "index": _("Index"),
        "indexAxis": _("Index (0–100)"),
        "responses": _("Responses"),
        "n": _("n = %(n)s"),
        "buttons": [_("Very unhappy"), _("Unhappy"), _("Happy"), _("Very happy")],
        "grain": {"day": _("Day"), "week": _("Week"), "month": _("Month")},
        "funnel": {
            "x": _("Responses (n)"),
            "y": _("Positive share, %"),
            "mean": _("Mean of everyone shown"),
            "limit95": _("Limits: 95%"),
            "limit998": _("Limits: 99.8%"),
            "above": _("Above the outer limits (99.8%)"),
            "below": _("Below the outer limits (99.8%)"),
            "within": _("Within the limits"),
        },
        "reasons": {
            "x": _("Unhappy presses, n"),
            "y": _("Reason"),
            "now": _("This period"),
            "before": _("Period before"),
        },
        "heat": {
            "caption": _("Responses by hour and weekday, in the branch's local time"),
            "colour": _("Colour: index"),
            "number": _("Number in a cell: responses"),
            "cell": _("%(day)s %(hour)s:00 — index %(index)s, %(n)s responses"),
            "allHours": _("Show all 24 hours (presses only from %(from)s:00 to %(to)s:00)"),
        },
    }


def funnel_data(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Points (one per named employee with responses) and the 95 % / 99.8 % limits around their mean.

    ``rows`` are flat ranking rows (``n3``, ``n4``, ``responses``), ranked or not: the funnel
    is the place where people below the ranking minimum are shown fairly.
    """
    people = [r for r in rows if r.get("employee") and r.get("responses")]
    shape = funnel.funnel((r.get("n3", 0) + r.get("n4", 0), r["responses"]) for r in people)
    points = []
    for r in people:
        share = (r.get("n3", 0) + r.get("n4", 0)) / r["responses"]
        where = funnel.position(share, r["responses"], shape.mean) if shape.mean is not None else "within"
        points.append({"employee": r["employee"], "name": r.get("name") or "", "n": r["responses"],
                       "share": round(share, 4), "position": where})  # fmt: skip
    return {**shape.as_json(), "points": points}


SPARK_WIDTH, SPARK_HEIGHT = 120, 28  # the SVG's viewBox in _overview_cards.html


def sparkline(values: Sequence[float | None], mark: float) -> dict[str, str] | None:
    """A card's sparkline: SVG points for indices per day (None: a day without responses, skipped)
    and the height of ``mark`` (the "good" level) as a reference line.

    The scale spans the values and the mark with a little room, not 0..100: a branch moving
    between 62 and 71 would be a flat line on 0..100. The reference line keeps it honest.
    """
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return None
    low = max(0.0, min(mark, *(v for _, v in known)) - 5)
    high = min(100.0, max(mark, *(v for _, v in known)) + 5)

    def y(value: float) -> str:
        return f"{SPARK_HEIGHT - 2 - (value - low) / (high - low) * (SPARK_HEIGHT - 4):.1f}"

    step = SPARK_WIDTH / max(1, len(values) - 1)
    return {"points": " ".join(f"{i * step:.1f},{y(v)}" for i, v in known), "mark": y(mark)}


def init_app(app: Flask) -> None:
    app.jinja_env.filters["sparkline"] = lambda values: sparkline(values, levels.GOOD_FROM)
