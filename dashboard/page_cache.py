"""Whole pages rendered once per reader and view, then served again while their parts are unchanged.

A page is its live part (a fragment shared by everyone who may see it, dashboard.views'
``shared_fragment``) inside the page's frame: the header with its navigation, the reader's
name, the language and calendar forms. With the parts cached, rendering that frame was
most of a page's time (3-6 ms of 5-9; the benchmark's 20 clients queue behind it on two
cores). The frame depends only on which databases, who reads (id, name, role, branches), in which language,
calendar and zone, at which address, and on the page's parts: that is the key. A part
that changed is another value, so the page is rendered again with it; nothing here
decides freshness (dashboard.cache does, for the parts).

What differs per request is left out and filled in on the way out: the session's CSRF
token (:data:`CSRF_SLOT`) and the moment the page's figures were last known current
(``g.figures_as_of``, the live cue's "as of": it moves with every request while nothing is
committed, since the figures are then current at each). A page with a flashed message to show is never cached (the
message is shown once). The view still runs for every request, so every access check does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import current_app, g, render_template, request, session
from flask_babel import get_locale, get_timezone
from flask_wtf.csrf import generate_csrf

from dashboard import cache
from dashboard.i18n import select_calendar

# Where a form takes this session's CSRF token: rendered once, the token put in per request.
CSRF_SLOT = "\x00csrf-token\x00"
_AS_OF_SLOT = "\x00figures-as-of\x00"
MAX_PAGES = 128
_lock = threading.Lock()
_pages: OrderedDict[tuple, tuple[tuple, str]] = OrderedDict()


def with_csrf(markup: str) -> str:
    """``markup`` with this session's CSRF token where it was left out."""
    return markup.replace(CSRF_SLOT, generate_csrf()) if CSRF_SLOT in markup else markup


def render_page(template: str, **context: Any) -> str:
    """``render_template(template, **context)``, the frame rendered once per reader and view.

    ``context``'s values must be hashable and compare by what they show (markup, strings,
    tuples): they are part of the key.
    """
    if not cache.enabled() or session.get("_flashes"):
        return with_csrf(render_template(template, **context))
    as_of = g.get("figures_as_of")
    values = tuple(sorted(context.items()))
    user = g.user
    locale = str(get_locale() or "en")
    key = (
        # Whose data: one process may serve several apps (the tests do), each its own databases.
        current_app.config["OTKLIK_DB"],
        current_app.config["OTKLIK_AUTH_DB"],
        template,
        request.path,
        request.query_string,
        (user.id, user.username, user.role, tuple(user.branches)),
        locale,
        select_calendar(locale),
        str(get_timezone()),
        g.get("page_zone"),
        as_of is None,
        tuple((name, hash(value)) for name, value in values),
    )
    with _lock:
        found = _pages.get(key)
        if found is not None and found[0] == values:
            _pages.move_to_end(key)
            page = found[1]
        else:
            page = None
    if page is None:
        if as_of is not None:
            g.figures_as_of = _AS_OF_SLOT
        try:
            page = render_template(template, csrf_token=lambda: CSRF_SLOT, **context)
        finally:
            if as_of is not None:
                g.figures_as_of = as_of
        with _lock:
            _pages[key] = (values, page)
            _pages.move_to_end(key)
            while len(_pages) > MAX_PAGES:
                _pages.popitem(last=False)
    # An ISO moment (digits, "-", ":", ".", "T", "+"): nothing to escape.
    return with_csrf(page.replace(_AS_OF_SLOT, as_of) if as_of is not None else page)
