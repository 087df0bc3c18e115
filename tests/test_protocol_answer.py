"""The follow-up's wire format: a rating's optional ``channel`` and the ``answer`` kind, decoded strictly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from otklik import protocol
from tests.test_protocol_strict import ANSWER, RATING

TOPIC = "otklik/v1/b1/k1/answer"


def answer(**changes: Any) -> protocol.Message:
    body = {**ANSWER, **changes}
    return protocol.decode(TOPIC, json.dumps({k: v for k, v in body.items() if v is not ...}).encode())


def test_a_rating_without_channel_is_buttons_as_old_kiosks_and_pads_send_it() -> None:
    rating = protocol.decode("otklik/v1/b1/k1/rating", json.dumps(RATING).encode())
    assert isinstance(rating, protocol.Rating)
    assert rating.channel == protocol.CHANNEL_BUTTONS
    assert "channel" not in protocol.rating_payload(branch="b1", kiosk="k1", id="abcdefgh12", seq=1, ts="x", score=1)


@pytest.mark.parametrize("channel", protocol.CHANNELS)
def test_every_channel_round_trips(channel: str) -> None:
    body = protocol.rating_payload(
        branch="b1", kiosk="k1", id="abcdefgh12", seq=1, ts=RATING["ts"], score=2, channel=channel
    )
    rating = protocol.decode("otklik/v1/b1/k1/rating", protocol.encode(body))
    assert isinstance(rating, protocol.Rating)
    assert rating.channel == channel
    assert "channel" not in rating.extra


@pytest.mark.parametrize("channel", ["web", "", "Touch", 1, None, ["touch"]])
def test_an_unknown_channel_is_refused_by_name(channel: Any) -> None:
    with pytest.raises(protocol.ProtocolError, match="channel"):
        protocol.decode("otklik/v1/b1/k1/rating", json.dumps({**RATING, "channel": channel}).encode())


def test_an_answer_round_trips() -> None:
    body = protocol.answer_payload(
        branch="b1", kiosk="k1", id="answer-0001", rating="abcdefgh12", ts=ANSWER["ts"], reason="queue",
        comment="Долго ждал\nочередь",
    )  # fmt: skip
    got = protocol.decode(protocol.topic("b1", "k1", protocol.ANSWER), protocol.encode(body))
    assert isinstance(got, protocol.Answer)
    assert (got.id, got.rating, got.reason) == ("answer-0001", "abcdefgh12", "queue")
    assert got.comment == "Долго ждал\nочередь"
    assert protocol.QOS[protocol.ANSWER] == 1
    assert protocol.ANSWER in protocol.RECEIPTED_KINDS  # the kiosk keeps it until the hub has stored it


def test_a_reason_alone_or_a_comment_alone_is_an_answer() -> None:
    assert answer(comment=...).comment is None  # type: ignore[union-attr]
    assert answer(reason=...).reason is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": ...}, "'id'"),
        ({"rating": ...}, "'rating'"),
        ({"ts": ...}, "'ts'"),
        ({"rating": "short"}, "rating"),
        ({"rating": "abcdefgh12\n"}, "rating"),
        ({"id": "abcdefgh12"}, "own id"),
        ({"reason": "Queue"}, "reason"),
        ({"reason": "a/b"}, "reason"),
        ({"reason": 3}, "reason"),
        ({"comment": 3}, "comment"),
        ({"comment": "x" * (protocol.MAX_COMMENT_CHARS + 1)}, "comment"),
        ({"comment": "bell\x07"}, "comment"),
        ({"comment": "\ud800"}, "comment"),
        ({"comment": "one\u2028two"}, "comment"),
        ({"reason": ..., "comment": ""}, "reason or a non-empty comment"),
        ({"reason": ..., "comment": ...}, "reason or a non-empty comment"),
        ({"branch": "b2"}, "branch"),
        ({"v": 2}, "v"),
    ],
)
def test_a_bad_answer_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=field):
        answer(**changes)


def test_persian_with_its_zero_width_non_joiner_is_a_comment() -> None:
    assert answer(comment="قیمت\u200cها بالاست").comment == "قیمت\u200cها بالاست"  # type: ignore[union-attr]


def test_a_comment_at_the_limit_in_persian_fits_the_payload() -> None:
    got = answer(comment="ص" * protocol.MAX_COMMENT_CHARS)
    assert isinstance(got, protocol.Answer)
    assert len(protocol.encode({**ANSWER, "comment": got.comment})) < protocol.MAX_PAYLOAD_BYTES


def test_an_answer_may_say_its_channel_and_an_old_one_is_buttons() -> None:
    old = answer()
    assert isinstance(old, protocol.Answer) and old.channel == protocol.CHANNEL_BUTTONS
    assert "channel" not in protocol.answer_payload(branch="b1", kiosk="k1", id="abcdefgh12", rating="r" * 10,
                                                    ts=ANSWER["ts"], reason="queue")  # fmt: skip
    body = protocol.answer_payload(branch="b1", kiosk="k1", id="abcdefgh12", rating="r" * 10, ts=ANSWER["ts"],
                                   reason="queue", channel=protocol.CHANNEL_PHONE)  # fmt: skip
    phone = protocol.decode(TOPIC, protocol.encode(body))
    assert isinstance(phone, protocol.Answer) and phone.channel == protocol.CHANNEL_PHONE and not phone.extra
    with pytest.raises(protocol.ProtocolError, match="channel 'web'"):
        answer(channel="web")
