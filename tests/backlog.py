"""A broker backlog built fast: C `mosquitto_pub -l -q 1` clients, one kiosk each, fed ready-made rating lines.

The Python publisher tops out at a few thousand messages a second; these reach
tens of thousands, so a 200k or 1 M backlog for the hub takes seconds to build.

The presses are spread as a real chain's are: each kiosk presses every 15 to 90
seconds, ending now, with the cashier of the shift named, so the hub's misuse
rule flags none of them (stamped all "now", 97.5% of them were bursts, and the
hub's flagged path is not the one a chain runs).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from otklik import protocol, times

# Mosquitto 2.0.11 dropped mosquitto_pub clients "due to out of memory" when
# each sent 100k fast (4 clients: 139,407 of 400,000 kept) and mosquitto_pub
# still exited 0; 50k each (8 clients) kept all 400,000.
PER_CLIENT_MAX = 50_000
# Seconds between two presses of one kiosk: a busy till, never a burst (the default rule is > 10 in 10 s).
GAP_S = (15.0, 90.0)
SHIFT_H = 8


@dataclass
class Kiosk:
    """One publisher's kiosk and the lines it sends: ``unique`` presses, then ``lines`` with the re-sent ones."""

    branch: str
    kiosk: str
    unique: int = 0
    lines: list[bytes] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return protocol.topic(self.branch, self.kiosk, protocol.RATING)


def rating_lines(
    kiosk: str, count: int, branch: str = "b1", *, seed: int = 0, end: datetime | None = None
) -> list[bytes]:
    """``count`` ratings of one kiosk, one JSON object a line (encode() writes no newline inside), oldest first."""
    rng = random.Random(f"{branch}/{kiosk}/{seed}")
    at = (end or datetime.now(UTC)) - timedelta(seconds=1)
    stamps = []
    for _ in range(count):
        stamps.append(at)
        at -= timedelta(seconds=rng.uniform(*GAP_S))
    stamps.reverse()
    lines = []
    for seq, ts in enumerate(stamps, start=1):
        body = protocol.rating_payload(
            branch=branch, kiosk=kiosk, id=uuid.uuid4().hex, seq=seq, ts=times.format_ts(ts),
            score=rng.choice((1, 2, 3, 3, 4, 4, 4)), employee=f"{kiosk}-e{ts.hour // SHIFT_H}",
        )  # fmt: skip
        lines.append(protocol.encode(body))
    return lines


def chain(total: int, *, kiosks: int = 4, branches: int = 1, duplicates: float = 0.0) -> list[Kiosk]:
    """``total`` unique presses over ``kiosks`` kiosks (more if needed: PER_CLIENT_MAX) in ``branches`` branches.

    ``duplicates`` of them are sent a second time after the kiosk's others, as a
    kiosk re-sends what no receipt confirmed: the same id, stored once.
    """
    kiosks = max(kiosks, -(-total // PER_CLIENT_MAX))
    share, extra = divmod(total, kiosks)
    out = []
    for n in range(kiosks):
        k = Kiosk(branch=f"b{n % branches + 1}", kiosk=f"k{n:03d}", unique=share + (1 if n < extra else 0))
        k.lines = rating_lines(k.kiosk, k.unique, k.branch)
        step = round(1 / duplicates) if duplicates else 0
        if step:
            k.lines += k.lines[::step]
        out.append(k)
    return out


def publish(
    host: str, port: int, kiosks: list[Kiosk], *, timeout: float = 300, per_s: float | None = None,
    client_prefix: str = "backlog",
) -> None:  # fmt: skip
    """Publish every kiosk's lines at QoS 1, one `mosquitto_pub -l` client per kiosk, all in parallel.

    ``per_s``: at most this many lines a second in all (a live stream), else as fast as they go.
    ``client_prefix`` keeps the client ids of publishers running at the same time apart.
    """
    binary = shutil.which("mosquitto_pub")
    if not binary:
        raise RuntimeError("mosquitto_pub is not installed (Debian: apt-get install mosquitto-clients)")
    procs = []
    for k in kiosks:
        proc = subprocess.Popen(
            [binary, "-h", host, "-p", str(port), "-q", "1", "-l", "-i", f"{client_prefix}-{k.branch}-{k.kiosk}",
             "-M", "1000", "-t", k.topic],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        procs.append((proc, k.lines))
    each_per_s = per_s / len(kiosks) if per_s else None
    # A pipe holds 64 KB: one feeding thread per client, or they would run one after another.
    feeders = [threading.Thread(target=_feed, args=(proc, lines, each_per_s)) for proc, lines in procs]
    for feeder in feeders:
        feeder.start()
    for feeder in feeders:
        feeder.join(timeout)
    for proc, _ in procs:
        code = proc.wait(timeout)
        err = proc.stderr.read().decode() if proc.stderr else ""
        # A broker that drops the client ("out of memory" once a queue is at
        # max_queued_messages) can leave mosquitto_pub exiting 0: any complaint counts.
        if code != 0 or err.strip():
            raise RuntimeError(f"mosquitto_pub exited {code}: {err}")


def publish_backlog(host: str, port: int, total: int, *, kiosks: int = 4, timeout: float = 300) -> None:
    """Publish ``total`` ratings at QoS 1 over ``kiosks`` parallel clients (more if needed: PER_CLIENT_MAX)."""
    publish(host, port, chain(total, kiosks=kiosks), timeout=timeout)


def _feed(proc: subprocess.Popen[bytes], lines: list[bytes], per_s: float | None = None) -> None:
    assert proc.stdin is not None
    if per_s is None:
        proc.stdin.write(b"\n".join(lines) + b"\n")
    else:
        step = max(1, round(per_s / 20))  # twenty writes a second
        started = time.monotonic()
        for i in range(0, len(lines), step):
            time.sleep(max(0.0, started + i / per_s - time.monotonic()))
            proc.stdin.write(b"\n".join(lines[i : i + step]) + b"\n")
            proc.stdin.flush()
    proc.stdin.close()
