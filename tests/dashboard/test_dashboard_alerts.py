"""The alerts page in the reader's language: texts rendered from the alert's kind and parameters
(the same wording as the hub's e-mails and MQTT messages), states translated, auto-resolve shown."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient

from hub import alerts as hub_alerts
from hub import branches
from hub.db import open_db
from tests.dashboard.conftest import csrf_token, login, publish


def unhappy_alert(hub_path: Path) -> int:
    now = datetime.now(UTC)
    db = open_db(hub_path)
    branches.update(db, "b1", day_index_below="off")
    db.conn.close()
    for seq, score in enumerate((1, 1, 2, 4), start=1):
        publish(hub_path, "b1", "k1", score, seq, ts=now - timedelta(minutes=5 - seq))
    db = open_db(hub_path)
    [alert] = [a for a in hub_alerts.evaluate(db, now, only=["b1"]) if a["rule"] == "unhappy_share"]
    db.conn.close()
    return alert["id"]


def alerts_page(client: FlaskClient, language: str, state: str = "live") -> str:
    token = csrf_token(client, "/alerts")
    client.post("/settings/language", data={"language": language, "csrf_token": token})
    return html.unescape(client.get(f"/alerts?state={state}").get_data(as_text=True))


def test_alert_text_and_state_in_each_language(client: FlaskClient, hub_path: Path) -> None:
    unhappy_alert(hub_path)
    login(client, "olga")
    # The branch (an id in Latin script) is isolated, so an RTL line does not reorder it.
    assert '<bdi class="id">b1</bdi>: 75% unhappy (3 of 4 presses) in the last 15 min (limit 50%)' in alerts_page(
        client, "en"
    )
    page = alerts_page(client, "ru")
    assert '<bdi class="id">b1</bdi>: 75% недовольных (3 из 4 нажатий) за последние 15 мин (порог 50%)' in page
    assert 'data-state="open">открыта<' in page
    page = alerts_page(client, "fa")
    # Persian digits, as every other number on a Persian page.
    assert '<bdi class="id">b1</bdi>: ۷۵٪ ناراضی (۳ از ۴ فشار)' in page and 'data-state="open">باز<' in page


def test_auto_resolved_and_hand_resolved_alerts_say_so(client: FlaskClient, hub_path: Path) -> None:
    alert_id = unhappy_alert(hub_path)
    db = open_db(hub_path)
    hub_alerts.resolve(db, alert_id, "auto", "condition cleared for 30 min")
    other = hub_alerts.fire(db, "backlog", "b1", kiosk="k2", params={"depth": 300, "limit": 100})
    assert other is not None
    hub_alerts.resolve(db, other["id"], "olga", "cable replaced")
    db.conn.close()
    login(client, "olga")
    page = alerts_page(client, "ru", "resolved")
    assert re.search(r"закрыта [^<:]*\d\d:\d\d: автоматически: условие больше не выполняется", page), page
    assert '<bdi class="id">b1/k2</bdi>: 300 нажатий ждут отправки (порог 100)' in page
    assert re.search(r"закрыта [^<:]*\d\d:\d\d: cable replaced", page)


def state_cells(page: str) -> list[str]:
    return re.findall(r'<td data-state="\w+">(.*?)</td>', page, re.S)


def test_a_resolved_or_acknowledged_alert_says_its_state_once_in_each_language(
    client: FlaskClient, hub_path: Path
) -> None:
    """ "закрыта: note" above "закрыта 12:05" said it twice (the page and its live part, one template)."""
    alert_id = unhappy_alert(hub_path)
    db = open_db(hub_path)
    hub_alerts.acknowledge(db, alert_id, "olga")
    hub_alerts.resolve(db, alert_id, "olga", "cable replaced")
    acked = hub_alerts.fire(db, "backlog", "b1", kiosk="k2", params={"depth": 300, "limit": 100})
    assert acked is not None
    hub_alerts.acknowledge(db, acked["id"], "olga")
    db.conn.close()
    login(client, "olga")
    # The state's word and the step's may differ in a space: "حل شده" and "حل‌شده" (ZWNJ).
    words = {"ru": ("закрыта", "принята"), "en": ("resolved", "acknowledged"), "fa": ("حل.شده", "پذیرفته")}
    for language, (resolved, acknowledged) in words.items():
        cells = [re.sub(r"<[^>]+>", " ", cell) for cell in state_cells(alerts_page(client, language, "all"))]
        assert len(cells) == 2, cells
        # Both were acknowledged (said once each), one resolved (said once), with what was done.
        assert [len(re.findall(acknowledged, cell)) for cell in cells] == [1, 1], (language, cells)
        assert sorted(len(re.findall(resolved, cell)) for cell in cells) == [0, 1], (language, cells)
        assert any(re.search(resolved, cell) and "cable replaced" in cell for cell in cells), (language, cells)


def test_the_alerts_api_words_each_alert_in_the_readers_language(client: FlaskClient, hub_path: Path) -> None:
    unhappy_alert(hub_path)
    login(client, "olga")
    alerts_page(client, "ru")  # the user's language is now Russian
    [row] = client.get("/api/v1/alerts").get_json()["rows"]
    assert row["text"] == "b1: 75% недовольных (3 из 4 нажатий) за последние 15 мин (порог 50%)"
    assert row["state_text"] == "открыта"
    assert row["message"].startswith("b1: 75% unhappy")  # what the hub stored stays as it was


def test_acknowledging_from_a_branchs_alerts_comes_back_to_them(client: FlaskClient, hub_path: Path) -> None:
    alert_id = unhappy_alert(hub_path)
    login(client, "root")
    page = client.get("/alerts?branch=b1").get_data(as_text=True)
    assert 'name="next" value="/alerts?state=live&amp;branch=b1"' in page
    token = csrf_token(client, "/alerts?branch=b1")
    answer = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token, "next": "/alerts?state=live&branch=b1"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/alerts?state=live&branch=b1"
    # A next that leaves the site is not followed.
    answer = client.post(
        f"/alerts/{alert_id}/resolve", data={"csrf_token": token, "note": "ok", "next": "//evil.example"}
    )
    assert answer.headers["Location"] == "/alerts"
    # Times on the page, acknowledged included, are the branch's (UTC here), with who acknowledged.
    assert "acknowledged " in client.get("/alerts?state=all&branch=b1").get_data(as_text=True)
