"""Several hubs on PostgreSQL: 1, 2 and 3 `otklik hub` processes in one share group, then a SIGKILL run, in one run.

Each configuration gets a fresh PostgreSQL database, a fresh Mosquitto and the
same kind of stream (tests/backlog.py: a chain's presses, ending now, a share
sent twice), published at full speed by parallel C clients (`mosquitto_pub -l`).
Its rate is the unique presses over the time from the first send until the
last press was confirmed by a receipt (a hub sends one only after its commit).
Beside it, the raw broker's rate for the same lines (`mosquitto_sub -C N`).

The kill run publishes ``--kill-events`` presses as fast as the C clients go
and two hubs drain them while one of them is SIGKILLed every ``--kill-every``
seconds (once it is up and subscribed; started again at once, as systemd
does); the publishers re-send what no receipt confirmed, as a kiosk's outbox
does.

Every row is counted from the database afterwards (tests/several_hubs.py):
rows, distinct ids, expected ids missing, and the aggregates against a rebuild.

    python -m tests.bench.bench_hubs [--events 30000] [--kill-events 100000] [--kill-every 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import several_hubs
from tests.backlog import chain
from tests.bench.bench_ingest import raw_rate
from tests.hub_db import PG_SERVER


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def versions() -> str:
    pg = subprocess.run(["psql", PG_SERVER, "-tAc", "SHOW server_version"], capture_output=True,
                        text=True).stdout.strip()  # fmt: skip
    return f"PostgreSQL {pg}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="unique presses per hub configuration")
    parser.add_argument("--hubs", type=int, nargs="+", default=[1, 2, 3], help="hub counts to measure")
    parser.add_argument("--kill-events", type=int, default=100_000, help="unique presses of the kill run (0: none)")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between two SIGKILLs")
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of presses the stream sends twice")
    args = parser.parse_args()
    print(f"bench_hubs: {versions()}, load average at start {load()}")
    ok = True
    rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stream = chain(args.events, kiosks=8, branches=4, duplicates=args.duplicates)
        total = sum(len(k.lines) for k in stream)
        raw, received = raw_rate(work, stream, total)
        print(f"raw broker (mosquitto_sub)  {raw:>8,.0f} msg/s   {received:,} of {total:,} lines")
        for n in args.hubs:
            with several_hubs.fresh_postgres(prefix="otklik_bench") as url:
                # No re-sends in a rate run unless something is lost: a full-speed backlog confirmed
                # late is not lost, and re-sending it would only measure the re-sends.
                out = several_hubs.run(work / f"hubs-{n}", url, hubs=n, events=args.events,
                                       duplicates=args.duplicates, resend_s=120, resend_max_s=240,
                                       timeout=900)  # fmt: skip
            rates[n] = out.unique / out.seconds
            ok = ok and out.exactly_once and out.equal_rebuild and out.counted == out.stored_ids
            scale = f"x{rates[n] / rates[args.hubs[0]]:.2f} of {args.hubs[0]} hub" if n != args.hubs[0] else "base"
            print(f"{out.row(f'{n} hub(s), PostgreSQL')}  {scale:<12} hub/raw {rates[n] / raw:5.1%}  "
                  f"load {load()}")  # fmt: skip
        if args.kill_events:
            # As fast as the publishers go: the hubs drain what the broker queued while one of them
            # is killed again and again. A kiosk's re-send comes only after 2 min (doubling to 8):
            # sooner, it would re-send the whole queue waiting at the broker, not what was lost.
            print(f"kill run: {args.kill_events:,} presses through 2 hubs, one SIGKILLed every ~{args.kill_every:g} s "
                  "while they drain; re-sent 120 s after a send without receipt (doubling to 480 s)")  # fmt: skip
            started = time.monotonic()
            with several_hubs.fresh_postgres(prefix="otklik_bench") as url:
                out = several_hubs.run(work / "kill", url, hubs=2, events=args.kill_events,
                                       duplicates=args.duplicates, kill_every_s=args.kill_every,
                                       resend_s=120, resend_max_s=480, timeout=1800,
                                       progress=lambda line: print(line, flush=True))  # fmt: skip
            once = out.exactly_once and out.equal_rebuild and out.counted == out.stored_ids
            ok = ok and once and out.kills > 0
            print(out.row("2 hubs, SIGKILL run"))
            print(f"every event stored once: {'yes' if once else 'NO'} — {out.stored_ids:,} distinct ids of "
                  f"{out.unique:,} sent, {out.stored_rows:,} rows, {out.missing} missing, {out.unexpected} unknown, "
                  f"{out.counted:,} counted in agg_hour; {out.kills} kills in {time.monotonic() - started:.0f} s; "
                  f"load {load()}")  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
