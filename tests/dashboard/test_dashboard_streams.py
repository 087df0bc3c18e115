"""Live streams are limited per process, so open overviews can never take every server thread."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask

from dashboard import accounts
from tests.broker import free_port
from tests.dashboard.conftest import login

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
    port = free_port()
    env = {**os.environ, "OTKLIK_DB": str(data), "OTKLIK_AUTH_DB": app.config["OTKLIK_AUTH_DB"], "SECRET_KEY": "test",
           "OTKLIK_DASHBOARD_BIND": f"127.0.0.1:{port}", "OTKLIK_DASHBOARD_WORKERS": "1",
           "OTKLIK_DASHBOARD_THREADS": "9"}  # fmt: skip
    env.pop("OTKLIK_SSE_MAX_STREAMS", None)
    command = [sys.executable, "-m", "gunicorn", "-c", "python:dashboard.gunicorn_conf"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/me")
                assert conn.getresponse().status == 401
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
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
    finally:
        # The whole group at once: any orderly shutdown waits until the open
        # stream's thread next writes and finds its client gone (up to 5 s).
        os.killpg(server.pid, signal.SIGKILL)
        output = server.communicate(timeout=30)[0].decode()
    assert token not in output  # the access log writes paths, never the Authorization header


def test_gunicorn_settings_refuse_a_bad_thread_count_by_name() -> None:
    env = {**os.environ, "OTKLIK_DASHBOARD_THREADS": "lots"}
    done = subprocess.run([sys.executable, "-c", "import dashboard.gunicorn_conf"], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "OTKLIK_DASHBOARD_THREADS='lots'" in done.stderr
