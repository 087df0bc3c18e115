"""HTML pages. Each page renders its tables on the server (readable without
JavaScript, formatted in the user's locale) and loads its charts and live
figures from the JSON API, the same one outside clients use."""

from __future__ import annotations

import csv
import io
from typing import Any

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
from flask_babel import gettext as _

from dashboard import accounts, queries
from dashboard.auth import check_branch, require_scores
from dashboard.i18n import LANGUAGES
from dashboard.store import get_db, get_store

bp = Blueprint("views", __name__)


@bp.route("/")
def overview() -> Any:
    if not g.user.sees_scores:
        return redirect(url_for("views.fleet"))
    rows = queries.overview(get_db(), g.user)
    return render_template("overview.html", rows=rows)


@bp.route("/branch/<branch>")
@require_scores
def branch(branch: str) -> Any:
    check_branch(branch)
    db = get_db()
    return render_template(
        "branch.html",
        branch=branch,
        summary=queries.branch_summary(db, g.user, branch),
        kiosks=queries.fleet(db, g.user, branch=branch),
        ranking=queries.ranking(db, g.user, {"branch": branch}),
        flagged=queries.flagged(db, g.user, branch, {}),
    )


@bp.route("/employees")
@require_scores
def employees() -> Any:
    args = request.args.to_dict()
    if args.get("branch"):
        check_branch(args["branch"])
    rows = queries.ranking(get_db(), g.user, args)
    return render_template("employees.html", rows=rows, args=args, min_responses=queries.min_responses(args))


@bp.route("/employees/<branch>/<employee>")
@require_scores
def employee(branch: str, employee: str) -> Any:
    check_branch(branch)
    detail = queries.employee(get_db(), g.user, branch, employee)
    if detail is None:
        abort(404, _("No such employee in this branch."))
    return render_template("employee.html", branch=branch, employee=employee, detail=detail)


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
    return render_template("fleet.html", kiosks=queries.fleet(get_db(), g.user))


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
    try:
        rows = queries.table(get_db(), g.user, view, request.args.to_dict())
    except queries.InputError as exc:
        abort(400, str(exc))
    return csv_response(rows, f"otklik-{view}.csv")


def csv_response(rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            # A cell starting with = + - @ would run as a formula when a manager opens the file in a spreadsheet.
            writer.writerow({k: _safe_cell(v) for k, v in row.items()})
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.route("/settings/language", methods=["POST"])
def set_language() -> Any:
    language = request.form.get("language", "")
    target = request.form.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    if language not in LANGUAGES:
        flash(_("language: choose one of %(list)s", list=", ".join(LANGUAGES)), "error")
        return redirect(target)
    session["lang"] = language
    if g.user is not None:
        accounts.change_user(get_store(), g.user.username, language=language)
    return redirect(target)
