"""gunicorn settings for the dashboard: the systemd unit and the benchmark both use these.

    gunicorn -c python:dashboard.gunicorn_conf

gthread workers, because a live overview holds one server-sent-events
connection, and so one thread, per open page. Each worker lets at most
``threads - 8`` of its threads stream (OTKLIK_SSE_MAX_STREAMS, read by
create_app); the other eight always serve pages and the API, and an overview
opened beyond the limit polls the API each second instead of streaming.

Environment: OTKLIK_DASHBOARD_BIND (default 127.0.0.1:8000),
OTKLIK_DASHBOARD_WORKERS (2), OTKLIK_DASHBOARD_THREADS (32).
"""

from __future__ import annotations

import os

PAGE_THREADS = 8


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name}={raw!r}: give a whole number of at least 1")
    return int(raw)


wsgi_app = "dashboard.wsgi:app"
worker_class = "gthread"
bind = os.environ.get("OTKLIK_DASHBOARD_BIND", "127.0.0.1:8000")
workers = _count("OTKLIK_DASHBOARD_WORKERS", 2)
threads = _count("OTKLIK_DASHBOARD_THREADS", 32)
accesslog = "-"
# Set here, before the workers fork, so every worker's create_app reads the same limit.
os.environ.setdefault("OTKLIK_SSE_MAX_STREAMS", str(max(1, threads - PAGE_THREADS)))
