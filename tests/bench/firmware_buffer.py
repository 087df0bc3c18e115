"""Firmware ring buffer under CPython: append and drain rates, bytes per press record.

Run: python -m tests.bench.firmware_buffer  (CPython on this machine; a Pico is far slower,
so read the figures as the buffer's own cost relative to one MQTT round-trip.)
"""

import json
import os
import tempfile
import time

from tests import firmware_stubs

firmware_stubs.install()

from otpad import payload  # noqa: E402
from otpad.ringbuf import RingBuffer  # noqa: E402

N = 500


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        buf = RingBuffer(tmp + "/p", capacity=N)
        rec = payload.press_record(1, "p1-abcd1234-1", 4, "e17", ["cooldown"], 1, 123456, 1_764_000_000_000, 0)
        body = payload.encode(rec)
        t0 = time.perf_counter()
        for i in range(N):
            rec["s"] = i + 1
            buf.append(json.dumps(rec).encode())
        t1 = time.perf_counter()
        size = os.path.getsize(tmp + "/p.log")
        t2 = time.perf_counter()
        reopened = RingBuffer(tmp + "/p", capacity=N)
        t3 = time.perf_counter()
        while (item := reopened.peek()) is not None:
            reopened.commit(item[1])
        t4 = time.perf_counter()
    print(f"records: {N}, record body {len(body)} B, log file {size} B ({size / N:.0f} B/record)")
    print(f"append: {N / (t1 - t0):,.0f} records/s")
    print(f"reopen+count: {(t3 - t2) * 1000:.1f} ms for {N} records")
    print(f"drain (peek+commit, ack replaced each): {N / (t4 - t3):,.0f} records/s")


if __name__ == "__main__":
    main()
