"""What one alert evaluation costs the hub: ``hub.alerts.check`` of one branch with weeks of history.

    python -m tests.bench.bench_alerts [--weeks 4] [--per-hour 30] [--repeat 30]

The branch has three kiosks pressed 09:00-21:00 every day for ``--weeks`` weeks (loaded through
``hub.ingest.handle_batch``, as the hub stores them).  The watcher inside ``otklik hub`` runs this
once per poll (0.5 s) for each branch with new presses; printed beside it, SQLite's own floor for
the same data: one indexed count of the last hour's presses, and the ``PRAGMA data_version`` poll.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub import alerts, branches, ingest
from hub.db import open_db
from otklik.times import format_ts
from tests.analytics_util import press


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--per-hour", type=int, default=30, help="Presses per kiosk and hour.")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(1)
    now = datetime(2026, 11, 21, 18, 50, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "hub.db")
        branches.update(db, "b1", burst_max=1_000_000)
        batch = []
        for day in range(7 * args.weeks):
            for hour in range(9, 21):
                base = (now - timedelta(days=day + 1)).replace(hour=hour, minute=0)
                for kiosk in ("k1", "k2", "k3"):
                    for _ in range(args.per_hour):
                        when = base + timedelta(seconds=rng.randrange(3600))
                        batch.append(press(when, rng.choice((1, 2, 3, 3, 4, 4)), kiosk=kiosk))
        batch += [press(now - timedelta(minutes=m), 3, kiosk=k) for m in range(1, 60, 3) for k in ("k1", "k2", "k3")]
        for i in range(0, len(batch), 500):
            ingest.handle_batch(db, batch[i : i + 500])
        since, until = format_ts(now - timedelta(hours=1)), format_ts(now)
        count = "SELECT count(*) FROM events WHERE branch = 'b1' AND kiosk = 'k1' AND ts > ? AND ts <= ?"
        check = median_ms(lambda: alerts.check(db, now, only=["b1"]), args.repeat)
        raw = median_ms(lambda: db.execute(count, [since, until]).fetchone(), args.repeat)
        poll = median_ms(lambda: db.execute("PRAGMA data_version").fetchone(), args.repeat)
        print(f"{len(batch)} presses, 1 branch, 3 kiosks, {args.weeks} weeks")
        print(f"{'what':<44}{'median ms':>10}{'x raw count':>13}")
        for name, ms in (("alerts.check(one branch, every rule)", check), ("raw indexed count, last hour", raw),
                         ("PRAGMA data_version (the idle poll)", poll)):  # fmt: skip
            print(f"{name:<44}{ms:>10.3f}{ms / raw:>13.1f}")
        db.close()


if __name__ == "__main__":
    main()
