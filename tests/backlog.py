"""A broker backlog built fast: C `mosquitto_pub -l -q 1` clients, one kiosk each, fed ready-made rating lines.

The Python publisher tops out at a few thousand messages a second; these reach
tens of thousands, so a 200k or 1 M backlog for the hub takes seconds to build.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid

from otklik import protocol, times

# Mosquitto 2.0.11 dropped mosquitto_pub clients "due to out of memory" when
# each sent 100k fast (4 clients: 139,407 of 400,000 kept) and mosquitto_pub
# still exited 0; 50k each (8 clients) kept all 400,000.
PER_CLIENT_MAX = 50_000


def rating_lines(kiosk: str, count: int, branch: str = "b1") -> list[bytes]:
    """One JSON rating per line (no newline inside: encode() writes compact JSON)."""
    now = times.now_ts()
    return [
        protocol.encode(
            protocol.rating_payload(branch=branch, kiosk=kiosk, id=uuid.uuid4().hex, seq=seq, ts=now, score=1 + seq % 4)
        )
        for seq in range(1, count + 1)
    ]


def publish_backlog(host: str, port: int, total: int, *, kiosks: int = 4, timeout: float = 300) -> None:
    """Publish ``total`` ratings at QoS 1 over ``kiosks`` parallel clients (more if needed: PER_CLIENT_MAX)."""
    binary = shutil.which("mosquitto_pub")
    if not binary:
        raise RuntimeError("mosquitto_pub is not installed (Debian: apt-get install mosquitto-clients)")
    kiosks = max(kiosks, -(-total // PER_CLIENT_MAX))
    share, extra = divmod(total, kiosks)
    procs = []
    for n in range(kiosks):
        kiosk = f"k{n:03d}"
        lines = rating_lines(kiosk, share + (1 if n < extra else 0))
        proc = subprocess.Popen(
            [binary, "-h", host, "-p", str(port), "-q", "1", "-l", "-i", f"backlog-{kiosk}", "-M", "1000",
             "-t", protocol.topic("b1", kiosk, protocol.RATING)],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        procs.append((proc, b"\n".join(lines) + b"\n"))
    # A pipe holds 64 KB: one feeding thread per client, or they would run one after another.
    feeders = [threading.Thread(target=_feed, args=(proc, data)) for proc, data in procs]
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


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.close()
