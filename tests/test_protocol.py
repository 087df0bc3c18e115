import json

import pytest

from otklik import protocol, times
from otklik.protocol import ProtocolError

TOPIC = "otklik/v1/b1/k1/rating"


def rating(**overrides):
    body = protocol.rating_payload(
        branch="b1", kiosk="k1", id="a1b2c3d4e5f6", seq=7, ts="2026-11-22T10:00:00.123Z", score=4
    )
    body.update(overrides)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_valid_rating_round_trips():
    r = protocol.decode(TOPIC, rating(employee="e17", extra_field={"x": 1}))
    assert (r.branch, r.kiosk, r.id, r.seq, r.score, r.employee) == ("b1", "k1", "a1b2c3d4e5f6", 7, 4, "e17")
    assert times.format_ts(r.ts) == "2026-11-22T10:00:00.123Z"
    assert r.extra == {"extra_field": {"x": 1}}  # unknown fields kept, ignored


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (rating(score=5), "score 5 is out of range 1..4"),
        (rating(score="4"), "score must be an integer"),
        (rating(score=True), "score must be an integer"),
        (rating(seq=0), "seq 0 is out of range"),
        (rating(id=...), "missing field 'id'"),
        (rating(id="x"), "id 'x' must be 8-64"),
        (rating(ts="yesterday"), "ts 'yesterday' is not an RFC 3339"),
        (rating(ts="2026-11-22T10:00:00"), "has no UTC offset"),
        (rating(v=2), "v 2 is not a protocol version"),
        (rating(kiosk="k2"), "payload kiosk 'k2' does not match the topic's kiosk 'k1'"),
        (rating(branch="b9"), "payload branch 'b9' does not match"),
        (rating(clock="maybe"), "clock 'maybe'"),
        (rating(employee="bad id!"), "employee 'bad id!'"),
        (b"{" + b'"pad": "' + b"x" * 5000 + b'"}', "limit is 4096"),
    ],
)
def test_invalid_ratings_name_the_problem(payload, reason):
    with pytest.raises(ProtocolError, match=None) as err:
        protocol.decode(TOPIC, payload)
    assert reason in str(err.value)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("otklik/v2/b1/k1/rating", "is not of the form"),
        ("otklik/v1/b1/k1", "is not of the form"),
        ("otklik/v1/B1/k1/rating", "topic branch 'B1'"),
        ("otklik/v1/b1/k1/selfie", "unknown kind 'selfie'"),
    ],
)
def test_bad_topics(topic, reason):
    with pytest.raises(ProtocolError) as err:
        protocol.decode(topic, rating())
    assert reason in str(err.value)


def test_reaction_and_heartbeat():
    hb = protocol.heartbeat_payload(
        branch="b1", kiosk="k1", uptime_s=12.34, version="0.1.0", outbox_depth=3, last_seq_sent=9, refused=1
    )
    parsed = protocol.decode("otklik/v1/b1/k1/heartbeat", protocol.encode(hb))
    assert parsed.outbox_depth == 3 and parsed.extra == {"refused": 1}
    reaction = {
        "v": 1, "branch": "b1", "kiosk": "k1", "id": "r-000000001", "window_start": "2026-11-22T10:00:00.000Z",
        "window_s": 60, "visitors": 3, "smiling": 4, "frames": 900, "fps": 15.0, "detector": "blazeface",
    }  # fmt: skip
    with pytest.raises(ProtocolError, match="smiling"):
        protocol.decode("otklik/v1/b1/k1/reaction", json.dumps(reaction).encode())


def test_topic_builder_refuses_wildcards():
    with pytest.raises(ProtocolError):
        protocol.topic("b1", "+", "rating")
    assert protocol.topic("b1", "k1", "rating") == TOPIC
