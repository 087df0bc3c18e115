"""The phone page a kiosk's QR code opens: public, no log-in, no app, no personal data.

``GET /q/<token>`` shows the four smileys in the phone's language (Accept-Language: en, ru
or fa); ``POST /q/<token>/rate`` and ``/answer`` take a tap. The token (hub.provisioning.qr)
names branch and kiosk and is checked on every request, so a revoked code stops at once.

A tap becomes a protocol message (``otklik.protocol``: a rating with channel ``phone``, an
answer) and goes through the hub's own batch path (``hub.ingest.Ingest.handle_batch``) on the
hub's database, in this process: the same validation, the same de-duplication, committed
(synchronous=FULL) before the page hears OK. Not over MQTT: the dashboard already holds the
hub's database, and a public web process holding broker credentials that may publish for every
kiosk would be the larger risk; waiting for the hub's receipt would add a broker round trip
and a second way to fail without storing anything more safely.

Abuse: a signed first-party cookie allows one rating per phone per kiosk per ``PHONE_WINDOW_S``;
per address (this process's memory only, dashboard.phone_limits) a request rate and a looser
count of ratings per kiosk; bodies above ``PHONE_MAX_BODY`` are refused (413) before they are
read. Every refusal is a JSON body with the reason in the shopper's language.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import sqlite3
import time
from base64 import urlsafe_b64encode
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, make_response, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer

from dashboard.i18n import localise_digits
from dashboard.phone_limits import AddressLimits
from dashboard.store import get_db
from hub import config_push, ingest
from hub.db import open_db
from hub.provisioning import qr
from otklik import protocol, shopper_texts, times
from otklik.settings import LANGUAGES, FollowUp, Question, SettingsError
from otklik.shopper_texts import TEXTS

log = logging.getLogger(__name__)
bp = Blueprint("phone", __name__, url_prefix="/q", template_folder=str(shopper_texts.TEMPLATES))

# Served without log-in and without reading any credential (dashboard.auth). The POSTs check their
# own origin instead of a CSRF token: a shopper has no session to forge, and they take JSON only,
# which another site's form cannot send (and fetch only after a CORS preflight nobody here answers).
PUBLIC_ENDPOINTS = frozenset({"phone.page", "phone.rate", "phone.answer"})
COOKIE = "otklik_phone"
COOKIE_SALT = "otklik-phone-cookie"
# How long after a rating the shopper may still add (or change) its answer, and how often.
ANSWER_S = 15 * 60
MAX_ANSWERS = 3
MAX_PLACES = 8  # kiosks one cookie remembers (a shopper in a mall)

DEFAULTS = {
    "PHONE_WINDOW_S": 300.0,  # one rating per phone per kiosk per five minutes
    "PHONE_ADDRESS_RATINGS": 20,  # per address per kiosk per window: a store's Wi-Fi is one address
    "PHONE_BURST": 20,  # requests an address may make at once ...
    "PHONE_PER_S": 1.0,  # ... and then per second
    "PHONE_MAX_BODY": protocol.MAX_PAYLOAD_BYTES,
}


def language() -> str:
    """The phone's language: the best of Accept-Language among en, ru, fa (else en)."""
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def text(key: str, n: float | None = None) -> str:
    lang = language()
    words = TEXTS[lang][key]
    if n is None:
        return words
    return words.replace("{n}", localise_digits(str(max(1, math.ceil(n / 60))), lang))  # minutes, rounded up


def _refuse(status: int, key: str, wait: float | None = None, code: str | None = None) -> Response:
    body: dict[str, Any] = {"error": text(key, wait), "code": code or key}
    response = make_response(jsonify(body), status)
    if wait is not None:
        response.headers["Retry-After"] = str(max(1, round(wait)))
    return response


def _limits() -> AddressLimits:
    return current_app.extensions["otklik_phone_limits"]


@bp.before_request
def _guard() -> Response | None:
    # A flood is refused here, before its body is read or the database is touched, so it
    # costs the other phones one lock and a few arithmetic operations per request.
    wait = _limits().request(request.remote_addr or "-")
    if wait is not None:
        return _refuse(429, "too_fast", wait) if request.method == "POST" else _page_refusal(429, "too_fast")
    if request.method == "POST":
        length = request.content_length
        if length is None or length > current_app.config["PHONE_MAX_BODY"]:
            return _refuse(413, "too_long")
        request.max_content_length = current_app.config["PHONE_MAX_BODY"]
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
            return _refuse(403, "failed", code="origin")
        if not request.is_json:
            return _refuse(415, "failed", code="json")
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    # The page is per language and per token: never cached by a proxy, nor kept by the phone.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept-Language, Cookie"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def _page_refusal(status: int, key: str) -> Response:
    lang = language()
    html = render_template("phone.html", lang=lang, rtl=lang == "fa", texts=TEXTS[lang], refusal=text(key))
    return make_response(html, status)


