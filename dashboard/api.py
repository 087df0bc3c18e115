"""JSON API under /api/v1/: everything the pages show, plus the live stream.

Authentication: the session cookie (the pages) or ``Authorization: Bearer <token>``
(``otklik users token``). Without either, 401 JSON (see auth.load_user).
The OpenAPI document at /api/v1/openapi.json is written from ROUTES below.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _

from dashboard import access, accounts, figures, filters, fleet, writes
from dashboard.accounts import User
from dashboard.cache import observe
from dashboard.errors import InputError, NotFound, api_error
from dashboard.exports import csv_response, table
from dashboard.openapi import document
from dashboard.store import connect_hub, connect_store, get_db
from hub import alert_text, changes
from hub.store import Database

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _args() -> dict[str, str]:
    return request.args.to_dict()


_encoded_lock = threading.Lock()
_encoded: OrderedDict[tuple, tuple[tuple, bytes]] = OrderedDict()
MAX_ENCODED = 64


def shared_json(build: Callable[..., Any], *parts: Any) -> Response:
    """``jsonify(build(*parts))``, encoded once while ``parts`` are the same.

    The big answers (50 overview cards, 600 employees) are cached figures (dashboard.cache)
    that the same request kept encoding again: 1-3 ms of a request that otherwise takes two
    or three. A figure the cache serves is the same object until it is recomputed, so a part
    that is no plain value counts by identity (kept here, so its id is not reused); plain
    values (strings, numbers, tuples) by equality. ``build`` must be a module-level function.
    """
    key = (build, *(part if isinstance(part, str | int | float | tuple | None) else id(part) for part in parts))
    with _encoded_lock:
        found = _encoded.get(key)
        if found is not None and all(a is b or a == b for a, b in zip(found[0], parts, strict=True)):
            _encoded.move_to_end(key)
            body = found[1]
        else:
            body = None
    if body is None:
        body = jsonify(build(*parts)).get_data()
        with _encoded_lock:
            _encoded[key] = (parts, body)
            _encoded.move_to_end(key)
            while len(_encoded) > MAX_ENCODED:
                _encoded.popitem(last=False)
    return Response(body, mimetype="application/json")


def _rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": rows}


@bp.get("/me")
def me() -> Any:
    user = g.user
    return jsonify(
        {
            "username": user.username,
            "role": user.role,
            "branches": access.visible_branches(get_db(), user),
            "language": user.language,
        }
    )


@bp.get("/overview")
def overview() -> Any:
    db = get_db()
    return shared_json(_overview_body, figures.overview(db, access.score_branches(db, g.user)))


def _overview_body(cards: list[dict[str, Any]]) -> dict[str, Any]:
    return {"branches": cards}


@bp.get("/branches/<branch>")
def branch(branch: str) -> Any:
    return jsonify(figures.branch_summary(get_db(), access.branch(g.user, branch)))


@bp.get("/branches/<branch>/series")
def series(branch: str) -> Any:
    return jsonify({"rows": figures.series(get_db(), access.branch(g.user, branch), _args())})


@bp.get("/branches/<branch>/heatmap")
def heatmap(branch: str) -> Any:
    db, name = get_db(), access.branch(g.user, branch)
    return jsonify({"rows": figures.heatmap(db, name, _args()), "open_hours": figures.open_hours(db, name)})


@bp.get("/branches/<branch>/flagged")
def flagged(branch: str) -> Any:
    return jsonify({"rows": figures.flagged(get_db(), access.branch(g.user, branch), _args())})


@bp.get("/branches/<branch>/kiosks")
def branch_kiosks(branch: str) -> Any:
    return shared_json(_rows, fleet.fleet(get_db(), [access.branch(g.user, branch)]))


@bp.get("/employees")
def employees() -> Any:
    args = _args()
    db = get_db()
    names = access.score_branches(db, g.user, args.get("branch"))
    return shared_json(_employees_body, filters.min_responses(args), figures.employee_field(db, names, args))


def _employees_body(minimum: int, field: list[dict[str, Any]]) -> dict[str, Any]:
    return {"min_responses": minimum, "rows": figures.ranked(field)}


@bp.get("/employees/<branch>/<employee>")
def employee(branch: str, employee: str) -> Any:
    detail = figures.employee(get_db(), access.branch(g.user, branch), employee, _args())
    if detail is None:
        raise NotFound(f"employee {employee!r} not found in branch {branch!r}")
    return jsonify(detail)


@bp.get("/alerts")
def alerts() -> Any:
    db = get_db()
    rows = figures.alerts(db, access.score_branches(db, g.user), request.args.get("state", "live"))
    # ``message`` is what the hub stored (English); ``text`` and ``state_text`` are in the reader's
    # language (the user's, or the request's Accept-Language), worded as on the alerts page.
    lang = str(get_locale() or "en")
    for row in rows:
        row["text"] = alert_text.render(row, lang)
        row["state_text"] = alert_text.state(row["state"], lang)
    return jsonify({"rows": rows})


@bp.post("/alerts/<int:alert_id>/<action>")
def alert_action(alert_id: int, action: str) -> Any:
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if body is None and request.is_json and request.get_data():
        raise InputError(_('body: not JSON; send an object like {"note": "..."} or nothing'))
    if body is not None and not isinstance(body, dict):
        raise InputError(_('body: send a JSON object like {"note": "..."} or nothing'))
    return jsonify(writes.alert_action(get_db(), g.user, alert_id, action, (body or {}).get("note", "")))


@bp.get("/fleet", endpoint="fleet")
def fleet_rows() -> Any:
    return shared_json(_rows, fleet.fleet(get_db(), access.fleet_branches(g.user)))


@bp.get("/roster")
def roster() -> Any:
    return jsonify({"rows": figures.roster(get_db(), access.roster_branches(g.user))})


@bp.post("/roster")
def roster_save() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "body: send a JSON object with id, name, branch")
    return jsonify(writes.save_employee(get_db(), g.user, body)), 201


@bp.get("/shifts")
def shifts() -> Any:
    args = _args()
    db = get_db()
    names = access.score_branches(db, g.user, args.get("branch"))
    start, end = figures.shift_period(db, names, args)
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "rows": figures.shifts(db, names, args)})


def _shift_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError(_("body: send a JSON object with employee, branch, kiosk, start, end, note"))
    return body


@bp.post("/shifts")
def shift_add() -> Any:
    return jsonify(writes.save_shift(get_db(), g.user, _shift_body())), 201


@bp.put("/shifts/<int:shift_id>")
def shift_update(shift_id: int) -> Any:
    return jsonify(writes.save_shift(get_db(), g.user, _shift_body(), shift_id))


@bp.delete("/shifts/<int:shift_id>")
def shift_delete(shift_id: int) -> Any:
    return jsonify(writes.delete_shift(get_db(), g.user, shift_id))


@bp.get("/export/<view>.csv")
def export(view: str) -> Any:
    return csv_response(table(get_db(), g.user, view, _args()), f"otklik-{view}.csv")


class StreamSlots:
    """How many live streams one process serves at once.

    Under gunicorn's gthread workers each open overview holds a thread for as
    long as the page stays open. Without a limit, a morning of open overviews
    took every thread and the pages and API stopped answering for everyone;
    with it, a page beyond the limit gets 503 and polls the API each second.
    """

    def __init__(self) -> None:
        self.open = 0
        self.lock = threading.Lock()

    def take(self, limit: int) -> bool:
        with self.lock:
            if self.open >= limit:
                return False
            self.open += 1
            return True

    def give(self) -> None:
        with self.lock:
            self.open -= 1


# Kiosks go stale and silent without any commit: their rows are looked at this often even when nothing was stored.
FLEET_RECHECK_S = 5.0
# What changes every second on its own; a difference there alone is no news.
_VOLATILE = ("silent_s",)


def live_state(db: Database, user: User, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """What an open page of ``user``'s may be told, by topic: only their branches' figures, kiosks and alerts.

    ``now`` is the app's clock, for a caller outside a request (the stream)."""
    state: dict[str, dict[str, Any]] = {}
    if user.sees_scores:
        names = access.score_branches(db, user)
        state["overview"] = {"branches": figures.overview(db, names, now=now)}
        state["alerts"] = {"rows": figures.alerts(db, names, "live")}
    state["fleet"] = {"rows": fleet.fleet(db, access.fleet_branches(user))}
    return state


