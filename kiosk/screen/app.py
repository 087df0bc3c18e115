"""The touch page's server: a Flask app bound to 127.0.0.1, talking to the running kiosk.

``Session`` is where one shopper is (which press, which question, what they answered), held
by the kiosk process so a page reload resumes it. A session older than ``idle_s`` since the
last tap is over: the next shopper sees the smileys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, abort, jsonify, render_template, request
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.serving import BaseWSGIServer, make_server

from kiosk.config import ScreenConfig
from kiosk.outbox import Press
from otklik import protocol, shopper_texts
from otklik.settings import FollowUp, Question
from otklik.shopper_texts import TEXTS

log = logging.getLogger(__name__)

IDLE, QUESTION, COMMENT, THANKS = "idle", "question", "comment", "thanks"
# A tap's body is a score or an answer: anything bigger is not from the page.
MAX_BODY_BYTES = 4 * 1024
LOOPBACK = "127.0.0.1"
ZWNJ = "\u200c"  # Persian's zero-width non-joiner: a key of its own, drawn as a dot


class Backend(Protocol):
    """What the page needs of the kiosk (kiosk.app.Kiosk)."""

    @property
    def followup(self) -> FollowUp | None: ...

    def touch_press(self, score: int) -> Press: ...

    def answer(self, rating_id: str, reason: str | None, comment: str | None) -> str: ...


@dataclass
class Session:
    rating: str
    score: int
    question: Question | None
    stage: str
    last_tap: float
    reason: str | None = None
    comment: str | None = None
    answer: str | None = None  # the last answer's id, so a repeated POST stores nothing twice


class Screen:
    """One screen's state; every method runs under the lock (Flask serves taps on threads)."""

    def __init__(self, backend: Backend, config: ScreenConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.config = config
        self.clock = clock
        self.lock = threading.Lock()
        self.session: Session | None = None

    def current(self) -> Session | None:
        session = self.session
        if session is None:
            return None
        limit = self.config.thanks_s if session.stage == THANKS else self.config.idle_s
        if self.clock() - session.last_tap > limit:
            self.session = None
        return self.session

    def rate(self, score: int) -> Session:
        press = self.backend.touch_press(score)  # committed before the page hears of it
        followup = self.backend.followup
        question = followup.for_score(score) if followup else None
        self.session = Session(press.id, score, question, QUESTION if question else THANKS, self.clock())
        return self.session

    def answer(self, session: Session, reason: str | None, comment: str | None) -> None:
        if (reason, comment) == (session.reason, session.comment) and session.answer:
            session.last_tap = self.clock()
            return  # the same POST again (a retry, a double tap): stored once already
        session.answer = self.backend.answer(session.rating, reason, comment)
        session.reason, session.comment = reason, comment
        wants_comment = session.question is not None and session.question.comment and comment is None
        session.stage = COMMENT if wants_comment and session.stage == QUESTION else THANKS
        session.last_tap = self.clock()


def create_app(backend: Backend, config: ScreenConfig, *, clock: Callable[[], float] = time.monotonic) -> Flask:
    app = Flask(__name__)
    app.jinja_loader = ChoiceLoader([app.jinja_loader, FileSystemLoader(shopper_texts.TEMPLATES)])  # type: ignore[list-item]
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    screen = Screen(backend, config, clock)
    app.extensions["otklik_screen"] = screen
    language = config.language

    @app.before_request
    def only_this_machine() -> None:
        # Bound to loopback already; the Host check also refuses a page elsewhere that
        # points a name at 127.0.0.1 (DNS rebinding) to post presses from a shopper's phone.
        host = (request.host or "").rsplit(":", 1)[0]
        if host not in (LOOPBACK, "localhost"):
            abort(403)
        if request.method == "POST" and not request.is_json:
            abort(415)

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def page() -> str:
        texts = TEXTS[language]
        return render_template("screen.html", lang=language, rtl=language == "fa", texts=texts, zwnj=ZWNJ)

    @app.get("/api/state")
    def state() -> Any:
        with screen.lock:
            return jsonify(_state(screen.current(), language, config))

    @app.post("/api/rate")
    def rate() -> Any:
        score = _json_field("score")
        if type(score) is not int or score not in protocol.SCORES:
            return _bad("score", "must be 1, 2, 3 or 4")
        with screen.lock:
            session = screen.rate(score)
            return jsonify(_state(session, language, config))

    @app.post("/api/answer")
    def answer() -> Any:
        rating, reason, comment = _json_field("rating"), _json_field("reason"), _json_field("comment")
        with screen.lock:
            session = screen.current()
            if session is None or rating != session.rating:
                return _bad("rating", "is not the press on the screen now (it timed out)", 409)
            options = {o.id for o in session.question.options} if session.question else set()
            if reason is not None and reason not in options:
                return _bad("reason", "is not an option of the question asked")
            if comment is not None:
                if not isinstance(comment, str):
                    return _bad("comment", "must be text")
                comment = comment.strip() or None
            if reason is None and comment is None:
                session.stage, session.last_tap = THANKS, screen.clock()  # skipped: nothing to store
                return jsonify(_state(session, language, config))
            try:
                screen.answer(session, reason if reason is not None else session.reason, comment)
            except protocol.ProtocolError as err:
                return _bad("comment", str(err))
            return jsonify(_state(session, language, config))

    @app.post("/api/alive")
    def alive() -> Any:
        # Typing a comment is activity too: the session must not time out under the shopper's fingers.
        with screen.lock:
            session = screen.current()
            if session is not None and _json_field("rating") == session.rating:
                session.last_tap = screen.clock()
            return jsonify(_state(session, language, config))

    @app.post("/api/reset")
    def reset() -> Any:
        with screen.lock:
            screen.session = None
            return jsonify(_state(None, language, config))

    return app


def _json_field(name: str) -> Any:
    body = request.get_json(silent=True)
    return body.get(name) if isinstance(body, dict) else None


def _bad(field: str, reason: str, status: int = 400) -> Any:
    return jsonify({"error": f"{field} {reason}", "field": field}), status


def _state(session: Session | None, language: str, config: ScreenConfig) -> dict[str, Any]:
    body: dict[str, Any] = {"stage": IDLE, "idle_s": config.idle_s, "thanks_s": config.thanks_s}
    if session is None:
        return body
    body.update(stage=session.stage, rating=session.rating, score=session.score, reason=session.reason)
    question = session.question
    if question is not None:
        body["question"] = {
            "id": question.id,
            "text": question.text[language],
            "comment": question.comment,
            "options": [{"id": o.id, "text": o.text[language]} for o in question.options],
        }
    return body


class ScreenServer:
    """The page's HTTP server on a thread of its own; ``stop()`` ends it."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self.server = server
        self.port = server.server_port
        self.url = f"http://{LOOPBACK}:{self.port}/"
        self.thread = threading.Thread(target=server.serve_forever, name="screen", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def serve(app: Flask, port: int) -> ScreenServer:
    """Serve ``app`` on 127.0.0.1 only (``port`` 0: any free one)."""
    return ScreenServer(make_server(LOOPBACK, port, app, threaded=True))