def _key() -> str | None:
    """The key codes are signed with, read on first use: a key file the dashboard cannot read
    (made by root, say) stops the phone page, with the reason in the log, not the dashboard."""
    key = current_app.config.get("PHONE_QR_KEY")
    if key is None:
        path = qr.key_path(current_app.config["OTKLIK_DB"])
        try:
            key = current_app.config["PHONE_QR_KEY"] = qr.signing_key(current_app.config["OTKLIK_DB"])
        except OSError as err:
            log.error("the phone page cannot read its key file %s: %s (run `otklik provision qr` as the "
                      "dashboard's user)", path, err.strerror)  # fmt: skip
            return None
    return key


def _token(signed: str) -> qr.QrToken | None:
    key = _key()
    if key is None:
        return None
    try:
        return qr.verify(get_db(), key, signed)
    except qr.BadToken:
        return None


def _followup(token: qr.QrToken) -> FollowUp | None:
    _version, settings = config_push.get_settings(get_db(), token.branch, token.kiosk)
    if not settings.get("followup"):
        return None
    try:
        return FollowUp.from_wire(settings["followup"])
    except SettingsError:  # checked when it was set; a bad one asks nothing rather than failing the rating
        log.warning("follow-up of %s/%s cannot be read; the phone page asks none", token.branch, token.kiosk)
        return None


def _question(question: Question | None) -> dict[str, Any] | None:
    if question is None:
        return None
    lang = language()
    return {
        "id": question.id,
        "text": question.text[lang],
        "comment": question.comment,
        "options": [{"id": o.id, "text": o.text[lang]} for o in question.options],
    }


# --- the phone's cookie ------------------------------------------------------------------
# {place: [rating id, score, unix time, answers]}: what this phone rated, signed so it cannot
# be edited to answer someone else's press. Deleting it only leaves the per-address limit.


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=COOKIE_SALT)


def _cookie() -> dict[str, list[Any]]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def _set_cookie(response: Response, data: dict[str, list[Any]]) -> None:
    now = time.time()
    kept = {k: v for k, v in data.items() if now - v[2] < ANSWER_S}
    newest = dict(sorted(kept.items(), key=lambda kv: kv[1][2])[-MAX_PLACES:])
    response.set_cookie(
        COOKIE, _serializer().dumps(newest), max_age=ANSWER_S, path=bp.url_prefix,
        secure=request.is_secure, httponly=True, samesite="Strict",
    )  # fmt: skip


def _place(token: qr.QrToken) -> str:
    return f"{token.branch}/{token.kiosk}"


# --- the hub's write path ----------------------------------------------------------------


def hand_to_hub(messages: list[tuple[str, dict[str, Any]]]) -> list[ingest.Outcome]:
    """Store protocol messages (topic, body) through the hub's batch path; committed when this returns."""
    received = datetime.now(UTC)
    batch = [(topic, protocol.encode(body), received) for topic, body in messages]
    db = open_db(current_app.config["OTKLIK_DB"], migrate=False)
    # SQLite: take the write lock first (waiting up to busy_timeout for the hub or another phone).
    # The batch path reads before it writes, and a deferred transaction whose read snapshot
    # another writer has moved on cannot become a writer: SQLite refuses it at once ("database is
    # locked"), busy_timeout or not. The hub retries such a batch; a phone request would fail.
    immediate = isinstance(db.conn, sqlite3.Connection)
    try:
        if immediate:
            db.conn.execute("BEGIN IMMEDIATE")
        try:
            outcomes = ingest.Ingest(db).handle_batch(batch)  # its own transaction nests as a savepoint
            if immediate:
                db.conn.execute("COMMIT")
        except BaseException:
            db.conn.rollback()
            raise
        return outcomes
    finally:
        db.close()


def _hand(token: qr.QrToken, kind: str, body: dict[str, Any]) -> bool:
    """One message of this code's kiosk to the hub: True once it is stored (now or before)."""
    outcome = hand_to_hub([(protocol.topic(token.branch, token.kiosk, kind), body)])[0]
    if outcome.result in (ingest.STORED, ingest.DUPLICATE):
        return True
    log.warning("the hub refused a phone message: %s", outcome.reason)
    return False


