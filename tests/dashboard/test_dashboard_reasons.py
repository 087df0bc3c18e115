"""Reasons and comments views on a real SQLite hub, through Flask's test client: figures, access, hiding, export.

Presses and answers go in through the hub's own ingest, the follow-up question through
hub.config_push, as they would from kiosks; the app's clock is fixed, so "this week" is known.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hub import config_push
from hub.db import open_db
from hub.ingest import STORED, handle_message
from otklik import protocol, times
from tests.dashboard.conftest import csrf_token, login

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday; branches are in UTC here
_ids = itertools.count(1)


def question(queue: str = "Long queue") -> list[dict]:
    texts = {
        "queue": {"en": queue, "ru": "Долгая очередь", "fa": "صف طولانی"},
        "staff": {"en": "Staff attitude", "ru": "Отношение персонала", "fa": "برخورد کارکنان"},
    }
    return [{"id": "why", "scores": [1, 2], "text": {"en": "Why?", "ru": "Почему?", "fa": "چرا؟"}, "comment": True,
             "options": [{"id": k, "text": v} for k, v in texts.items()]}]  # fmt: skip


def _ingest(db_path: Path, kind: str, body: dict, at: datetime) -> None:
    """One message through the hub's own ingest, received a second after it was made."""
    db = open_db(db_path)
    topic = protocol.topic(body["branch"], body["kiosk"], kind)
    stored = handle_message(db, topic, protocol.encode(body), at + timedelta(seconds=1))
    db.conn.close()
    assert stored.result == STORED, stored


def press(db_path: Path, branch: str, kiosk: str, score: int, at: datetime, *, employee: str | None = None,
          flags: list[str] | None = None) -> str:  # fmt: skip
    n = next(_ids)
    rating_id = f"rating-{n:06d}"
    _ingest(db_path, "rating", protocol.rating_payload(branch=branch, kiosk=kiosk, id=rating_id, seq=n,
            ts=times.format_ts(at), score=score, employee=employee, flags=flags, channel="touch"), at)  # fmt: skip
    return rating_id


def answer(db_path: Path, branch: str, kiosk: str, rating_id: str, at: datetime, reason: str | None = None,
           comment: str | None = None) -> str:  # fmt: skip
    answer_id = f"answer-{next(_ids):06d}"
    _ingest(db_path, "answer", protocol.answer_payload(branch=branch, kiosk=kiosk, id=answer_id, rating=rating_id,
            ts=times.format_ts(at), reason=reason, comment=comment), at)  # fmt: skip
    return answer_id


@pytest.fixture
def why(app: Flask, hub_path: Path) -> dict[str, str]:
    """b1 (olga's) and b2 (petr's): unhappy presses this week and last, answered and not, with comments."""
    app.config["CLOCK"] = lambda: NOW
    db = open_db(hub_path)
    for branch, kiosk in (("b1", "k1"), ("b1", "k2"), ("b2", "k9")):
        config_push.set_settings(db, branch, kiosk, {"followup": question()})
    db.conn.close()
    day = NOW - timedelta(days=1)
    ids: dict[str, str] = {}
    # This week at b1: queue three times (one press first said staff, then queue: it counts once, as queue).
    for i, kiosk in enumerate(("k1", "k1", "k2")):
        at = day.replace(hour=9 + i)
        r = press(hub_path, "b1", kiosk, 1 + i % 2, at, employee="e1")
        if i == 0:
            answer(hub_path, "b1", kiosk, r, at + timedelta(seconds=3), "staff")
        ids[f"queue{i}"] = answer(hub_path, "b1", kiosk, r, at + timedelta(seconds=9), "queue",
                                  "Waited <b>20 min</b> at 100% full tills" if i == 0 else None)  # fmt: skip
    r = press(hub_path, "b1", "k1", 2, day.replace(hour=15))
    ids["staff"] = answer(
        hub_path, "b1", "k1", r, day.replace(hour=15, minute=1), "staff", "rude, call +7 912 345-67-89"
    )
    press(hub_path, "b1", "k1", 1, day.replace(hour=16))  # unhappy, never said why
    r = press(hub_path, "b1", "k1", 4, day.replace(hour=16, minute=5))  # happy: not an unhappy reason
    answer(hub_path, "b1", "k1", r, day.replace(hour=16, minute=6), "queue")
    r = press(hub_path, "b1", "k1", 1, day.replace(hour=17), flags=["cooldown"])  # flagged: left out as in scores
    answer(hub_path, "b1", "k1", r, day.replace(hour=17, minute=1), "queue")
    r = press(hub_path, "b1", "k2", 1, day.replace(hour=18))
    ids["parking"] = answer(hub_path, "b1", "k2", r, day.replace(hour=18, minute=1), "parking", "no room to park")
    # Last week at b1: queue twice.
    for h in (10, 11):
        at = NOW - timedelta(days=9, hours=-h + 12)
        r = press(hub_path, "b1", "k1", 1, at)
        answer(hub_path, "b1", "k1", r, at + timedelta(seconds=5), "queue")
    # b2, petr's: a comment olga must never see.
    r = press(hub_path, "b2", "k9", 1, day.replace(hour=10))
    ids["b2"] = answer(hub_path, "b2", "k9", r, day.replace(hour=10, minute=1), "staff", "secret of branch two")
    return ids


