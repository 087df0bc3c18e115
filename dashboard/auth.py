"""Log-in, sessions, API tokens and CSRF.

Every request passes ``load_user`` first: a page without a session goes to the
log-in form, an API call without a session or a valid ``Authorization: Bearer``
token gets 401 JSON. State-changing requests need a CSRF token unless they came
with an API token (a bearer token cannot be forged by another site).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
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
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from dashboard import accounts, phone
from dashboard.errors import api_error, is_api
from dashboard.store import get_store
from hub import changes

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

# The phone page a QR code opens is for shoppers (dashboard.phone, which checks its own token).
PUBLIC_ENDPOINTS = {"auth.login", "static", "views.set_choice", *phone.PUBLIC_ENDPOINTS}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


def load_user() -> Any:
    g.user = None
    g.via_token = False
    g.credential = None
    if request.endpoint in phone.PUBLIC_ENDPOINTS:
        # A shopper's page reads no credential: a flood carrying made-up tokens or sessions costs
        # no look-up before dashboard.phone refuses it, and no manager's session is used there.
        return None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = _token_user(header[len("Bearer ") :].strip())
        if user is None:
            return api_error(401, "invalid or revoked API token") if is_api() else abort(401)
        g.user = user
        g.via_token = True
        g.credential = ("token", header[len("Bearer ") :].strip())
    elif "sid" in session:
        user = accounts.session_user(get_store(), session["sid"])
        if user is None:
            session.clear()
        else:
            g.user = user
            g.credential = ("session", session["sid"])
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if is_api():
            return api_error(401, "log in or send an API token (Authorization: Bearer ...)")
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and not g.via_token
        and current_app.config.get("WTF_CSRF_ENABLED", True)
    ):
        csrf.protect()
    return None


# Whom each API token named, by the accounts file's change token: an answer stands exactly until
# anything commits to that file (a revocation, a disabled account, a changed grant), whichever
# process commits. Reading it per request (a connection, three statements) was a fifth of a
# cached page's time; the token's own hash keys it, as in the file.
_TOKENS_MAX = 256
_tokens: OrderedDict[tuple[str, str], tuple[tuple, accounts.User | None]] = OrderedDict()
_tokens_lock = threading.Lock()


def _token_user(token: str) -> accounts.User | None:
    path = current_app.config["OTKLIK_AUTH_DB"]
    key = (path, accounts.hash_token(token))
    watcher = changes.shared(path)
    # Read before the look-up: a commit after it moves the token, and the answer is asked again.
    version = (watcher.identity, watcher.version())
    with _tokens_lock:
        found = _tokens.get(key)
        if found is not None and found[0] == version:
            _tokens.move_to_end(key)
            return found[1]
    user = accounts.user_for_token(get_store(), token)
    with _tokens_lock:
        _tokens[key] = (version, user)
        while len(_tokens) > _TOKENS_MAX:
            _tokens.popitem(last=False)
    return user


def safe_next(target: str | None, default: str | None = None) -> str:
    """``target`` if it is a path on this site, else ``default`` (the overview): every ``next`` goes through here.

    A crafted ``next`` must not bounce a fresh session to another site. Browsers drop tabs and
    newlines from a URL and read a backslash as a slash, so ``/\t/evil.example`` and
    ``/\\evil.example`` are ``//evil.example`` to them: any control character, space or
    backslash makes the target unsafe, as does anything ``urlsplit`` sees a host or scheme in.
    CR/LF would also break the Location header.
    """
    fallback = default or url_for("views.overview")
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or len(target) > 2000:
        return fallback
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        # remote_addr is the client's own, or the forwarded one when OTKLIK_TRUSTED_PROXIES says a proxy is ours.
        address = request.remote_addr or "-"
        try:
            user = accounts.authenticate(get_store(), form.username.data, form.password.data, address)
        except accounts.Throttled as exc:
            flash(_("Too many failed log-ins: try again in %(n)s seconds.", n=exc.retry_after), "error")
            return render_template("login.html", form=form), 429, {"Retry-After": str(exc.retry_after)}
        if user is not None:
            session.clear()
            session["sid"] = accounts.start_session(get_store(), user)
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        flash(_("Wrong username or password."), "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    # Ended on the server: the cookie, replayed, is worth nothing.
    if "sid" in session:
        accounts.end_session(get_store(), session["sid"])
    session.clear()
    return redirect(url_for("auth.login"))


# Scripts, styles and charts come only from this server (no inline code, no CDN):
# an injected <script> or onclick= cannot run, and no other site may frame the
# dashboard to trick a manager into clicking.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS.

    Directly, or through a trusted proxy's X-Forwarded-Proto (see ``trust_proxies``); a
    cookie without Secure would be sent again over plain HTTP to anyone on the shop's Wi-Fi.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and request.is_secure)


def trust_proxies(app: Flask, count: int) -> None:
    """Behind ``count`` reverse proxies of ours, take the client's address and scheme from their
    X-Forwarded-For / X-Forwarded-Proto. Without it those headers are ignored: anyone could send them."""
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    trust_proxies(app, int(app.config["TRUSTED_PROXIES"]))
    app.after_request(_security_headers)
    csrf.init_app(app)
    app.before_request(load_user)
