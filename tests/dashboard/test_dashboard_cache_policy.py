"""The figure cache's policy under presses (dashboard/cache.py): bounded recomputation, stale values
served without waiting but never older than a second, nested values fresh, no clock in the keys."""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from flask import Flask

from dashboard import accounts, cache, create_app
from hub import branches
from hub.db import open_db
from tests.dashboard.conftest import PASSWORD, login, publish
from tests.hub_db import migrate


def _table(path: Path) -> None:
    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("CREATE TABLE t (x)")
    db.conn.commit()
    db.conn.close()


def _reader(path: Path) -> sqlite_utils.Database:
    return sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))


def _insert(path: Path, n: int = 1) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(n)])
    conn.close()


def test_a_commit_storm_recomputes_a_figure_at_most_once_per_interval_and_readers_do_not_wait(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    _table(path)
    calls: list[float] = []

    @cache.cached
    def count(db: sqlite_utils.Database) -> int:
        calls.append(time.monotonic())
        time.sleep(0.05)  # a figure that costs something
        return db.execute("SELECT count(*) FROM t").fetchone()[0]

    warm = _reader(path)
    assert count(warm) == 0
    stop = threading.Event()
    commits = [0]

    def writer() -> None:
        while not stop.is_set():  # a commit every ~10 ms: a chain at noon, and then some
            _insert(path)
            commits[0] += 1
            time.sleep(0.01)

    slow: list[float] = []
    served = [0]

    def reader() -> None:
        db = _reader(path)
        while not stop.is_set():
            t = time.perf_counter()
            count(db)
            served[0] += 1
            if time.perf_counter() - t >= 0.05:  # as long as a computation: it waited for one
                slow.append(time.perf_counter() - t)
            time.sleep(0.002)
        db.conn.close()

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader) for _ in range(6))]
    started = time.monotonic()
    for th in threads:
        th.start()
    time.sleep(3.0)
    stop.set()
    for th in threads:
        th.join()
    seconds = time.monotonic() - started
    storm = calls[1:]
    assert commits[0] > 50 and served[0] > 200
    # Invalidated on each commit, it ran once per commit a reader saw (hundreds of times).
    assert len(storm) <= seconds / cache.REFRESH_S + 2, f"{len(storm)} computations in {seconds:.1f} s"
    gaps = [b - a for a, b in itertools.pairwise(storm)]
    assert all(g >= cache.REFRESH_S * 0.95 for g in gaps), gaps
    # Nobody waited for a recomputation while a value a second old or newer was there (a loaded
    # machine may delay a refresh past the second; then waiting is the promise, and rare).
    assert len(slow) <= served[0] // 50, f"{len(slow)} of {served[0]} reads waited"
    # And the storm's end shows: every commit is in the value within the second.
    time.sleep(cache.MAX_STALE_S)
    assert count(warm) == commits[0]


def test_no_value_misses_a_commit_older_than_max_stale_even_without_a_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "REFRESH_S", 30.0)  # the background refresh would come far too late
    path = tmp_path / "hub.db"
    _table(path)

    @cache.cached
    def count(db: sqlite_utils.Database) -> int:
        return db.execute("SELECT count(*) FROM t").fetchone()[0]

    db = _reader(path)
    assert count(db) == 0
    _insert(path)
    committed = time.monotonic()
    assert count(db) == 0  # served while recent: stale-while-revalidate, no wait
    time.sleep(max(0.0, committed + cache.MAX_STALE_S - time.monotonic()) + 0.01)
    assert count(db) == 1  # more than MAX_STALE_S after the commit: never the old value


def test_a_value_built_from_others_reads_them_fresh(tmp_path: Path) -> None:
    # A page fragment rebuilt from a stale figure would be stored as current; with no further commit
    # the press it missed would never show.
    path = tmp_path / "hub.db"
    _table(path)

    @cache.cached
    def count(db: sqlite_utils.Database) -> int:
        return db.execute("SELECT count(*) FROM t").fetchone()[0]

    def page(db: sqlite_utils.Database) -> str:
        return cache.remember(db, ("page",), lambda conn: f"{count(conn)} presses")

    db = _reader(path)
    assert page(db) == "0 presses"
    _insert(path)
    deadline = time.monotonic() + 3 * cache.MAX_STALE_S
    shown = page(db)
    while shown != "1 presses" and time.monotonic() < deadline:
        time.sleep(0.05)
        shown = page(db)  # nothing is committed meanwhile
    assert shown == "1 presses"


