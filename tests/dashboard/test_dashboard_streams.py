"""Live streams are limited per process, so open overviews can never take every server thread."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask

from dashboard import accounts, api
from tests.broker import wait_until
from tests.dashboard.conftest import login
from tests.dashboard.served import gunicorn

ROOT = Path(__file__).resolve().parents[2]


def test_streams_beyond_the_limit_get_503_and_a_closed_stream_frees_its_slot(app: Flask, data: Path) -> None:
    app.config["SSE_MAX_STREAMS"] = 2
    client = app.test_client()
    login(client, "olga")
    first = client.get("/api/v1/stream", buffered=False)
    second = client.get("/api/v1/stream", buffered=False)
    assert first.status_code == second.status_code == 200
    assert next(iter(first.response))  # one of them streaming, one never started
    refused = client.get("/api/v1/stream", buffered=False)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "poll /api/v1/overview" in refused.get_json()["error"]
    # Pages and the API still answer while the streams are open.
    assert client.get("/api/v1/overview").status_code == 200
    first.close()
    second.close()  # never read: its slot must come back all the same
    again = [client.get("/api/v1/stream", buffered=False) for _ in range(2)]
    assert [r.status_code for r in again] == [200, 200]
    for response in again:
        response.close()


def test_gunicorn_settings_serve_the_app_and_keep_threads_for_pages(app: Flask, data: Path) -> None:
    """The production settings (dashboard/gunicorn_conf.py) in a real gunicorn: 9 threads leave one for streams."""
    store = accounts.open_store(app.config["OTKLIK_AUTH_DB"])
    token = accounts.issue_token(store, "olga", "test")
    store.conn.close()
    with gunicorn(data, app.config["OTKLIK_AUTH_DB"], threads=9, OTKLIK_DASHBOARD_ACCESS_LOG="-") as served:
        port = served.port
        headers = {"Authorization": f"Bearer {token}"}
        live = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        live.request("GET", "/api/v1/stream", headers=headers)
        streaming = live.getresponse()
        assert streaming.status == 200
        assert streaming.readline() == b"retry: 2000\n"
        second = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        second.request("GET", "/api/v1/stream", headers=headers)
        assert second.getresponse().status == 503
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        page.request("GET", "/api/v1/overview", headers=headers)
        assert page.getresponse().status == 200
        live.close()
        # Asked for, the access log writes paths (a line is written just after its answer) ...
        wait_until(lambda: '"GET /api/v1/overview HTTP/1.1" 200' in served.written(), message="the access log line")
    # ... never the Authorization header.
    assert token not in served.output


def test_gunicorn_settings_refuse_a_bad_thread_count_by_name() -> None:
    env = {**os.environ, "OTKLIK_DASHBOARD_THREADS": "lots"}
    done = subprocess.run([sys.executable, "-c", "import dashboard.gunicorn_conf"], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "OTKLIK_DASHBOARD_THREADS='lots'" in done.stderr


def test_a_topic_is_serialised_once_per_set_of_cached_figures() -> None:
    # Every open stream of a chain is handed the same cached objects: one serialisation for all of
    # them, and a new one as soon as the cache hands out a recomputed value.
    calls: list[object] = []

    def dumps(value: object) -> str:
        calls.append(value)
        return json.dumps(value)

    rows = [{"branch": "b1", "score": 3.5}]
    first = api._serialise("overview", {"branches": rows}, dumps)
    again = api._serialise("overview", {"branches": rows}, dumps)  # another stream, same figures
    assert again == first and len(calls) == 2  # news and data, once
    recomputed = [{"branch": "b1", "score": 3.6}]
    changed = api._serialise("overview", {"branches": recomputed}, dumps)
    assert len(calls) == 4 and '"score": 3.6' in changed[1]
