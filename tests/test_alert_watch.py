"""The alert watcher that runs inside `otklik hub`: it looks at new commits (hub.changes: SQLite's
data_version, PostgreSQL's NOTIFY), evaluates only the branches they touched (SQLite: by rowid;
PostgreSQL: the hub's commit names them), sweeps every branch now and then for rules time makes
true, sends what a killed watcher left undelivered, and publishes auto-resolved states."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub import alerts, branches, notify
from hub.alert_watch import AlertWatcher
from hub.db import open_db
from tests.analytics_util import feed, press
from tests.broker import wait_until


class Published:
    """The watcher's publish callback: what would go to the broker, with a lock."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.messages.append((topic, json.loads(payload)))

    def states(self, branch: str) -> list[str]:
        with self.lock:
            return [body["state"] for topic, body in self.messages if topic.endswith("/" + branch)]


def _prepared(path):
    db = open_db(path)
    for branch in ("b1", "b2"):
        branches.update(db, branch, day_index_below="off", silent_after_min=0, change_alpha=0,
                        offline_after_min=100000)  # fmt: skip
    db.close()
    return path


@pytest.fixture
def db_path(hub_target):
    return _prepared(hub_target)


def unhappy(db, branch: str, now: datetime, scores=(1, 1, 2, 4)) -> None:
    feed(db, [press(now - timedelta(seconds=len(scores) - i), s, branch=branch) for i, s in enumerate(scores)], now)


def test_only_branches_with_new_presses_are_evaluated_until_the_sweep(db_path):
    db = open_db(db_path)
    now = datetime.now(UTC)
    feed(db, [press(now - timedelta(minutes=1), s, branch="b2") for s in (1, 2, 4, 4)], now)  # 50 %: no alert at 60
    branches.update(db, "b2", unhappy_share_pct=60)
    published = Published()
    watcher = AlertWatcher(db_path, published, poll_s=0.1, sweep_s=3600).start()
    try:
        wait_until(lambda: watcher.evaluations >= 1, message="the first sweep")
        branches.update(db, "b2", unhappy_share_pct=50)  # now b2's old presses cross, but nothing new came in
        unhappy(db, "b1", datetime.now(UTC))
        wait_until(lambda: published.states("b1") == ["open"], timeout=5, message="b1's alert")
        polls = watcher.polls
        wait_until(lambda: watcher.polls >= polls + 3, message="a few more polls")  # absence takes time
        assert published.states("b2") == [], "b2 has no new presses: it waits for the sweep"
    finally:
        watcher.stop()
    watcher = AlertWatcher(db_path, published, poll_s=0.1, sweep_s=3600).start()  # a start sweeps everything
    try:
        wait_until(lambda: published.states("b2") == ["open"], timeout=5, message="b2's alert at the sweep")
        assert published.states("b1") == ["open"], "b1's live alert was sent again"
    finally:
        watcher.stop()
        db.close()


def test_an_alert_a_killed_watcher_never_sent_is_sent_after_the_restart(db_path):
    db = open_db(db_path)
    now = datetime.now(UTC)
    unhappy(db, "b1", now)
    # What a watcher killed between opening and delivering leaves behind: an open alert, delivered {}.
    left = alerts.fire(db, "unhappy_share", "b1", params={"share": 75}, now=now)
    sent = alerts.fire(db, "backlog", "b2", kiosk="k1", params={"depth": 500, "limit": 100}, now=now)
    assert left and sent
    alerts.mark_delivered(db, sent["id"], {"mqtt": "ok"})
    published = Published()
    watcher = AlertWatcher(db_path, published, poll_s=0.1, sweep_s=3600).start()
    try:
        wait_until(lambda: published.states("b1") == ["open"], timeout=5, message="the undelivered alert")
        wait_until(lambda: alerts.get(db, left["id"])["delivered"] == {"mqtt": "ok"}, message="its record")
        wait_until(lambda: watcher.evaluations >= 1, message="the first sweep")
        assert published.states("b2") == []  # delivered before the kill: not again
    finally:
        watcher.stop()
        db.close()


