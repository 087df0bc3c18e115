"""Protocol v1 messages as the pad sends them (otklik/protocol.py is the source of truth;
the tests decode every payload built here with it).

A buffered press is stored compactly and turned into a rating only when it
is sent, because its ``ts``/``clock``/``age_ms`` depend on what the pad knows
then: a press made before NTP answered becomes a synced rating if the sync
came later in the same boot, an unsynced one with ``age_ms`` if not, and an
unsynced one without age after a reboot (the uptime it was measured on is
gone; the hub then uses its receive time and flags the event).
"""

import json

from otpad.timefmt import format_ts

VERSION = 1
PREFIX = "otklik/v1"
CLOCK_UNSYNCED = "unsynced"


def topic(branch: str, device: str, kind: str) -> str:
    return "%s/%s/%s/%s" % (PREFIX, branch, device, kind)


def encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def event_id(device: str, tag: str, seq: int) -> str:
    # tag is random per flash install: a re-flashed pad restarting at seq 1
    # must not reuse ids the hub has (it would drop the presses as duplicates).
    return "%s-%s-%d" % (device, tag, seq)


def press_record(
    seq: int, event: str, score: int, employee: str | None, flags: list, boot: int, uptime_ms: int, wall_ms: int | None,
    rtc_ms: int,
) -> dict:  # fmt: skip
    """What the ring buffer keeps for one press (short keys: it lives in flash)."""
    rec = {"s": seq, "i": event, "b": score, "n": boot, "u": uptime_ms}
    if employee:
        rec["e"] = employee
    if flags:
        rec["f"] = flags
    if wall_ms is not None:
        rec["w"] = wall_ms
    else:
        rec["r"] = rtc_ms
    return rec


def rating(branch: str, device: str, rec: dict, boot: int, uptime_ms: int, clock: object) -> dict:
    """The wire rating for a buffered press, given the pad's boot number, uptime and Clock now."""
    body = {"v": VERSION, "branch": branch, "kiosk": device, "id": rec["i"], "seq": rec["s"], "score": rec["b"]}
    wall = rec.get("w")
    same_boot = rec.get("n") == boot
    if wall is None and same_boot:
        wall = clock.wall_at(rec["u"])  # type: ignore[attr-defined]
    if wall is not None:
        body["ts"] = format_ts(wall)
    else:
        body["clock"] = CLOCK_UNSYNCED
        if same_boot:
            age = max(0, uptime_ms - rec["u"])
            body["age_ms"] = age
            body["ts"] = format_ts(clock.rtc_ms() - age)  # type: ignore[attr-defined]
        else:
            body["ts"] = format_ts(rec.get("r", 0))
    if rec.get("e"):
        body["employee"] = rec["e"]
    if rec.get("f"):
        body["flags"] = rec["f"]
    return body


def heartbeat(
    branch: str, device: str, ts_ms: int, uptime_ms: int, version: str, depth: int, last_seq: int, dropped: int,
    config_version: int, synced: bool,
) -> dict:  # fmt: skip
    body = {
        "v": VERSION, "branch": branch, "kiosk": device, "ts": format_ts(ts_ms), "uptime_s": uptime_ms // 100 / 10,
        "version": version, "outbox_depth": depth, "last_seq_sent": last_seq, "dropped": dropped,
        "config_version": config_version,
    }  # fmt: skip
    if not synced:
        body["clock"] = CLOCK_UNSYNCED
    return body


def status(branch: str, device: str, state: str, ts_ms: int | None = None) -> dict:
    body = {"v": VERSION, "branch": branch, "kiosk": device, "state": state}
    if ts_ms is not None:
        body["ts"] = format_ts(ts_ms)
    return body