def _news(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [{k: v for k, v in row.items() if k not in _VOLATILE} for row in rows] if key == "rows" else rows
        for key, rows in payload.items()
    }


# Serialised topics by the identity of the figures they were made from. Those are dashboard.cache's
# shared, read-only values: every open page of a chain gets the same objects until they are
# recomputed, so twenty streams serialised the same 300 kiosks twenty times at each look (most of
# the server's time while presses arrive). The entry holds the objects, so an id is never reused.
_SERIALISED_MAX = 64
_serialised: OrderedDict[tuple, tuple[tuple[Any, ...], str, str]] = OrderedDict()
_serialised_lock = threading.Lock()


def _serialise(topic: str, payload: dict[str, Any], dumps: Any) -> tuple[str, str]:
    """(what counts as news, the event's data) for ``payload``, made once per set of figures."""
    parts = tuple(payload.values())
    key = (topic, tuple(payload), tuple(id(part) for part in parts))
    with _serialised_lock:
        found = _serialised.get(key)
        if found is not None and all(a is b for a, b in zip(found[0], parts, strict=True)):
            _serialised.move_to_end(key)
            return found[1], found[2]
    made = (dumps(_news(payload)), dumps(payload))
    with _serialised_lock:
        _serialised[key] = (parts, *made)
        while len(_serialised) > _SERIALISED_MAX:
            _serialised.popitem(last=False)
    return made