def test_reasons_this_week_against_last_in_the_readers_words(client: FlaskClient, why: dict[str, str]) -> None:
    login(client, "root")
    figure = client.get("/api/v1/reasons?branch=b1").get_json()
    assert (figure["from"], figure["to"]) == ("2026-11-19", "2026-11-25")
    assert (figure["previous_from"], figure["previous_to"]) == ("2026-11-12", "2026-11-18")
    top = {r["reason"]: (r["n"], r["previous"], r["label"], r["asked"]) for r in figure["reasons"]}
    assert top == {"queue": (3, 2, "Long queue", True), "staff": (1, 0, "Staff attitude", True),
                   "parking": (1, 0, "parking", False)}  # fmt: skip
    assert figure["reasons"][0]["reason"] == "queue"
    (b1,) = figure["groups"]
    # Unhappy presses this week: 3 queue + staff + unanswered + parking (the happy and the flagged are not).
    assert (b1["unhappy"], b1["answered"], b1["previous_unhappy"], b1["previous_answered"]) == (6, 5, 2, 2)
    ru = client.get("/api/v1/reasons?branch=b1", headers={"Accept-Language": "ru"}).get_json()
    assert ru["reasons"][0]["label"] == "Долгая очередь"
    by_kiosk = client.get("/api/v1/reasons?branch=b1&by=kiosk").get_json()["groups"]
    assert {(g["kiosk"], g["unhappy"]) for g in by_kiosk} == {("k1", 4), ("k2", 2)}
    by_hour = client.get("/api/v1/reasons?branch=b1&by=hour").get_json()["groups"]
    assert {g["hour"]: g["unhappy"] for g in by_hour} == {9: 1, 10: 1, 11: 1, 15: 1, 16: 1, 18: 1}
    by_employee = client.get("/api/v1/reasons?branch=b1&by=employee").get_json()["groups"]
    assert {g["employee"]: g["unhappy"] for g in by_employee} == {"e1": 3, "": 3}
    # Another period: ?to= moves both weeks back.
    earlier = client.get("/api/v1/reasons?branch=b1&to=2026-11-18").get_json()
    assert {r["reason"]: (r["n"], r["previous"]) for r in earlier["reasons"]} == {"queue": (2, 0)}


def test_a_reason_whose_words_changed_reads_as_it_is_asked_now(client: FlaskClient, why: dict[str, str],
                                                               hub_path: Path) -> None:  # fmt: skip
    db = open_db(hub_path)
    for kiosk in ("k1", "k2"):
        config_push.set_settings(db, "b1", kiosk, {"followup": question(queue="Waiting at the till")})
    db.conn.close()
    login(client, "root")
    page = client.get("/reasons?branch=b1").get_data(as_text=True)
    assert "Waiting at the till" in page and "Long queue" not in page
    assert "parking" in page and "no longer asked" in page
    assert 'id="reasons-chart"' in page and "data-reasons=" in page


