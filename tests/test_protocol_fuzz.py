"""Fuzzing decode and handle_batch: whatever arrives, decode raises only ProtocolError and ingest never raises.

Bounded and seeded (hypothesis ``derandomize``): the same few thousand inputs
every run, a few seconds in all. Three kinds of input: hypothesis-made JSON and
bytes, byte mutations of valid messages, and every field of every kind set to
every awkward value (huge ints, floats at and past the edge, inf, nan, deep
nesting, lone surrogates, bools for ints, strings with a newline, calendar edges).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import ingest
from hub.db import open_db
from otklik import protocol
from tests.test_protocol_strict import BASES

FUZZ = settings(derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

AWKWARD: list[Any] = [
    None, True, False, 0, -1, 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, 10**400,
    0.0, -0.0, 1.5, 1e308, 1e300, float("inf"), float("-inf"), float("nan"),
    "", "x", "abcdefgh12\n", "b1\n", "\ud800", "\udfff x", "é" * 70, "x" * 3000,
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z", "2026-11-22T25:00:00Z", "2026-11-22T11:24:46.1234567890123Z",
    [], {}, [1], {"a": 1}, [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
]  # fmt: skip
DEEP = b"[" * 3000


def awkward_payloads() -> Iterator[tuple[str, bytes]]:
    """Every field of every kind (and an unknown one) set to every awkward value, plus deep nesting."""
    for kind, base in BASES.items():
        topic = f"otklik/v1/b1/k1/{kind}"
        optional = ["employee", "clock", "age_ms", "flags", "refused", "camera", "config_version", "channel", "extra"]
        for name in [*base, *optional]:
            for value in AWKWARD:
                try:
                    payload = json.dumps({**base, name: value}).encode()
                except ValueError:  # 10**400 is beyond json.dumps' digit limit: write it by hand
                    payload = json.dumps({**base, name: 0}).encode().replace(b": 0", b": 1" + b"0" * 400)
                yield topic, payload
            yield topic, json.dumps(base)[:-1].encode() + f', "{name}": '.encode() + DEEP
            yield topic, json.dumps({**base, name: None})[:-1].encode() + f', "{name}": '.encode() + b"1e400}"


def check_decode(topic: Any, payload: Any) -> None:
    try:
        protocol.decode(topic, payload)
    except protocol.ProtocolError as err:
        str(err).encode("utf-8")  # a reason that can be stored and logged
    # Anything else raised here is an escape, and fails the test with its traceback.


def test_every_field_times_every_awkward_value() -> None:
    cases = list(awkward_payloads())
    assert len(cases) > 2000
    for topic, payload in cases:
        check_decode(topic, payload)


# Hypothesis leaves lone surrogates out of text unless asked; JSON's \ud800 escapes let them in.
texts = st.text() | st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), min_size=1)
edges = st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "abcdefgh12\n", 1e308, 2**63])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts | edges,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
topics = st.sampled_from([f"otklik/v1/b1/k1/{kind}" for kind in BASES]) | st.text(max_size=40)


@settings(FUZZ, max_examples=300)
@given(topic=topics, payload=st.binary(max_size=300))
def test_decode_of_any_bytes(topic: str, payload: bytes) -> None:
    check_decode(topic, payload)


@settings(FUZZ, max_examples=300)
@given(kind=st.sampled_from(sorted(BASES)), changes=st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_decode_of_valid_messages_with_fields_changed(kind: str, changes: dict[str, Any]) -> None:
    names = list(BASES[kind])
    # Most keys become the kind's own fields, so the checks themselves are
    # exercised (picked by a stable sum: hash() differs between runs).
    renamed = {names[sum(map(ord, k)) % len(names)] if k[:1] < "m" else k: v for k, v in changes.items()}
    body = {**BASES[kind], **renamed}
    check_decode(f"otklik/v1/b1/k1/{kind}", json.dumps(body).encode())


# What a mutation may insert: each of these broke decode or ingest once.
INSERTS = [b"[", b"{", b"\\ud800", b"9" * 30, b"1e400", b"\n", b"\xff", b"NaN", b"[" * 1500, b"+01:00", b"true"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(json.dumps(BASES[kind]).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "repeat"]))
        if action == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            data[at:at] = draw(st.sampled_from(INSERTS))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 40))] * draw(st.integers(1, 50))
    return f"otklik/v1/b1/k1/{kind}", bytes(data)


@settings(FUZZ, max_examples=500)
@given(message=mutated())
def test_decode_of_byte_mutations_of_valid_messages(message: tuple[str, bytes]) -> None:
    check_decode(*message)


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = open_db(Path(tmp_path_factory.mktemp("fuzz")) / "hub.db")
    yield db
    db.close()


messages = mutated() | st.tuples(topics, st.binary(max_size=200)) | st.sampled_from(list(awkward_payloads()))


@settings(FUZZ, max_examples=150)
@given(batch=st.lists(st.tuples(messages, st.booleans()), min_size=1, max_size=8))
def test_handle_batch_never_raises_and_answers_every_message(fuzz_db: Any, batch: list[Any]) -> None:
    outcomes = ingest.handle_batch(fuzz_db, [(topic, payload, NOW, retain) for (topic, payload), retain in batch])
    assert len(outcomes) == len(batch)
    known = {ingest.STORED, ingest.DUPLICATE, ingest.REJECTED, ingest.UPDATED, ingest.IGNORED}
    assert all(o.result in known for o in outcomes)
    assert all(o.reason for o in outcomes if o.result == ingest.REJECTED)
    assert not fuzz_db.conn.in_transaction
