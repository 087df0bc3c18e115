"""HTML pages. Each page renders its tables on the server (readable without
JavaScript, formatted in the user's locale) and loads its charts and live
figures from the JSON API, the same one outside clients use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from babel.numbers import get_decimal_symbol
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, get_timezone
from flask_babel import gettext as _
from markupsafe import Markup

from dashboard import accounts, charts, queries
from dashboard.auth import check_branch, require_scores, safe_next
from dashboard.cache import remember
from dashboard.i18n import LANGUAGES
from dashboard.store import get_db, get_store
from hub.exports import CsvDialect, csv_text

bp = Blueprint("views", __name__)


@bp.errorhandler(queries.InputError)
def _bad_filter(exc: queries.InputError) -> Any:
    return render_template("error.html", code=400, name=_("Bad request"), message=str(exc)), 400


def shared_fragment(template: str, key: tuple, context: Callable[[], dict[str, Any]]) -> Markup:
    """A part of a page that is the same for everyone allowed to see it, rendered once per change to the data.

    Rendering 50 overview cards or 600 ranking rows took longer than reading
    their figures from the cache. A fragment must hold nothing of the user's
    own (no CSRF token, no name): its key is what it shows, in which language
    and time zone; the view checks who may see it before asking for it.
    """
    where = (template, key, str(get_locale()), str(get_timezone()))
    return remember(get_db(), where, lambda: Markup(render_template(template, **context())))


@bp.route("/")
def overview() -> Any:
    if not g.user.sees_scores:
        return redirect(url_for("views.fleet"))
    db, user = get_db(), g.user
    names = tuple(queries.visible_branches(db, user))
    cards = shared_fragment("_overview_cards.html", names, lambda: {"rows": queries.overview(db, user)})
    return render_template("overview.html", cards=cards)


@bp.route("/branch/<branch>")
@require_scores
def branch(branch: str) -> Any:
    check_branch(branch)
    db, user = get_db(), g.user
    body = shared_fragment(
        "_branch_body.html",
        (branch,),
        lambda: {
            "branch": branch,
            "summary": queries.branch_summary(db, user, branch),
            "kiosks": queries.fleet(db, user, branch=branch),
            "flagged": queries.flagged(db, user, branch, {}),
            **_field_context(queries.employee_field(db, user, {"branch": branch})),
        },
    )
    return render_template("branch.html", branch=branch, body=body)


@bp.route("/employees")
@require_scores
def employees() -> Any:
    args = request.args.to_dict()
    if args.get("branch"):
        check_branch(args["branch"])
    db, user = get_db(), g.user
    minimum = queries.min_responses(args)
    # Only what the ranking depends on: any other query parameter must not make a new cache entry.
    key = (*(args.get(k, "") for k in ("branch", "from", "to")), minimum, tuple(queries.visible_branches(db, user)))
    table = shared_fragment("_employees_body.html", key, lambda: _field_context(queries.employee_field(db, user, args)))
    start, end = queries.period(args, 30)
    return render_template(
        "employees.html",
        table=table,
        args=args,
        min_responses=minimum,
        end=end.isoformat(),
        days=(end - start).days + 1,
    )


def _field_context(field: list[dict[str, Any]]) -> dict[str, Any]:
    """The ranked table's rows, the rest below the minimum, and the funnel plot of them all."""
    return {
        "ranking": [r for r in field if r["rank"] is not None],
        "unranked": [r for r in field if r["rank"] is None],
        "funnel": charts.funnel_data(field),
    }


@bp.route("/employees/<branch>/<employee>")
@require_scores
def employee(branch: str, employee: str) -> Any:
    check_branch(branch)
    detail = queries.employee(get_db(), g.user, branch, employee)
    if detail is None:
        abort(404, _("No such employee in this branch."))
    minimum = queries.min_responses({})
    return render_template("employee.html", branch=branch, employee=employee, detail=detail, min_responses=minimum)


@bp.route("/alerts")
@require_scores
def alerts() -> Any:
    state = request.args.get("state", "live")
    rows = queries.alerts(get_db(), g.user, state)
    return render_template("alerts.html", rows=rows, state=state)


