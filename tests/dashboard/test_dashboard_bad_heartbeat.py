"""One heartbeat must not break a page: a malformed one goes to the dead letters, and every page stays 200.

Before the protocol checked heartbeat fields, ``"refused": "abc"`` (also ``{}``,
``[1]``, ``1e300``, ``config_version: "x"``) made /fleet and /branch/<b> answer
500 for every user until that kiosk's next heartbeat, and ``10**30`` broke
/api/v1/fleet.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient

from hub.db import open_db
from hub.ingest import handle_message
from otklik import protocol
from tests.dashboard.conftest import login

BAD_FIELDS = [
    {"refused": "abc"},
    {"refused": {}},
    {"refused": [1]},
    {"refused": 1e300},
    {"refused": 10**30},
    {"config_version": "x"},
    {"config_version": 10**30},
    {"camera": {"state": "ok"}},
    {"camera": ["ok"]},
    {"dropped": "2"},
    {"outbox_depth": 10**30},
    {"last_seq_sent": 1.5},
    {"uptime_s": 1e300},
    {"version": {"v": 1}},
]


def test_a_malformed_heartbeat_is_a_dead_letter_and_the_pages_stay_up(client: FlaskClient, data: Path) -> None:
    login(client, "root")
    db = open_db(data)
    try:
        for n, bad in enumerate(BAD_FIELDS, start=1):
            body = protocol.heartbeat_payload(
                branch="b1", kiosk="k1", uptime_s=10.0, version="1.2.3", outbox_depth=3, last_seq_sent=7, refused=1
            )
            body.update(bad)
            outcome = handle_message(db, protocol.topic("b1", "k1", "heartbeat"), json.dumps(body).encode())
            assert outcome.result == "rejected", (bad, outcome)
            assert next(iter(bad)) in (outcome.reason or ""), (bad, outcome)
            assert db["dead_letters"].count == n
            for path in ("/fleet", "/branch/b1", "/api/v1/fleet"):
                response = client.get(path)
                assert response.status_code == 200, (bad, path, response.get_data(as_text=True)[:300])
            # The registry still shows the last good heartbeat.
            rows = {r["kiosk"]: r for r in client.get("/api/v1/fleet").get_json()["rows"]}
            assert (rows["k1"]["outbox_depth"], rows["k1"]["refused"]) == (3, 1), bad
    finally:
        db.close()