def test_a_manager_sees_hides_and_exports_only_their_branch(client: FlaskClient, why: dict[str, str],
                                                            hub_path: Path) -> None:  # fmt: skip
    login(client, "olga")
    figure = client.get("/api/v1/reasons").get_json()
    assert {g["branch"] for g in figure["groups"]} == {"b1"}
    assert client.get("/api/v1/reasons?branch=b2").status_code == 404
    listed = client.get("/api/v1/comments").get_json()
    assert listed["total"] == 3 and {r["branch"] for r in listed["rows"]} == {"b1"}
    assert client.get("/api/v1/comments?branch=b2").status_code == 404
    assert "secret of branch two" not in client.get("/comments").get_data(as_text=True)
    assert "secret of branch two" not in client.get("/export/comments.csv").get_data(as_text=True)
    assert "b2" not in client.get("/export/reasons.csv").get_data(as_text=True)
    assert client.get("/export/comments.csv?branch=b2").status_code == 404
    # Hiding b2's comment answers as for an id that does not exist, and changes nothing.
    token = csrf_token(client, "/comments")
    assert client.post(f"/comments/{why['b2']}/hide", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/api/v1/comments/{why['b2']}/hide", headers={"X-CSRFToken": token}).status_code == 404
    assert client.post("/comments/no-such-id/hide", data={"csrf_token": token}).status_code == 404
    db = open_db(hub_path)
    assert db.execute("SELECT hidden_at FROM answers WHERE id = ?", [why["b2"]]).fetchone() == (None,)
    db.conn.close()
    # A technician reads no comments at all.
    client.post("/logout", data={"csrf_token": token})
    login(client, "tech")
    assert client.get("/api/v1/comments").status_code == 403
    assert client.get("/comments").status_code == 403


def test_hiding_keeps_the_comment_with_who_and_when(client: FlaskClient, why: dict[str, str], hub_path: Path) -> None:
    login(client, "olga")
    token = csrf_token(client, "/comments")
    done = client.post(f"/comments/{why['staff']}/hide", data={"csrf_token": token, "next": "/comments?score=2"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/comments?score=2")
    db = open_db(hub_path)
    row = db.execute("SELECT comment, hidden_by, hidden_at FROM answers WHERE id = ?", [why["staff"]]).fetchone()
    db.conn.close()
    assert row == ("rude, call [phone]", "olga", times.format_ts(NOW))  # kept, masked as stored
    rows = client.get("/api/v1/comments").get_json()["rows"]
    assert why["staff"] not in {r["id"] for r in rows}
    refused = client.get("/api/v1/comments?hidden=1")
    assert refused.status_code == 400 and refused.get_json()["error"].startswith("hidden:")
    client.post("/logout", data={"csrf_token": token})
    login(client, "root")
    shown = client.get("/comments?hidden=1").get_data(as_text=True)
    assert "Hidden by olga" in shown and "[phone number]" in shown
    hidden = {r["id"]: r for r in client.get("/api/v1/comments?hidden=1").get_json()["rows"]}
    assert hidden[why["staff"]]["hidden_by"] == "olga"


def test_comments_filter_search_escape_and_page(client: FlaskClient, why: dict[str, str]) -> None:
    login(client, "root")

    def ids(query: str) -> set[str]:
        return {r["id"] for r in client.get("/api/v1/comments" + query).get_json()["rows"]}

    assert ids("?branch=b1") == {why["queue0"], why["staff"], why["parking"]}
    assert ids("?branch=b1&score=2") == {why["staff"]}
    assert ids("?reason=parking") == {why["parking"]}
    # The search's own wildcards are text: "100%" finds the comment that says so, "%" alone no more than it.
    assert ids("?q=100%25") == {why["queue0"]} == ids("?q=%25")
    assert ids("?q=_") == set()
    assert ids("?from=2026-11-25") == set()  # the comments were yesterday
    page = client.get("/comments?branch=b1").get_data(as_text=True)
    assert "Waited &lt;b&gt;20 min&lt;/b&gt;" in page and "<b>20 min</b>" not in page
    first = client.get("/api/v1/comments?limit=2").get_json()
    second = client.get("/api/v1/comments?limit=2&page=2").get_json()
    assert (first["total"], first["pages"], len(first["rows"]), len(second["rows"])) == (4, 2, 2, 2)
    assert not {r["id"] for r in first["rows"]} & {r["id"] for r in second["rows"]}
    assert 'rel="next"' in client.get("/comments?limit=2").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [("score=9", "score"), ("score=1.5", "score"), ("reason=Bad%20Id!", "reason"), ("page=0", "page"),
     ("page=x", "page"), ("q=" + "x" * 101, "q"), ("from=2026-13-01", "from"), ("hidden=yes", "hidden"),
     ("limit=0", "limit")],
)  # fmt: skip
def test_bad_comment_filters_are_400_naming_the_field(client: FlaskClient, why: dict[str, str], query: str,
                                                      field: str) -> None:  # fmt: skip
    login(client, "root")
    # The export is every matching comment: it pages through them itself and reads no page or limit.
    paths = ("/api/v1/comments", "/comments") + (() if field in ("page", "limit") else ("/export/comments.csv",))
    for path in paths:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        if path.startswith("/api/"):
            assert response.get_json()["error"].startswith(f"{field}:"), response.get_json()


def test_bad_reason_filters_are_400(client: FlaskClient, why: dict[str, str]) -> None:
    login(client, "root")
    for query in ("by=week", "to=2026-02-30", "from=2026-11-20&to=2026-11-10"):
        response = client.get(f"/api/v1/reasons?{query}")
        assert response.status_code == 400 and response.get_json()["error"].split(":")[0] in ("by", "to", "from")
        assert client.get(f"/reasons?{query}").status_code == 400


def test_exports_follow_the_csv_conventions(client: FlaskClient, why: dict[str, str]) -> None:
    login(client, "root")
    plain = client.get("/export/comments.csv?branch=b1")
    assert plain.status_code == 200 and plain.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(plain.get_data(as_text=True))))
    assert {r["id"] for r in rows} == {why["queue0"], why["staff"], why["parking"]}
    assert "Waited <b>20 min</b> at 100% full tills" in {r["comment"] for r in rows}  # data, not HTML: as stored
    excel = client.get("/export/comments.csv?branch=b1&excel=1", headers={"Accept-Language": "ru"})
    assert excel.data.startswith(b"\xef\xbb\xbf") and "excel" in excel.headers["Content-Disposition"]
    reasons = list(csv.DictReader(io.StringIO(client.get("/export/reasons.csv?branch=b1").get_data(as_text=True))))
    assert {(r["reason"], r["n"], r["previous"]) for r in reasons} == {("queue", "3", "2"), ("staff", "1", "0"),
                                                                       ("parking", "1", "0")}  # fmt: skip
