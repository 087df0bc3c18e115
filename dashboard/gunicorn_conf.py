"""gunicorn settings for the dashboard: the systemd unit and the benchmark both use these.

    gunicorn -c python:dashboard.gunicorn_conf

gthread workers, because a live overview holds one server-sent-events
connection, and so one thread, per open page. Each worker lets at most
``threads - 8`` of its threads stream (OTKLIK_SSE_MAX_STREAMS, read by
create_app); the other eight always serve pages and the API, and an overview
opened beyond the limit polls the API each second instead of streaming.

Environment: OTKLIK_DASHBOARD_BIND (default 127.0.0.1:8000),
OTKLIK_DASHBOARD_WORKERS (2), OTKLIK_DASHBOARD_THREADS (32),
OTKLIK_DASHBOARD_ACCESS_LOG (none; ``-`` for the journal).
"""

from __future__ import annotations

import os

# Underscored: gunicorn takes every module-level name that matches a setting (``config`` is one).
from otklik import config as _env
from otklik.errors import OtklikError

PAGE_THREADS = 8


def _count(name: str, default: int) -> int:
    try:
        return _env.get_int(name, default, minimum=1)
    except OtklikError as err:
        raise SystemExit(str(err)) from None


wsgi_app = "dashboard.wsgi:app"
worker_class = "gthread"
bind = _env.get("OTKLIK_DASHBOARD_BIND") or "127.0.0.1:8000"
workers = _count("OTKLIK_DASHBOARD_WORKERS", 2)
threads = _count("OTKLIK_DASHBOARD_THREADS", 32)
# The TLS proxy in front (nginx, Caddy; see the systemd unit) already logs every request with the
# client's real address. A second log here, formatted and written under a lock by every thread, was
# a tenth of the workers' GIL time on a cached API answer (py-spy --gil under wrk); ask for it when
# nothing stands in front.
accesslog = _env.get("OTKLIK_DASHBOARD_ACCESS_LOG") or None
# Set here, before the workers fork, so every worker's create_app reads the same limit.
os.environ.setdefault("OTKLIK_SSE_MAX_STREAMS", str(max(1, threads - PAGE_THREADS)))