@bp.route("/alerts/<int:alert_id>/<action>", methods=["POST"])
@require_scores
def alert_action(alert_id: int, action: str) -> Any:
    try:
        queries.alert_action(get_db(), g.user, alert_id, action, request.form.get("note", ""))
    except queries.InputError as exc:
        flash(str(exc), "error")
        return render_template("alerts.html", rows=queries.alerts(get_db(), g.user, "live"), state="live"), 400
    flash(_("Alert updated."), "ok")
    return redirect(url_for("views.alerts"))


@bp.route("/fleet")
def fleet() -> Any:
    db, user = get_db(), g.user
    mine = tuple(user.branches) if user.role == "manager" else None
    table = shared_fragment("_fleet_table.html", (mine,), lambda: {"kiosks": queries.fleet(db, user)})
    return render_template("fleet.html", table=table)


@bp.route("/roster", methods=["GET"])
@require_scores
def roster() -> Any:
    args = request.args.to_dict()
    try:
        editing = queries.shift(get_db(), g.user, queries.parse_shift_id(args["shift"])) if args.get("shift") else None
        return _roster_page(args, editing)
    except queries.InputError as exc:
        return _rejected(exc)


def _roster_page(args: dict[str, str], shift_form: dict[str, Any] | None = None) -> str:
    """The roster, the shifts of the period in ``args`` and the shift form (``shift_form`` fills it in)."""
    db = get_db()
    start, end = queries.shift_period(args)
    return render_template(
        "roster.html",
        rows=queries.roster(db, g.user),
        branches=queries.visible_branches(db, g.user),
        kiosks=queries.fleet(db, g.user),
        shifts=queries.shifts(db, g.user, args),
        period={"from": start.isoformat(), "to": end.isoformat()},
        chosen_branch=args.get("branch", ""),
        shift_form=shift_form or {},
    )


def _rejected(exc: queries.InputError, shift_form: dict[str, Any] | None = None) -> tuple[str, int]:
    # The page again with the reason and, for a shift, what was typed; nothing was stored.
    flash(str(exc), "error")
    return _roster_page({}, shift_form), 400


@bp.route("/roster/employee", methods=["POST"])
@require_scores
def roster_save() -> Any:
    try:
        queries.save_employee(get_db(), g.user, request.form.to_dict())
    except queries.InputError as exc:
        return _rejected(exc)
    flash(_("Saved."), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/roster/import", methods=["POST"])
@require_scores
def roster_import() -> Any:
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise queries.InputError(_("file: choose a CSV file to import"))
        count = queries.import_roster(get_db(), g.user, upload.read())
    except queries.InputError as exc:
        return _rejected(exc)
    flash(_("Imported %(n)s rows.", n=count), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/roster/shift", methods=["POST"])
@require_scores
def shift_save() -> Any:
    """Add a shift, or change the one the form's ``id`` names."""
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    try:
        shift_id = queries.parse_shift_id(form["id"]) if form.get("id") else None
        queries.save_shift(get_db(), g.user, form, shift_id)
    except queries.InputError as exc:
        return _rejected(exc, form)
    flash(_("Saved."), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/roster/shift/<int:shift_id>/delete", methods=["POST"])
@require_scores
def shift_delete(shift_id: int) -> Any:
    queries.delete_shift(get_db(), g.user, shift_id)
    flash(_("Shift deleted."), "ok")
    return redirect(url_for("views.roster"))


@bp.route("/export/<view>.csv")
def export(view: str) -> Any:
    args = request.args.to_dict()
    excel = args.pop("excel", "") == "1"
    try:
        rows = queries.table(get_db(), g.user, view, args)
    except queries.InputError as exc:
        abort(400, str(exc))
    return csv_response(rows, f"otklik-{view}{'-excel' if excel else ''}.csv", excel=excel)


def csv_response(rows: list[dict[str, Any]], filename: str, excel: bool = False) -> Response:
    """A CSV download; ``excel``: the variant Excel on Windows opens right (hub.exports.CsvDialect)."""
    dialect = CsvDialect.excel(get_decimal_symbol(str(get_locale() or "en"))) if excel else CsvDialect()
    return Response(
        csv_text(rows, dialect),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/settings/language", methods=["POST"])
def set_language() -> Any:
    language = request.form.get("language", "")
    target = safe_next(request.form.get("next"), "/")
    if language not in LANGUAGES:
        flash(_("language: choose one of %(list)s", list=", ".join(LANGUAGES)), "error")
        return redirect(target)
    session["lang"] = language
    if g.user is not None:
        accounts.change_user(get_store(), g.user.username, language=language)
    return redirect(target)