def test_observe_says_stale_and_as_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "REFRESH_S", 30.0)
    path = tmp_path / "hub.db"
    _table(path)

    @cache.cached
    def count(db: sqlite_utils.Database) -> int:
        return db.execute("SELECT count(*) FROM t").fetchone()[0]

    db = _reader(path)
    before = time.time()
    with cache.observe() as seen:
        count(db)
    assert not seen.stale and seen.as_of is not None and seen.as_of >= before - 0.01
    _insert(path)
    with cache.observe() as seen:
        count(db)
    assert seen.stale and seen.as_of is not None and seen.as_of <= time.time()


# --- through the app ------------------------------------------------------------------------------


@pytest.fixture
def clocked(hub_path: Path) -> tuple[Flask, list[datetime]]:
    """The app with a clock the test moves, and b1 in Vladivostok (UTC+10)."""
    migrate(hub_path)
    db = open_db(hub_path)
    branches.update(db, "b1", timezone="Asia/Vladivostok")
    db.conn.close()
    now = [datetime(2026, 11, 22, 13, 59, 58, tzinfo=UTC)]  # 23:59:58 in Vladivostok
    app = create_app({"OTKLIK_DB": str(hub_path), "SECRET_KEY": "test", "TESTING": True, "CLOCK": lambda: now[0]})
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    accounts.add_user(store, "root", PASSWORD, "admin")
    store.conn.close()
    return app, now


def test_today_turns_with_the_branchs_own_midnight_and_not_with_each_minute(
    clocked: tuple[Flask, list[datetime]], hub_path: Path
) -> None:
    app, now = clocked
    publish(hub_path, "b1", "k1", 4, 1, ts=now[0] - timedelta(minutes=1))
    client = app.test_client()
    login(client, "root")

    def b1() -> dict:
        rows = client.get("/api/v1/overview").get_json()["branches"]
        return next(r for r in rows if r["branch"] == "b1")

    first = b1()
    assert (first["date"], first["today"]["responses"]) == ("2026-11-22", 1)
    computed = cache.computed[str(hub_path)]
    now[0] += timedelta(seconds=1)
    assert b1() == first
    assert cache.computed[str(hub_path)] == computed  # the same day: nothing computed again
    now[0] += timedelta(seconds=2)  # 00:00:01 in Vladivostok: a new day, no waiting for a refresh
    turned = b1()
    assert (turned["date"], turned["today"]["responses"]) == ("2026-11-23", 0)
    computed = cache.computed[str(hub_path)]
    now[0] += timedelta(minutes=3)  # minutes turn: nothing is computed again
    for _ in range(3):
        assert b1() == turned
    assert cache.computed[str(hub_path)] == computed


@pytest.fixture
def admin(app: Flask) -> str:
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    token = accounts.issue_token(store, "root", "test")
    store.conn.close()
    return token


def _responses(app: Flask, token: str, branch: str) -> int:
    rows = app.test_client().get("/api/v1/overview", headers={"Authorization": f"Bearer {token}"}).get_json()
    return next(r for r in rows["branches"] if r["branch"] == branch)["today"]["responses"]


def test_a_press_shows_on_every_answer_a_second_after_its_commit(app: Flask, data: Path, admin: str) -> None:
    before = _responses(app, admin, "b1")
    publish(data, "b1", "k1", 4, 100)
    committed = time.monotonic()
    assert _responses(app, admin, "b1") in (before, before + 1)  # may be served while recomputed
    time.sleep(max(0.0, committed + cache.MAX_STALE_S - time.monotonic()) + 0.01)
    assert _responses(app, admin, "b1") == before + 1


