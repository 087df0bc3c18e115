"""The dashboard's refusals, and the one place they become HTTP answers.

Reads, writes and the permission checks raise these plain exceptions (no Flask
in them, so the live stream and the CLI can use the same code); ``init_app``
registers the handlers that turn them, and every ``abort()``, into the page or
the JSON a client sees.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug import exceptions
from werkzeug.exceptions import HTTPException

from dashboard.i18n import input_message
from otklik.errors import OtklikError


class InputError(OtklikError, ValueError):
    """Bad input from a form or a query string; the text names the field and the reason (400)."""


class Refused(OtklikError):
    """The user may not have this: :class:`Forbidden` or :class:`NotFound`."""

    http: type[HTTPException] = exceptions.Forbidden

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message


class Forbidden(Refused):
    """403: the user's role reads no branch's figures at all, which says nothing about any branch."""


class NotFound(Refused):
    """404: what does not exist, and equally what the user may not see, so the two cannot be told apart."""

    http = exceptions.NotFound


def is_api() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, message: str) -> Any:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


# The statuses a reader meets, in their language; werkzeug's own names and texts are English.
STATUS_NAMES = {
    400: _l("Bad request"), 401: _l("Not logged in"), 403: _l("Not allowed"), 404: _l("Not found"),
    405: _l("Not allowed this way"), 413: _l("Too large"), 429: _l("Too many requests"), 500: _l("Server error"),
}  # fmt: skip
STATUS_TEXTS = {
    401: _l("Log in to see this page."),
    403: _l("Your role does not give access to this page."),
    404: _l("There is no such page, or it is not yours to see. Check the address or go back to the overview."),
    405: _l("This address does not take that kind of request."),
    413: _l("What was sent is too large."),
    429: _l("Too many requests in a short time; wait a moment and try again."),
    500: _l("Something went wrong on the server; the error has been logged."),
}


def _http_error(exc: HTTPException) -> Any:
    message = exc.description or exc.name
    # werkzeug's default description says nothing a reader of another language could read.
    if message == type(exc).description and exc.code in STATUS_TEXTS:
        message = str(STATUS_TEXTS[exc.code])
    if isinstance(exc, CSRFError):
        message = _("The form has expired or did not come from this site; reload the page and try again.")
    if is_api():
        response = api_error(exc.code or 500, message)
    else:
        name = str(STATUS_NAMES.get(exc.code or 500, exc.name))
        response = current_app.make_response(
            (render_template("error.html", code=exc.code, name=name, message=message), exc.code or 500)
        )
    # The exception's own headers: a 405's Allow (RFC 9110 requires it), a 401's WWW-Authenticate.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _refused(exc: Refused) -> Any:
    # werkzeug's own exception, so a refusal reads exactly like abort(403) / abort(404).
    return _http_error(exc.http(description=exc.message))


def _bad_input(exc: InputError) -> Any:
    if is_api():
        return api_error(400, str(exc))
    message = input_message(str(exc))
    return render_template("error.html", code=400, name=str(STATUS_NAMES[400]), message=message), 400


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(InputError, _bad_input)
