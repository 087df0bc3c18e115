"""The OpenAPI 3.1 document served at /api/v1/openapi.json.

Kept next to the routes as data; a test checks that every /api/v1 route of
the app is described here and nothing described is missing from the app.
"""

from __future__ import annotations

from typing import Any

from hub.scores import DEFAULT_MIN_RESPONSES
from otklik import __version__

# A date, or empty for the default (the pages' filter forms send from=&to=); years 1970-8999.
_DATE: dict[str, Any] = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}
_PERIOD: list[dict[str, Any]] = [
    {"name": "from", "in": "query", "schema": _DATE, "description": "First local day of the branch"},
    {"name": "to", "in": "query", "schema": _DATE, "description": "Last local day of the branch (default: its today)"},
]
_BRANCH: dict[str, Any] = {"name": "branch", "in": "path", "required": True, "schema": {"type": "string"}}
_VIEW: dict[str, Any] = {"name": "view", "in": "path", "required": True, "schema": {"type": "string"}}
_BRANCH_FILTER: dict[str, Any] = {"name": "branch", "in": "query", "schema": {"type": "string"}}
_ROWS: dict[str, Any] = {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "object"}}}}
_SHIFT_ID: dict[str, Any] = {"name": "shift_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_SHIFT_COLUMNS = ("employee", "name", "branch", "kiosk", "start", "end", "note", "timezone", "start_utc", "end_utc")
_SHIFT = {
    "type": "object",
    "description": "start/end: the branch's local time (2026-11-22 09:00); start_utc/end_utc as stored",
    "properties": {"id": {"type": "integer"}, **{name: {"type": "string"} for name in _SHIFT_COLUMNS}},
}
_SHIFT_BODY = "JSON: employee, branch, kiosk ('' = every kiosk), start, end (branch-local, e.g. 2026-11-22T09:00), note"
_TEXT = {"type": "string", "maxLength": 500}
_SHIFT_FIELDS = {
    "employee": {"type": "string", "maxLength": 64, "description": "An employee of the branch's roster"},
    "branch": {"type": "string", "maxLength": 32, "description": "Cannot change in an update"},
    "kiosk": {"type": "string", "maxLength": 32, "description": "'' (or left out) covers every kiosk of the branch"},
    "start": {"type": "string", "maxLength": 40, "description": "Branch-local, e.g. 2026-11-22T09:00"},
    "end": {"type": "string", "maxLength": 40, "description": "After start, at most 24 hours later"},
    "note": _TEXT,
}
_NEW_SHIFT = {"type": "object", "required": ["employee", "branch", "start", "end"], "properties": _SHIFT_FIELDS}
_SHIFT_CHANGE = {"type": "object", "properties": _SHIFT_FIELDS, "description": "Fields left out keep their value"}
_EMPLOYEE = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 64},
        "name": {"type": "string", "maxLength": 200},
        "branch": {"type": "string", "maxLength": 32},
        "active": {"type": "boolean"},
    },
}
_NEW_EMPLOYEE = {**_EMPLOYEE, "required": ["id", "branch"]}
_ALERT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "rule": {"type": "string"},
        "branch": {"type": "string"},
        "kiosk": {"type": "string"},
        "state": {"enum": ["open", "acknowledged", "resolved"]},
        "message": {"type": "string"},
        "delivered": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Outcome per channel; webhook URLs shown as scheme and host only",
        },
    },
}
_REASON = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "label": {"type": "string"}, "asked": {"type": "boolean"},
                   "n": {"type": "integer"}, "previous": {"type": "integer"}},
}  # fmt: skip
_COMMENT = {
    "type": "object",
    "properties": {
        **{k: {"type": "string"} for k in ("id", "rating_id", "branch", "kiosk", "ts", "comment")},
        "score": {"type": ["integer", "null"], "description": "null while the press has not arrived"},
        "reason": {"type": ["string", "null"]}, "label": {"type": ["string", "null"]},
        "hidden_at": {"type": ["string", "null"]}, "hidden_by": {"type": ["string", "null"]},
    },
}  # fmt: skip
_NOTE = {
    "type": "object",
    "properties": {"note": {"type": "string", "maxLength": 2000, "description": "Required to resolve"}},
}