def _tap(signed: str) -> tuple[qr.QrToken, dict[str, Any], dict[str, list[Any]]] | Response:
    """A POST's live code, its JSON object and the phone's cookie; or the refusal to answer with."""
    token = _token(signed)
    if token is None:
        return _refuse(404, "bad_code")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refuse(400, "failed", code="body")
    return token, body, _cookie()


# --- the pages ---------------------------------------------------------------------------


@bp.get("/<signed>")
def page(signed: str) -> Response:
    token = _token(signed)
    if token is None:
        return _page_refusal(404, "bad_code")
    lang = language()
    return make_response(render_template("phone.html", lang=lang, rtl=lang == "fa", texts=TEXTS[lang], refusal=None))


@bp.post("/<signed>/rate")
def rate(signed: str) -> Response:
    tap = _tap(signed)
    if isinstance(tap, Response):
        return tap
    token, body, seen = tap
    score = body.get("score")
    if type(score) is not int or score not in protocol.SCORES:
        return _refuse(400, "failed", code="score")
    place = _place(token)
    window = float(current_app.config["PHONE_WINDOW_S"])
    last = seen.get(place)
    if last and time.time() - last[2] < window:
        return _refuse(429, "again_in", window - (time.time() - last[2]), code="answered")
    wait = _limits().rating(request.remote_addr or "-", place)
    if wait is not None:
        return _refuse(429, "too_many", wait)
    rating_id = "p" + secrets.token_urlsafe(16)
    # seq 1: a phone has no sequence of its own (the hub leaves phone ratings out of a kiosk's gaps).
    rating = protocol.rating_payload(
        branch=token.branch, kiosk=token.kiosk, id=rating_id, seq=1, ts=times.now_ts(), score=score,
        channel=protocol.CHANNEL_PHONE,
    )  # fmt: skip
    if not _hand(token, protocol.RATING, rating):
        return _refuse(400, "failed")
    followup = _followup(token)
    question = followup.for_score(score) if followup else None
    seen[place] = [rating_id, score, time.time(), 0]
    response = jsonify({"rating": rating_id, "question": _question(question)})
    _set_cookie(response, seen)
    return response


@bp.post("/<signed>/answer")
def answer(signed: str) -> Response:
    tap = _tap(signed)
    if isinstance(tap, Response):
        return tap
    token, body, seen = tap
    mine = seen.get(_place(token))
    if not mine or mine[0] != body.get("rating") or time.time() - mine[2] > ANSWER_S:
        return _refuse(409, "failed", code="rating")
    if mine[3] >= MAX_ANSWERS:
        return _refuse(429, "too_fast", code="answers")
    reason, comment = body.get("reason"), body.get("comment")
    followup = _followup(token)
    if reason is not None and (followup is None or followup.reason(mine[1], reason) is None):
        return _refuse(400, "failed", code="reason")
    if comment is not None:
        try:
            comment = protocol.check_comment(comment).strip() or None
        except protocol.ProtocolError:
            return _refuse(413 if isinstance(comment, str) else 400, "too_long", code="comment")
    if reason is None and comment is None:
        return jsonify({"ok": True})  # skipped: nothing to store
    # The same answer sent twice (a retry on a bad connection) has the same id: stored once.
    digest = hashlib.sha256(f"{mine[0]}\x00{reason}\x00{comment}".encode()).digest()
    answer_id = "a" + urlsafe_b64encode(digest[:16]).decode().rstrip("=")
    message = protocol.answer_payload(
        branch=token.branch, kiosk=token.kiosk, id=answer_id, rating=mine[0], ts=times.now_ts(),
        reason=reason, comment=comment, channel=protocol.CHANNEL_PHONE,
    )  # fmt: skip
    if not _hand(token, protocol.ANSWER, message):
        return _refuse(400, "failed")
    mine[3] += 1
    response = jsonify({"ok": True, "answer": answer_id})
    _set_cookie(response, seen)
    return response


def init_app(app: Flask) -> None:
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    init_limits(app)
    app.register_blueprint(bp)


def init_limits(app: Flask) -> None:
    """The address limits from the app's PHONE_* settings (afresh: what was counted is forgotten)."""
    app.extensions["otklik_phone_limits"] = AddressLimits(
        burst=int(app.config["PHONE_BURST"]),
        per_s=float(app.config["PHONE_PER_S"]),
        ratings=int(app.config["PHONE_ADDRESS_RATINGS"]),
        window_s=float(app.config["PHONE_WINDOW_S"]),
    )
