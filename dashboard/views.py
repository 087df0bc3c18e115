"""HTML pages. Each page renders its tables on the server (readable without
JavaScript, formatted in the user's locale) and loads its charts and live
figures from the JSON API, the same one outside clients use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale, get_timezone
from flask_babel import gettext as _
from markupsafe import Markup

from dashboard import access, accounts, charts, figures, filters, fleet, writes
from dashboard.accounts import CALENDARS
from dashboard.auth import safe_next
from dashboard.cache import observe, remember
from dashboard.errors import InputError, NotFound
from dashboard.exports import csv_response, table
from dashboard.i18n import LANGUAGES, input_message, select_calendar
from dashboard.page_cache import CSRF_SLOT, render_page, with_csrf
from dashboard.store import get_db, get_store
from hub.store import Database

bp = Blueprint("views", __name__)


def shared_fragment(
    template: str,
    key: tuple,
    context: Callable[[Database], dict[str, Any]],
    *,
    max_age: float | None = None,
) -> Markup:
    """A part of a page that is the same for everyone allowed to see it, rendered once and shared.

    Rendering 50 overview cards or 600 ranking rows took longer than reading
    their figures from the cache. A fragment must hold nothing of the user's
    own (no CSRF token, no name): its key is what it shows, in which language,
    time zone and calendar; the view checks who may see it before asking for
    it. ``context(db)`` reads its figures on the connection it is given: while
    presses arrive, dashboard.cache renders it again in the background, in a
    copy of this request's context. ``key`` must hold the local dates it shows
    (figures.local_days), ``max_age`` how long it stays true by the clock alone.
    """
    locale = str(get_locale())
    # The calendar too: a Persian reader may have chosen Gregorian dates. Taken here, in the
    # request: a background render has no user to ask (dashboard.cache renders it again).
    calendar = select_calendar(locale)
    where = (template, key, locale, str(get_timezone()), calendar)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    environ = dict(request.environ)

    def render(db: Database) -> Markup:
        if has_request_context():
            return Markup(render_template(template, **context(db)))
        with app.request_context(environ), force_locale(locale):
            g.calendar = calendar
            return Markup(render_template(template, **context(db)))

    return remember(get_db(), where, render, max_age=max_age)


def _fragment(markup: Markup) -> Response:
    """A page's live part alone, for live.js to fold into the open page (never cached by the browser).

    ``X-Figures-As-Of``: when its figures were last known current (live.js says "Updated" with it);
    ``X-Figures-Stale``: they are being recomputed.
    """
    headers = {"Cache-Control": "no-store"}
    if g.get("figures_as_of"):
        headers["X-Figures-As-Of"] = g.figures_as_of
    if g.get("figures_stale"):
        # Served while being recomputed: live.js asks again shortly, or the page would keep it.
        headers["X-Figures-Stale"] = "1"
    return Response(markup, mimetype="text/html", headers=headers)


def _as_of(part: Callable[[], Markup]) -> Markup:
    """``part()``, noting on ``g`` the moment its figures were last known current (the page's live cue shows it)."""
    with observe() as seen:
        markup = part()
    g.figures_stale = g.get("figures_stale", False) or seen.stale
    if seen.as_of is not None:
        g.figures_as_of = datetime.fromtimestamp(seen.as_of, UTC).isoformat(timespec="milliseconds")
    return markup


def _overview_cards() -> Markup:
    db = get_db()
    names = tuple(access.score_branches(db, g.user))
    return _as_of(
        lambda: shared_fragment(
            "_overview_cards.html",
            (names, figures.local_days(db, names)),
            lambda conn: {"rows": figures.overview(conn, names)},
        )
    )


@bp.route("/")
def overview() -> Any:
    if not g.user.sees_scores:
        return redirect(url_for("views.fleet"))
    return render_page("overview.html", cards=_overview_cards())


@bp.route("/live/overview")
def overview_live() -> Response:
    return _fragment(_overview_cards())


# A page part that lists kiosks is out of date by the clock alone once a heartbeat grows old
# (fleet.STALE_AFTER_INTERVALS): rendered again this often even if nothing is committed.
KIOSKS_MAX_AGE_S = 5.0


def _branch_body(branch: str) -> Markup:
    access.branch(g.user, branch)
    db = get_db()
    chain = tuple(access.score_branches(db, g.user))  # the funnel's mean is theirs: part of the key
    return _as_of(
        lambda: shared_fragment(
            "_branch_body.html",
            (branch, chain, figures.local_days(db, (branch,))),
            lambda conn: {
                "branch": branch,
                "zone": figures.zone(conn, branch).key,
                "summary": figures.branch_summary(conn, branch),
                "kiosks": fleet.fleet(conn, [branch]),
                "flagged": figures.flagged(conn, branch, {}),
                **_field_context(figures.employee_field(conn, [branch], {}), figures.employee_field(conn, chain, {})),
            },
            max_age=KIOSKS_MAX_AGE_S,
        )
    )


@bp.route("/branch/<branch>")
def branch(branch: str) -> Any:
    g.page_zone = figures.zone(get_db(), access.branch(g.user, branch)).key
    return render_page("branch.html", branch=branch, body=_branch_body(branch))


@bp.route("/live/branch/<branch>")
def branch_live(branch: str) -> Response:
    return _fragment(_branch_body(branch))


@bp.route("/employees")
def employees() -> Any:
    args = request.args.to_dict()
    db = get_db()
    names = tuple(access.score_branches(db, g.user, args.get("branch")))
    minimum = filters.min_responses(args)
    # Only what the ranking depends on: any other query parameter must not make a new cache entry.
    chain = tuple(access.score_branches(db, g.user))  # the funnel's mean: the reader's whole chain
    key = (*(args.get(k, "") for k in ("branch", "from", "to")), minimum, names, chain, figures.local_days(db, chain))
    body = shared_fragment(
        "_employees_body.html",
        key,
        lambda conn: _field_context(
            figures.employee_field(conn, names, args), figures.employee_field(conn, chain, args)
        ),
    )
    # The heading's period: each branch's own ends on its own today; the latest of them names it.
    start, end = filters.period(args, figures.DEFAULT_DAYS, figures.latest_today(db, names))
    days = (end - start).days + 1
    return render_template("employees.html", table=body, args=args, min_responses=minimum, end=end, days=days)


def _field_context(field: list[dict[str, Any]], chain: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ranked table's rows, the rest below the minimum, and the funnel plot of them all
    around the mean of ``chain`` (everyone in the reader's branches; default: ``field``)."""
    return {
        "ranking": figures.ranked(field),
        "unranked": [r for r in field if r["rank"] is None],
        "funnel": charts.funnel_data(field, chain),
    }


def _chain_field(db: Any, args: dict[str, str]) -> list[dict[str, Any]]:
    """Everyone credited in the reader's visible chain (a manager's branches, everyone's for an admin)."""
    return figures.employee_field(db, access.score_branches(db, g.user), args)


@bp.route("/employees/<branch>/<employee>")
def employee(branch: str, employee: str) -> Any:
    access.branch(g.user, branch)
    detail = figures.employee(get_db(), branch, employee)
    if detail is None:
        raise NotFound(_("No such employee in this branch."))
    minimum = filters.min_responses({})
    return render_template("employee.html", branch=branch, employee=employee, detail=detail, min_responses=minimum)


def _alerts_page(state: str, branch: str | None = None) -> str:
    db = get_db()
    return render_page(
        "alerts.html",
        table=_alerts_table(state, branch),
        state=state,
        branch=branch or "",
        branches=tuple(access.score_branches(db, g.user)),
    )


def _alerts_table(state: str, branch: str | None = None) -> Markup:
    """The alerts of the user's branches, or of ``branch`` alone (a card's "Open alerts" links there),
    rendered once for everyone who sees these branches, its forms' CSRF token left out
    (page_cache.CSRF_SLOT: the page puts this session's in, per request; rendering its rows per
    request cost most of the page)."""
    db = get_db()
    names = tuple(access.score_branches(db, g.user, branch))
    state = filters.alert_state(state)
    shared = _as_of(
        lambda: shared_fragment(
            "_alerts_table.html",
            (names, state, branch or ""),
            lambda conn: {
                "rows": figures.alerts(conn, names, state),
                "state": state,
                "branch": branch or "",
                "csrf_token": lambda: CSRF_SLOT,
            },
        )
    )
    return shared


@bp.route("/alerts")
def alerts() -> Any:
    return _alerts_page(request.args.get("state", "live"), request.args.get("branch") or None)


@bp.route("/live/alerts")
def alerts_live() -> Response:
    state, branch = request.args.get("state", "live"), request.args.get("branch") or None
    return _fragment(Markup(with_csrf(_alerts_table(state, branch))))


@bp.route("/alerts/<int:alert_id>/<action>", methods=["POST"])
def alert_action(alert_id: int, action: str) -> Any:
    try:
        writes.alert_action(get_db(), g.user, alert_id, action, request.form.get("note", ""))
    except InputError as exc:
        flash(input_message(str(exc)), "error")
        return _alerts_page("live"), 400
    flash(_("Alert updated."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("views.alerts")))


def _fleet_table() -> Markup:
    mine = access.fleet_branches(g.user)
    key = (None if mine is None else tuple(mine),)
    return _as_of(
        lambda: shared_fragment(
            "_fleet_table.html", key, lambda conn: {"kiosks": fleet.fleet(conn, mine)}, max_age=KIOSKS_MAX_AGE_S
        )
    )


@bp.route("/fleet", endpoint="fleet")
def fleet_page() -> Any:
    return render_page("fleet.html", table=_fleet_table())


@bp.route("/live/fleet")
def fleet_live() -> Response:
    return _fragment(_fleet_table())


@bp.route("/roster", methods=["GET"])
def roster() -> Any:
    access.scores(g.user)
    args = request.args.to_dict()
    try:
        editing = None
        if args.get("shift"):
            editing = writes.editable_shift(get_db(), g.user, filters.shift_id(args["shift"]))
        return _roster_page(args, editing)
    except InputError as exc:
        return _rejected(exc)


def _roster_page(args: dict[str, str], shift_form: dict[str, Any] | None = None) -> str:
    """The roster, the shifts of the period in ``args`` and the shift form (``shift_form`` fills it in)."""
    db = get_db()
    names = access.score_branches(db, g.user)
    chosen = access.score_branches(db, g.user, args.get("branch"))
    start, end = figures.shift_period(db, chosen, args)
    return render_template(
        "roster.html",
        rows=figures.roster(db, access.roster_branches(g.user)),
        branches=names,
        kiosks=fleet.fleet(db, access.fleet_branches(g.user)),
        shifts=figures.shifts(db, chosen, args),
        period={"from": start.isoformat(), "to": end.isoformat()},
        chosen_branch=args.get("branch", ""),
        shift_form=shift_form or {},
    )


def _rejected(exc: InputError, shift_form: dict[str, Any] | None = None) -> tuple[str, int]:
    # The page again with the reason and, for a shift, what was typed; nothing was stored.
    flash(input_message(str(exc)), "error")
    return _roster_page({}, shift_form), 400


@bp.route("/roster/employee", methods=["POST"])
def roster_save() -> Any:
    try:
        writes.save_employee(get_db(), g.user, request.form.to_dict())
    except InputError as exc:
        return _rejected(exc)
    flash(_("Saved."), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/roster/import", methods=["POST"])
def roster_import() -> Any:
    upload = request.files.get("file")
    try:
        count = writes.import_roster(get_db(), g.user, upload.read() if upload and upload.filename else None)
    except InputError as exc:
        return _rejected(exc)
    flash(_("Imported %(n)s rows.", n=count), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/roster/shift", methods=["POST"])
def shift_save() -> Any:
    """Add a shift, or change the one the form's ``id`` names."""
    access.scores(g.user)
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    try:
        shift_id = filters.shift_id(form["id"]) if form.get("id") else None
        writes.save_shift(get_db(), g.user, form, shift_id)
    except InputError as exc:
        return _rejected(exc, form)
    flash(_("Saved."), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/roster/shift/<int:shift_id>/delete", methods=["POST"])
def shift_delete(shift_id: int) -> Any:
    writes.delete_shift(get_db(), g.user, shift_id)
    flash(_("Shift deleted."), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/export/<view>.csv")
def export(view: str) -> Any:
    args = request.args.to_dict()
    excel = args.pop("excel", "") == "1"
    name = f"otklik-{view}{'-excel' if excel else ''}.csv"
    return csv_response(table(get_db(), g.user, view, args), name, excel=excel)


@bp.route("/settings/<name>", methods=["POST"])
def set_choice(name: str) -> Any:
    """The page's language or, on Persian pages, Solar Hijri or Gregorian dates: kept with the
    account (and the session, for the log-in page); the form comes back to the page it was sent from."""
    choices = {"language": ("lang", tuple(LANGUAGES)), "calendar": ("calendar", CALENDARS)}
    if name not in choices:
        raise NotFound(_("Not found."))
    key, allowed = choices[name]
    value = request.form.get(name, "")
    target = safe_next(request.form.get("next"), "/")
    if value not in allowed:
        flash(_("%(field)s: choose one of %(list)s", field=name, list=", ".join(allowed)), "error")
        return redirect(target)
    session[key] = value
    if g.user is not None:
        if name == "language":
            accounts.change_user(get_store(), g.user.username, language=value)
        else:
            accounts.change_user(get_store(), g.user.username, calendar=value)
    return redirect(target)
