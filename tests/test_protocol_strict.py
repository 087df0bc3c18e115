"""The documented formats, held exactly: every poison value is a ProtocolError that names its field.

Each case here escaped ``protocol.decode`` (as RecursionError, OverflowError or
UnicodeEncodeError later) or was accepted and then broke a page, before the
protocol checked types and ranges field by field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from otklik import protocol

RATING = {"v": 1, "branch": "b1", "kiosk": "k1", "id": "abcdefgh12", "seq": 1, "ts": "2026-11-22T11:24:46.123Z",
          "score": 3}  # fmt: skip
HEARTBEAT = {"v": 1, "branch": "b1", "kiosk": "k1", "ts": "2026-11-22T11:24:46.123Z", "uptime_s": 10.5,
             "version": "1.2.3", "outbox_depth": 0, "last_seq_sent": 4}  # fmt: skip
STATUS = {"v": 1, "branch": "b1", "kiosk": "k1", "state": "online", "ts": "2026-11-22T11:24:46.123Z"}
REACTION = {"v": 1, "branch": "b1", "kiosk": "k1", "id": "react-0001", "window_start": "2026-11-22T11:24:00.000Z",
            "window_s": 60.0, "visitors": 3, "smiling": 1, "frames": 600, "fps": 10.0, "detector": "haar"}  # fmt: skip
CONFIG = {"v": 1, "version": 2, "cooldown_s": 5}
ANSWER = {"v": 1, "branch": "b1", "kiosk": "k1", "id": "answer-0001", "rating": "abcdefgh12", "reason": "queue",
          "comment": "long wait", "ts": "2026-11-22T11:24:50.000Z"}  # fmt: skip
BASES = {"rating": RATING, "heartbeat": HEARTBEAT, "status": STATUS, "reaction": REACTION, "config": CONFIG,
         "answer": ANSWER}  # fmt: skip


def decode(kind: str, payload: bytes) -> protocol.Message:
    return protocol.decode(f"otklik/v1/b1/k1/{kind}", payload)


def body(kind: str, **changes: Any) -> bytes:
    return json.dumps({**BASES[kind], **changes}).encode()


def test_the_valid_bases_decode() -> None:
    for kind in BASES:
        decode(kind, body(kind))


POISON = [
    # (kind, payload, what the reason must say)
    ("rating", b"[" * 3000, "nests"),
    ("rating", b'{"x":' + b"[" * 2000 + b"]" * 2000 + b"}", "nests"),
    ("rating", body("rating", ts="0001-01-01T00:00:00+01:00"), "ts"),
    ("rating", body("rating", ts="9999-12-31T23:59:59-01:00"), "ts"),
    ("rating", body("rating", ts="2026-W47-1T11:00Z"), "ts"),
    ("rating", body("rating", ts="2026-11-22"), "ts"),
    ("rating", body("rating", ts="2026-11-22T11:24:46.123Z\n"), "ts"),
    ("rating", body("rating", ts="٢٠٢٦-11-22T11:24:46Z"), "ts"),
    ("rating", body("rating", id="abcdefgh12\n"), "id"),
    ("rating", body("rating", employee="e1\n"), "employee"),
    ("rating", body("rating", flags=["cooldown\n"]), "flags"),
    ("rating", body("rating", v=True), "v"),
    ("rating", body("rating", v=1.0), "v"),
    ("rating", body("rating", v="1"), "v"),
    ("rating", body("rating", seq=2**63), "seq"),
    ("rating", body("rating", seq=True), "seq"),
    ("rating", body("rating", seq=1.0), "seq"),
    ("rating", body("rating", score=True), "score"),
    ("rating", body("rating", clock="unsynced", age_ms=10**12), "age_ms"),
    ("rating", body("rating", age_ms=-1), "age_ms"),
    ("rating", body("rating", note="\ud800"), "note"),
    ("rating", body("rating", note={"deep": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}), "note"),
    ("rating", body("rating", note=2**64), "note"),
    ("rating", json.dumps(RATING)[:-1].encode() + b',"note":1e400}', "note"),
    ("rating", json.dumps(RATING)[:-1].encode() + b',"note":NaN}', "note"),
    ("rating", json.dumps(RATING)[:-1].encode() + b',"\\udc00":1}', "surrogate"),
    ("rating", json.dumps(RATING)[:-1].encode() + b',"seq":' + b"9" * 3900 + b"}", "seq"),
    ("heartbeat", body("heartbeat", uptime_s=1e300), "uptime_s"),
    ("heartbeat", json.dumps(HEARTBEAT).encode().replace(b"10.5", b"1e400"), "uptime_s"),
    ("heartbeat", json.dumps(HEARTBEAT).encode().replace(b"10.5", b"Infinity"), "uptime_s"),
    ("rating", json.dumps(RATING).encode().replace(b'"score": 3', b'"score": NaN'), "score"),
    ("heartbeat", json.dumps(HEARTBEAT).encode().replace(b"10.5", b"9" * 400), "uptime_s"),
    ("heartbeat", body("heartbeat", uptime_s=True), "uptime_s"),
    ("heartbeat", body("heartbeat", refused="abc"), "refused"),
    ("heartbeat", body("heartbeat", refused={}), "refused"),
    ("heartbeat", body("heartbeat", refused=[1]), "refused"),
    ("heartbeat", body("heartbeat", refused=1e300), "refused"),
    ("heartbeat", body("heartbeat", refused=10**30), "refused"),
    ("heartbeat", body("heartbeat", refused=-1), "refused"),
    ("heartbeat", body("heartbeat", config_version="x"), "config_version"),
    ("heartbeat", body("heartbeat", dropped=True), "dropped"),
    ("heartbeat", body("heartbeat", camera={"ok": 1}), "camera"),
    ("heartbeat", body("heartbeat", camera="on fire"), "camera"),
    ("heartbeat", body("heartbeat", camera="unavailable: \ud800"), "camera"),
    ("heartbeat", body("heartbeat", version="1.2\n"), "version"),
    ("heartbeat", body("heartbeat", version="x" * 65), "version"),
    ("heartbeat", body("heartbeat", outbox_depth=10**30), "outbox_depth"),
    ("heartbeat", body("heartbeat", last_seq_sent="7"), "last_seq_sent"),
    ("status", body("status", state=["online"]), "state"),
    ("status", body("status", ts="0001-01-01T00:00:00+00:01"), "ts"),
    ("status", body("status", v=True), "v"),
    ("reaction", body("reaction", window_s=1e300), "window_s"),
    ("reaction", body("reaction", fps=float("inf")), "fps"),
    ("reaction", body("reaction", visitors=2**63), "visitors"),
    ("reaction", body("reaction", frames=True), "frames"),
    ("reaction", body("reaction", detector="\ud800"), "detector"),
    ("reaction", body("reaction", window_start="9999-12-31T23:59:59-00:01"), "window_start"),
    ("config", body("config", version=True), "version"),
    ("config", body("config", version=2**63), "version"),
    ("config", body("config", labels=[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]), "labels"),
    ("config", body("config", cooldown_s=10**30), "cooldown_s"),
]


@pytest.mark.parametrize(("kind", "payload", "field"), POISON, ids=[f"{k}-{i}" for i, (k, *_) in enumerate(POISON)])
def test_poison_is_a_protocol_error_naming_the_field(kind: str, payload: bytes, field: str) -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        decode(kind, payload)
    assert field in str(caught.value)
    # The reason is stored and logged: it must be storable text of bounded size.
    str(caught.value).encode("utf-8")
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("part", ["b1\n", "B1", "b" * 33, "b/1", "+", ""])
def test_topic_parts_end_at_the_end(part: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=r"not a valid id|not of the form"):
        protocol.parse_topic(f"otklik/v1/{part}/k1/rating")


def test_honest_edges_still_pass() -> None:
    # The most a kiosk may honestly send at each bound.
    rating = decode("rating", body("rating", seq=2**63 - 1, clock="unsynced", age_ms=protocol.MAX_AGE_MS))
    assert isinstance(rating, protocol.Rating) and rating.age_ms == protocol.MAX_AGE_MS
    beat = decode("heartbeat", body("heartbeat", uptime_s=0, refused=0, config_version=0, dropped=2, camera="off"))
    assert isinstance(beat, protocol.Heartbeat) and beat.uptime_s == 0.0 and beat.extra["dropped"] == 2
    # RFC 3339 allows lowercase separators, offsets and more than microseconds.
    for ts in ("2026-11-22t11:24:46.123456789z", "2026-11-22T13:24:46+02:00", "0001-01-01T00:00:00Z"):
        decode("rating", body("rating", ts=ts))


def test_a_camera_error_on_several_lines_is_sent_as_one_line() -> None:
    body = protocol.heartbeat_payload(
        branch="b1", kiosk="k1", uptime_s=1, version="1", outbox_depth=0, last_seq_sent=0,
        camera="unavailable: cannot open\n/dev/video0\t(busy)" + "x" * 1000,
    )  # fmt: skip
    beat = decode("heartbeat", protocol.encode(body))
    assert isinstance(beat, protocol.Heartbeat)
    assert beat.extra["camera"].startswith("unavailable: cannot open /dev/video0 (busy)")
    assert len(beat.extra["camera"]) == protocol.MAX_CAMERA_CHARS
