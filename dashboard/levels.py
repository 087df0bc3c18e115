"""Good / watch / bad: how the dashboard bands a satisfaction index (0..100), for pages and their scripts.

One definition: templates ask ``index | level`` for a card's class (a live
update brings the server's new class with it), and a script that draws levels
itself reads the same limits from the page's data attributes (``level_attrs``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from markupsafe import Markup

from hub.branches import BranchSettings

GOOD_FROM = 70.0  # two in three shoppers pressing a happy button or better
# Below the alert rule's default ("today's index below 40"): the level at which someone is paged.
BAD_BELOW = float(BranchSettings.day_index_below or 40.0)


def index_level(index: Any) -> str:
    """``good``, ``watch``, ``bad``, or ``none`` when there is no index yet."""
    if index is None:
        return "none"
    value = float(index)
    if value >= GOOD_FROM:
        return "good"
    return "bad" if value < BAD_BELOW else "watch"


def level_attrs() -> Markup:
    return Markup(f'data-good-from="{GOOD_FROM:g}" data-bad-below="{BAD_BELOW:g}"')


def init_app(app: Flask) -> None:
    app.jinja_env.filters["level"] = index_level
    app.jinja_env.globals["level_attrs"] = level_attrs