@bp.get("/stream")
def stream() -> Response:
    """Server-sent events: each topic (``overview``, ``alerts``, ``fleet``) again whenever it changed.

    Waits on the database's change signal (``hub.changes``: SQLite's
    ``data_version``, PostgreSQL's NOTIFY from any hub on any machine; no query
    runs until something committed) and reads on a connection of its own, since
    the request's is gone once streaming starts. What is sent is read for the user as every request
    is (dashboard.access), and their account is read again each ``SSE_RECHECK_S``,
    so a manager's stream carries only their branches, even after their grants change.
    """
    opened_by: User = g.user
    credential = g.credential
    auth_path = current_app.config["OTKLIK_AUTH_DB"]
    recheck = float(current_app.config["SSE_RECHECK_S"])
    path = current_app.config["OTKLIK_DB"]
    poll = float(current_app.config["SSE_POLL_S"])
    max_s = float(current_app.config["SSE_MAX_S"])
    dumps = current_app.json.dumps
    # The stream runs outside the request: it takes the app's clock with it.
    clock = current_app.config["CLOCK"]
    slots: StreamSlots = current_app.extensions["otklik_stream_slots"]
    if not slots.take(int(current_app.config["SSE_MAX_STREAMS"])):
        refused = api_error(503, "too many live pages are open on this server; poll /api/v1/overview instead")
        refused.headers["Retry-After"] = "1"
        return refused

    def events() -> Iterator[str]:
        db = connect_hub(path)
        store = connect_store(auth_path)
        watcher = changes.shared(path)
        user = opened_by
        try:
            last_version, version = None, watcher.version()
            last_news: dict[str, str] = {}
            started = last_sent = last_check = last_look = time.monotonic()
            yield "retry: 2000\n\n"
            while time.monotonic() - started < max_s:
                if time.monotonic() - last_check >= recheck:
                    last_check = time.monotonic()
                    still = accounts.credential_user(store, credential)
                    if still is None:
                        # Logged out, disabled or revoked since the stream opened: it ends here, and
                        # the page's reconnect gets a 401.
                        yield 'event: end\ndata: {"error": "session ended or token revoked"}\n\n'
                        return
                    user = still
                if version != last_version or time.monotonic() - last_look >= FLEET_RECHECK_S:
                    last_version, last_look = version, time.monotonic()
                    with observe() as seen:
                        state = live_state(db, user, clock())
                    if seen.stale:
                        # Served while being recomputed (dashboard.cache): look again at the next
                        # poll, or the last press of a quiet spell would wait for the next commit.
                        last_version = None
                    for topic, payload in state.items():
                        news, data = _serialise(topic, payload, dumps)
                        if news != last_news.get(topic):
                            last_news[topic] = news
                            last_sent = time.monotonic()
                            yield f"event: {topic}\ndata: {data}\n\n"
                if time.monotonic() - last_sent > 5:
                    # A comment keeps proxies from closing an idle stream, and
                    # writing it is how a closed page's thread finds out and
                    # gives its slot back.
                    last_sent = time.monotonic()
                    yield ": keep-alive\n\n"
                # Woken by a commit, but a look at most once a poll: at 50 presses/s a look
                # per commit would be 50 a second for every open page.
                time.sleep(max(0.0, last_look + poll - time.monotonic()))
                version = watcher.wait(version, poll)
        finally:
            db.conn.close()
            store.conn.close()

    response = Response(
        events(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # On close, not in the generator's finally: a client gone before the
    # first byte never starts the generator, and its slot must come back too.
    response.call_on_close(slots.give)
    return response


def init_app(app: Flask) -> None:
    app.extensions["otklik_stream_slots"] = StreamSlots()
    app.register_blueprint(bp)


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())
