"""Dashboard load benchmark: the overview page and the main API endpoints under 20 concurrent clients.

    python -m tests.bench.bench_dashboard [--events 10000000] [--db PATH] [--clients 20] [--seconds 10]
        [--viewers 20] [--presses-per-s 2]

Data: the analytics benchmark's chain (tests/bench/bench_queries.py: 50 branches, 300
kiosks, 600 employees, one year), loaded the same way - aggregates counted in bulk, raw
events not inserted (no page reads them except the flagged-press list). ``--db`` reuses
a database built earlier.

Server: gunicorn with the production settings (dashboard/gunicorn_conf.py, as the
systemd unit runs it), in its own process. Load: this process, ``--clients`` threads
with keep-alive connections authenticated by an API token, each requesting the same URL
back-to-back for ``--seconds`` per endpoint. Both share the machine's cores, so the
figures include the load generator's own CPU use. Goal: p95 < 100 ms.

Three runs:
1. quiet: figure cache on (dashboard/cache.py: results kept until the next commit to
   the hub database), nothing else happening;
2. live: as deployed on a busy morning - ``--viewers`` managers have the overview open
   (server-sent-event streams, each holding a worker thread) and presses arrive through
   the hub's real ingest (hub.ingest.handle_message, one commit each) at
   ``--presses-per-s``, so the cache is invalidated every press and each stream is pushed
   a new overview;
3. cache off (OTKLIK_DASH_CACHE=0): every request computes its figures, the cost of the
   first request after each press.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from dashboard import accounts, default_auth_db
from hub.db import open_db
from otklik import times
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
    env = {**os.environ, "OTKLIK_DB": str(path), "SECRET_KEY": "bench", "OTKLIK_DASH_CACHE": "1" if cache else "0",
           "OTKLIK_DASHBOARD_BIND": f"127.0.0.1:{port}"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:dashboard.gunicorn_conf", "--access-logfile", "/dev/null",
         "--log-level", "warning"],
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


class Viewers:
    """Managers with the overview open: one server-sent-events stream each, read until stopped."""

    def __init__(self, port: int, token: str, count: int) -> None:
        self.events = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.conns: list[http.client.HTTPConnection] = []
        self.threads = [threading.Thread(target=self.watch, args=(port, token), daemon=True) for _ in range(count)]
        for th in self.threads:
            th.start()

    def watch(self, port: int, token: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        with self.lock:
            self.conns.append(conn)
        try:
            conn.request("GET", "/api/v1/stream", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            if response.status != 200:
                with self.lock:
                    self.refused += 1
                return
            for line in response:
                if line.startswith(b"event: overview"):
                    with self.lock:
                        self.events += 1
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            return  # closed by stop()

    def stop(self) -> None:
        # shutdown(), not close(): closing the connection waits for the lock a
        # reader holds while blocked on the socket; shutdown wakes the reader.
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            if conn.sock is not None:
                conn.sock.shutdown(socket.SHUT_RDWR)
        for th in self.threads:
            th.join(timeout=10)


class Presses:
    """Ratings arriving through the hub's own ingest, one transaction each, as the hub stores them."""

    def __init__(self, path: Path, per_s: float) -> None:
        self.stored = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, args=(path, per_s), daemon=True)
        self.thread.start()

    def run(self, path: Path, per_s: float) -> None:
        from hub.ingest import handle_message
        from otklik import protocol
        from tests.bench import bench_queries as bq

        db = open_db(path)
        n = 0
        while not self.stop_flag.wait(1 / per_s):
            n += 1
            kiosk = n % bq.KIOSKS
            branch, name = bq.branch_name(kiosk // bq.KIOSKS_PER_BRANCH), bq.kiosk_name(kiosk)
            body = protocol.rating_payload(branch=branch, kiosk=name, id=uuid.uuid4().hex, seq=n,
                                           ts=times.now_ts(), score=1 + n % 4)  # fmt: skip
            handle_message(db, protocol.topic(branch, name, "rating"), protocol.encode(body))
            self.stored += 1
        db.conn.close()

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join()


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
    parser.add_argument("--viewers", type=int, default=20, help="open live overviews in the 'live' run")
    parser.add_argument("--presses-per-s", type=float, default=2.0, help="presses ingested during the 'live' run")
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
    run(path, token, args, "quiet", cache=True)
    run(path, token, args, "live", cache=True)
    run(path, token, args, "cache off", cache=False)


def run(path: Path, token: str, args: argparse.Namespace, name: str, cache: bool) -> None:
    port = free_port()
    server = start_server(path, port, cache)
    live = name == "live"
    viewers = Viewers(port, token, args.viewers) if live else None
    presses = Presses(path, args.presses_per_s) if live else None
    try:
        what = f"{args.viewers} overviews streaming, {args.presses_per_s:g} presses/s" if live else "no presses"
        print(f"\n[{name}] gunicorn -c python:dashboard.gunicorn_conf, cache {'ON' if cache else 'OFF'}, {what}; "
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
        if live:
            presses.stop()
            streams = args.viewers - viewers.refused
            print(f"live: {presses.stored} presses stored during the run; {viewers.events} overview pushes "
                  f"received by {streams} streams ({viewers.refused} refused by the limit)")  # fmt: skip
    finally:
        if presses is not None:
            presses.stop_flag.set()
        if viewers is not None:
            viewers.stop()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