def test_auto_resolve_is_published(db_path):
    db = open_db(db_path)
    branches.update(db, "b1", auto_resolve_min=30)
    start = datetime.now(UTC)
    unhappy(db, "b1", start)
    clock = {"now": start}
    published = Published()
    watcher = AlertWatcher(db_path, published, poll_s=0.05, sweep_s=0.05, clock=lambda: clock["now"]).start()
    try:
        wait_until(lambda: published.states("b1") == ["open"], timeout=5, message="the alert")
        clock["now"] = start + timedelta(minutes=20)  # the 15-min window is empty: cleared from here
        wait_until(lambda: alerts.list_alerts(db)[0]["cleared_at"], timeout=5, message="the cleared mark")
        clock["now"] = start + timedelta(minutes=51)
        wait_until(lambda: published.states("b1") == ["open", "resolved"], timeout=5, message="the resolved state")
        assert published.messages[-1][1]["resolved_by"] == "auto"
    finally:
        watcher.stop()
        db.close()


def test_a_webhook_that_was_down_gets_the_alert_at_a_later_sweep(db_path):
    """A chat server answering 503 for a while: the alert is sent again at each sweep until it is taken."""
    answers = [503, 503, 204]
    posts: list[dict] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db = open_db(db_path)
    notify.add_channel(db, "webhook", f"http://127.0.0.1:{server.server_port}/hook/secret", branch="b1")
    published = Published()
    watcher = AlertWatcher(db_path, published, poll_s=0.05, sweep_s=0.2).start()
    try:
        unhappy(db, "b1", datetime.now(UTC))
        wait_until(lambda: len(posts) >= 3, timeout=10, message="two failed posts and a third that is taken")
        [alert] = alerts.list_alerts(db)
        wait_until(lambda: all(r.startswith("ok") for r in alerts.get(db, alert["id"])["delivered"].values()),
                   message="the record to say ok")  # fmt: skip
        polls = watcher.polls
        wait_until(lambda: watcher.polls >= polls + 10, message="more sweeps")
        assert len(posts) == 3 and published.states("b1") == ["open"], "delivered channels were sent again"
    finally:
        watcher.stop()
        server.shutdown()
        server.server_close()
        db.close()


def _leader_pid(url: str) -> int | None:
    import psycopg

    from hub.alert_watch import LEAD_LOCK

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s AND objsubid = 1",
            [LEAD_LOCK],
        ).fetchone()
    return None if row is None else int(row[0])


def test_a_terminated_postgresql_connection_is_made_again(pg_url, caplog):
    """The server ends the watcher's session (restart, failover, an admin): it reconnects and keeps evaluating."""
    import psycopg

    password_url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-in-url@")
    db_path = _prepared(pg_url)
    db = open_db(db_path)
    published = Published()
    # The URL with a password (the test server trusts local users, so it is ignored): it must not reach the log.
    watcher = AlertWatcher(password_url, published, poll_s=0.05, sweep_s=3600).start()
    try:
        wait_until(lambda: watcher.evaluations >= 1 and _leader_pid(pg_url) is not None, message="the first sweep")
        first = _leader_pid(pg_url)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [first])
        wait_until(lambda: watcher.reconnects >= 1, timeout=10, message="the watcher's new connection")
        wait_until(lambda: _leader_pid(pg_url) not in (None, first), timeout=10, message="the lead taken again")
        unhappy(db, "b1", datetime.now(UTC))  # presses after the loss: evaluated on the new connection
        wait_until(lambda: published.states("b1") == ["open"], timeout=10, message="b1's alert after the reconnect")
    finally:
        watcher.stop()
        db.close()
    assert "s3cret-in-url" not in caplog.text
    assert "reconnecting" in caplog.text
