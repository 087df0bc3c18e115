"""Dashboard load benchmark: the overview page and the main API endpoints under 20 concurrent clients.

    python -m tests.bench.bench_dashboard [--events 10000000] [--db PATH] [--clients 20] [--seconds 10]

Data: the analytics benchmark's chain (tests/bench/bench_queries.py: 50 branches, 300
kiosks, 600 employees, one year), loaded the same way - aggregates counted in bulk, raw
events not inserted (no page reads them except the flagged-press list). ``--db`` reuses
a database built earlier.

Server: gunicorn with the production entry ``dashboard.wsgi:app`` (2 workers x 8 threads,
gthread), in its own process. Load: this process, ``--clients`` threads with keep-alive
connections authenticated by an API token, each requesting the next URL of the mix
back-to-back for ``--seconds`` per endpoint. Both share the machine's 2 cores, so the
figures include the load generator's own CPU use. Goal: p95 < 100 ms.

Run twice: with the dashboard's figure cache (dashboard/cache.py: results kept until the
next commit to the hub database) as deployed, and with it off (OTKLIK_DASH_CACHE=0), which
is the cost of the first request after every new press.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dashboard import accounts, default_auth_db
from hub.db import open_db
from tests.broker import free_port

ENDPOINTS = [
    ("overview page (HTML, 50 branches)", "/"),
    ("GET /api/v1/overview (50 branches)", "/api/v1/overview"),
    ("GET /api/v1/branches/b07", "/api/v1/branches/b07"),
    ("GET /api/v1/branches/b07/series?by=day (30 d)", "/api/v1/branches/b07/series?by=day"),
    ("GET /api/v1/branches/b07/heatmap (90 d)", "/api/v1/branches/b07/heatmap"),
    ("GET /api/v1/employees?branch=b07 (30 d)", "/api/v1/employees?branch=b07"),
    ("GET /api/v1/employees (all 600, 30 d)", "/api/v1/employees"),
    ("GET /api/v1/fleet", "/api/v1/fleet"),
    ("branch page b07 (HTML)", "/branch/b07"),
]


def build(path: Path, events: int) -> None:
    from tests.bench import bench_queries as bq

    t = time.perf_counter()
    db = open_db(path)
    bq.setup_branches(db)
    written = bq.load_bulk(db, bq.generate(events))
    db.execute("ANALYZE")
    db.conn.close()
    print(f"built {path} with {events:,} presses as aggregates ({written}) in {time.perf_counter() - t:.0f} s")


def start_server(path: Path, port: int, cache: bool) -> subprocess.Popen:
    env = {**os.environ, "OTKLIK_DB": str(path), "SECRET_KEY": "bench", "OTKLIK_DASH_CACHE": "1" if cache else "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "dashboard.wsgi:app"],
        env=env, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/me")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def hammer(port: int, path: str, token: str, clients: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            t = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, help="hub database to reuse (built there if missing)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per endpoint")
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp(prefix="otklik-dash-bench-")) / "hub.db"
    if not path.exists():
        build(path, args.events)
    else:
        print(f"reusing {path}")
    store = accounts.open_store(default_auth_db(path))
    if accounts.get_user(store, "bench") is None:
        accounts.add_user(store, "bench", "bench-password", "admin")
    token = accounts.issue_token(store, "bench", "bench")
    for cache in (True, False):
        run(path, token, args, cache)


def run(path: Path, token: str, args: argparse.Namespace, cache: bool) -> None:
    port = free_port()
    server = start_server(path, port, cache)
    try:
        print(f"\ngunicorn dashboard.wsgi:app (2 x 8 gthread), figure cache {'ON' if cache else 'OFF'}; "
              f"{args.clients} concurrent clients, {args.seconds:.0f} s per endpoint, keep-alive, token")  # fmt: skip
        print(f"{'endpoint':<48} {'median':>8} {'p95':>8} {'req/s':>7} {'errors':>6}")
        for label, url in ENDPOINTS:
            hammer(port, url, token, 2, 1.0)  # warm the workers' caches and connections
            latencies, errors = hammer(port, url, token, args.clients, args.seconds)
            latencies.sort()
            median = statistics.median(latencies) * 1000
            p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
            rate = len(latencies) / args.seconds
            flag = "ok" if p95 < 100 else "SLOW"
            print(f"{label:<48} {median:6.1f}ms {p95:6.1f}ms {rate:7.0f} {errors:6d}  {flag}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
