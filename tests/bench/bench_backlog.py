"""Backlog benchmark: `otklik hub`'s memory and drain rate after a backlog queued while it was down,
side by side with the raw broker draining the same backlog to `mosquitto_sub`.

For each size: a fresh Mosquitto; a subscriber's persistent session is made,
the subscriber goes away, C `mosquitto_pub` clients publish the backlog, then
the subscriber comes back and drains it. The raw subscriber is `mosquitto_sub`
counting messages; the hub is `otklik hub` (its own process, as deployed),
whose resident memory is read from /proc while it drains. Reports RSS idle,
peak and after the drain, both drain rates, and stored / lost / doubled.

    python -m tests.bench.bench_backlog [--sizes 100000,1000000] [--kiosks 4]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hub.db import open_db
from otklik import protocol
from tests.backlog import publish_backlog
from tests.broker import Mosquitto
from tests.hub_process import HubProcess

SUB_ID = "bench-raw-sub"
# The deployed (and test) limit is 1,000,000 queued messages per session, the
# size of the largest backlog measured here: the benchmark broker allows more.
BROKER_CONF = "max_queued_messages 5000000\n"


@dataclass
class HubRun:
    rate: float
    rss_idle_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    stored: int
    distinct: int


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def raw_drain(work: Path, size: int, kiosks: int) -> float:
    binary = shutil.which("mosquitto_sub")
    assert binary, "mosquitto_sub is not installed (apt-get install mosquitto-clients)"
    broker = Mosquitto(work / "raw", extra_conf=BROKER_CONF)
    broker.start()
    base = [binary, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-c", "-i", SUB_ID,
            "-t", protocol.subscription(protocol.RATING)]  # fmt: skip
    subprocess.run([*base, "-E"], check=True, timeout=30)  # the session, then away
    publish_backlog(broker.host, broker.port, size, kiosks=kiosks)
    t0 = time.perf_counter()
    # -W: a backlog the broker did not keep whole must end the run, not hang it.
    sub = subprocess.Popen([*base, "-C", str(size), "-W", "1800"], stdout=subprocess.PIPE)
    out = sub.stdout
    assert out is not None
    received = 0
    while chunk := out.read(1 << 16):
        received += chunk.count(b"\n")
    sub.wait()
    elapsed = time.perf_counter() - t0
    broker.stop()
    assert received == size, f"the raw subscriber got {received} of {size}"
    return size / elapsed


def hub_drain(work: Path, size: int, kiosks: int) -> HubRun:
    broker = Mosquitto(work / "hub", extra_conf=BROKER_CONF)
    broker.start()
    db_path = work / "hub.db"
    hub = HubProcess(broker, db_path, client_id="bench-hub")
    hub.start().wait_subscribed()
    hub.stop()  # the session stays: the broker queues the backlog for it
    publish_backlog(broker.host, broker.port, size, kiosks=kiosks)
    db = open_db(db_path, migrate=False)
    t0 = time.perf_counter()
    hub.start().wait_subscribed()
    idle = rss_mb(hub.pid)
    while db.execute("SELECT count(*) FROM events").fetchone()[0] < size:
        assert hub.proc is not None and hub.proc.poll() is None, hub.log()
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    peak, after = rss_mb(hub.pid, "VmHWM"), rss_mb(hub.pid)
    time.sleep(1)  # anything arriving late would be a double
    stored, distinct = db.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
    db.close()
    hub.stop()
    broker.stop()
    return HubRun(size / elapsed, idle, peak, after, stored, distinct)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="backlog sizes, comma-separated")
    parser.add_argument("--kiosks", type=int, default=4, help="parallel mosquitto_pub clients")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            raw = raw_drain(Path(tmp), size, args.kiosks)
            hub = hub_drain(Path(tmp), size, args.kiosks)
        rows.append((size, raw, hub))
        print(f"done {size}", flush=True)
    print(f"{'backlog':>9} {'raw drain':>12} {'hub drain':>11} {'hub/raw':>7} {'RSS idle':>9} {'RSS peak':>9}"
          f" {'RSS after':>9} {'stored':>8} {'lost':>5} {'doubled':>7}")  # fmt: skip
    for size, raw, hub in rows:
        print(f"{size:>9,} {raw:>8,.0f}/s {hub.rate:>9,.0f}/s {hub.rate / raw:>7.1%} {hub.rss_idle_mb:>6.1f} MB"
              f" {hub.rss_peak_mb:>6.1f} MB {hub.rss_after_mb:>6.1f} MB {hub.distinct:>8,}"
              f" {size - hub.distinct:>5} {hub.stored - hub.distinct:>7}")  # fmt: skip


if __name__ == "__main__":
    main()