# (method, path, summary, parameters, response schema[, request body schema, success status])
Endpoint = (
    tuple[str, str, str, list[dict[str, Any]], dict[str, Any]]
    | tuple[str, str, str, list[dict[str, Any]], dict[str, Any], dict[str, Any] | None, str]
)
ENDPOINTS: list[Endpoint] = [
    ("get", "/me", "The logged-in account and the branches it may see", [], {"type": "object"}),
    (
        "get",
        "/overview",
        "Every visible branch: index and responses today / last 7 / last 30 days, trend, response rate, open alerts",
        [],
        {"type": "object", "properties": {"branches": {"type": "array", "items": {"type": "object"}}}},
    ),
    ("get", "/branches/{branch}", "One branch's overview row", [_BRANCH], {"type": "object"}),
    (
        "get",
        "/branches/{branch}/series",
        "Index and button counts per local day, ISO week or month",
        [_BRANCH, {"name": "by", "in": "query", "schema": {"enum": ["day", "week", "month"]}}, *_PERIOD],
        _ROWS,
    ),
    (
        "get",
        "/branches/{branch}/heatmap",
        "Hour of day x weekday (168 cells, branch-local)",
        [_BRANCH, *_PERIOD],
        _ROWS,
    ),
    (
        "get",
        "/branches/{branch}/flagged",
        "Latest flagged presses (kept, left out of scores)",
        [
            _BRANCH,
            *_PERIOD,
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5000}},
        ],
        _ROWS,
    ),
    ("get", "/branches/{branch}/kiosks", "The branch's kiosks (as in /fleet)", [_BRANCH], _ROWS),
    (
        "get",
        "/employees",
        "Employee ranking: raw and adjusted index, Wilson 95% interval of the positive share",
        [
            {"name": "branch", "in": "query", "schema": {"type": "string"}},
            {
                "name": "min_responses",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": 100000, "default": DEFAULT_MIN_RESPONSES},
            },
            *_PERIOD,
        ],
        _ROWS,
    ),
    (
        "get",
        "/employees/{branch}/{employee}",
        "One employee: summary and weekly trend",
        [_BRANCH, {"name": "employee", "in": "path", "required": True, "schema": {"type": "string"}}, *_PERIOD],
        {"type": "object"},
    ),
    (
        "get",
        "/alerts",
        "Alerts of the visible branches",
        [{"name": "state", "in": "query", "schema": {"enum": ["live", "open", "acknowledged", "resolved", "all"]}}],
        {"type": "object", "properties": {"rows": {"type": "array", "items": _ALERT}}},
    ),
    (
        "post",
        "/alerts/{alert_id}/{action}",
        "Acknowledge or resolve an alert (resolve needs a note)",
        [
            {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "action", "in": "path", "required": True, "schema": {"enum": ["ack", "resolve"]}},
        ],
        _ALERT,
        _NOTE,
        "200",
    ),
    ("get", "/fleet", "Every visible kiosk: state, last seen, version, backlog, camera, sequence gaps", [], _ROWS),
    ("get", "/roster", "Employees of the visible branches", [], _ROWS),
    (
        "post",
        "/roster",
        "Add or change an employee (JSON: id, name, branch, active)",
        [],
        _EMPLOYEE,
        _NEW_EMPLOYEE,
        "201",
    ),
    (
        "get",
        "/shifts",
        "Shifts overlapping the period (default: 7 days back to 14 ahead), times in the branch's local time",
        [{"name": "branch", "in": "query", "schema": {"type": "string"}}, *_PERIOD],
        {
            "type": "object",
            "properties": {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
                "rows": {"type": "array", "items": _SHIFT},
            },
        },
    ),
    (
        "post",
        "/shifts",
        f"Add a shift; presses it covers are re-attributed ({_SHIFT_BODY})",
        [],
        _SHIFT,
        _NEW_SHIFT,
        "201",
    ),
    (
        "put",
        "/shifts/{shift_id}",
        f"Change a shift; fields left out keep their value; branch cannot change ({_SHIFT_BODY})",
        [_SHIFT_ID],
        _SHIFT,
        _SHIFT_CHANGE,
        "200",
    ),
    ("delete", "/shifts/{shift_id}", "Delete a shift; its presses are re-attributed", [_SHIFT_ID], _SHIFT),
    (
        "get",
        "/reasons",
        "Reasons behind unhappy presses (buttons 1-2) per branch, kiosk, employee or local hour: this period "
        "(default: the 7 local days ending on each branch's today) against the period of the same length before; "
        "`label` in the reader's language, `asked` false for a reason no kiosk asks any more",
        [
            _BRANCH_FILTER,
            {"name": "by", "in": "query", "schema": {"enum": ["branch", "kiosk", "employee", "hour"]}},
            *_PERIOD,
        ],
        {
            "type": "object",
            "properties": {
                "by": {"type": "string"},
                "from": {"type": ["string", "null"]},
                "to": {"type": ["string", "null"]},
                "previous_from": {"type": ["string", "null"]},
                "previous_to": {"type": ["string", "null"]},
                "reasons": {"type": "array", "items": _REASON},
                "groups": {"type": "array", "items": {"type": "object"}},
            },
        },
    ),
    (
        "get",
        "/comments",
        "Shoppers' comments, newest first (default: the last 30 local days), masked before they were stored; "
        "hidden ones only for an admin asking hidden=1",
        [
            _BRANCH_FILTER,
            {"name": "score", "in": "query", "schema": {"enum": ["", "1", "2", "3", "4"]}},
            {"name": "reason", "in": "query", "schema": {"type": "string", "maxLength": 32}},
            {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}, "description": "Text to find"},
            {"name": "hidden", "in": "query", "schema": {"enum": ["", "0", "1"]}},
            {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
            *_PERIOD,
        ],
        {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "pages": {"type": "integer"},
                "per_page": {"type": "integer"},
                "rows": {"type": "array", "items": _COMMENT},
            },
        },
    ),
    (
        "post",
        "/comments/{answer_id}/hide",
        "Hide a comment of one of your branches: kept, marked hidden with who and when",
        [{"name": "answer_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        {
            "type": "object",
            "properties": {"id": {"type": "string"}, "hidden_at": {"type": "string"}, "hidden_by": {"type": "string"}},
        },
        None,
        "200",
    ),
    (
        "get",
        "/export/{view}.csv",
        "CSV of any table: overview, fleet, employees, series, heatmap, flagged, alerts, roster, shifts, "
        "reasons, comments (every comment matching the filters)",
        [_VIEW, _BRANCH_FILTER, *_PERIOD],
        {"type": "string"},
    ),
    (
        "get",
        "/stream",
        "Server-sent events, each topic whenever it changed for the caller's branches: `overview`, `alerts` "
        "(open ones), `fleet`; 503 with Retry-After "
        "when the server's live streams are all taken (poll /overview instead); `end` when the session or "
        "token that opened it is gone",
        [],
        {
            "type": "object",
            "description": "One event: `overview` carries the /overview document as JSON, `alerts` and `fleet` "
            "the /alerts and /fleet documents (fleet sent when a kiosk's state changes, not as `silent_s` grows), "
            "`end` an error",
            "properties": {
                "event": {"enum": ["overview", "alerts", "fleet", "end"]},
                "data": {"type": "string"},
                "id": {"type": "string"},
                "retry": {"type": "integer"},
            },
        },
    ),
    ("get", "/openapi.json", "This document", [], {"type": "object"}),
]


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    error = {"$ref": "#/components/responses/Error"}
    for method, path, summary, params, schema, *more in ENDPOINTS:
        body, status = (more[0], more[1]) if more else (None, "200")
        media = (
            "text/csv" if path.endswith(".csv") else "text/event-stream" if path == "/stream" else "application/json"
        )
        operation: dict[str, Any] = {
            "summary": summary,
            "parameters": params,
            "responses": {
                status: {"description": "Created" if status == "201" else "OK", "content": {media: {"schema": schema}}},
                "400": error,
                "401": error,
                "403": error,
                "404": error,
                # Every path answers the methods it does not serve with 405 and an Allow header.
                "405": error,
                **({"503": error} if path == "/stream" else {}),
            },
        }
        if body is not None:
            operation["requestBody"] = {
                "required": method == "post" and path != "/alerts/{alert_id}/{action}",
                "content": {"application/json": {"schema": body}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Otklik dashboard API", "version": __version__},
        "servers": [{"url": "/api/v1"}],
        "security": [{"session": []}, {"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
                "token": {"type": "http", "scheme": "bearer", "description": "from `otklik users token USERNAME`"},
            },
            "responses": {
                "Error": {
                    "description": "An error; `error` says what and why",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                            }
                        }
                    },
                }
            },
        },
    }