def test_the_live_stream_shows_a_press_within_a_second_without_another_commit(
    app: Flask, data: Path, admin: str
) -> None:
    before = _responses(app, admin, "b1")
    client = app.test_client()
    response = client.get("/api/v1/stream", headers={"Authorization": f"Bearer {admin}"}, buffered=False)
    chunks = iter(response.response)
    pattern = re.compile(rb'"branch":"b1".*?"today":\{.*?"responses":(\d+)')

    def next_overview(deadline: float) -> int | None:
        buffer = b""
        while time.monotonic() < deadline:
            buffer += next(chunks)
            for event in buffer.split(b"\n\n"):
                if event.startswith(b"event: overview"):
                    found = pattern.search(event)
                    assert found, event[:300]
                    return int(found[1])
            buffer = buffer.rsplit(b"\n\n", 1)[-1]
        return None

    assert next_overview(time.monotonic() + 10) == before
    publish(data, "b1", "k1", 4, 100)
    committed = time.monotonic()
    seen = next_overview(committed + 4)
    elapsed = time.monotonic() - committed
    response.close()
    assert seen == before + 1
    assert elapsed < 1.0, f"the press showed after {elapsed:.2f} s"


def test_a_users_own_change_shows_on_the_next_page(app: Flask, data: Path) -> None:
    client = app.test_client()
    login(client, "root")
    assert "Many unhappy presses" in client.get("/alerts").get_data(as_text=True)
    db = open_db(data)
    alert_id = db.execute("SELECT id FROM alerts WHERE branch = 'b2'").fetchone()[0]
    db.conn.close()
    page = client.get("/alerts").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    done = client.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": token[1], "note": "fixed"})
    assert done.status_code == 302
    # Right after its own change the page is read fresh, though another commit came just before.
    live = client.get("/alerts?state=live").get_data(as_text=True)
    assert "Many unhappy presses" not in live


def test_a_live_part_says_it_is_stale_until_it_shows_the_press(app: Flask, data: Path, admin: str) -> None:
    # live.js asks again while a part says it is being recomputed; a part rendered from a stale
    # figure and served as current would stay on the page until the next press.
    client = app.test_client()
    headers = {"Authorization": f"Bearer {admin}"}
    card = re.compile(r'data-branch="b1".*?data-field="today.responses">(\d+)<', re.S)

    def part() -> tuple[int, bool]:
        response = client.get("/live/overview", headers=headers)
        found = card.search(response.get_data(as_text=True))
        assert found and response.headers.get("X-Figures-As-Of")
        return int(found[1]), response.headers.get("X-Figures-Stale") == "1"

    before, _ = part()
    publish(data, "b1", "k1", 4, 100)
    committed = time.monotonic()
    shown, stale = part()
    while shown == before and time.monotonic() - committed < 3:
        assert stale, "the old figure was served as current"
        time.sleep(0.05)
        shown, stale = part()
    elapsed = time.monotonic() - committed
    assert shown == before + 1
    assert elapsed <= cache.MAX_STALE_S + 0.2, f"the press showed after {elapsed:.2f} s"


def test_a_failing_background_refresh_is_logged_not_swallowed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The refresh runs on a thread nobody joins: without the log a figure that can no longer be
    # computed would go stale in silence.
    path = tmp_path / "hub.db"
    _table(path)
    broken = threading.Event()

    @cache.cached
    def count(db: sqlite_utils.Database) -> int:
        if broken.is_set():
            raise RuntimeError("the figure's query broke")
        return db.execute("SELECT count(*) FROM t").fetchone()[0]

    db = _reader(path)
    assert count(db) == 0
    broken.set()
    _insert(path)
    with caplog.at_level("ERROR", logger="dashboard.cache"):
        assert count(db) == 0  # stale, served at once; the refresh fails in the background
        deadline = time.monotonic() + 5
        while not any("background refresh" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
    failed = [r for r in caplog.records if "background refresh" in r.getMessage()]
    assert failed and failed[0].exc_info is not None and "the figure's query broke" in str(failed[0].exc_info[1])
    db.conn.close()
