"""The reasons and comments pages, their JSON API (/api/v1/reasons, /api/v1/comments) and hiding a comment.

The figures are ``dashboard.reasons``'s; who may see which branch is ``dashboard.access``'s,
asked once per request as every other route does. Hiding keeps the comment (``hub.answers.hide``
marks it, with who and when): a manager hides only their branches' comments, and another
branch's id answers as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from dashboard import access, charts, filters, reasons
from dashboard.accounts import User
from dashboard.auth import safe_next
from dashboard.errors import NotFound
from dashboard.store import get_db
from hub import answers as hub_answers
from hub.store import Database

bp = Blueprint("reasons", __name__)
api = Blueprint("reasons_api", __name__, url_prefix="/api/v1")


def _lang() -> str:
    return str(get_locale() or "en")


def _names(db: Database, user: User, args: dict[str, str]) -> list[str]:
    return access.score_branches(db, user, args.get("branch") or None)


def reason_figure(db: Database, user: User, args: dict[str, str]) -> dict[str, Any]:
    return reasons.reasons(db, _names(db, user, args), args, _lang())


def comment_page(db: Database, user: User, args: dict[str, str]) -> dict[str, Any]:
    return reasons.comments(db, _names(db, user, args), args, _lang(), is_admin=user.is_admin)


def hide(db: Database, user: User, answer_id: str) -> None:
    access.scores(user)
    try:
        hub_answers.hide(db, answer_id, by=user.username, at=filters.now(),
                         branches=None if user.is_admin else user.branches)  # fmt: skip
    except hub_answers.AnswerNotFound:
        raise NotFound(_("comment '%(value)s' not found", value=answer_id[:64])) from None


def _page_context(db: Database) -> dict[str, Any]:
    visible = access.score_branches(db, g.user)
    return {
        "branches": visible,
        "reason_choices": reasons.reason_options(db, visible, _lang()),
        "buttons": charts.chart_text()["buttons"],
    }


@bp.route("/reasons")
def reasons_page() -> Any:
    args = request.args.to_dict()
    db = get_db()
    figure = reason_figure(db, g.user, args)
    return render_template("reasons.html", figure=figure, args=args, groups=reasons.GROUPS, **_page_context(db))


@bp.route("/comments")
def comments_page() -> Any:
    args = request.args.to_dict()
    db = get_db()
    found = comment_page(db, g.user, args)
    # The masks are tokens in no language (the API and CSV keep them): the page says them in the reader's.
    masks = {hub_answers.PHONE_MASK: _("[phone number]"), hub_answers.EMAIL_MASK: _("[e-mail address]")}
    for row in found["rows"]:
        row["shown"] = row["comment"]
        for mask, words in masks.items():
            row["shown"] = row["shown"].replace(mask, words)
    return render_template("comments.html", found=found, args=args, **_page_context(db))


@bp.route("/comments/<answer_id>/hide", methods=["POST"])
def hide_comment(answer_id: str) -> Any:
    hide(get_db(), g.user, answer_id)
    flash(_("Comment hidden."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("reasons.comments_page")))


@api.get("/reasons")
def reasons_api() -> Any:
    return jsonify(reason_figure(get_db(), g.user, request.args.to_dict()))


@api.get("/comments")
def comments_api() -> Any:
    return jsonify(comment_page(get_db(), g.user, request.args.to_dict()))


@api.post("/comments/<answer_id>/hide")
def hide_api(answer_id: str) -> Any:
    db = get_db()
    hide(db, g.user, answer_id)
    row = db.execute("SELECT id, hidden_at, hidden_by FROM answers WHERE id = ?", [answer_id]).fetchone()
    return jsonify(dict(zip(("id", "hidden_at", "hidden_by"), row, strict=True)))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api)
