"""The fleet tells a kiosk's current outbox backlog from the last figure a silent or stopped kiosk reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils
from flask.testing import FlaskClient

from dashboard import fleet
from hub.db import open_db
from hub.ingest import handle_message
from otklik import protocol
from tests.dashboard.conftest import heartbeat, login


def status(db_path: Path, branch: str, kiosk: str, state: str) -> None:
    db = open_db(db_path)
    handle_message(
        db, protocol.topic(branch, kiosk, "status"), protocol.encode(protocol.status_payload(branch, kiosk, state))
    )
    db.conn.close()


def rows_at(db_path: Path, now: datetime) -> dict[str, dict]:
    return {r["kiosk"]: r for r in fleet.fleet(sqlite_utils.Database(db_path), None, now=now)}


def test_a_heartbeat_older_than_two_intervals_is_history_not_the_present(hub_path: Path) -> None:
    heartbeat(hub_path, "b1", "k1", outbox_depth=4090, heartbeat_s=30)
    heartbeat(hub_path, "b1", "k2", outbox_depth=12, heartbeat_s=600)  # a kiosk configured to beat rarely
    heartbeat(hub_path, "b1", "k3", outbox_depth=7)  # an older kiosk that does not say: 30 s assumed
    now = datetime.now(UTC)
    fresh = rows_at(hub_path, now)
    assert [fresh[k]["outbox_current"] for k in ("k1", "k2", "k3")] == [True, True, True]
    later = rows_at(hub_path, now + timedelta(seconds=90))
    assert [later[k]["outbox_current"] for k in ("k1", "k2", "k3")] == [False, True, False]
    # The figure itself stays, with the time it was reported.
    assert later["k1"]["outbox_depth"] == 4090 and later["k1"]["heartbeat_at"]


def test_a_kiosk_that_went_offline_shows_its_last_report_as_such(hub_path: Path, client: FlaskClient) -> None:
    heartbeat(hub_path, "b1", "k1", outbox_depth=4090)
    heartbeat(hub_path, "b1", "k2", outbox_depth=5)
    status(hub_path, "b1", "k1", "offline")  # drained, said goodbye and stopped
    rows = rows_at(hub_path, datetime.now(UTC))
    assert (rows["k1"]["outbox_current"], rows["k2"]["outbox_current"]) == (False, True)
    login(client, "tech")
    api = {r["kiosk"]: r for r in client.get("/api/v1/fleet").get_json()["rows"]}
    assert (api["k1"]["outbox_current"], api["k1"]["outbox_depth"]) == (False, 4090)
    page = client.get("/fleet", headers={"Accept-Language": "en"}).get_data(as_text=True)
    k1 = page[page.index('data-kiosk="b1/k1"') :].split("</tr>")[0]
    k2 = page[page.index('data-kiosk="b1/k2"') :].split("</tr>")[0]
    assert "last reported 4,090 at" in k1
    assert "last reported" not in k2 and ">5<" in k2
