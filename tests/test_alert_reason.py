"""The unhappy-share alert names the reason most shoppers gave, in each reader's language (real SQLite, real ingest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from hub import alert_text, alerts, config_push, ingest
from hub.db import open_db
from otklik import protocol, times

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FOLLOWUP = [{
    "id": "why", "scores": [1, 2], "text": {"en": "Why?", "ru": "Почему?", "fa": "چرا؟"},
    "options": [
        {"id": "queue", "text": {"en": "Long queue", "ru": "Долгая очередь", "fa": "صف طولانی"}},
        {"id": "staff", "text": {"en": "Staff", "ru": "Персонал", "fa": "کارکنان"}},
    ],
}]  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    db = open_db(tmp_path / "hub.db")
    config_push.set_settings(db, "b1", "k1", {"followup": FOLLOWUP})
    return db


def presses(db: sqlite_utils.Database, reasons: list[str | None]) -> None:
    """One unhappy press a minute over the last few minutes, each answered with its reason (None: not answered)."""
    messages = []
    for i, reason in enumerate(reasons):
        at = NOW - timedelta(minutes=len(reasons) - i)
        rating = f"rating-{i:04d}"
        body = protocol.rating_payload(branch="b1", kiosk="k1", id=rating, seq=i + 1, ts=times.format_ts(at), score=1)
        messages.append((protocol.topic("b1", "k1", "rating"), protocol.encode(body), at))
        if reason:
            answer = protocol.answer_payload(branch="b1", kiosk="k1", id=f"answer-{i:04d}", rating=rating,
                                             ts=times.format_ts(at + timedelta(seconds=5)), reason=reason)  # fmt: skip
            messages.append((protocol.topic("b1", "k1", "answer"), protocol.encode(answer), at + timedelta(seconds=6)))
    assert {o.result for o in ingest.handle_batch(db, messages)} == {ingest.STORED}


def unhappy_alert(db: sqlite_utils.Database) -> dict:
    (alert,) = [a for a in alerts.evaluate(db, now=NOW) if a["rule"] == "unhappy_share"]
    return alert


def test_the_alert_says_what_most_unhappy_shoppers_said(db: sqlite_utils.Database) -> None:
    presses(db, ["queue", "staff", "queue", None, "queue"])
    alert = unhappy_alert(db)
    assert alert["message"].endswith("; mostly “Long queue” (3 of 4 who said why)"), alert["message"]
    assert "чаще всего «Долгая очередь» (3 из 4 назвавших причину)" in alert_text.render(alert, "ru")
    assert "بیشتر «صف طولانی»" in alert_text.render(alert, "fa")
    # The words went into the alert: a question changed later does not change what it said.
    config_push.set_settings(db, "b1", "k1", {"followup": None})
    assert "Long queue" in alert_text.render(alerts.get(db, alert["id"]), "en")


@pytest.mark.parametrize(
    "reasons", [[None, None, None, None], ["queue", "staff", None, None], ["queue", None, None, None]]
)
def test_no_reason_named_without_a_clear_one(db: sqlite_utils.Database, reasons: list[str | None]) -> None:
    # Nobody said why, two reasons tie, or a single shopper's reason: the alert names none.
    presses(db, reasons)
    alert = unhappy_alert(db)
    assert "mostly" not in alert["message"] and "mostly" not in alert["params"]
    assert alert["message"].startswith("b1: 100% unhappy (4 of 4 presses)")
