"""Answers at the hub on both real stores (SQLite, PostgreSQL): stored once, never a press, masked, receipted,
hidden with who/when."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub import answers, ingest
from hub.db import open_db
from hub.receipts import receipts_for_batch
from hub.store import Database
from otklik import protocol

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RATING_ID = "rating-0001"


@pytest.fixture
def db(hub_target: str | Path) -> Iterator[Database]:
    database = open_db(hub_target)
    yield database
    database.close()


def rating(event_id: str = RATING_ID, seq: int = 1, score: int = 1) -> tuple[str, bytes]:
    body = protocol.rating_payload(
        branch="b1", kiosk="k1", id=event_id, seq=seq, ts="2026-11-22T11:59:00.000Z", score=score, channel="touch"
    )
    return protocol.topic("b1", "k1", protocol.RATING), protocol.encode(body)


def answer(
    answer_id: str = "answer-0001", rating_id: str = RATING_ID, branch: str = "b1", **fields: Any
) -> tuple[str, bytes]:
    body = protocol.answer_payload(
        branch=branch, kiosk="k1", id=answer_id, rating=rating_id, ts=fields.pop("ts", "2026-11-22T11:59:05.000Z"),
        reason=fields.pop("reason", "queue"), comment=fields.pop("comment", None),
    )  # fmt: skip
    return protocol.topic(branch, "k1", protocol.ANSWER), protocol.encode(body)


def run(db: Database, *messages: tuple[str, bytes]) -> list[str]:
    return [o.result for o in ingest.handle_batch(db, [(t, p, NOW) for t, p in messages])]


def test_an_answer_is_stored_once_and_never_counts_as_a_press(db: Database) -> None:
    # Before its rating (the two travel separately), re-sent in the same batch and in a later one.
    assert run(db, answer(), answer()) == [ingest.STORED, ingest.DUPLICATE]
    assert run(db, answer()) == [ingest.DUPLICATE]
    assert db["answers"].count == 1 and db["events"].count == 0  # kept without its rating, and no press made
    assert run(db, rating()) == [ingest.STORED]
    assert db["events"].count == 1 and db["answers"].count == 1
    # A second answer for the same press (the comment after the reason) supersedes, never doubles.
    assert run(db, answer("answer-0002", reason="staff", comment="rude", ts="2026-11-22T11:59:20.000Z")) == [
        ingest.STORED
    ]
    assert answers.reason_counts(db, "b1", "2026-11-22T00:00:00.000Z", "2026-11-23T00:00:00.000Z") == {"staff": 1}
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_the_same_id_with_other_content_is_a_dead_letter_and_the_first_stands(db: Database) -> None:
    run(db, answer())
    assert run(db, answer(reason="price")) == [ingest.REJECTED]
    assert [r["reason"] for r in db["answers"].rows] == ["queue"]
    assert "different from the stored answer" in next(db["dead_letters"].rows)["reason"]


def test_receipts_confirm_answers_so_the_kiosk_deletes_them_only_once_stored(db: Database) -> None:
    messages = [answer(), rating(), answer("answer-0009", reason="Bad Id")]
    outcomes = ingest.handle_batch(db, [(t, p, NOW) for t, p in messages])
    (to, payload), *more = receipts_for_batch(messages, outcomes)
    assert not more and to == protocol.topic("b1", "k1", protocol.RECEIPT)
    receipt = protocol.decode(to, payload)
    assert isinstance(receipt, protocol.Receipt)
    assert receipt.ids == ["answer-0001", RATING_ID] and receipt.rejected == ["answer-0009"]


@pytest.mark.parametrize(
    ("comment", "stored"),
    [
        ("call me +7 912 345-67-89 please", "call me [phone] please"),
        ("8(912)3456789", "[phone]"),
        ("۰۹۱۲ ۳۴۵ ۶۷۸۹ زنگ بزنید", "[phone] زنگ بزنید"),
        ("write to anna.k@example.ru.", "write to [email]"),
        ("Иван: ivan@mail.ru, 555-12-34", "Иван: [email] [phone]"),
        ("2 tills open, waited 15 min, 1500 rub", "2 tills open, waited 15 min, 1500 rub"),
    ],
)
def test_phone_numbers_and_addresses_are_masked_before_storage(db: Database, comment: str, stored: str) -> None:
    run(db, answer(comment=comment))
    row = next(db["answers"].rows)
    assert row["comment"] == stored
    assert comment == stored or comment not in json.dumps(list(db["answers"].rows), ensure_ascii=False)


def test_a_masked_comment_stays_within_the_limit(db: Database) -> None:
    comment = "a@b.cd " * (protocol.MAX_COMMENT_CHARS // 7)  # each mask is longer than what it hides
    run(db, answer(comment=comment[: protocol.MAX_COMMENT_CHARS]))
    assert len(next(db["answers"].rows)["comment"]) <= protocol.MAX_COMMENT_CHARS


def test_a_manager_hides_a_comment_of_their_branch_only(db: Database) -> None:
    run(db, answer(comment="slow"), answer("answer-0002", branch="b2", comment="slow too"))
    with pytest.raises(answers.AnswerNotFound):
        answers.hide(db, "answer-0002", by="manager-b1", at=NOW, branches={"b1"})
    with pytest.raises(answers.AnswerNotFound):
        answers.hide(db, "answer-none", by="manager-b1", at=NOW, branches={"b1"})
    answers.hide(db, "answer-0001", by="manager-b1", at=NOW, branches={"b1"})
    answers.hide(db, "answer-0001", by="admin", at=datetime(2026, 11, 23, tzinfo=UTC), branches=None)
    rows = {r["id"]: r for r in db["answers"].rows}
    assert rows["answer-0001"]["comment"] == "slow"  # kept
    assert (rows["answer-0001"]["hidden_by"], rows["answer-0001"]["hidden_at"]) == (
        "manager-b1", "2026-11-22T12:00:00.000Z"
    )  # fmt: skip
    assert rows["answer-0002"]["hidden_at"] is None


def test_the_hub_stores_where_a_press_was_made_and_buttons_for_kiosks_that_do_not_say(
    db: Database,
) -> None:
    old = protocol.rating_payload(
        branch="b1", kiosk="k1", id="rating-0002", seq=2, ts="2026-11-22T11:59:00.000Z", score=4
    )
    run(db, rating(), (protocol.topic("b1", "k1", protocol.RATING), protocol.encode(old)))
    assert dict(db.execute("SELECT id, channel FROM events").fetchall()) == {
        RATING_ID: "touch",
        "rating-0002": "buttons",
    }
